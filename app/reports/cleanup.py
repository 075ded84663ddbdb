"""The nightly clean-up of the files of users' background jobs.

Uploaded workbooks and error workbooks live under ``UPLOAD_FOLDER/imports``, exports under
``UPLOAD_FOLDER/exports``. ``clean_up_job_files`` (scheduled daily, ``app.schedule``) keeps them
``jobs.file_retention_days`` days (a setting) and then:

* cancels checked imports never confirmed within that time (status ``validated`` → ``cancelled``);
* deletes the files of finished jobs (done, failed, cancelled, invalid) and stamps the job's
  ``files_deleted_at`` — My jobs then says "file expired" and a download answers 410;
* deletes files in those two folders that no job refers to (older than ``ORPHAN_GRACE``, so a file
  being written for a job not yet committed is left alone).

The row is stamped before its files go (compare-and-set, so a user confirming an import at that
moment wins), and a file already missing counts as deleted: a second run, or a run after a crash,
changes nothing twice.
"""
import logging
import os
from datetime import timedelta, timezone

from flask import current_app, g
from flask_babel import force_locale, gettext as _
from sqlalchemy import func, or_

from app.core import clock, settings
from app.extensions import db
from app.reports.models import UserJob

log = logging.getLogger(__name__)

FINISHED = ("done", "failed", "cancelled", "invalid")
IMPORT_DIR = "imports"
EXPORT_DIR = "exports"
ORPHAN_GRACE = timedelta(days=1)
"""A file no job refers to is deleted once it is this old (an upload is written before its job row)."""
BATCH = 500


# --- where a job's files are -------------------------------------------------------------------

def _relative(job_kind, stored):
    """A stored name as a path relative to ``UPLOAD_FOLDER``: imports keep bare names under
    ``imports/``, exports keep ``exports/<name>``."""
    if not stored:
        return None
    if job_kind == "import":
        return f"{IMPORT_DIR}/{os.path.basename(stored)}"
    return stored


def upload_path(relative):
    """The absolute path of ``relative`` inside ``UPLOAD_FOLDER`` (None if it would leave it)."""
    if not relative:
        return None
    root = os.path.realpath(current_app.config["UPLOAD_FOLDER"])
    path = os.path.realpath(os.path.join(root, relative))
    if not path.startswith(root + os.sep):
        return None
    return path


def output_file_path(job):
    """The absolute path of the job's downloadable file (an export, an import's error workbook)."""
    return upload_path(_relative(job.kind, job.output_file))


def job_paths(job):
    """The absolute paths of every file of the job (the upload, the output)."""
    paths = [upload_path(_relative(job.kind, job.input_file)), output_file_path(job)]
    return [p for p in paths if p]


def file_expired(job):
    """Whether the clean-up deleted the job's files."""
    return job.files_deleted_at is not None


# --- the job -----------------------------------------------------------------------------------

def _remove(path):
    try:
        os.remove(path)
        return True
    except FileNotFoundError:
        return False


def _act_as_job():
    """Outside a worker (which names the job itself), name this job as the actor."""
    if not g.get("_audit_actor"):
        from app.audit_trail.capture import set_actor

        set_actor("job:clean_up_job_files", "job")


def _stamp(job_id, statuses, values):
    """Compare-and-set: stamp the job only while it is still in ``statuses`` and not yet stamped."""
    claimed = db.session.query(UserJob).filter(
        UserJob.id == job_id, UserJob.status.in_(statuses), UserJob.files_deleted_at.is_(None)
    ).update(values, synchronize_session=False)
    db.session.commit()
    return bool(claimed)


def _delete_files_of(job):
    deleted = 0
    for path in job_paths(job):
        deleted += _remove(path)
    return deleted


def _jobs_in_batches(*conditions):
    """The jobs matching ``conditions``, read ``BATCH`` at a time by id."""
    last_id = 0
    while True:
        jobs = db.session.query(UserJob).filter(UserJob.id > last_id, *conditions).order_by(UserJob.id) \
            .limit(BATCH).all()
        if not jobs:
            return
        last_id = jobs[-1].id
        yield from jobs


def _cancel_unconfirmed(cutoff, now, days, counts):
    """Checked imports waiting for a confirmation since before ``cutoff``: cancelled, files deleted."""
    for job in _jobs_in_batches(UserJob.kind == "import", UserJob.status == "validated",
                                func.coalesce(UserJob.finished_at, UserJob.updated_at) < cutoff):
        with force_locale(job.locale):
            note = _("Not confirmed within %(days)s days: cancelled, and its file deleted.", days=days)
        if _stamp(job.id, ("validated",), {"status": "cancelled", "finished_at": now, "error": note,
                                            "files_deleted_at": now}):
            counts["unconfirmed_cancelled"] += 1
            counts["files_deleted"] += _delete_files_of(job)


def _expire_finished(cutoff, now, counts):
    """Files of jobs finished before ``cutoff``: deleted, the job stamped."""
    for job in _jobs_in_batches(UserJob.status.in_(FINISHED), UserJob.files_deleted_at.is_(None),
                                or_(UserJob.input_file.isnot(None), UserJob.output_file.isnot(None)),
                                func.coalesce(UserJob.finished_at, UserJob.updated_at) < cutoff):
        if _stamp(job.id, FINISHED, {"files_deleted_at": now}):
            counts["jobs_expired"] += 1
            counts["files_deleted"] += _delete_files_of(job)


def _referenced():
    """Paths (relative to ``UPLOAD_FOLDER``) of the files of every job whose files are kept."""
    rows = db.session.query(UserJob.kind, UserJob.input_file, UserJob.output_file).filter(
        UserJob.files_deleted_at.is_(None),
        or_(UserJob.input_file.isnot(None), UserJob.output_file.isnot(None)))
    found = set()
    for kind, input_file, output_file in rows.yield_per(BATCH):
        for stored in (input_file, output_file):
            relative = _relative(kind, stored)
            if relative:
                found.add(os.path.normpath(relative))
    return found


def _remove_orphans(now, counts):
    root = current_app.config["UPLOAD_FOLDER"]
    referenced = _referenced()
    db.session.rollback()
    older_than = (now - ORPHAN_GRACE).replace(tzinfo=timezone.utc).timestamp()
    for folder in (IMPORT_DIR, EXPORT_DIR):
        directory = os.path.join(root, folder)
        if not os.path.isdir(directory):
            continue
        with os.scandir(directory) as entries:
            for entry in entries:
                if not entry.is_file(follow_symlinks=False):
                    continue
                if os.path.normpath(f"{folder}/{entry.name}") in referenced:
                    continue
                try:
                    if entry.stat(follow_symlinks=False).st_mtime >= older_than:
                        continue  # maybe a file whose job is being recorded right now
                except FileNotFoundError:
                    continue
                counts["orphans_deleted"] += _remove(entry.path)


def clean_up_job_files():
    """Delete the files of jobs older than ``jobs.file_retention_days`` days (see the module).
    Returns the counts; a second run deletes nothing."""
    _act_as_job()
    days = settings.get("jobs.file_retention_days")
    now = clock.now()
    cutoff = now - timedelta(days=days)
    counts = {"unconfirmed_cancelled": 0, "jobs_expired": 0, "files_deleted": 0, "orphans_deleted": 0}
    _cancel_unconfirmed(cutoff, now, days, counts)
    _expire_finished(cutoff, now, counts)
    _remove_orphans(now, counts)
    log.info("job files clean-up: %s", counts)
    return counts
