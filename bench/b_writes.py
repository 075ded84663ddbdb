"""Goal 6, writes: recording a complaint through the real API, by one client and by sixteen at
once, and what the audit trail's single chain row costs under sixteen writers.

In a scratch clone of the filled database:

* **statements** — one ``POST /api/v1/complaint/`` in the product's app (in process), every
  statement counted; the ones that sign the bearer in (user, roles, permissions) are counted apart;
* **throughput** — the app served by gunicorn (``sync`` workers, one per client: 16 processes, so
  16 requests really run at once; the app is loaded once and forked, ``--preload``), driven by 1
  and then by 16 client threads posting complaints for a fixed time each (bearer token, one
  connection per request). The ratio is complaints per second with 16 ÷ with 1;
* **chain lock out of the picture** — the same served app and workload, but the audit events get
  their ids from a PostgreSQL sequence and nobody takes the ``audit_chain`` row (a variant that
  exists only in this benchmark: the events it writes are not chained);
* **best SQL** — the same writes by hand over psycopg, 1 and 16 connections: the day's number
  counter (``UPDATE … RETURNING``), the complaint and its first timeline row, the chain head taken,
  two audit events inserted and the head moved on (one statement), ``COMMIT``; and the same
  without the chain head;
* **lock hold** — one client in process: how long the day's number counter row and the chain
  head row stay locked per complaint (from the statement taking them to the end of the commit).
  Whatever the cores, a day's complaints cannot be recorded faster than one per counter hold,
  nor audited writes faster than one per head hold.

While 16 clients run, ``pg_stat_activity`` is sampled every 20 ms: how many of the app's backends
are running a statement, waiting for a lock (and which: the chain head or the number counter) or
idle inside their transaction (the Python side working between statements); and the machine's CPU
use is read from ``/proc/stat``. This machine has 2 cores: 16 Python processes cannot run faster
than 2 at a time, which bounds the ratio whatever the database does.

Run alone::

    .venv/bin/python -m bench.b_writes --scale 0.01
"""
import contextlib
import hashlib
import http.client
import json
import os
import socket
import subprocess
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

GOAL = "6 writes"
CLIENTS = 16
SECONDS_ONE = float(os.environ.get("BENCH_WRITES_SECONDS_ONE", "6"))
SECONDS_MANY = float(os.environ.get("BENCH_WRITES_SECONDS_MANY", "8"))
RATIO_TARGET = 8.0
STATEMENT_TARGET = 12
SEQUENCE = "bench_writes_audit_id"  # the variant's event ids (created in the scratch clone only)


# --- the served app (gunicorn loads ``bench.b_writes:served_app()``) ------------------------------

def _append_unchained(connection, events):
    """The benchmark's variant of ``chain.append``: same rows, ids from a sequence, no head row."""
    from sqlalchemy import insert, text

    from app.audit_trail import chain
    from app.audit_trail.models import AuditEvent
    from app.core import clock

    if not events:
        return []
    ids = [r[0] for r in connection.execute(
        text(f"SELECT nextval('{SEQUENCE}') FROM generate_series(1, :n)"), {"n": len(events)})]
    now = clock.now()
    rows = []
    for event, event_id in zip(events, ids):
        row = dict(event, id=event_id, prev_hash=chain.GENESIS)
        row["at"] = row.get("at") or now
        row["hash"] = chain.digest(row)
        rows.append(row)
    connection.execute(insert(AuditEvent.__table__), rows)
    return rows


def served_app():
    """The product's app for gunicorn (``BENCH_WRITES_URL``; ``BENCH_WRITES_VARIANT=unchained``
    swaps the chain append for the variant above). Each forked worker gets its own pool."""
    from bench.common import make_app

    app = make_app(os.environ["BENCH_WRITES_URL"])
    if os.environ.get("BENCH_WRITES_VARIANT") == "unchained":
        from app.audit_trail import chain

        chain.append = _append_unchained

    def fresh_pool():
        from app.extensions import db

        with app.app_context():
            db.engine.dispose(close=False)

    os.register_at_fork(after_in_child=fresh_pool)
    fresh_pool()
    return app


