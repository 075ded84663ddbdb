"""Secure by default: every endpoint needs a signed-in user unless it is listed as public here.

Flask-AppBuilder checks permissions per view method (``@has_access`` on pages, ``@protect`` on
APIs). This guard adds a login check in front of *every* registered endpoint, so a page or API
added without a decorator is still closed to anonymous users: pages redirect to the login page,
``/api/`` answers 401 in the API's error shape. ``tests/test_security_endpoints.py`` walks the URL
map to prove it, and checks statically that each view carries a FAB permission decorator.
"""
from flask import abort, current_app, jsonify, redirect, request, url_for
from flask_babel import gettext
from flask_jwt_extended import get_jwt_identity, verify_jwt_in_request
from flask_login import current_user

# Endpoints anyone may reach, with the reason.
PUBLIC_ENDPOINTS = {
    "static": "the app's static files",
    "appbuilder.static": "Flask-AppBuilder's static files (css, js)",
    "AuthDBView.login": "the login page",
    "AuthDBView.logout": "FAB's old GET logout: a page whose button POSTs to SignOutView (core.protection)",
    "LocaleView.index": "FAB's old GET language switch: answers 405 (core.protection)",
    "LanguageView.switch": "the language switch, a POST (stores the choice in the session)",
    "SignOutView.sign_out": "logging out, a POST",
    "UtilView.back": "redirects to the previous page, shows nothing",
    "SecurityApi.login": "JWT login",
    "SecurityApi.refresh": "JWT refresh; needs a refresh token (flask_jwt_extended)",
}


def _api_401(message=None):
    return jsonify({"message": message or gettext("Not authenticated."), "errors": {}}), 401


def _authenticated():
    if current_user.is_authenticated:
        return True
    if request.path.startswith("/api/"):
        # An invalid or expired token raises; the JWT error handlers below answer 401.
        verify_jwt_in_request(optional=True)
        return get_jwt_identity() is not None
    return False


def _unknown_action(endpoint):
    """FAB's action routes crash (500) on an action name the view does not have: answer 404."""
    if endpoint.endswith(".action"):
        name = (request.view_args or {}).get("name")
    elif endpoint.endswith(".action_post"):
        name = request.form.get("action")
    else:
        return False
    view = getattr(current_app.view_functions.get(endpoint), "__self__", None)
    return view is not None and name not in (getattr(view, "actions", None) or {})


def require_login():
    endpoint = request.endpoint
    if endpoint is None or endpoint in PUBLIC_ENDPOINTS:
        return None  # unknown URL (404) or a public endpoint
    if _authenticated():
        if _unknown_action(endpoint):
            abort(404)
        return None
    if request.path.startswith("/api/"):
        return _api_401()
    sm = current_app.appbuilder.sm
    return redirect(url_for(sm.auth_view.__class__.__name__ + ".login", next=request.full_path))


def install(appbuilder):
    current_app.before_request(require_login)

    jwt = appbuilder.sm.jwt_manager
    if jwt is None:
        return

    @jwt.unauthorized_loader
    def _missing(reason):
        return _api_401()

    @jwt.invalid_token_loader
    def _invalid(reason):
        return _api_401(gettext("Invalid token."))

    @jwt.expired_token_loader
    def _expired(header, payload):
        return _api_401(gettext("The token has expired."))

    @jwt.revoked_token_loader
    def _revoked(header, payload):
        return _api_401(gettext("The token has been revoked."))

    @jwt.user_lookup_error_loader
    def _unknown_user(header, payload):
        return _api_401(gettext("Unknown user."))

    @jwt.needs_fresh_token_loader
    def _not_fresh(header, payload):
        return _api_401(gettext("A fresh token is required."))
