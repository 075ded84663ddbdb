"""One app per session on a freshly migrated database.

``TEST_DATABASE_URL`` picks the database: a PostgreSQL URL (a fresh database is created next to
it and dropped at the end) or nothing for a SQLite file in a temporary folder. ``TEST_REDIS_URL``
points at a real Redis (default: the embedded one).
"""
import hashlib
import itertools
import os
import tempfile
import uuid

import pytest
from flask.testing import FlaskClient
from itsdangerous import URLSafeTimedSerializer
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from tests import factories

PASSWORD = "Svc-Passw0rd-2026"
USERS = {
    # username: (roles, region codes)
    "hq": (["HQ Admin"], []),
    "hq2": (["HQ Admin"], []),
    "manager_e": (["Regional Manager"], ["E"]),
    "manager_w": (["Regional Manager"], ["W"]),
    "agent_e": (["Service Agent"], ["E"]),
    "auditor": (["Auditor"], []),
    "admin": (["Admin"], []),
    "nobody": (["Regional Manager"], []),
}


def pytest_configure(config):
    config.addinivalue_line("markers", "once: checks of the pages and the API contract, not of the database "
                            "(the browser tests, the API fuzz); bin/test runs them once per run")


def pytest_collection_modifyitems(config, items):
    for item in items:
        if "/browser/" in str(item.fspath):
            item.add_marker(pytest.mark.once)


_client_numbers = itertools.count(1)
UNSAFE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


class IsolatedClient(FlaskClient):
    """A browser on its own machine, with the product's protections on.

    - Each request runs in its own app context (its own ``g`` and session), as in production,
      even while the test itself holds an app context for direct database checks.
    - Each client has its own address (10.x.y.z), as separate users' browsers do, so the login
      rate limit (per address) counts one client's attempts, not the whole suite's. A test that
      needs several clients on one address passes ``environ_base={"REMOTE_ADDR": …}``.
    - Like the app's pages, a state-changing request carries the session's CSRF token (header
      ``X-CSRFToken``) unless it sends a bearer token or says ``csrf=False`` (the tests that prove
      a request without a token is refused). The token is the one the app would print in the page:
      the session's secret signed with the app's key (``flask_wtf.csrf.generate_csrf``).
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        n = next(_client_numbers)
        self.environ_base["REMOTE_ADDR"] = f"10.{(n >> 16) & 255}.{(n >> 8) & 255}.{n & 255}"

    def csrf_token(self):
        raw = None
        with self.session_transaction() as sess:
            raw = sess.get("csrf_token")
            if raw is None:
                raw = sess["csrf_token"] = hashlib.sha1(os.urandom(64)).hexdigest()
        return URLSafeTimedSerializer(self.application.secret_key, salt="wtf-csrf-token").dumps(raw)

    def open(self, *args, **kwargs):
        send_token = kwargs.pop("csrf", True)
        method = (kwargs.get("method") or "GET").upper()
        headers = dict(kwargs.pop("headers", None) or {})
        if (send_token and method in UNSAFE_METHODS and args and isinstance(args[0], str)
                and not str(headers.get("Authorization", "")).lower().startswith("bearer ")):
            headers.setdefault("X-CSRFToken", self.csrf_token())
        kwargs["headers"] = headers
        with self.application.app_context():
            return super().open(*args, **kwargs)


def _database_url(tmpdir):
    url = os.environ.get("TEST_DATABASE_URL")
    if not url:
        return "sqlite:///" + os.path.join(tmpdir, "test.sqlite"), None
    parsed = make_url(url.replace("postgresql://", "postgresql+psycopg://", 1))
    name = f"svc_test_{uuid.uuid4().hex[:8]}"
    admin = create_engine(parsed, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return parsed.set(database=name).render_as_string(hide_password=False), (parsed, name)


def _drop(created):
    parsed, name = created
    admin = create_engine(parsed, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session")
def app():
    tmpdir = tempfile.mkdtemp(prefix="svc-test-")
    url, created = _database_url(tmpdir)
    os.environ["DATABASE_URL"] = url
    os.environ["APP_ENV"] = "testing"
    if os.environ.get("TEST_REDIS_URL"):
        os.environ["REDIS_URL"] = os.environ["TEST_REDIS_URL"]
    from app import create_app

    overrides = {
        "SQLALCHEMY_DATABASE_URI": url,
        "UPLOAD_FOLDER": os.path.join(tmpdir, "uploads"),
        "EMBEDDED_REDIS_FILE": os.path.join(tmpdir, "redis.rdb"),
    }
    application = create_app("testing", overrides=overrides)
    with application.app_context():
        from flask_migrate import upgrade

        upgrade()
        from seeds import reference

        reference.load(log=lambda *a: None)
        factories.create_users(application, USERS, PASSWORD)
    application.config["TEST_DATABASE_URL"] = url
    application.test_client_class = IsolatedClient
    yield application
    with application.app_context():
        from app.extensions import db

        db.session.remove()
        db.engine.dispose()
    if created:
        _drop(created)


@pytest.fixture(autouse=True)
def _clean(app):
    """Each test starts with reference data and users only."""
    with app.app_context():
        yield
        from app.core import clock
        from app.extensions import db

        leaked, clock._frozen = clock._frozen, None
        assert leaked is None, "the test left the clock frozen"
        db.session.rollback()
        factories.wipe_business_data()
        db.session.remove()


@pytest.fixture
def world(app):
    """Two regions (E, W) with outlets, engineers, parts and stock; managers assigned."""
    return factories.build_world()


@pytest.fixture
def login(app):
    """``login(username)`` → a test client signed in through the real login page."""

    def _login(username, password=PASSWORD, must_succeed=True):
        client = app.test_client()
        resp = client.post("/login/", data={"username": username, "password": password})
        assert resp.status_code in (302, 303), resp.status_code
        if must_succeed:
            assert "/login/" not in resp.headers["Location"], f"{username} could not sign in"
        return client

    return _login


@pytest.fixture
def api(app):
    """``api(username)`` → a client whose requests carry a JWT from /api/v1/security/login."""

    class ApiClient:
        def __init__(self, token):
            self.client = app.test_client()
            self.headers = {"Authorization": f"Bearer {token}"}

        def _call(self, method, path, **kwargs):
            headers = dict(self.headers)
            headers.update(kwargs.pop("headers", {}))
            return getattr(self.client, method)(path, headers=headers, **kwargs)

        def get(self, path, **kw):
            return self._call("get", path, **kw)

        def post(self, path, **kw):
            return self._call("post", path, **kw)

        def put(self, path, **kw):
            return self._call("put", path, **kw)

        def delete(self, path, **kw):
            return self._call("delete", path, **kw)

    def _api(username, password=PASSWORD):
        client = app.test_client()
        resp = client.post("/api/v1/security/login",
                           json={"username": username, "password": password, "provider": "db"})
        assert resp.status_code == 200, resp.get_json()
        return ApiClient(resp.get_json()["access_token"])

    return _api
