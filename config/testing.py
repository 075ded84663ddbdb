import os
import uuid

from config.base import Config as Base

# One test run, one name: tests/conftest.py sets SVC_TEST_RUN (and rq's RQ_KEY_PREFIX from it) for
# the run and every worker process it starts; every Redis key the run writes contains it, and the
# run deletes those keys at its end.
RUN_ID = os.environ.get("SVC_TEST_RUN") or f"svc-test-{os.getpid()}-{uuid.uuid4().hex[:8]}"


class Config(Base):
    TESTING = True
    SECRET_KEY = "testing-secret-not-for-production-use-0123456789"
    # Tests pass DATABASE_URL / REDIS_URL; these are the fallbacks.
    SQLALCHEMY_DATABASE_URI = os.environ.get("TEST_DATABASE_URL", "sqlite:///:memory:")
    # CSRF protection and rate limits stay on, as in production: the tests' client
    # (tests/conftest.py) sends a valid CSRF token and gives each client its own address.
    # Rate-limit counters and the app's own keys of this run apart from any other run sharing the Redis.
    RATELIMIT_KEY_PREFIX = RUN_ID
    REDIS_KEY_PREFIX = RUN_ID + ":"
    MAIL_SUPPRESS_SEND = False
    FAB_PASSWORD_HASH_METHOD = "pbkdf2:sha256:1000"  # fast hashing for test users
