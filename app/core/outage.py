"""The database out of reach is an outage, not a bug: 503 with ``Retry-After``, and recovery by itself.

While PostgreSQL is down (or a SQLite file cannot be opened), every request answers
**503 Service Unavailable** with a ``Retry-After`` header: pages get a short page in the reader's
language that needs nothing from the database (no menu, no user, no permissions), ``/api/`` gets
``{"message", "errors"}``. Nothing needs restarting when the database is back:

* the engine pings a pooled connection before handing it out (``pool_pre_ping``) and replaces a
  dead one; a connection that fails mid-request is invalidated by SQLAlchemy, and so is every
  older connection of the pool;
* the failed request's session is rolled back and discarded here (``discard_session``), so no
  later code of the same request, and no later request, sees a session stuck in a failed state.
  The security manager does the same in Flask-Login's user loader and in the login check.

Three ways an outage reaches the response, all handled here:

* an exception that escapes the view (or a ``before_request`` hook such as the user loader):
  error handlers for the connection-level exception classes;
* a view that caught the exception and answered 500 itself (FAB's ``@safe`` on the REST API): an
  engine event marks the request (``g``), and an ``after_request`` hook turns its 500 into the 503;
* an unhandled exception in production (Flask wraps it in ``InternalServerError``):
  ``core.web`` asks ``is_unavailable(exc.original_exception)``.
"""
import functools
import logging

from flask import current_app, g, has_app_context, jsonify, request
from flask_babel import lazy_gettext as _l
from sqlalchemy import event, exc as sa_exc
from sqlalchemy.engine import Engine

log = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 30
"""Default of the ``Retry-After`` header; ``DATABASE_RETRY_AFTER`` in the settings overrides it."""

TITLE = _l("Service temporarily unavailable")
TEXT = _l("The database cannot be reached at the moment; anything you were saving was not saved. "
          "Wait a minute and try again: the system recovers by itself.")
API_MESSAGE = _l("The service is temporarily unavailable (the database cannot be reached). Try again later.")

# Exceptions that say "the database is out of reach", not "this query is wrong".
CONNECTION_ERRORS = (sa_exc.OperationalError, sa_exc.InterfaceError, sa_exc.DisconnectionError,
                     sa_exc.TimeoutError)


def is_unavailable(exc):
    """Whether ``exc`` (or an exception it was raised from) means the database cannot be reached.

    A ``PendingRollbackError`` counts only when this request already met an outage: on its own it
    is a programming error (a failed flush nobody rolled back).
    """
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, CONNECTION_ERRORS):
            return True
        if isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated:
            return True
        if isinstance(exc, sa_exc.PendingRollbackError) and _marked():
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def _marked():
    return has_app_context() and bool(g.get("_db_unavailable"))


def discard_session():
    """Roll the request's session back and drop it; never raises (the database may be gone).

    The next use of ``db.session`` starts a fresh session on a connection the pool checks first.
    """
    from app.extensions import db

    try:
        db.session.rollback()
    except Exception:  # the connection died under us: SQLAlchemy has invalidated it already
        log.debug("rollback after an outage failed", exc_info=True)
    try:
        db.session.remove()
    except Exception:
        log.debug("discarding the session after an outage failed", exc_info=True)


def retry_after():
    return str(int(current_app.config.get("DATABASE_RETRY_AFTER", RETRY_AFTER_SECONDS)))


def _forget_user():
    """Flask-Login retries its user loader on every access to ``current_user``: after a failed
    load the request goes on as anonymous (the session cookie keeps the user signed in)."""
    manager = getattr(current_app, "login_manager", None)
    if manager is not None and "_login_user" not in g:
        g._login_user = manager.anonymous_user()


def response():
    """The 503 for the current request: JSON under ``/api/``, a database-free page elsewhere."""
    discard_session()
    _forget_user()
    headers = {"Retry-After": retry_after(), "Cache-Control": "no-store"}
    if request.path.startswith("/api/"):
        return jsonify({"message": str(API_MESSAGE), "errors": {}}), 503, headers
    try:
        # Straight from the Jinja environment: the usual context processors would load the user
        # (Flask-Login) and the menu, i.e. ask the database again.
        template = current_app.jinja_env.get_template("pages/unavailable.html")
        from flask_babel import get_locale

        body = template.render(title=TITLE, text=TEXT, home=request.script_root + "/",
                               lang="zh-CN" if str(get_locale() or "zh").startswith("zh") else str(get_locale()))
    except Exception:
        log.exception("could not draw the outage page")
        body = f"{TITLE}\n\n{TEXT}\n"
        headers["Content-Type"] = "text/plain; charset=utf-8"
    return body, 503, headers


def _on_engine_error(context):
    """Mark the request when the database could not be reached (a pre-ping that then reconnects
    fine is not an outage)."""
    if getattr(context, "is_pre_ping", False) or not has_app_context():
        return
    if context.is_disconnect or is_unavailable(context.sqlalchemy_exception) or isinstance(
            context.original_exception, CONNECTION_ERRORS):
        g._db_unavailable = True


def _handle(exc):
    if not is_unavailable(exc):
        raise exc  # not an outage: the usual 500 (logged, or raised in tests)
    log.warning("database unavailable during %s %s: %s", request.method, request.path, exc.__class__.__name__)
    g._db_unavailable = True
    return response()


def _after(resp):
    """A view that caught the outage itself and answered 500 (FAB's ``@safe``): answer 503."""
    if resp.status_code == 500 and _marked():
        return current_app.make_response(response())
    return resp


def discarding_session(loader):
    """``loader`` (a user loader) that, when the database fails under it, discards the session
    before the error goes on: whoever catches the error finds a clean session, not a failed one."""
    if loader is None or getattr(loader, "_discards_session", False):
        return loader

    @functools.wraps(loader)
    def _load(*args, **kwargs):
        try:
            return loader(*args, **kwargs)
        except Exception as exc:
            if is_unavailable(exc):
                g._db_unavailable = True
                discard_session()
            raise

    _load._discards_session = True
    return _load


def install(app):
    # Flask-Login's user loader (pages) and Flask-JWT-Extended's (API), as the security manager set them.
    login_manager = getattr(app, "login_manager", None)
    if login_manager is not None and getattr(login_manager, "_user_callback", None) is not None:
        login_manager.user_loader(discarding_session(login_manager._user_callback))
    jwt = app.extensions.get("flask-jwt-extended")
    if jwt is not None and getattr(jwt, "_user_lookup_callback", None) is not None:
        jwt.user_lookup_loader(discarding_session(jwt._user_lookup_callback))
    if not event.contains(Engine, "handle_error", _on_engine_error):
        event.listen(Engine, "handle_error", _on_engine_error)
    for cls in CONNECTION_ERRORS + (sa_exc.PendingRollbackError,):
        app.register_error_handler(cls, _handle)
    app.after_request(_after)
