"""One app per session on a freshly migrated database.

``TEST_DATABASE_URL`` picks the database: a PostgreSQL URL (a fresh database is created next to
it and dropped at the end) or nothing for a SQLite file in a temporary folder. ``TEST_REDIS_URL``
points at a real Redis (default: the embedded one).

**A run cleans up after itself, and two runs on one machine never meet.** Each run has a name,
``RUN_ID`` (``svc-test-<pid>-<random>``), and a private temporary folder, ``RUN_DIR``:

* every Redis key the run writes contains ``RUN_ID``: rq's keys (rq 3 reads the ``RQ_KEY_PREFIX``
  environment variable when it is imported: it is set here, before anything imports rq, and worker
  processes inherit it), the rate limiter's (``RATELIMIT_KEY_PREFIX``) and the app's own
  (``REDIS_KEY_PREFIX``; both from ``config/testing.py``, which reads ``SVC_TEST_RUN``). At the end
  the run deletes exactly those keys, so a shared Redis (CI's ``TEST_REDIS_URL``) keeps nothing of
  it and another run's keys are never touched. Without ``TEST_REDIS_URL`` the run starts its own
  embedded Redis server (in ``RUN_DIR``) and shuts it down at the end;
* ``TMPDIR`` points into ``RUN_DIR`` for this process and every process it starts (workers, the
  embedded Redis, pytest's ``tmp_path``): the SQLite database, uploads and exports all live there,
  and ``RUN_DIR`` is deleted when the run ends;
* each test gets queues of its own (``t<n>-notify``, ``t<n>-default``, ``t<n>-housekeeping``),
  emptied and deleted when it ends, so no job of one test is ever run by another's worker;
* every worker a test starts (``tests/workers.py``) is stopped at the end of its block, or at the
  end of the run at the latest; a PostgreSQL database is created per run and dropped at its end.

``tests/test_suite_cleanup.py`` proves it: it runs a small session (``tests/cleanup_probe.py``) in a
child process and finds no process, file or Redis key of it afterwards.
"""
import hashlib
import itertools
import os
import shutil
import sys
import tempfile
import uuid

RUN_ID = f"svc-test-{os.getpid()}-{uuid.uuid4().hex[:8]}"
RUN_DIR = tempfile.mkdtemp(prefix="svc-test-")  # short: the embedded Redis's unix socket lives below it
os.environ["SVC_TEST_RUN"] = RUN_ID
os.environ["RQ_KEY_PREFIX"] = RUN_ID + "-rq"
os.environ["TMPDIR"] = RUN_DIR
tempfile.tempdir = RUN_DIR
if "rq" in sys.modules:  # too late: rq has read its prefix already
    raise RuntimeError("rq was imported before tests/conftest.py could give this run its Redis key prefix")

import pytest  # noqa: E402
from flask.testing import FlaskClient  # noqa: E402
from itsdangerous import URLSafeTimedSerializer  # noqa: E402
from sqlalchemy import create_engine, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from tests import factories, workers  # noqa: E402

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
    config.addinivalue_line("markers", "browser: the tests in tests/browser (a real chromium)")
    config.addinivalue_line("markers", "once: checks of the pages and the API contract, not of the database "
                            "(the browser tests, the API fuzz); bin/test runs them once per run")


def pytest_report_header(config):
    return f"test run {RUN_ID}: Redis keys *{RUN_ID}*, temporary files in {RUN_DIR} (all removed at the end)"


def pytest_unconfigure(config):
    """The last word (also after an interrupted run): no worker, no embedded Redis, no key in a
    shared Redis and no temporary file of this run is left."""
    workers.stop_all()
    from app.core import queue

    queue.stop_embedded()
    if os.environ.get("TEST_REDIS_URL"):
        from redis import Redis

        try:
            with Redis.from_url(os.environ["TEST_REDIS_URL"]) as connection:
                forget_redis_keys(connection)
        except Exception as exc:  # unreachable: nothing could be written there either
            print(f"Redis keys of test run {RUN_ID} not deleted: {exc}", file=sys.stderr)
    shutil.rmtree(RUN_DIR, ignore_errors=True)


def forget_redis_keys(connection, pattern=None):
    """Delete every key of this run (``*RUN_ID*``) from a shared Redis; returns how many."""
    deleted, batch = 0, []
    for key in connection.scan_iter(match=pattern or f"*{RUN_ID}*", count=1000):
        batch.append(key)
        if len(batch) >= 500:
            deleted += connection.delete(*batch)
            batch = []
    if batch:
        deleted += connection.delete(*batch)
    return deleted


def pytest_collection_modifyitems(config, items):
    for item in items:
        if "/browser/" in str(item.fspath):
            item.add_marker(pytest.mark.once)
            item.add_marker(pytest.mark.browser)


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
    tmpdir = RUN_DIR
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
    workers.stop_all()
    from app.core import queue

    if os.environ.get("TEST_REDIS_URL"):  # a shared Redis: forget this run's keys, and only them
        forget_redis_keys(queue.connection(application))
    queue.connection(application).close()
    with application.app_context():
        from app.extensions import db

        db.session.remove()
        db.engine.dispose()
    queue.stop_embedded()
    if created:
        _drop(created)


_test_numbers = itertools.count(1)
QUEUE_SETTINGS = ("RQ_NOTIFY_QUEUE", "RQ_QUEUE", "RQ_HOUSEKEEPING_QUEUE")


@pytest.fixture(autouse=True)
def _clean(app):
    """Each test starts with reference data and users only, and queues of its own (deleted at its end)."""
    number = next(_test_numbers)
    previous = {key: app.config[key] for key in QUEUE_SETTINGS}
    mine = {key: f"t{number}-{previous[key]}" for key in QUEUE_SETTINGS}
    app.config.update(mine)
    try:
        with app.app_context():
            yield
            from app.core import clock
            from app.extensions import db

            leaked, clock._frozen = clock._frozen, None
            assert leaked is None, "the test left the clock frozen"
            db.session.rollback()
            factories.wipe_business_data()
            db.session.remove()
    finally:
        app.config.update(previous)
        _drop_queues(app, mine.values())


def _drop_queues(app, names):
    from app.core import queue

    try:
        workers.drop_queues(queue.connection(app), names)
    except Exception as exc:  # Redis out of reach: the run's end forgets its keys anyway
        import warnings

        warnings.warn(f"queues of the test not deleted: {exc}")


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
