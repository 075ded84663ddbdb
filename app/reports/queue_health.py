"""Queue health, for administrators: the rq queues with their counts, the workers with their state
and last heartbeat, and the failed jobs with the tail of their exception and a Retry button.

Resource ``QueueHealth``: no business role holds it; Admin holds every permission. An unreachable
Redis shows as a message on the page, never a 500.
"""
import logging
from datetime import timezone

from flask import current_app, flash, redirect, request, url_for
from flask_appbuilder import BaseView, expose
from flask_appbuilder.security.decorators import has_access
from flask_babel import gettext, lazy_gettext as _l
from flask_wtf.csrf import generate_csrf

from app.core import l10n, queue
from app.core.web import csrf_ok
from app.security import permissions as p

log = logging.getLogger(__name__)

WORKER_STATES = {"started": _l("Starting"), "busy": _l("Busy"), "idle": _l("Idle"), "suspended": _l("Suspended")}
"""rq's worker states, for the page (the code itself when rq adds one)."""

FAILED_LIMIT = 50
"""Failed jobs listed per queue (the newest)."""
TAIL_LINES = 6


def _local(moment):
    if moment is None:
        return ""
    if moment.tzinfo is not None:  # rq keeps UTC
        moment = moment.astimezone(timezone.utc).replace(tzinfo=None)
    return l10n.datetime_text(moment, seconds=True)


def _exception_tail(job):
    text = ""
    try:
        latest = job.latest_result()
        text = (latest.exc_string if latest is not None else None) or ""
    except Exception:  # an old or half-written result
        text = ""
    if not text:
        text = getattr(job, "exc_info", None) or ""
    lines = [line for line in str(text).strip().splitlines() if line.strip()]
    return "\n".join(lines[-TAIL_LINES:])


def snapshot(connection):
    """``{"queues": […], "workers": […], "failed": […]}`` read from Redis."""
    from rq import Queue, Worker
    from rq.job import Job
    from rq.registry import (DeferredJobRegistry, FailedJobRegistry, FinishedJobRegistry, ScheduledJobRegistry,
                             StartedJobRegistry)

    queues, failed = [], []
    names = {q.name for q in Queue.all(connection=connection)}
    names.add(current_app.config["RQ_QUEUE"])
    for name in sorted(names):
        q = Queue(name, connection=connection)
        failed_registry = FailedJobRegistry(queue=q)
        queues.append({
            "name": name,
            "queued": q.count,
            "started": StartedJobRegistry(queue=q).count,
            "finished": FinishedJobRegistry(queue=q).count,
            "failed": failed_registry.count,
            "scheduled": ScheduledJobRegistry(queue=q).count,
            "deferred": DeferredJobRegistry(queue=q).count,
        })
        ids = failed_registry.get_job_ids(0, FAILED_LIMIT - 1, desc=True)
        for job_id, job in zip(ids, Job.fetch_many(ids, connection=connection)):
            if job is None:
                continue
            failed.append({"id": job_id, "queue": name, "func": job.func_name,
                           "enqueued_at": _local(job.enqueued_at), "ended_at": _local(job.ended_at),
                           "exception": _exception_tail(job)})
    workers = []
    for worker in Worker.all(connection=connection):
        state = getattr(worker.get_state(), "value", worker.get_state())  # a WorkerStatus or its text
        workers.append({"name": worker.name, "state": str(WORKER_STATES.get(state, state)),
                        "queues": ", ".join(worker.queue_names()),
                        "current_job": worker.get_current_job_id() or "",
                        "last_heartbeat": _local(worker.last_heartbeat)})
    return {"queues": queues, "workers": sorted(workers, key=lambda w: w["name"]), "failed": failed}


def retry(connection, queue_name, job_id):
    """Put a failed job back on its queue; ``False`` when it is not (or no longer) failed there."""
    from rq import Queue
    from rq.registry import FailedJobRegistry

    registry = FailedJobRegistry(queue=Queue(queue_name, connection=connection))
    if job_id not in registry.get_job_ids():
        return False
    registry.requeue(job_id)
    return True


class QueueHealthView(BaseView):
    route_base = "/queuehealth"
    default_view = "index"
    class_permission_name = p.QUEUE_HEALTH
    method_permission_name = {"index": "read", "retry": "write"}
    base_permissions = [p.READ, p.WRITE]

    @expose("/")
    @has_access
    def index(self):
        """Queues, workers and failed jobs."""
        data, error = {"queues": [], "workers": [], "failed": []}, None
        try:
            data = snapshot(queue.connection())
        except Exception as exc:  # Redis unreachable: say so
            log.warning("queue health: %s", exc)
            error = gettext("The job queue cannot be reached: %(error)s", error=str(exc))
        return self.render_template("reports/queue_health.html", error=error, csrf_token=generate_csrf,
                                    title=_l("Queue health"), **data)

    @expose("/retry/<string:job_id>", methods=["POST"])
    @has_access
    def retry(self, job_id):
        """Requeue one failed job (POST with the form's CSRF token)."""
        back = url_for("QueueHealthView.index")
        if not csrf_ok():
            return redirect(back)
        queue_name = (request.form.get("queue") or current_app.config["RQ_QUEUE"]).strip()
        try:
            done = retry(queue.connection(), queue_name, job_id)
        except Exception as exc:
            log.warning("queue health retry: %s", exc)
            flash(gettext("The job queue cannot be reached: %(error)s", error=str(exc)), "danger")
            return redirect(back)
        if done:
            flash(gettext("Job %(id)s is queued again.", id=job_id), "success")
        else:
            flash(gettext("Job %(id)s is not among the failed jobs.", id=job_id), "warning")
        return redirect(back)
