"""Live progress and cancellation of users' background jobs (imports and exports).

**Live progress.** A job writes its progress at each tick to a small Redis key per ``user_job``
(``…:progress``, JSON ``{"progress", "total"}``, expiring ``LIVE_TTL`` seconds after the last
tick). An import's commit runs in ONE transaction: on SQLite (one writer) nothing written to the
``user_job`` row from another connection lands before the end, so the pages showing a running job
(My jobs and its status endpoint, the import page) prefer the live value; the database row keeps
the final one. The same path is used on PostgreSQL. Losing Redis loses nothing but the live value.

**Cancel.** ``cancel(job, user)`` is the one rule, called by My jobs:

* a queued job is marked ``cancelled`` (compare-and-set, so a worker that picks it up meanwhile
  finds nothing to claim) and its rq job is cancelled (``rq.job.Job.cancel``);
* a running job gets a cancel request (a Redis key): the job checks it at its next tick, raises
  ``JobCancelled``, rolls back whatever it had not committed (an import's commit is one transaction:
  nothing of it is stored; an export deletes its partial file) and ends ``cancelled``. A job marked
  running whose rq job is gone (a worker killed) is marked ``cancelled`` at once;
* a checked import waiting for confirmation is dropped (``imports.cancel``);
* anything finished is refused (``Conflict``, 409); someone else's job is ``NotFound`` (404).
"""
import hashlib
import json
import logging
import time

from flask import current_app
from flask_babel import gettext as _

from app.core import clock, queue
from app.core.errors import Conflict, DomainError, NotFound
from app.extensions import db

log = logging.getLogger(__name__)

LIVE_TTL = 6 * 3600
"""Seconds a live progress value outlives its last tick (a job killed mid-run leaves no litter)."""
CANCEL_TTL = 24 * 3600
"""Seconds a cancel request waits for its job's next tick."""
TICK_ROWS = 50
TICK_SECONDS = 0.5
"""A tick writes the live progress and reads the cancel request every this many rows or seconds."""
RUNNING = ("queued", "running")
WAITING = ("created", "queued", "deferred", "scheduled", "rate_limited", "ready_to_enqueue")
"""rq statuses of a job not yet taken by a worker."""


class JobCancelled(Exception):
    """Raised at a tick of a job whose user asked to cancel it."""


# --- Redis keys --------------------------------------------------------------------------------

def _namespace():
    """Keys are per database: one Redis may serve several deployments (or test databases)."""
    state = current_app.extensions.setdefault("job_control", {})
    if "namespace" not in state:
        url = db.engine.url  # the same database whichever driver or password a process uses
        where = f"{url.get_backend_name()}:{url.host}:{url.port}:{url.database}"
        state["namespace"] = "userjob:" + hashlib.sha1(where.encode()).hexdigest()[:12]
    return state["namespace"]


def _progress_key(job_id):
    return f"{_namespace()}:{int(job_id)}:progress"


def _cancel_key(job_id):
    return f"{_namespace()}:{int(job_id)}:cancel"


def _decode(raw):
    if not raw:
        return None
    try:
        data = json.loads(raw)
        return {"progress": max(0, int(data["progress"])), "total": max(0, int(data["total"]))}
    except (ValueError, TypeError, KeyError):
        return None


def tick(job_id, progress, total):
    """Write the live progress and read the cancel request in one round trip; ``JobCancelled``
    when the user asked. Redis being unreachable never stops the job (it only loses the live value)."""
    try:
        pipe = queue.connection().pipeline(transaction=False)
        pipe.set(_progress_key(job_id), json.dumps({"progress": int(progress), "total": int(total)}), ex=LIVE_TTL)
        pipe.exists(_cancel_key(job_id))
        _ok, cancelled = pipe.execute()
    except Exception:
        log.warning("job %s: live progress not written", job_id, exc_info=True)
        return
    if cancelled:
        raise JobCancelled()


def raise_if_cancelled(job_id):
    """``JobCancelled`` when the user asked to cancel ``job_id`` (the last check before a commit)."""
    try:
        cancelled = queue.connection().exists(_cancel_key(job_id))
    except Exception:
        log.warning("job %s: cancel request not readable", job_id, exc_info=True)
        return
    if cancelled:
        raise JobCancelled()


def clear(job_id):
    """Forget the live progress and any cancel request (a job starting, or ending in any way)."""
    try:
        queue.connection().delete(_progress_key(job_id), _cancel_key(job_id))
    except Exception:
        log.warning("job %s: live state not cleared", job_id, exc_info=True)


