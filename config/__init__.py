"""Configuration layers: base defaults, then the environment's layer, then env vars.

``APP_ENV`` picks the layer (``development`` by default, ``testing``, ``production``).
``DATABASE_URL``, ``REDIS_URL``, ``SECRET_KEY``, ``PUBLIC_BASE_URL`` and the ``MAIL_*`` variables
override whatever the layer says.
"""
import importlib
import os

LAYERS = ("development", "testing", "production")

ENV_OVERRIDES = {
    "DATABASE_URL": "SQLALCHEMY_DATABASE_URI",
    "REDIS_URL": "REDIS_URL",
    "SECRET_KEY": "SECRET_KEY",
    "MAIL_SERVER": "MAIL_SERVER",
    "MAIL_PORT": "MAIL_PORT",
    "MAIL_USERNAME": "MAIL_USERNAME",
    "MAIL_PASSWORD": "MAIL_PASSWORD",
    "MAIL_USE_TLS": "MAIL_USE_TLS",
    "MAIL_USE_SSL": "MAIL_USE_SSL",
    "MAIL_DEFAULT_SENDER": "MAIL_DEFAULT_SENDER",
    "RQ_QUEUE": "RQ_QUEUE",
    "RQ_NOTIFY_QUEUE": "RQ_NOTIFY_QUEUE",
    "RQ_HOUSEKEEPING_QUEUE": "RQ_HOUSEKEEPING_QUEUE",
    "UPLOAD_FOLDER": "UPLOAD_FOLDER",
    "PUBLIC_BASE_URL": "PUBLIC_BASE_URL",
}

_BOOL = {"MAIL_USE_TLS", "MAIL_USE_SSL"}
_INT = {"MAIL_PORT"}


class ConfigError(RuntimeError):
    """Raised when the configuration cannot be used (e.g. production without a secret)."""


def _coerce(key, value):
    if key in _BOOL:
        return value.strip().lower() in ("1", "true", "yes", "on")
    if key in _INT:
        return int(value)
    return value


def _check_public_base_url(settings):
    """Links in emails start with PUBLIC_BASE_URL: an http(s) address with a host, nothing after its path."""
    from urllib.parse import urlsplit

    value = str(settings.get("PUBLIC_BASE_URL") or "").strip().rstrip("/")
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        raise ConfigError(f"PUBLIC_BASE_URL must be an http(s) address such as https://service.example.cn, "
                          f"not {value!r}")
    settings["PUBLIC_BASE_URL"] = value


def load(name=None, overrides=None):
    """Return a plain dict of settings for the layer ``name``."""
    name = name or os.environ.get("APP_ENV", "development")
    if name not in LAYERS:
        raise ConfigError(f"unknown APP_ENV {name!r}; expected one of {', '.join(LAYERS)}")
    module = importlib.import_module(f"config.{name}")
    settings = {k: getattr(module.Config, k) for k in dir(module.Config) if k.isupper()}
    for env_key, cfg_key in ENV_OVERRIDES.items():
        if os.environ.get(env_key):
            settings[cfg_key] = _coerce(cfg_key, os.environ[env_key])
    settings.update(overrides or {})
    settings["APP_ENV"] = name
    _check_public_base_url(settings)
    module.Config.validate(settings)
    return settings
