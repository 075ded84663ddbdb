"""Configuration layers: base defaults, then the environment's layer, then env vars.

``APP_ENV`` picks the layer (``development`` by default, ``testing``, ``production``).
``DATABASE_URL``, ``REDIS_URL``, ``SECRET_KEY`` and the ``MAIL_*`` variables override
whatever the layer says.
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
    module.Config.validate(settings)
    return settings
