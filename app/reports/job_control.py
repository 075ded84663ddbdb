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

**Workers that die.** ``reap_abandoned_jobs`` (housekeeping, every minute, ``app.schedule``) finds
the rows still ``queued`` or ``running`` whose rq job can no longer end them, and marks them
``failed`` with a message saying so in the user's language (处理该任务的进程意外终止…). rq is the
heartbeat: a worker renews the expiry of each execution it runs (every ``job_monitoring_interval``,
30 s, with 60 s of slack) in the job's execution registry; an execution past its expiry belongs to
a worker that was killed. rq itself moves such a job from its ``StartedJobRegistry`` to the
``FailedJobRegistry`` only in a worker's maintenance, every 10 minutes; the reaper does that cleanup
at once for the jobs it finds. A running row is reaped when its rq job is failed, stopped,
cancelled, finished (it ended without ending the row) or gone, or started with no live execution;
a queued row the same way once it has not changed for ``QUEUED_GRACE`` (an import's confirmation
re-queues the row a moment before its new rq job id is stored). Nothing is half-written: the work
horse dies with its worker (``core.queue.AppWorker``), an import's commit is one transaction that
the database rolls back, and a reaped export's partial file is deleted.

**Retry.** ``retry(job, user)``: the owner of a failed job starts a new one with the same input —
an export with the same list, filters and language; an import with a copy of the same workbook,
checked again before it can be confirmed. The failed row records the new job's id (``retried_as``,
compare-and-set: a double click starts one job).
"""
import glob
import hashlib
import json
import logging
import os
import shutil
import time
import uuid
from datetime import timedelta, timezone

from flask import current_app
from flask_babel import force_locale, gettext as _
from redis.exceptions import RedisError

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
    """Keys are per database: one Redis may serve several deployments (or test databases), under
    ``REDIS_KEY_PREFIX``."""
    state = current_app.extensions.setdefault("job_control", {})
    if "namespace" not in state:
        url = db.engine.url  # the same database whichever driver or password a process uses
        where = f"{url.get_backend_name()}:{url.host}:{url.port}:{url.database}"
        state["namespace"] = (current_app.config.get("REDIS_KEY_PREFIX") or "") + "userjob:" + \
            hashlib.sha1(where.encode()).hexdigest()[:12]
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


def _timestamp(moment):
    return moment.replace(tzinfo=timezone.utc).timestamp()


def rq_outcome(rq_job_id, at=None):
    """What rq says of a job at ``at`` (naive UTC, default now): ``"waiting"`` (not taken yet),
    ``"running"`` (a live execution), ``"dead"`` (failed, stopped, cancelled, or started with no
    execution renewed in time: its worker was killed), ``"finished"`` or ``"gone"`` (unknown)."""
    from rq.executions import ExecutionRegistry
    from rq.registry import StartedJobRegistry

    rq_job = _rq_job(rq_job_id)
    if rq_job is None:
        return "gone"
    status = rq_job.get_status(refresh=True)
    status = getattr(status, "value", status)
    if status in ("failed", "stopped", "canceled"):
        return "dead"
    if status == "finished":
        return "finished"
    if status != "started":
        return "waiting"
    when = _timestamp(at or clock.now())
    connection = queue.connection()
    if connection.zcount(ExecutionRegistry(rq_job.id, connection=connection).key, f"({when}", "+inf"):
        return "running"
    # abandoned: let rq move it to its failed registry now rather than at a worker's next maintenance
    try:
        StartedJobRegistry(rq_job.origin, connection=connection).cleanup(timestamp=when)
    except Exception:
        log.warning("rq job %s: started registry not cleaned", rq_job_id, exc_info=True)
    return "dead"


def _worker_gone(rq_job_id):
    """Whether the rq job of a running row can no longer tick (stopped, failed, finished, gone, or
    its worker died)."""
    if not rq_job_id:
        return False
    return rq_outcome(rq_job_id) in ("dead", "finished", "gone")


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


# --- workers that died -------------------------------------------------------------------------

QUEUED_GRACE = timedelta(minutes=2)
"""A queued row is judged only once it has not changed for this long."""
REAP_BATCH = 500


def _abandoned_message(job, outcome):
    with force_locale(job.locale):
        if outcome == "gone" and job.status == "queued":
            return _("This job was lost from the queue before it ran (for example, the queue's server "
                     "restarted). Nothing was done; you can retry it.")
        return _("The process running this job stopped unexpectedly (for example, a server restarted). "
                 "Nothing of its unfinished work was kept; you can retry it.")


def _remove_partial_files(job):
    """An export killed while writing leaves ``exports/<id>-<random>.xlsx``: delete it."""
    if job.kind != "export":
        return
    from app.reports.cleanup import upload_path

    folder = upload_path("exports")
    keep = upload_path(job.output_file) if job.output_file else None
    if folder is None or not os.path.isdir(folder):
        return
    for path in glob.glob(os.path.join(folder, f"{int(job.id)}-*.xlsx")):
        if path != keep:
            try:
                os.remove(path)
            except FileNotFoundError:
                pass


def _verdict(job, at):
    """The rq outcome that makes ``job`` (queued or running) abandoned, or ``None``."""
    if job.status == "queued":
        if job.updated_at and job.updated_at > at - QUEUED_GRACE:
            return None
        if not job.rq_job_id:
            return "gone"  # its enqueue never happened (the web process died in between)
    outcome = rq_outcome(job.rq_job_id, at) if job.rq_job_id else "gone"
    if outcome in ("dead", "finished", "gone"):
        return outcome
    return None


def reap(job, at=None):
    """Mark ``job`` failed if the worker meant to run it is gone; ``True`` when it was."""
    from app.reports.models import UserJob

    at = at or clock.now()
    if job.status not in RUNNING:
        return False
    outcome = _verdict(job, at)
    if outcome is None:
        return False
    claimed = db.session.query(UserJob).filter(
        UserJob.id == job.id, UserJob.status == job.status,
        UserJob.rq_job_id.is_(None) if job.rq_job_id is None else UserJob.rq_job_id == job.rq_job_id,
    ).update({"status": "failed", "finished_at": clock.now(), "error": _abandoned_message(job, outcome)},
             synchronize_session=False)
    db.session.commit()
    if not claimed:  # it moved on meanwhile
        return False
    log.warning("job %s (%s %s): its worker is gone (rq: %s); marked failed", job.id, job.kind, job.entity, outcome)
    clear(job.id)
    db.session.refresh(job)
    _remove_partial_files(job)
    return True


def reap_abandoned_jobs():
    """Housekeeping: mark failed every queued or running job whose worker died. Returns how many."""
    from app.reports.models import UserJob

    at = clock.now()
    reaped = 0
    jobs = (db.session.query(UserJob).filter(UserJob.status.in_(RUNNING))
            .order_by(UserJob.id).limit(REAP_BATCH).all())
    for job in jobs:
        try:
            reaped += bool(reap(job, at))
        except RedisError:  # nothing can be judged without rq: the next run will
            db.session.rollback()
            log.warning("jobs not reaped: the job queue is unavailable", exc_info=True)
            break
        except Exception:  # one broken row must not stop the others
            db.session.rollback()
            log.exception("job %s: not reaped", job.id)
    return reaped


# --- retry -------------------------------------------------------------------------------------

def retried_as(job):
    value = (job.params or {}).get("retried_as")
    return value if isinstance(value, int) else None


def retryable(job):
    """Whether My jobs offers Retry on ``job`` (its owner's page)."""
    if job.status != "failed" or retried_as(job) is not None:
        return False
    if job.kind == "import":
        return bool(job.input_file) and job.files_deleted_at is None
    return job.kind == "export"


def _copy_upload(job):
    """A copy of a failed import's workbook under a new name (the clean-up deletes each job's files
    on its own schedule)."""
    from app.reports import imports

    source = imports.file_path(job.input_file) if job.input_file else None
    if job.files_deleted_at is not None or source is None or not os.path.isfile(source):
        raise DomainError(_("The workbook of this import is no longer kept; please upload it again."))
    stored = f"{uuid.uuid4().hex}.xlsx"
    shutil.copyfile(source, imports.file_path(stored))
    return stored


def retry(job, user):
    """``user`` retries their own failed ``job``: a new job with the same input. Returns it."""
    from app.reports import exports, imports
    from app.reports.models import UserJob

    if job is None or user is None or job.user_id != user.id:
        raise NotFound()
    if retried_as(job) is not None:
        raise Conflict(_("This job was already retried as job #%(id)s.", id=retried_as(job)))
    if job.status != "failed":
        raise Conflict(_("Only a failed job can be retried."))
    params = {k: v for k, v in (job.params or {}).items() if k != "retried_as"}
    params["retry_of"] = job.id
    stored = None
    if job.kind == "import":
        spec = imports.spec_for(job.entity)
        if not imports.can_import(user, spec):
            raise DomainError(_("You are not allowed to import %(what)s.", what=spec.label))
        stored = _copy_upload(job)
        params["phase"] = "validate"
    new = UserJob(kind=job.kind, entity=job.entity, label=job.label, user_id=user.id, status="queued",
                  progress=0, total=0, params=params, input_file=stored)
    try:
        db.session.add(new)
        db.session.flush()
        claimed = db.session.query(UserJob).filter(
            UserJob.id == job.id, UserJob.status == "failed", UserJob.updated_at == job.updated_at,
        ).update({"params": dict(job.params or {}, retried_as=new.id),
                  "updated_at": max(clock.now(), job.updated_at + timedelta(microseconds=1))},
                 synchronize_session=False)
        if not claimed:
            raise Conflict(_("This job was retried meanwhile; see the newest job."))
        db.session.commit()
    except BaseException:
        db.session.rollback()
        if stored:
            os.remove(imports.file_path(stored))
        raise
    db.session.refresh(job)
    if new.kind == "import":
        return imports.start(new, imports.validate_import)  # DomainError (the job failed) when Redis is down
    try:
        rq_job = queue.enqueue(exports.export_list, new.id, job_timeout=exports.JOB_TIMEOUT)
    except Exception as exc:
        log.exception("could not queue export %s", new.id)
        db.session.rollback()
        new.status, new.finished_at = "failed", clock.now()
        new.error = _("The job queue is unavailable; please try again later.")
        db.session.commit()
        raise DomainError(new.error) from exc
    new.rq_job_id = rq_job.id
    db.session.commit()
    return new
