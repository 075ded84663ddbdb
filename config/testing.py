import os
import uuid

from config.base import Config as Base


class Config(Base):
    TESTING = True
    SECRET_KEY = "testing-secret-not-for-production-use-0123456789"
    # Tests pass DATABASE_URL / REDIS_URL; these are the fallbacks.
    SQLALCHEMY_DATABASE_URI = os.environ.get("TEST_DATABASE_URL", "sqlite:///:memory:")
    # CSRF protection and rate limits stay on, as in production: the tests' client
    # (tests/conftest.py) sends a valid CSRF token and gives each client its own address.
    # Rate-limit counters of this run apart from any other run sharing the Redis.
    RATELIMIT_KEY_PREFIX = f"svc-test-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    MAIL_SUPPRESS_SEND = False
    FAB_PASSWORD_HASH_METHOD = "pbkdf2:sha256:1000"  # fast hashing for test users
