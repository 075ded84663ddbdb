"""HTTP errors in the reader's language (Werkzeug's own say "Forbidden", "Not Found", … in English).

``render(exc)`` answers a page's HTTP error with ``pages/error.html`` inside the usual layout.
Redirects and errors that carry their own response pass through unchanged, and so does anything
when the page itself cannot be drawn. ``api_message(exc)``: the API's ``message`` for the same
errors (a description the code gave itself is kept).
"""
import logging

from flask_babel import lazy_gettext as _l

log = logging.getLogger(__name__)

MESSAGES = {
    400: (_l("Bad request"), _l("The request could not be understood. Go back and try again.")),
    403: (_l("Access denied"), _l("You do not have permission to open this page.")),
    404: (_l("Page not found"), _l("The page or record does not exist, or it is not available to you.")),
    405: (_l("Not allowed"), _l("This address cannot be used that way.")),
    410: (_l("No longer available"), _l("What this address showed has been removed.")),
    413: (_l("File too large"), _l("The uploaded file is larger than allowed.")),
    429: (_l("Too many requests"), _l("Too many attempts in a short time. Wait a minute and try again.")),
    500: (_l("Something went wrong"), _l("The request could not be completed. Try again later; if it keeps "
                                         "failing, tell an administrator.")),
}


def render(exc, text=None):
    from flask import current_app, render_template

    code = exc.code
    if exc.response is not None or code is None or code < 400:
        return exc
    title, default_text = MESSAGES.get(code) or MESSAGES[500 if code >= 500 else 400]
    text = text or default_text
    if code >= 500:
        from app.extensions import db

        db.session.rollback()
    appbuilder = current_app.appbuilder
    try:
        body = render_template("pages/error.html", appbuilder=appbuilder, base_template=appbuilder.base_template,
                               code=code, title=title, text=text)
    except Exception:  # the layout needs the database (menu, permissions): fall back to Werkzeug's page
        log.exception("could not draw the error page for %s", code)
        return exc
    headers = [(k, v) for k, v in exc.get_headers() if k.lower() != "content-type"]
    return body, code, headers


def api_message(exc):
    if exc.description == type(exc).description and exc.code in MESSAGES:
        return str(MESSAGES[exc.code][1])
    return exc.description or exc.name
