"""The two phases of an import, both rq jobs taking the ``UserJob`` id and acting for the user who
uploaded the file (their region scope, their name in the audit trail, their language):

* ``validate_import`` reads every row and runs it through ``rows.process_row``, then ROLLS BACK —
  each row in its own short transaction, so progress can be committed between rows. The job ends
  ``invalid`` with an error workbook when a row has errors; ``done`` at once, saying there is
  nothing to change, when every row matches what is stored; else ``validated``, waiting for the
  user's confirmation. Its result holds the counts (new / changed / unchanged / errors).
* ``commit_import`` (after the user confirms) applies every row in ONE transaction: any error or
  failure rolls everything back and the job ends ``failed`` with the reason; else ``done``.
"""
import logging
from contextlib import contextmanager

from flask_babel import force_locale, gettext as _

from app.core import clock, scope
from app.core.errors import DomainError
from app.extensions import db
from app.reports import job_control
from app.reports.imports.chunks import Batch, Replay, chunked
from app.reports.imports.files import file_path
from app.reports.imports.references import References
from app.reports.imports.registry import can_import, spec_for
from app.reports.imports.rows import duplicate_message, process_row
from app.reports.imports.workbook import read_workbook, write_error_workbook

log = logging.getLogger(__name__)

MAX_ERRORS_SHOWN = 500


def _claim(job_id, phase):
    """Move a queued job of ``phase`` to running (compare-and-set); None when someone else did."""
    from app.reports.models import UserJob

    job = db.session.get(UserJob, job_id)
    if job is None or job.kind != "import" or job.status != "queued" or (job.params or {}).get("phase") != phase:
        return None
    claimed = db.session.query(UserJob).filter(UserJob.id == job_id, UserJob.status == "queued").update(
        {"status": "running", "started_at": clock.now(), "progress": 0, "error": None},
        synchronize_session=False)
    db.session.commit()
    if not claimed:
        return None
    job_control.clear(job_id)  # a live value or cancel request left by an earlier phase
    db.session.refresh(job)
    return job


def _finish(job_id, **values):
    from app.reports.models import UserJob

    db.session.rollback()
    job = db.session.get(UserJob, job_id)
    for name, value in values.items():
        setattr(job, name, value)
    job.finished_at = clock.now()
    db.session.commit()
    job_control.clear(job_id)  # the row holds the final progress now
    return job


def _progress_outside(job_id, progress, total):
    """Write progress on a connection of its own (the import's transaction stays open). Not on
    SQLite: the live value in Redis (``job_control``) is what the pages show meanwhile."""
    from app.reports.models import UserJob

    if db.engine.dialect.name == "sqlite":
        return  # one writer at a time: the import's transaction holds the lock
    with db.engine.begin() as conn:
        conn.execute(UserJob.__table__.update().where(UserJob.__table__.c.id == job_id)
                     .values(progress=progress, total=total))


class _acting:
    """Act for the job's user: their region scope, their name in the audit trail."""

    def __init__(self, user):
        self.user = user

    def __enter__(self):
        from app.audit_trail.capture import set_actor

        set_actor(self.user.username, "user", self.user.id)
        self._scope = scope.acting_as(self.user)
        self._scope.__enter__()
        return self

    def __exit__(self, *exc):
        self._scope.__exit__(*exc)
        return False


@contextmanager
def _uploaders_workbook(job, count=None):
    """``(spec, sheet)``: the job's workbook read while acting as its uploader, in their language,
    once their permission to import the entity is checked (both phases start here). ``count``:
    the rows the check counted (the file is the same), not counted again."""
    spec = spec_for(job.entity)
    user, stored = job.user, job.input_file
    with _acting(user), force_locale(job.locale):
        if not can_import(user, spec):
            raise DomainError(_("You are not allowed to import %(what)s.", what=spec.label))
        yield spec, read_workbook(spec, file_path(stored), count=count)


