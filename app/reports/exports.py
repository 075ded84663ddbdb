"""Excel exports of generated lists, written in the background and followed under My jobs.

``start_list_export`` (the list page's "Export Excel" button) records a ``UserJob`` (kind
``export``; params: the view's class name, the list's filter arguments and the user's language)
and puts ``export_list(job_id)`` on the queue. The job acts for the user who asked — exactly
their region scope and their right to see customers' phone numbers — and writes the workbook in
one streaming pass (typed cells, fitted widths, the header frozen and filtered:
``core.exports.write_xlsx``), reading the rows in batches (plain column values streamed from the
database when the list allows it: ``core.exports.PlainRows``), writing its live progress to Redis
after each batch (``job_control``, where a cancel request is read: a cancelled export deletes its
partial file and ends ``cancelled``) and committing it to the ``user_job`` row every
``PROGRESS_EVERY`` rows. The file lands under
``UPLOAD_FOLDER/exports``; only its owner may download it (``my_jobs``). A list whose export reads
differently names its own ``list_export_class`` (the audit trail: one line per changed field).
"""
import logging
import os
import uuid

from flask import current_app
from flask_babel import force_locale, get_locale, gettext

from app.core import clock, exports, queue, scope
from app.extensions import db
from app.reports import job_control
from app.reports.models import UserJob

log = logging.getLogger(__name__)

PROGRESS_EVERY = 5000
"""Rows written between two progress commits (the live progress in Redis follows every batch)."""
EXPORT_DIR = "exports"
JOB_TIMEOUT = 3600


def _list_view(name):
    from app.core.views import BaseModelView

    for view in current_app.appbuilder.baseviews:
        if isinstance(view, BaseModelView) and type(view).__name__ == name:
            return view
    return None


def start_list_export(view, args, user):
    """Record the export for ``user`` and queue it; a queue that cannot be reached leaves the job
    ``failed`` with a message (never a 500)."""
    label = str(view.list_title or view.datamodel.obj.__tablename__)
    job = UserJob(kind="export", entity=view.datamodel.obj.__tablename__, label=label[:200], user_id=user.id,
                  status="queued", progress=0, total=0,
                  params={"view": type(view).__name__, "format": "xlsx", "args": exports.list_args(args),
                          "locale": str(get_locale() or current_app.config.get("BABEL_DEFAULT_LOCALE", "zh"))})
    db.session.add(job)
    db.session.commit()
    try:
        rq_job = queue.enqueue(export_list, job.id, job_timeout=JOB_TIMEOUT)
    except Exception:  # Redis down: say so on the job
        log.exception("could not queue export %s", job.id)
        db.session.rollback()
        job.status = "failed"
        job.error = gettext("The job queue is unavailable; please try again later.")
        job.finished_at = clock.now()
    else:
        job.rq_job_id = rq_job.id
    db.session.commit()
    return job


def output_path(stored_name):
    """The absolute path of a stored job file (``None`` if it would leave the upload folder)."""
    from app.reports.cleanup import upload_path

    return upload_path(stored_name)


def _user_may_read(user, resource):
    sm = current_app.appbuilder.sm
    role_ids = [role.id for role in user.roles]
    return bool(user.active) and bool(role_ids) and bool(sm.exist_permission_on_roles(resource, "can_read", role_ids))


def export_list(job_id):
    """Write the workbook of export ``job_id``; a re-run after a crash starts the file again, a
    finished or cancelled job is left alone. Returns the number of rows written."""
    from flask_appbuilder.security.sqla.models import User

    job = db.session.get(UserJob, job_id)
    if job is None or job.kind != "export" or job.status in ("done", "cancelled"):
        return None
    params, locale = job.params or {}, job.locale
    # compare-and-set: a job cancelled while this worker picked it up is left alone
    claimed = db.session.query(UserJob).filter(UserJob.id == job_id, UserJob.status.notin_(("done", "cancelled"))) \
        .update({"status": "running", "started_at": clock.now(), "progress": 0, "error": None},
                synchronize_session=False)
    db.session.commit()
    if not claimed:
        return None
    job_control.clear(job_id)
    db.session.refresh(job)
    try:
        view = _list_view(params.get("view", ""))
        user = db.session.get(User, job.user_id)
        with force_locale(locale):
            if view is None or user is None or not _user_may_read(user, view.class_permission_name):
                raise PermissionError(gettext("This list cannot be exported by this user."))
            with scope.acting_as(user):
                count = _write(job, view, params.get("args") or {})
    except job_control.JobCancelled:
        db.session.rollback()
        job = db.session.get(UserJob, job_id)
        job.status, job.finished_at = "cancelled", clock.now()
        with force_locale(locale):
            job.error = gettext("Cancelled; no file was kept.")
        db.session.commit()
        return None
    except Exception as exc:
        db.session.rollback()
        job = db.session.get(UserJob, job_id)
        job.status, job.finished_at = "failed", clock.now()
        job.error = str(exc)[:2000] or exc.__class__.__name__
        db.session.commit()
        raise
    finally:
        job_control.clear(job_id)
    return count


def _write(job, view, args):
    export = getattr(view, "list_export_class", exports.ListExport)(view, args)
    job.total = export.count()
    db.session.commit()
    total = job.total
    job_control.tick(job.id, 0, total)  # a cancel request made while it was counting
    folder = os.path.join(current_app.config["UPLOAD_FOLDER"], EXPORT_DIR)
    os.makedirs(folder, exist_ok=True)
    stored = f"{EXPORT_DIR}/{job.id}-{uuid.uuid4().hex}.xlsx"
    path = os.path.join(current_app.config["UPLOAD_FOLDER"], stored)
    job_id = job.id

    def progress(done):
        job_control.tick(job_id, done, total)  # live progress; JobCancelled when the user asked
        db.session.query(UserJob).filter(UserJob.id == job_id).update(
            {"progress": done}, synchronize_session=False)
        db.session.commit()

    progress_of = getattr(export, "progress_of", len)  # what ``total`` counts, per batch of rows

    def rows():
        done = reported = 0
        for batch in export.row_batches():
            yield from batch
            done += progress_of(batch)
            if done - reported >= PROGRESS_EVERY:  # between batches: nothing loaded is in use
                progress(done)
                reported = done
            else:
                job_control.tick(job_id, done, total)

    try:
        kinds = export.kinds() if hasattr(export, "kinds") else None
        count = exports.write_xlsx(path, export.sheet_title(), export.header(), rows(), kinds=kinds)
        job_control.raise_if_cancelled(job_id)
    except BaseException:  # cancelled or broken: no partial file is kept
        if os.path.exists(path):
            os.remove(path)
        raise
    job = db.session.get(UserJob, job_id)
    previous = job.output_file
    job.output_file, job.output_name = stored, export.filename("xlsx")
    job.progress, job.total = count, count
    job.result = {"rows": count}
    job.status, job.finished_at = "done", clock.now()
    db.session.commit()
    old = output_path(previous)
    if old and old != path and os.path.exists(old):
        os.remove(old)
    return count