@contextlib.contextmanager
def gunicorn(url, workers, variant=""):
    """The app served on a free local port; yields the port; stops the server at the end."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = dict(os.environ, BENCH_WRITES_URL=url, BENCH_WRITES_VARIANT=variant, PYTHONPATH=ROOT)
    log = open(os.path.join(ROOT, "bench", ".b_writes_gunicorn.log"), "w") if os.environ.get("BENCH_WRITES_LOG") \
        else subprocess.DEVNULL
    proc = subprocess.Popen(
        [os.path.join(os.path.dirname(sys.executable), "gunicorn"), "--preload", "-w", str(workers),
         "-k", "sync", "--timeout", "120", "--backlog", "256", "-b", f"127.0.0.1:{port}",
         "bench.b_writes:served_app()"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.time() + 180
        while time.time() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"gunicorn ended with {proc.returncode}")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                time.sleep(0.3)
        else:
            raise RuntimeError("gunicorn did not start")
        yield port, proc.pid
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# --- the clients ---------------------------------------------------------------------------------

def _post(port, path, body, headers):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    try:
        conn.request("POST", path, body=body, headers=headers)
        response = conn.getresponse()
        data = response.read()
        return response.status, data
    finally:
        conn.close()


def token(port, username, password):
    status, data = _post(port, "/api/v1/security/login",
                         json.dumps({"username": username, "password": password, "provider": "db"}),
                         {"Content-Type": "application/json"})
    if status != 200:
        raise RuntimeError(f"{username} could not sign in: {status} {data[:200]!r}")
    return json.loads(data)["access_token"]


def drive(port, bearer, payload, clients, seconds):
    """``(completed, seconds, failures)``: ``clients`` threads posting complaints for ``seconds``."""
    body = json.dumps(payload)
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {bearer}"}
    done, failed = [0] * clients, [0] * clients
    errors = []
    stop = threading.Event()
    barrier = threading.Barrier(clients + 1)

    def client(i):
        barrier.wait()
        while not stop.is_set():
            status, data = _post(port, "/api/v1/complaint/", body, headers)
            if status == 201:
                done[i] += 1
            else:
                failed[i] += 1
                if len(errors) < 3:
                    errors.append((status, data[:200]))

    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(clients)]
    for t in threads:
        t.start()
    barrier.wait()
    started = time.perf_counter()
    time.sleep(seconds)
    stop.set()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started  # the requests in flight at the stop are counted
    return sum(done), elapsed, sum(failed), errors


# --- what the machine and the database do meanwhile ---------------------------------------------

def _cpu_times():
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    idle = fields[3] + fields[4]
    return sum(fields), idle


def _process_cpu(pids):
    ticks = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                parts = f.read().rsplit(")", 1)[1].split()
            ticks += int(parts[11]) + int(parts[12])
        except (OSError, IndexError, ValueError):
            pass
    return ticks / os.sysconf("SC_CLK_TCK")


def _children(pid):
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        return []


class Sampler(threading.Thread):
    """Samples the clone's client backends every 20 ms until stopped."""

    def __init__(self, dsn, database):
        super().__init__(daemon=True)
        self.dsn, self.database = dsn, database
        self.stop = threading.Event()
        self.samples = 0
        self.counts = {"active": 0, "lock_chain": 0, "lock_number": 0, "lock_other": 0, "in_transaction": 0}

    def run(self):
        import psycopg

        with psycopg.connect(self.dsn, autocommit=True) as conn:
            while not self.stop.is_set():
                rows = conn.execute(
                    "SELECT state, wait_event_type, query FROM pg_stat_activity "
                    "WHERE datname = %s AND backend_type = 'client backend' AND pid <> pg_backend_pid()",
                    (self.database,)).fetchall()
                self.samples += 1
                for state, wait_type, query in rows:
                    if state == "active" and wait_type == "Lock":
                        q = (query or "").lstrip()
                        key = ("lock_chain" if q.startswith("UPDATE audit_chain")
                               else "lock_number" if ("number_sequence" in q[:40]) else "lock_other")
                        self.counts[key] += 1
                    elif state == "active":
                        self.counts["active"] += 1
                    elif state == "idle in transaction":
                        self.counts["in_transaction"] += 1
                time.sleep(0.02)

    def mean(self):
        n = max(self.samples, 1)
        return {k: round(v / n, 2) for k, v in self.counts.items()}