def _run_rows(spec, sheet, on_row, thorough, undo=False, live=None):
    """Every row through ``process_row``, a chunk at a time (``chunks``); ``on_row(index)`` once a
    chunk is settled (the session may be committed then), ``live(index)`` after each row while its
    chunk is being judged (live progress and a cancel request only: nothing may be committed). ``undo``:
    each chunk (one by one: each row) is rolled back once judged. When the database refuses a chunk's
    flush, everything is rolled back and the rows are judged again one by one, each flushed alone, so
    each row reports its own error."""
    try:
        return _rows_in_chunks(spec, sheet, on_row, thorough, undo, live)
    except Replay:
        db.session.rollback()
        log.info("import: a chunk was refused by the database; judging its rows one by one")
        return _rows_one_by_one(spec, sheet, on_row, thorough, undo)


def _tally(counts, errors, seen, number, outcome, key, messages):
    """Count the row's outcome; a key already seen in the file is an error. Returns the outcome."""
    if key is not None:
        plain = tuple(key)
        if plain in seen:
            messages = list(messages) + [duplicate_message(key, seen[plain])]
            outcome = "error"
        else:
            seen[plain] = number
    counts["errors" if outcome == "error" else outcome] += 1
    if outcome == "error":
        errors.append({"row": number, "messages": [str(m) for m in messages]})
    return outcome


def _rows_in_chunks(spec, sheet, on_row, thorough, undo, live=None):
    from app.reports.imports import rows as rows_module

    refs = References()
    seen = {}
    counts = {"new": 0, "changed": 0, "unchanged": 0, "errors": 0}
    errors = []
    session = db.session
    for chunk in chunked(sheet.rows):
        batch = Batch(spec, refs)
        judged = []
        with session.no_autoflush:
            batch.prepare(sheet, chunk)
            with batch.rules():
                for position, (index, (number, values)) in enumerate(chunk):
                    outcome, key, messages = process_row(spec, refs, sheet, values, thorough=thorough, batch=batch)
                    duplicate = key is not None and tuple(key) in seen
                    batch.settle(position, outcome == "error" or duplicate)
                    if key is not None and not duplicate:
                        seen[tuple(key)] = number
                    judged.append([index, number, outcome, key, list(messages), duplicate])
                    if live is not None:
                        live(index)  # raises JobCancelled when the user asked: the chunk rolls back
        failures = batch.flush(rows_module)
        if undo:
            session.rollback()  # checking: the chunk is undone once judged
        refs.forget_chunk()
        for position, (index, number, outcome, key, messages, duplicate) in enumerate(judged):
            if position in failures:
                outcome, messages = "error", messages + failures[position]
            if duplicate:
                outcome = "error"
                messages = messages + [duplicate_message(key, seen[tuple(key)])]
            counts["errors" if outcome == "error" else outcome] += 1
            if outcome == "error":
                errors.append({"row": number, "messages": [str(m) for m in messages]})
        if judged:
            on_row(judged[-1][0])
    return counts, errors


def _rows_one_by_one(spec, sheet, on_row, thorough, undo):
    refs = References()
    seen = {}
    counts = {"new": 0, "changed": 0, "unchanged": 0, "errors": 0}
    errors = []
    for index, (number, values) in enumerate(sheet.rows, start=1):
        outcome, key, messages = process_row(spec, refs, sheet, values, thorough=thorough)
        outcome = _tally(counts, errors, seen, number, outcome, key, messages)
        if undo:
            db.session.rollback()  # each row is checked in its own transaction, then undone
        on_row(index)
    return counts, errors


