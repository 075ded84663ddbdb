"""Request-side recording: the request id, and the security events — logins that succeed or
fail (page and API), logouts, tokens issued, permissions denied."""
import logging

from flask import current_app, g, request

from app.audit_trail import capture

log = logging.getLogger(__name__)

TOKEN_ENDPOINTS = {"SecurityApi.login": "token_issued", "SecurityApi.refresh": "token_refreshed"}


def _commit_event(action, entity, record_id=None, details=None, as_user=None):
    """A security event in its own small transaction; never breaks the request."""
    from app.extensions import db

    try:
        capture.record(action, entity, record_id, details, as_user=as_user)
        db.session.commit()
    except Exception:  # the request must go on; the failure is logged loudly
        db.session.rollback()
        log.exception("could not record the security event %s", action)


def verify_and_record():
    """Verify the hash chain (``chain.verify``) and record the run as a ``chain_verified`` event
    with its result, so that when the trail was last verified, by whom and with what outcome is
    itself on the record (the auditors' home page shows the last one)."""
    from app.audit_trail import chain
    from app.extensions import db

    result = chain.verify(db.session)
    _commit_event("chain_verified", "audit_event", None, dict(result))
    return result


def channel():
    return "api" if request.path.startswith("/api/") else "page"


class DeniedHandler(logging.Handler):
    """FAB logs every refused permission check (pages and API) with this message: record it."""

    def emit(self, record):
        from flask import has_request_context
        from flask_appbuilder.const import LOGMSG_ERR_SEC_ACCESS_DENIED

        if record.msg != LOGMSG_ERR_SEC_ACCESS_DENIED or not has_request_context():
            return
        permission, view = (list(record.args) + [None, None])[:2]
        _commit_event("permission_denied", "permission", None, {
            "permission": permission, "view": view, "path": request.path, "method": request.method})


def install(appbuilder):
    app = current_app._get_current_object()

    @app.before_request
    def _request_id():
        capture.request_id()
        if request.endpoint == "SignOutView.sign_out":  # logging out is a POST (core.protection)
            user = appbuilder.sm.current_user
            if user is not None and getattr(user, "is_authenticated", False):
                _commit_event("logout", "ab_user", user.id, {"channel": "page"}, as_user=user)

    @app.after_request
    def _after(response):
        response.headers["X-Request-ID"] = capture.request_id()
        action = TOKEN_ENDPOINTS.get(request.endpoint)
        if action and response.status_code == 200:
            user = g.pop("_audit_login_user", None)
            if user is None:
                from flask_jwt_extended import get_jwt_identity

                try:
                    identity = get_jwt_identity()
                except Exception:
                    identity = None
                user = appbuilder.sm.get_user_by_id(int(identity)) if identity else None
            if user is not None:
                _commit_event(action, "ab_user", user.id, {"channel": "api"}, as_user=user)
        return response

    denied = logging.getLogger("flask_appbuilder.security.decorators")
    if not any(isinstance(h, DeniedHandler) for h in denied.handlers):
        denied.addHandler(DeniedHandler())
        if denied.level == logging.NOTSET or denied.level > logging.WARNING:
            denied.setLevel(logging.WARNING)
