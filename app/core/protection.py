"""What every response and every state-changing request goes through, whatever view serves it.

- **CSRF.** Flask-WTF's ``CSRFProtect`` checks every POST, PUT, PATCH and DELETE of every page
  (FAB's generated pages, their delete and list actions, the custom pages, the security pages, the
  language switch, logging out). It is initialised *before* the AppBuilder, so FAB exempts its REST
  blueprints; ``_api_csrf`` then puts the check back for API requests that a browser's session
  cookie authenticates. A client that sends ``Authorization: Bearer …`` is unaffected: a forged
  cross-site request cannot carry that header. The app's pages send their token as ``X-CSRFToken``
  (``static/js/app.js`` reads ``<meta name="csrf-token">``). A refused request answers 403.
- **No GET changes anything.** With CSRF on, FAB refuses its delete and action routes on GET;
  FAB's GET-only ``/lang/<locale>`` and ``/logout/`` are replaced by POST forms
  (``LanguageView``, ``SignOutView``): their GET addresses answer 405 and a confirmation page.
- **Headers.** A Content-Security-Policy with a per-request nonce for the app's and FAB's scripts
  (FAB's templates already print ``csp_nonce()`` through ``baselib.get_nonce()``), and
  ``nosniff``, ``Referrer-Policy: same-origin``, ``X-Frame-Options: DENY``. Styles still need
  ``'unsafe-inline'``: FAB's templates, select2, the datepicker and ECharts set ``style=``
  attributes (the README's security section says so).
"""
import secrets

from flask import current_app, g, jsonify, redirect, request, session
from flask_appbuilder import BaseView, expose
from flask_babel import gettext, lazy_gettext as _l, refresh
from flask_wtf.csrf import CSRFError, CSRFProtect

csrf = CSRFProtect()

# Endpoints a bearer-less API client may call without a CSRF token: they authenticate nobody by cookie.
API_PUBLIC = {"SecurityApi.login", "SecurityApi.refresh"}

CSP = (
    "default-src 'self'; "
    "script-src 'self' 'nonce-{nonce}'; "
    "style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; "
    "font-src 'self' data:; "
    "connect-src 'self'; "
    "object-src 'none'; "
    "frame-ancestors 'none'; "
    "base-uri 'self'; "
    "form-action 'self'"
)
HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}


def csp_nonce():
    """This response's script nonce (made on first use)."""
    nonce = g.get("_csp_nonce")
    if nonce is None:
        nonce = g._csp_nonce = secrets.token_urlsafe(18)
    return nonce


def _api_csrf():
    """An API write authenticated by the session cookie carries the page's CSRF token."""
    if not request.path.startswith("/api/") or request.method not in current_app.config["WTF_CSRF_METHODS"]:
        return None
    if not current_app.config.get("WTF_CSRF_ENABLED", True) or request.endpoint in API_PUBLIC:
        return None
    if request.headers.get("Authorization", "")[:7].lower() == "bearer ":
        return None
    from flask_login import current_user

    if current_user.is_authenticated:
        csrf.protect()
    return None


def _secure_headers(response):
    for name, value in HEADERS.items():
        response.headers.setdefault(name, value)
    response.headers.setdefault("Content-Security-Policy", CSP.format(nonce=csp_nonce()))
    return response


def _csrf_refused(exc):
    from app.extensions import db

    db.session.rollback()
    message = gettext("The form expired or did not come from this site; reload the page and try again.")
    if request.path.startswith("/api/"):
        return jsonify({"message": message, "errors": {"csrf_token": [exc.description]}}), 403
    from werkzeug.exceptions import Forbidden

    from app.core import error_pages

    return error_pages.render(Forbidden(description=message), text=message)


def init_app(app):
    """Before the AppBuilder (see the module's text)."""
    csrf.init_app(app)
    app.before_request(_api_csrf)
    app.after_request(_secure_headers)
    app.jinja_env.globals["csp_nonce"] = csp_nonce
    app.register_error_handler(CSRFError, _csrf_refused)


def _back():
    """Where a form came from, when that is this site; the home page otherwise."""
    from urllib.parse import urlsplit

    target = request.form.get("next") or request.referrer or ""
    parts = urlsplit(target)
    if parts.netloc and parts.netloc != request.host:
        target = ""
    if not target or not target.startswith(("/", request.host_url)):
        return current_app.appbuilder.get_url_for_index
    return target


class LanguageView(BaseView):
    """The language switch: a POST form in the account menu (FAB's ``/lang/<locale>`` was a GET)."""

    route_base = "/language"
    default_view = "switch"

    @expose("/", methods=["POST"])
    def switch(self):
        locale = request.form.get("locale", "")
        if locale not in self.appbuilder.bm.languages:
            from flask import abort

            abort(404, description=gettext("This language is not offered."))
        session["locale"] = locale
        refresh()
        return redirect(_back(), 303)


class SignOutView(BaseView):
    """Logging out is a POST (FAB's ``/logout/`` was a GET, so any link on any site signed people out)."""

    route_base = "/signout"
    default_view = "sign_out"

    @expose("/", methods=["POST"])
    def sign_out(self):
        return self.appbuilder.sm.auth_view.logout()


# GET addresses that used to change something: what they answer now.
CONFIRM_TITLE = _l("Sign out")


def _get_guard():
    """FAB's GET-only language switch and logout no longer act: 405, and a page that POSTs."""
    if request.method != "GET":
        return None
    endpoint = request.endpoint or ""
    if endpoint == "LocaleView.index":
        from werkzeug.exceptions import MethodNotAllowed

        from app.core import error_pages

        return error_pages.render(MethodNotAllowed(valid_methods=["POST"]))
    if endpoint.endswith(".logout") and endpoint.startswith("Auth"):
        from flask import render_template

        appbuilder = current_app.appbuilder
        return render_template("pages/sign_out.html", appbuilder=appbuilder,
                               base_template=appbuilder.base_template, title=CONFIRM_TITLE), 200
    return None


def register(appbuilder):
    """The POST replacements of FAB's GET-only switches, and the guard on the old addresses."""
    appbuilder.add_view_no_menu(LanguageView())
    appbuilder.add_view_no_menu(SignOutView())
    current_app.before_request(_get_guard)