def validate_import(job_id):
    """Phase one: check every row with the entity rules, roll back, record the outcome."""
    job = _claim(job_id, "validate")
    if job is None:
        return None
    locale = job.locale
    try:
        with _uploaders_workbook(job) as (spec, sheet):
            no_rows = _("The first sheet has no rows to import: fill in the rows below its header.")
            total = len(sheet.rows)  # the sheet's declared size until the rows are read
            if not total:
                raise DomainError(no_rows)
            job.total = total
            db.session.commit()

            def save_progress(done, _total):
                from app.reports.models import UserJob

                db.session.query(UserJob).filter(UserJob.id == job_id).update(
                    {"progress": done}, synchronize_session=False)
                db.session.commit()

            ticker = job_control.Ticker(job_id, total, also=save_progress)
            ticker(0, force=True)

            counts, errors = _run_rows(spec, sheet, ticker, thorough=True, undo=True,
                                       live=job_control.Ticker(job_id, total))
            db.session.rollback()
            total = len(sheet.rows)  # counted while read
            if not total:
                raise DomainError(no_rows)
            output = output_name = None
            if errors:
                output = write_error_workbook(spec, sheet, errors)
                output_name = f"{spec.name}-import-errors.xlsx"
            nothing = not errors and not counts["new"] and not counts["changed"]
            result = dict(counts, rows=total, errors_list=errors[:MAX_ERRORS_SHOWN],
                          errors_truncated=len(errors) > MAX_ERRORS_SHOWN, nothing_to_change=nothing)
        # every row as stored already: nothing to confirm
        status = "invalid" if errors else ("done" if nothing else "validated")
        _finish(job_id, status=status, progress=total, total=total, result=result, output_file=output,
                output_name=output_name)
        return counts
    except job_control.JobCancelled:
        db.session.rollback()
        with force_locale(locale):
            _finish(job_id, status="cancelled", error=_("Cancelled while checking; nothing was written."))
    except DomainError as exc:
        _finish(job_id, status="invalid", error=str(exc.message), result={"rows": 0, "new": 0, "changed": 0,
                                                                           "unchanged": 0, "errors": 0,
                                                                           "errors_list": []})
    except Exception:
        log.exception("import %s: validation failed", job_id)
        _finish(job_id, status="failed", error=_("The check stopped with an unexpected error."))
    return None


class _Abort(Exception):
    pass


def commit_import(job_id):
    """Phase two: apply every row in one transaction — all or nothing."""
    job = _claim(job_id, "commit")
    if job is None:
        return None
    locale = job.locale
    try:
        with _uploaders_workbook(job, count=(job.result or {}).get("rows") or None) as (spec, sheet):
            total = len(sheet.rows)
            db.session.commit()
            # the rows go in one transaction: the pages read the live value in Redis meanwhile
            ticker = job_control.Ticker(job_id, total,
                                        also=lambda done, of: _progress_outside(job_id, done, of))
            ticker(0, force=True)

            # a tick raises JobCancelled when the user asked: everything rolls back
            counts, errors = _run_rows(spec, sheet, ticker, thorough=False, live=job_control.Ticker(job_id, total))
            if errors:
                db.session.rollback()
                first = errors[0]
                raise _Abort(_("Nothing was imported: row %(row)s: %(message)s", row=first["row"],
                               message="; ".join(first["messages"])))
            job_control.raise_if_cancelled(job_id)  # the last word before the commit
            db.session.commit()
        _finish(job_id, status="done", progress=total, total=total,
                result=dict(job.result or {}, **counts, rows=total, errors_list=[]))
        return counts
    except job_control.JobCancelled:
        db.session.rollback()
        with force_locale(locale):
            _finish(job_id, status="cancelled", error=_("Cancelled; nothing was imported."))
    except (_Abort, DomainError) as exc:
        db.session.rollback()
        message = str(exc.message) if isinstance(exc, DomainError) else str(exc)
        _finish(job_id, status="failed", error=message)
    except Exception as exc:
        db.session.rollback()
        log.exception("import %s: commit failed", job_id)
        _finish(job_id, status="failed",
                error=_("Nothing was imported: the import stopped with an error (%(error)s).",
                        error=type(exc).__name__))
    return None