def measure_served(ctx, url, database, payload, username, variant=""):
    """1 client, then 16: ``{"one": per_s, "many": per_s, "waits": …, "cpu_busy": …, …}``."""
    from bench.common import plain_dsn

    with gunicorn(url, CLIENTS, variant) as (port, master):
        bearer = token(port, username, ctx.password)
        drive(port, bearer, payload, CLIENTS, 3)  # warm every worker
        n1, s1, f1, e1 = drive(port, bearer, payload, 1, SECONDS_ONE)
        sampler = Sampler(plain_dsn(ctx.dsn), database)
        workers = _children(master)
        total0, idle0 = _cpu_times()
        app_cpu0 = _process_cpu(workers)
        sampler.start()
        n16, s16, f16, e16 = drive(port, bearer, payload, CLIENTS, SECONDS_MANY)
        sampler.stop.set()
        sampler.join()
        total1, idle1 = _cpu_times()
        app_cpu = _process_cpu(workers) - app_cpu0
    ticks = os.sysconf("SC_CLK_TCK")
    wall_cpu = (total1 - total0) / ticks  # CPU-seconds the machine had (all cores)
    return {"one": n1 / s1, "many": n16 / s16, "failed": f1 + f16, "errors": e1 + e16,
            "waits": sampler.mean(), "cpu_busy": round(1 - (idle1 - idle0) / max(total1 - total0, 1), 2),
            "app_cpu_share": round(app_cpu / max(wall_cpu, 1e-9), 2)}


# --- the best hand-written SQL ------------------------------------------------------------------

def _sql_writer(dsn, template, chained, stop, counter, index):
    import psycopg

    complaint, event, audit = template
    n = 0
    with psycopg.connect(dsn) as conn:
        while not stop.is_set():
            n += 1
            with conn.transaction():
                value = conn.execute("UPDATE number_sequence SET value = value + 1 WHERE prefix = %s "
                                     "RETURNING value", ("SQLBENCH",)).fetchone()[0]
                params = dict(complaint, number=f"SQ{index:02d}{value:010d}")
                cols = ", ".join(params)
                cid = conn.execute(f"INSERT INTO complaint ({cols}) VALUES "
                                   f"({', '.join('%(' + c + ')s' for c in params)}) RETURNING id",
                                   params).fetchone()[0]
                ev = dict(event, complaint_id=cid)
                conn.execute(f"INSERT INTO complaint_event ({', '.join(ev)}) VALUES "
                             f"({', '.join('%(' + c + ')s' for c in ev)})", ev)
                rows = [dict(audit, record_id=str(cid), entity="complaint"),
                        dict(audit, record_id=str(cid), entity="complaint_event")]
                if chained:
                    last_id, last_hash = conn.execute(
                        "UPDATE audit_chain SET touched_at = now() WHERE id = 1 RETURNING last_id, last_hash").fetchone()
                    ids = [last_id + 1, last_id + 2]
                else:
                    ids = [r[0] for r in conn.execute(f"SELECT nextval('{SEQUENCE}') FROM generate_series(1, 2)")]
                    last_hash = "0" * 64
                for row, row_id in zip(rows, ids):
                    row.update(id=row_id, prev_hash=last_hash)
                    row["hash"] = hashlib.sha256(json.dumps(row, default=str).encode()).hexdigest()
                    if chained:
                        last_id, last_hash = row_id, row["hash"]
                cols = list(rows[0])
                if chained:  # the events and the head's move in one statement, as the product does
                    values = ", ".join("(" + ", ".join(f"%({c}_{i})s" for c in cols) + ")" for i in range(len(rows)))
                    params = {f"{c}_{i}": row[c] for i, row in enumerate(rows) for c in cols}
                    conn.execute(f"WITH appended AS (INSERT INTO audit_event ({', '.join(cols)}) VALUES {values}) "
                                 "UPDATE audit_chain SET last_id = %(last_id)s, last_hash = %(last_hash)s WHERE id = 1",
                                 dict(params, last_id=last_id, last_hash=last_hash))
                else:
                    with conn.cursor() as cur:
                        cur.executemany(f"INSERT INTO audit_event ({', '.join(cols)}) VALUES "
                                        f"({', '.join('%(' + c + ')s' for c in cols)})", rows)
            counter[index] += 1


