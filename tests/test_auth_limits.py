"""Rate limits on signing in: per client address and per account, on the page login and the API
login alike, kept in Redis under the run's key prefix; with Redis down, signing in goes on."""
import logging
import time
import uuid

import pytest
from redis import Redis

from app.core import queue
from tests.auth_support import api_login, new_user, page_login, zh
from tests.conftest import PASSWORD

FIXED_ADDRESS = {"REMOTE_ADDR": "192.0.2.10"}


def _client(app, address):
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    return client


def test_api_login_is_limited_per_client_address(app):
    """60 wrong passwords from one address: 429 with Retry-After from the 11th on (AUTH_RATE_LIMIT,
    10 per 20 seconds); the right password from that address waits too, another address does not."""
    address = f"192.0.2.{uuid.uuid4().int % 200 + 20}"
    client = _client(app, address)
    user = new_user(app)
    statuses = []
    started = time.monotonic()
    for i in range(60):
        # a different unknown account each time: only the address limit applies
        resp = api_login(app, f"ghost_{uuid.uuid4().hex[:8]}", "wrong-password-1", client=client)
        statuses.append(resp.status_code)
        if resp.status_code == 429:
            body = resp.get_json()
            assert set(body) == {"message", "errors"}
            assert body["message"] == zh(app, "Too many sign-in attempts. Wait a moment and try again.")
            assert 0 < int(resp.headers["Retry-After"]) <= 20
        if i == 10:
            assert api_login(app, user.username, client=client).status_code == 429
            assert api_login(app, user.username).status_code == 200  # another address
    windows = int((time.monotonic() - started) // 20) + 1
    assert statuses[:10] == [401] * 10 and statuses[10] == 429
    assert statuses.count(401) <= 10 * windows and statuses.count(429) >= 60 - 10 * windows


def test_failed_sign_ins_are_limited_per_account_across_addresses_and_logins(app):
    """An account tried from many addresses, through the page and the API: after
    AUTH_ACCOUNT_RATE_LIMIT failures (20 in 10 minutes) the next try answers 429."""
    limit = int(app.config["AUTH_ACCOUNT_RATE_LIMIT"].split()[0])
    name = f"ghost_{uuid.uuid4().hex[:8]}"
    for i in range(limit):
        if i % 2:
            assert api_login(app, name, "wrong-password-1").status_code == 401
        else:
            _client_, resp = page_login(app, name, "wrong-password-1")
            assert resp.status_code == 302
    resp = api_login(app, name, "wrong-password-1")
    assert resp.status_code == 429 and int(resp.headers["Retry-After"]) > 0
    _c, resp = page_login(app, name.upper(), "wrong-password-1")  # the same account, however typed
    assert resp.status_code == 429


def test_successful_sign_ins_do_not_count_against_the_account(app):
    user = new_user(app)
    limit = int(app.config["AUTH_ACCOUNT_RATE_LIMIT"].split()[0])
    for _ in range(limit + 2):
        assert api_login(app, user.username).status_code == 200


def test_page_login_answers_429_with_a_page_in_chinese(app):
    client = _client(app, f"198.51.100.{uuid.uuid4().int % 200 + 20}")
    statuses = [page_login(app, f"ghost_{uuid.uuid4().hex[:8]}", "wrong-password-1", client=client)[1].status_code
                for _ in range(11)]
    assert statuses[:10] == [302] * 10 and statuses[10] == 429
    resp = page_login(app, "hq", PASSWORD, client=client)[1]
    assert resp.status_code == 429 and int(resp.headers["Retry-After"]) > 0
    page = resp.get_data(as_text=True)
    assert resp.mimetype == "text/html"
    assert zh(app, "Too many attempts in a short time. Wait a minute and try again.") in page


def test_the_counters_live_in_redis_under_the_runs_prefix(app):
    prefix = app.config["RATELIMIT_KEY_PREFIX"]
    assert prefix.startswith("svc-test-")
    storage = app.appbuilder.sm.limiter.storage
    assert type(storage).__name__ == "RedisStorage"
    api_login(app, f"ghost_{uuid.uuid4().hex[:8]}", "wrong-password-1")
    redis = Redis.from_url(queue.redis_url(app))
    keys = [k.decode() for k in redis.scan_iter(match=f"*{prefix}*")]
    assert any("SecurityApi.login" in k for k in keys), keys
    assert any("sign-in-account" in k for k in keys), keys


@pytest.fixture
def app_with_redis_down(app):
    """The app as configured, with its Redis (the limiter's store and the queue) out of reach."""
    from app import create_app

    dead = "redis://127.0.0.1:1/0"
    other = create_app("testing", overrides={
        "SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"],
        "UPLOAD_FOLDER": app.config["UPLOAD_FOLDER"],
        "EMBEDDED_REDIS_FILE": app.config["EMBEDDED_REDIS_FILE"],
        "REDIS_URL": dead,
        "RATELIMIT_STORAGE_URI": dead,
    })
    other.test_client_class = app.test_client_class
    yield other
    with other.app_context():
        from app.extensions import db

        db.session.remove()
        db.engine.dispose()


def test_signing_in_works_while_redis_is_down(app_with_redis_down, caplog):
    other = app_with_redis_down
    assert other.appbuilder.sm.limiter._storage_uri == "redis://127.0.0.1:1/0"
    caplog.set_level(logging.WARNING, logger="flask-limiter")
    with other.app_context():
        client = other.test_client()
        resp = client.post("/login/", data={"username": "hq", "password": PASSWORD})
        assert resp.status_code == 302 and "/login" not in resp.headers["Location"]
        assert client.get("/").status_code == 200
        resp = other.test_client().post("/api/v1/security/login",
                                        json={"username": "hq", "password": PASSWORD, "provider": "db"})
        assert resp.status_code == 200 and resp.get_json()["access_token"]
        # the limits still hold meanwhile, counted in memory
        client = other.test_client()
        statuses = [client.post("/api/v1/security/login", json={
            "username": f"ghost_{uuid.uuid4().hex[:8]}", "password": "wrong-password-1", "provider": "db"}).status_code
            for _ in range(11)]
        assert statuses[-1] == 429
    assert any("unreachable" in r.getMessage() for r in caplog.records), [r.getMessage() for r in caplog.records]
