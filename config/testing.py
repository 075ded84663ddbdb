import os

from config.base import Config as Base


class Config(Base):
    TESTING = True
    SECRET_KEY = "testing-secret-not-for-production-use-0123456789"
    # Tests pass DATABASE_URL / REDIS_URL; these are the fallbacks.
    SQLALCHEMY_DATABASE_URI = os.environ.get("TEST_DATABASE_URL", "sqlite:///:memory:")
    WTF_CSRF_ENABLED = False
    RATELIMIT_ENABLED = False
    AUTH_RATE_LIMITED = False
    MAIL_SUPPRESS_SEND = False
    FAB_PASSWORD_HASH_METHOD = "pbkdf2:sha256:1000"  # fast hashing for test users
