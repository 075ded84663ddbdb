"""An import job as the pages drive it: created from an upload, put on the queue, confirmed (the
commit queued) or cancelled by its user."""
import logging
import os
import uuid

from flask_babel import gettext as _

from app.core import clock
from app.core.errors import DomainError
from app.extensions import db
from app.reports.imports.files import check_upload, file_path
from app.reports.imports.registry import can_import, spec_for
from app.reports.imports.runner import commit_import

log = logging.getLogger(__name__)


def create_job(user, spec, filename, data):
    """Store the upload and record the job (queued); the caller enqueues it."""
    from app.reports.models import UserJob

    check_upload(filename, data)
    if not can_import(user, spec):
        raise DomainError(_("You are not allowed to import %(what)s.", what=spec.label))
    stored = f"{uuid.uuid4().hex}.xlsx"
    with open(file_path(stored), "wb") as fh:
        fh.write(data)
    job = UserJob(kind="import", entity=spec.name, label=f"{spec.label}: {os.path.basename(filename)}"[:200],
                  user_id=user.id, status="queued", params={"phase": "validate", "filename": filename[:200]},
                  input_file=stored)
    db.session.add(job)
    db.session.commit()
    return job


def _enqueue(func, job_id):
    from app.core.queue import enqueue

    return enqueue(func, job_id)


def start(job, func):
    """Put ``func(job.id)`` on the queue; a queue that cannot be reached fails the job."""
    try:
        rq_job = _enqueue(func, job.id)
    except Exception as exc:  # Redis down: tell the user instead of leaving the job queued forever
        log.exception("could not enqueue import %s", job.id)
        job.status = "failed"
        job.error = _("The background queue is not available; try again later.")
        job.finished_at = clock.now()
        db.session.commit()
        raise DomainError(job.error) from exc
    job.rq_job_id = getattr(rq_job, "id", None)
    db.session.commit()
    return job


def confirm(job, user):
    """The user confirms a validated import: queue the commit."""
    spec = spec_for(job.entity)
    if not can_import(user, spec):
        raise DomainError(_("You are not allowed to import %(what)s.", what=spec.label))
    from app.reports.models import UserJob

    claimed = db.session.query(UserJob).filter(UserJob.id == job.id, UserJob.status == "validated").update(
        {"status": "queued", "params": dict(job.params or {}, phase="commit"), "progress": 0},
        synchronize_session=False)
    db.session.commit()
    if not claimed:
        raise DomainError(_("Only a checked import without errors can be confirmed."))
    db.session.refresh(job)
    return start(job, commit_import)


def cancel(job):
    from app.reports.models import UserJob

    claimed = db.session.query(UserJob).filter(
        UserJob.id == job.id, UserJob.status.in_(("validated", "invalid"))).update(
        {"status": "cancelled", "finished_at": clock.now()}, synchronize_session=False)
    db.session.commit()
    if not claimed:
        raise DomainError(_("This import can no longer be cancelled."))
