"""What every benchmark module (``bench/b_<name>.py``) shares: the filled database it measures, the
product's app bound to it, signed-in clients, and the measuring helpers.

A module exposes ``run(ctx) -> list[dict]``: each dict is a ``Row`` (goal, what, the product's
figure, the best hand-written SQL's, the stock Flask-AppBuilder app's, the unit, the statements the
product ran, the target and whether it is met). ``bench/run.py`` runs every module at each scale and
prints one table; a module also runs alone::

    .venv/bin/python -m bench.b_<name> --scale 0.01

Figures are medians of repeated runs measured in the same process against the same database, and
the table shows ratios (product ÷ best SQL, stock ÷ product), never bare times.

The filled databases (``bench/fill.py``) are ``bench_p1`` (scale 0.01) and ``bench_p100`` (scale
1.0) on ``BENCH_PG`` (default ``postgresql://postgres@127.0.0.1:5432``). They are read-only for the
benchmarks: a benchmark that writes works on a clone, ``with ctx.scratch() as url: ...``, made from
the filled database's frozen copy (``<name>_template``, which nobody connects to, so cloning never
waits for readers) and dropped afterwards.
"""
import argparse
import contextlib
import hashlib
import itertools
import json
import os
import resource
import statistics
import sys
import tempfile
import time
import uuid

from flask.testing import FlaskClient

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

SERVER = os.environ.get("BENCH_PG", "postgresql://postgres@127.0.0.1:5432").rstrip("/")
PASSWORD = "Bench-Passw0rd-2026"
USERS = {"hq": "bench_hq", "manager": "bench_manager", "agent": "bench_agent",
         "auditor": "bench_auditor", "admin": "bench_admin"}
SCALES = (0.01, 1.0)
GOALS = ("1 lists", "2 dashboard", "3 sweep", "4 exports", "5 imports", "6 writes", "7 growth")


def database_name(scale):
    """``bench_p1`` for scale 0.01, ``bench_p100`` for 1.0 (the scale in hundredths); other scales
    get ``bench_s<scale>`` with the dot as ``_``."""
    hundredths = round(scale * 100, 6)
    if hundredths == int(hundredths) and hundredths >= 1:
        return f"bench_p{int(hundredths)}"
    return "bench_s" + f"{scale:g}".replace(".", "_").replace("-", "_")


def template_name(database):
    return f"{database}_template"


def dsn_for(database, server=SERVER):
    """Plain libpq DSN (``postgresql://…/name``) for psycopg."""
    return f"{server}/{database}"


def url_for(database, server=SERVER):
    """SQLAlchemy URL (``postgresql+psycopg://…/name``) for the app."""
    return dsn_for(database, server).replace("postgresql://", "postgresql+psycopg://", 1)


def plain_dsn(url):
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def admin_connection(server=SERVER):
    import psycopg

    return psycopg.connect(f"{server}/postgres", autocommit=True)


def database_exists(name, server=SERVER):
    with admin_connection(server) as conn:
        return conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is not None


def fill_info(name, server=SERVER):
    """What ``bench/fill.py`` recorded on a filled database (scale, seconds per table, row counts,
    when), or None when the database is missing or its fill did not finish."""
    with admin_connection(server) as conn:
        row = conn.execute("SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s",
                           (name,)).fetchone()
    if not row or not row[0]:
        return None
    try:
        info = json.loads(row[0])
    except ValueError:
        return None
    return info if isinstance(info, dict) and info.get("complete") else None


# --- measuring -------------------------------------------------------------------------------


