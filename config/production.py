from config import ConfigError
from config.base import Config as Base


class Config(Base):
    DEBUG = False
    SESSION_COOKIE_SECURE = True
    SESSION_COOKIE_HTTPONLY = True
    REMEMBER_COOKIE_SECURE = True
    RATELIMIT_STORAGE_URI = None  # set from REDIS_URL by the app factory
    SQLALCHEMY_ENGINE_OPTIONS = {"pool_pre_ping": True, "pool_size": 10, "max_overflow": 10}

    @staticmethod
    def validate(settings):
        secret = settings.get("SECRET_KEY") or ""
        if secret in ("", Base.SECRET_KEY) or len(secret) < 32:
            raise ConfigError("production needs SECRET_KEY: at least 32 random characters")
        if settings.get("SQLALCHEMY_DATABASE_URI", "").startswith("sqlite"):
            raise ConfigError("production needs DATABASE_URL pointing at PostgreSQL")
        if settings.get("REDIS_URL") in (None, "", "embedded"):
            raise ConfigError("production needs REDIS_URL pointing at a Redis server")
