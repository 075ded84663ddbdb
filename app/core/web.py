"""Web-wide behaviour: JSON errors under /api, page errors as pages, template helpers."""
from flask import jsonify, request
from flask_babel import gettext
from werkzeug.exceptions import HTTPException

from app.core import error_pages, l10n, outage, page_input
from app.core.errors import DomainError
from app.extensions import db


def csrf_ok():
    """Whether this POST's CSRF token was valid. ``CSRFProtect`` (``core.protection``) checks every
    POST before any view runs and refuses a bad one with 403, so a custom page's view that is
    running has a valid token; the check stays for views called some other way (flashes why)."""
    from flask import current_app, flash, g

    if g.get("csrf_valid") or not current_app.config.get("WTF_CSRF_ENABLED", True):
        return True
    flash(gettext("The form expired; please try again."), "danger")
    return False


def flash_error(exc):
    """A ``DomainError`` as one flash: the message and every field message."""
    from flask import flash

    details = " ".join(str(m) for msgs in exc.errors.values() for m in msgs if m and str(m) != str(exc.message))
    flash(f"{exc.message} {details}".strip(), "danger")


def _wants_json():
    return request.path.startswith("/api/")


def install(app):
    @app.errorhandler(DomainError)
    def _domain_error(exc):
        db.session.rollback()
        if _wants_json():
            return jsonify(exc.to_dict()), exc.status
        from flask import flash, redirect

        flash(str(exc.message), "danger")
        return redirect(request.referrer or "/"), 303

    @app.errorhandler(HTTPException)
    def _http_error(exc):
        if exc.code == 500 and outage.is_unavailable(getattr(exc, "original_exception", None)):
            return outage.response()
        if _wants_json():
            return jsonify({"message": error_pages.api_message(exc), "errors": {}}), exc.code
        return error_pages.render(exc)

    outage.install(app)  # the database out of reach: 503 + Retry-After, recovery by itself
    page_input.install(app)  # text a page cannot store: a form error or a 400, never a 500

    app.add_template_filter(l10n.datetime_text, "local_dt")
    app.add_template_filter(l10n.date_text, "local_date")
    app.add_template_filter(l10n.time_text, "local_time")
    app.add_template_filter(l10n.number_text, "num")

    @app.context_processor
    def _helpers():
        return {"gettext": gettext}
