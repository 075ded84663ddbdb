"""Rate limits on signing in, kept in Redis.

* Per client address: FAB's ``AUTH_RATE_LIMIT`` on the page login (every POST), and the same
  limit on the API login (``POST /api/v1/security/login``), which FAB leaves open.
* Per account: ``AUTH_ACCOUNT_RATE_LIMIT`` failed sign-ins for one username, page and API
  together (only failures count, so a user signing in often is never limited).

A breach answers 429 with ``Retry-After`` (the API: ``{"message", "errors"}``; the page: the
error page). The counters live in the Redis of ``REDIS_URL`` (the embedded one by default)
unless ``RATELIMIT_STORAGE_URI`` names another store, under ``RATELIMIT_KEY_PREFIX``. When Redis
cannot be reached the limiter falls back to counting in memory and logs a warning
(``RATELIMIT_IN_MEMORY_FALLBACK_ENABLED``, ``RATELIMIT_SWALLOW_ERRORS``): signing in goes on.
"""
from flask import current_app, g, request
from flask_babel import gettext
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address

ACCOUNT_SCOPE = "sign-in-account"


def storage_uri(app):
    """The limiter's store: ``RATELIMIT_STORAGE_URI``, else the app's Redis."""
    from app.core import queue

    uri = app.config.get("RATELIMIT_STORAGE_URI") or queue.redis_url(app)
    if uri.startswith("unix://"):  # the embedded Redis's socket, in the form the limits package reads
        uri = "redis+unix://" + uri[len("unix://"):]
    return uri


def create(app):
    limiter = Limiter(key_func=app.config.get("RATELIMIT_KEY_FUNC", get_remote_address),
                      storage_uri=storage_uri(app))
    limiter.init_app(app)
    return limiter


def account_key():
    """The username a sign-in attempt names (form or JSON), case-folded."""
    payload = request.get_json(silent=True) if request.is_json else None
    name = payload.get("username") if isinstance(payload, dict) else request.form.get("username")
    name = name.strip().lower()[:100] if isinstance(name, str) else ""
    return "account:" + (name or "-")


def _failed(response):
    return bool(g.get("_login_failed"))


def _too_many():
    return gettext("Too many sign-in attempts. Wait a moment and try again.")


def _not_api_login():
    return request.endpoint != "SecurityApi.login"


def attach(sm):
    """Put the limits on the API login and the per-account limit on both logins."""
    app = current_app
    if not app.config.get("AUTH_RATE_LIMITED") or sm.limiter is None:
        return
    api_view = next((v for v in sm.appbuilder.baseviews if v.__class__.__name__ == "SecurityApi"), None)
    account_limit = app.config.get("AUTH_ACCOUNT_RATE_LIMIT")
    if api_view is not None:
        sm.limiter.limit(sm.auth_rate_limit, methods=["POST"], exempt_when=_not_api_login,
                         error_message=_too_many)(api_view.blueprint)
    if not account_limit:
        return
    for blueprint, exempt in ((sm.auth_view.blueprint, None),
                              (api_view.blueprint if api_view is not None else None, _not_api_login)):
        if blueprint is not None:
            sm.limiter.shared_limit(account_limit, ACCOUNT_SCOPE, key_func=account_key, methods=["POST"],
                                    exempt_when=exempt, deduct_when=_failed, error_message=_too_many)(blueprint)
