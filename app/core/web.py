"""Web-wide behaviour: JSON errors under /api, page errors as pages, template helpers."""
from flask import jsonify, request
from flask_babel import gettext
from werkzeug.exceptions import HTTPException

from app.core import error_pages, l10n
from app.core.errors import DomainError
from app.extensions import db


def csrf_ok():
    """Whether a custom page form's CSRF token is valid (always, when CSRF is off); flashes the
    reason when not, so the caller only redirects."""
    from flask import current_app, flash
    from flask_wtf.csrf import validate_csrf
    from wtforms import ValidationError

    if not current_app.config.get("WTF_CSRF_ENABLED", True):
        return True
    try:
        validate_csrf(request.form.get("csrf_token"))
        return True
    except ValidationError:
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
        if _wants_json():
            return jsonify({"message": error_pages.api_message(exc), "errors": {}}), exc.code
        return error_pages.render(exc)

    app.add_template_filter(l10n.datetime_text, "local_dt")
    app.add_template_filter(l10n.date_text, "local_date")
    app.add_template_filter(l10n.time_text, "local_time")
    app.add_template_filter(l10n.number_text, "num")

    @app.context_processor
    def _helpers():
        return {"gettext": gettext}