def measure_sql(dsn, template, chained, connections, seconds):
    stop = threading.Event()
    counter = [0] * connections
    threads = [threading.Thread(target=_sql_writer, args=(dsn, template, chained, stop, counter, i), daemon=True)
               for i in range(connections)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    time.sleep(seconds)
    stop.set()
    for t in threads:
        t.join()
    return sum(counter) / (time.perf_counter() - started)


# --- the run -------------------------------------------------------------------------------------

def _workload(app, username):
    """An outlet of the agent's region and the payload the clients post."""
    from app.extensions import db
    from app.network.models import Outlet

    with app.app_context():
        user = app.appbuilder.sm.find_user(username=username)
        region_ids = [r.id for r in getattr(user, "regions", [])]
        query = db.session.query(Outlet.id).order_by(Outlet.id)
        if region_ids:
            query = query.filter(Outlet.region_id.in_(region_ids))
        outlet_id = query.limit(1).scalar()
        db.session.rollback()
    return {"customer_name": "王先生", "customer_phone": "13912345678", "channel": "phone",
            "outlet": outlet_id, "severity": "general", "description": "空调不制冷，已报修两次"}


AUTH_TABLES = ("ab_user", "ab_role", "ab_permission", "ab_group", "ab_view_menu", "user_credential")


def _is_auth(statement):
    head = statement.split(" WHERE ", 1)[0].lower()
    return head.lstrip().startswith("select") and any(f"from {t}" in head or f"join {t}" in head
                                                     for t in AUTH_TABLES)


def count_statements(ctx, url, payload, username):
    """``(total, auth, statements, captured)`` of one complaint recorded through the API in process;
    ``captured``: the parameters of the complaint and timeline INSERTs (the SQL baseline's rows)."""
    from sqlalchemy import event

    from app.extensions import db

    app = ctx.app(url)
    headers = ctx.api_headers("agent", app=app)
    client = app.test_client()
    client.post("/api/v1/complaint/", json=payload, headers=headers)  # warm: first-use loads
    statements, captured = [], {}

    def before(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)
        for table in ("complaint", "complaint_event"):
            if statement.startswith(f"INSERT INTO {table} "):
                captured.setdefault(table, parameters)

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", before)
    try:
        response = client.post("/api/v1/complaint/", json=payload, headers=headers)
    finally:
        event.remove(engine, "before_cursor_execute", before)
    if response.status_code != 201:
        raise RuntimeError(f"recording a complaint failed: {response.status_code} {response.get_data(True)[:300]}")
    auth = sum(1 for s in statements if _is_auth(s))
    return len(statements), auth, statements, captured


def lock_holds(ctx, url, payload, n=15):
    """Median ms from taking the day's number counter, and from taking the chain head, to the end
    of the commit (how long each row stays locked per complaint), one client in process."""
    import statistics

    from sqlalchemy import event

    from app.extensions import db

    app = ctx.app(url)
    headers = ctx.api_headers("agent", app=app)
    client = app.test_client()
    marks = {}
    number, head = [], []

    def before(conn, cursor, statement, parameters, context, executemany):
        if statement.startswith("UPDATE number_sequence"):
            marks["number"] = time.perf_counter()
        elif statement.startswith("UPDATE audit_chain SET touched_at"):
            marks["head"] = time.perf_counter()

    def committed():
        now = time.perf_counter()
        if "number" in marks:
            number.append((now - marks.pop("number")) * 1000.0)
        if "head" in marks:
            head.append((now - marks.pop("head")) * 1000.0)

    with app.app_context():
        engine = db.engine
    dialect = engine.dialect
    plain_commit = dialect.do_commit

    def do_commit(dbapi_connection):  # the locks go when the server has committed
        plain_commit(dbapi_connection)
        committed()

    event.listen(engine, "before_cursor_execute", before)
    dialect.do_commit = do_commit
    try:
        for _ in range(n):
            client.post("/api/v1/complaint/", json=payload, headers=headers)
    finally:
        event.remove(engine, "before_cursor_execute", before)
        del dialect.do_commit
    return statistics.median(number) if number else None, statistics.median(head) if head else None


def _template(captured):
    complaint = {k: v for k, v in dict(captured["complaint"]).items() if k != "id"}
    event = {k: v for k, v in dict(captured["complaint_event"]).items() if k not in ("id", "complaint_id")}
    # an event as the trail writes one: who, from where, and the row's values as JSON
    audit = {"at": complaint.get("received_at"), "actor_kind": "user", "actor_id": complaint.get("owner_id"),
             "actor_name": "bench_agent", "request_id": "0" * 32, "client_addr": "127.0.0.1", "action": "insert",
             "changes": json.dumps({k: [None, v] for k, v in complaint.items()}, default=str, ensure_ascii=False)}
    return complaint, event, audit


def _prepare(dsn):
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as conn:
        top = conn.execute("SELECT coalesce(max(id), 0) FROM audit_event").fetchone()[0]
        conn.execute(f"CREATE SEQUENCE IF NOT EXISTS {SEQUENCE} START {top + 10 ** 7}")
        conn.execute("INSERT INTO number_sequence (prefix, value) VALUES ('SQLBENCH', 0) ON CONFLICT DO NOTHING")


def run(ctx):
    from bench.common import Row, plain_dsn

    rows = []
    username = ctx.users["agent"]
    with ctx.scratch() as url:
        database = url.rsplit("/", 1)[1]
        dsn = plain_dsn(url)
        _prepare(dsn)
        app = ctx.app(url)
        payload = _workload(app, username)
        total, auth, statements, captured = count_statements(ctx, url, payload, username)
        rows.append(Row(GOAL, "record one complaint (POST /api/v1/complaint/): statements", total, unit="statements",
                        statements=total, target=f"≤ {STATEMENT_TARGET} (sign-in cached: 1)",
                        ok=(total - auth + 1) <= STATEMENT_TARGET,
                        note=f"{auth} of them sign the bearer in (user, roles, permissions); "
                             f"{total - auth} the recording itself"))
        template = _template(captured)
        number_hold, head_hold = lock_holds(ctx, url, payload)
        rows.append(Row(GOAL, "number counter row held per complaint (its UPDATE to the end of COMMIT)",
                        round(number_hold, 2), unit="ms",
                        note=f"one day's complaints queue here: at most {1000 / number_hold:.0f}/s however many "
                             f"cores; the chain head is held {head_hold:.2f} ms of it "
                             f"(≤ {1000 / head_hold:.0f}/s for every audited write)"))

        sql1 = measure_sql(dsn, template, True, 1, SECONDS_ONE)
        sql16 = measure_sql(dsn, template, True, CLIENTS, SECONDS_ONE)
        bare1 = measure_sql(dsn, template, False, 1, SECONDS_ONE)
        bare16 = measure_sql(dsn, template, False, CLIENTS, SECONDS_ONE)

        chained = measure_served(ctx, url, database, payload, username)
        unchained = measure_served(ctx, url, database, payload, username, variant="unchained")

    def per(x):
        return round(1000.0 / x, 2) if x else None

    rows.append(Row(GOAL, "1 API client: ms per complaint (1 ÷ throughput)", per(chained["one"]), best=per(sql1),
                    unit="ms", note=f"{chained['one']:.1f}/s; SQL by hand {sql1:.0f}/s"))
    rows.append(Row(GOAL, "16 API clients: ms per complaint (1 ÷ throughput)", per(chained["many"]),
                    best=per(sql16), unit="ms",
                    note=f"{chained['many']:.1f}/s; SQL by hand, 16 connections {sql16:.0f}/s; "
                         f"failed requests {chained['failed']}"))
    ratio = chained["many"] / chained["one"] if chained["one"] else 0.0
    waits = chained["waits"]
    rows.append(Row(GOAL, "throughput 16 clients ÷ 1 client", round(ratio, 2), best=round(sql16 / sql1, 2),
                    unit="×", target=f"≥ {RATIO_TARGET:g}", ok=ratio >= RATIO_TARGET,
                    note=(f"CPU busy {chained['cpu_busy']:.0%} (app workers {chained['app_cpu_share']:.0%} of the "
                          f"machine's 2 cores); backends per sample: running {waits['active']}, waiting for the "
                          f"chain head {waits['lock_chain']}, for the number counter {waits['lock_number']}, other "
                          f"locks {waits['lock_other']}, idle in transaction {waits['in_transaction']}")))
    uratio = unchained["many"] / unchained["one"] if unchained["one"] else 0.0
    uw = unchained["waits"]
    rows.append(Row(GOAL, "throughput 16 ÷ 1, chain row taken out (benchmark-only variant)", round(uratio, 2),
                    best=round(bare16 / bare1, 2), unit="×",
                    note=(f"16 clients {unchained['many']:.1f}/s vs {chained['many']:.1f}/s with the chain "
                          f"({unchained['many'] / chained['many'] - 1:+.0%}); CPU busy {unchained['cpu_busy']:.0%}; "
                          f"waiting for the number counter {uw['lock_number']}, other locks {uw['lock_other']}; "
                          f"SQL by hand without the chain: 1 conn {bare1:.0f}/s, 16 conn {bare16:.0f}/s")))
    failed = chained["failed"] + unchained["failed"]
    if failed:
        rows.append(Row(GOAL, "failed requests", failed, unit="requests", ok=False,
                        note=repr((chained["errors"] + unchained["errors"])[:2])))
    return rows


if __name__ == "__main__":
    from bench.common import main

    main(run, description=__doc__)