def median_ms(fn, n=20, warmup=2):
    """Median wall time of ``fn()`` in milliseconds over ``n`` runs, after ``warmup`` unmeasured ones."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(max(1, n)):
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) * 1000.0)
    return statistics.median(times)


class StatementCounter:
    """Counts the SQL statements an engine runs inside the block::

        with StatementCounter(db.engine) as counter:
            client.get("/complaints/list/")
        counter.count, counter.statements
    """

    def __init__(self, engine):
        self.engine = engine
        self.statements = []

    @property
    def count(self):
        return len(self.statements)

    def _before(self, conn, cursor, statement, parameters, context, executemany):
        self.statements.append(statement)

    def __enter__(self):
        from sqlalchemy import event

        self.statements = []
        event.listen(self.engine, "before_cursor_execute", self._before)
        return self

    def __exit__(self, *exc):
        from sqlalchemy import event

        event.remove(self.engine, "before_cursor_execute", self._before)
        return False


def sql_ms(dsn, sql, params=None, n=20, warmup=2):
    """Median milliseconds of one statement over psycopg (executed and every row fetched)."""
    import psycopg

    with psycopg.connect(plain_dsn(dsn), autocommit=True) as conn:
        def once():
            with conn.cursor() as cur:
                cur.execute(sql, params)
                if cur.description:
                    cur.fetchall()

        return median_ms(once, n=n, warmup=warmup)


def peak_rss_mb():
    """This process's peak resident memory so far, in MB."""
    usage = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KB on Linux
    return usage / (1024.0 * 1024.0) if sys.platform == "darwin" else usage / 1024.0


def Row(goal, what, product, best=None, stock=None, unit="ms", statements=None, target="", ok=None, note=""):
    """One line of the results table (a plain dict; the runner adds the scale and the ratios)."""
    return {"goal": goal, "what": what, "product": product, "best": best, "stock": stock, "unit": unit,
            "statements": statements, "target": target, "ok": ok, "note": note}


# --- the product's app -----------------------------------------------------------------------

_client_numbers = itertools.count(1)
UNSAFE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