def snapshot(job_ids):
    """``{id: {"progress", "total", "cancelling"}}`` of the jobs among ``job_ids`` that have a live
    value or a cancel request; ``{}`` when Redis cannot be reached (the pages fall back on the row)."""
    job_ids = [int(i) for i in job_ids]
    if not job_ids:
        return {}
    try:
        keys = [_progress_key(i) for i in job_ids] + [_cancel_key(i) for i in job_ids]
        values = queue.connection().mget(keys)
    except Exception:
        log.warning("live progress not readable", exc_info=True)
        return {}
    found = {}
    for index, job_id in enumerate(job_ids):
        live = _decode(values[index])
        cancelling = bool(values[len(job_ids) + index])
        if live is not None or cancelling:
            found[job_id] = dict(live or {}, cancelling=cancelling)
    return found


def live_progress(job):
    """``(progress, total, cancelling)`` to show of ``job``: the live value while it is queued or
    running, else (and when there is none) the row's."""
    progress, total, cancelling = job.progress or 0, job.total or 0, False
    if job.status in RUNNING:
        live = snapshot([job.id]).get(job.id, {})
        if "progress" in live:
            progress, total = live["progress"], live["total"] or total
        cancelling = live.get("cancelling", False)
    return progress, total, cancelling


class Ticker:
    """A job's progress tick, called after each row: every ``TICK_ROWS`` rows, every
    ``TICK_SECONDS`` and at the last row it writes the live progress, then calls ``also(done,
    total)`` (the database row, where it can be written) — and raises ``JobCancelled`` first when
    the user asked to cancel."""

    def __init__(self, job_id, total, also=None):
        self.job_id, self.total, self.also = job_id, total, also
        self.last, self.last_done = time.monotonic(), 0

    def __call__(self, done, force=False):
        now = time.monotonic()
        due = (force or done >= self.total or done - self.last_done >= TICK_ROWS
               or now - self.last >= TICK_SECONDS)
        if not due:
            return False
        self.last, self.last_done = now, done
        tick(self.job_id, done, self.total)
        if self.also is not None:
            self.also(done, self.total)
        return True


# --- cancelling --------------------------------------------------------------------------------

def _rq_job(rq_job_id):
    from rq.exceptions import NoSuchJobError
    from rq.job import Job

    if not rq_job_id:
        return None
    try:
        return Job.fetch(rq_job_id, connection=queue.connection())
    except NoSuchJobError:
        return None


def _cancel_rq(rq_job_id):
    """Take a queued job off the queue (``Job.cancel``); a job already taken by a worker is left
    alone: its claim finds the row cancelled and it does nothing."""
    from rq.exceptions import InvalidJobOperation

    try:
        rq_job = _rq_job(rq_job_id)
        if rq_job is not None and rq_job.get_status(refresh=True) in WAITING:
            rq_job.cancel()
    except InvalidJobOperation:
        pass
    except Exception:  # Redis down: the row says cancelled, which is what the worker checks
        log.warning("rq job %s not cancelled", rq_job_id, exc_info=True)


def _worker_gone(rq_job_id):
    """Whether the rq job of a running row can no longer tick (stopped, failed, finished, gone)."""
    if not rq_job_id:
        return False
    rq_job = _rq_job(rq_job_id)
    if rq_job is None:
        return True
    return rq_job.get_status(refresh=True) in ("failed", "stopped", "canceled", "finished")


def _mark_cancelled(job, from_status, message):
    from app.reports.models import UserJob

    claimed = db.session.query(UserJob).filter(UserJob.id == job.id, UserJob.status == from_status).update(
        {"status": "cancelled", "finished_at": clock.now(), "error": str(message)}, synchronize_session=False)
    db.session.commit()
    db.session.refresh(job)
    return bool(claimed)


def cancel(job, user):
    """``user`` stops their own ``job``. Returns ``"cancelled"`` (done now) or ``"requested"`` (a
    running job stops at its next tick)."""
    if job is None or user is None or job.user_id != user.id:
        raise NotFound()
    if job.kind == "import" and job.status == "validated":
        from app.reports import imports

        imports.cancel(job)
        db.session.refresh(job)
        return "cancelled"
    if job.status == "queued":
        if _mark_cancelled(job, "queued", _("Cancelled before it started.")):
            _cancel_rq(job.rq_job_id)
            clear(job.id)
            return "cancelled"
    if job.status == "running":
        try:
            gone = _worker_gone(job.rq_job_id)
            if not gone:
                queue.connection().set(_cancel_key(job.id), "1", ex=CANCEL_TTL)
        except Exception as exc:
            log.exception("job %s: cancel request not recorded", job.id)
            raise DomainError(_("The job queue is unavailable; please try again later.")) from exc
        if gone:
            if _mark_cancelled(job, "running", _("Cancelled; the job had stopped running.")):
                clear(job.id)
                return "cancelled"
        else:
            db.session.expire(job)
            if job.status == "running":
                return "requested"
            clear(job.id)  # it ended meanwhile: the request must not cancel a later phase
    raise Conflict(_("This job has already finished; it cannot be cancelled."))


def cancellable(job):
    return job.status in RUNNING or (job.kind == "import" and job.status == "validated")