class BenchClient(FlaskClient):
    """A browser with the product's protections on: its own address (so the per-address sign-in
    limit counts this client only), each request in its own app context, and the session's CSRF
    token (header ``X-CSRFToken``) on every state-changing request that has no bearer token."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        n = next(_client_numbers) + os.getpid() * 997
        self.environ_base["REMOTE_ADDR"] = f"10.{(n >> 16) & 255}.{(n >> 8) & 255}.{n & 255}"

    def csrf_token(self):
        with self.session_transaction() as sess:
            raw = sess.get("csrf_token")
            if raw is None:
                raw = sess["csrf_token"] = hashlib.sha1(os.urandom(64)).hexdigest()
        from itsdangerous import URLSafeTimedSerializer

        return URLSafeTimedSerializer(self.application.secret_key, salt="wtf-csrf-token").dumps(raw)

    def open(self, *args, **kwargs):
        method = (kwargs.get("method") or "GET").upper()
        headers = dict(kwargs.pop("headers", None) or {})
        if (method in UNSAFE_METHODS and args and isinstance(args[0], str)
                and not str(headers.get("Authorization", "")).lower().startswith("bearer ")):
            headers.setdefault("X-CSRFToken", self.csrf_token())
        kwargs["headers"] = headers
        with self.application.app_context():
            return super().open(*args, **kwargs)


def make_app(url, tmp=None, env="development", overrides=None):
    """The product's Flask app on ``url`` with its protections on (CSRF, permissions, sign-in rate
    limits counted in memory), its own temporary upload folder, Redis from ``BENCH_REDIS_URL`` (or
    ``REDIS_URL``; an embedded one otherwise)."""
    from app import create_app

    tmp = tmp or tempfile.mkdtemp(prefix="bench-app-")
    settings = {
        "SQLALCHEMY_DATABASE_URI": url,
        "RATELIMIT_STORAGE_URI": "memory://",
        "UPLOAD_FOLDER": os.path.join(tmp, "uploads"),
        "EMBEDDED_REDIS_FILE": os.path.join(tmp, "redis.rdb"),
        "REDIS_KEY_PREFIX": f"bench-{os.getpid()}:",
        "SECRET_KEY": "bench-secret-key-0123456789abcdef0123456789abcdef",
    }
    redis = os.environ.get("BENCH_REDIS_URL") or os.environ.get("REDIS_URL")
    if redis:
        settings["REDIS_URL"] = redis
    settings.update(overrides or {})
    app = create_app(env, overrides=settings)
    app.test_client_class = BenchClient
    return app


class Context:
    """What a benchmark module gets: the filled database at one scale and the product bound to it."""

    users = dict(USERS)
    password = PASSWORD

    def __init__(self, scale, server=SERVER, database=None):
        self.scale = scale
        self.server = server
        self.database = database or database_name(scale)
        self.dsn = dsn_for(self.database, server)
        self.url = url_for(self.database, server)
        self.tmp = tempfile.mkdtemp(prefix="bench-ctx-")
        self._apps = {}
        self._scratch = []

    # the filled database
    def info(self):
        """What the filler recorded (scale, seconds per table, row counts), or None."""
        return fill_info(self.database, self.server)

    @contextlib.contextmanager
    def scratch(self):
        """A throwaway clone of the filled database (its URL), dropped when the block ends."""
        import psycopg

        name = f"bench_scratch_{os.getpid()}_{uuid.uuid4().hex[:6]}"
        source = template_name(self.database)
        if not database_exists(source, self.server):
            source = self.database
        last = None
        for _ in range(60):  # a template being copied by someone else, or read: wait and retry
            try:
                with admin_connection(self.server) as conn:
                    conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{source}" STRATEGY FILE_COPY')
                break
            except psycopg.errors.ObjectInUse as exc:
                last = exc
                time.sleep(1)
        else:
            raise RuntimeError(f"could not clone {source}: {last}")
        self._scratch.append(name)
        url = url_for(name, self.server)
        try:
            yield url
        finally:
            app = self._apps.pop(url, None)
            if app is not None:
                dispose(app)
            with admin_connection(self.server) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            self._scratch.remove(name)

    # the product
    def app(self, url=None):
        """The product's app bound to ``url`` (default: the filled database); one per URL."""
        url = url or self.url
        if url not in self._apps:
            self._apps[url] = make_app(url, tmp=tempfile.mkdtemp(prefix="app-", dir=self.tmp))
        return self._apps[url]

    def client(self, role="manager", app=None):
        """A test client signed in as the bench user of ``role`` through the real sign-in page."""
        app = app or self.app()
        username = self.users.get(role, role)
        client = app.test_client()
        resp = client.post("/login/", data={"username": username, "password": self.password})
        location = resp.headers.get("Location", "")
        if resp.status_code not in (302, 303) or "/login/" in location:
            raise RuntimeError(f"{username} could not sign in (status {resp.status_code}, to {location!r})")
        return client

    def api_headers(self, role="manager", app=None):
        """Headers carrying a JWT from ``/api/v1/security/login`` for the bench user of ``role``."""
        app = app or self.app()
        username = self.users.get(role, role)
        resp = app.test_client().post("/api/v1/security/login",
                                      json={"username": username, "password": self.password, "provider": "db"})
        if resp.status_code != 200:
            raise RuntimeError(f"{username} could not sign in to the API: {resp.status_code} {resp.get_data(True)}")
        return {"Authorization": f"Bearer {resp.get_json()['access_token']}"}

    def close(self):
        for app in self._apps.values():
            dispose(app)
        self._apps.clear()
        import shutil

        shutil.rmtree(self.tmp, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


def dispose(app):
    """Close an app's database pool and Redis connection."""
    from app.extensions import db

    with app.app_context():
        db.session.remove()
        db.engine.dispose()
    redis = app.extensions.get("rq", {}).pop("redis", None)
    if redis is not None:
        with contextlib.suppress(Exception):
            redis.close()


def stop_embedded():
    from app.core import queue

    queue.stop_embedded()


def main(run, argv=None, description=None):
    """``python -m bench.b_<name> --scale 0.01``: run one module and print its rows."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--scale", type=float, action="append", help="scale (repeatable; default 0.01)")
    args = parser.parse_args(argv)
    rows = []
    try:
        for scale in args.scale or [0.01]:
            with Context(scale) as ctx:
                if ctx.info() is None:
                    raise SystemExit(f"{ctx.database} is not filled: python -m bench.fill --scale {scale}")
                for row in run(ctx):
                    row = dict(row, scale=scale)
                    rows.append(row)
                    print(json.dumps(row, ensure_ascii=False, default=str), flush=True)
    finally:
        stop_embedded()
    return rows
