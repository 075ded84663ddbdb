"""The nightly clean-up of import and export files: old files of finished jobs deleted and the jobs
marked "file expired", checked imports never confirmed cancelled, orphans removed, recent files kept;
idempotent; through a real worker; the expired download answers 410 with a message."""
import os
import uuid
from datetime import datetime, timedelta

import pytest
from flask import g
from flask_babel import force_locale, gettext
from rq import Queue

from app.core import clock, queue
from app.extensions import db
from app.reports import cleanup
from app.reports.models import UserJob
from tests import factories
from tests.test_engineer_lifecycle import set_setting
from tests.workers import burst

NOW = datetime(2026, 11, 23, 2, 0)  # naive UTC: 10:00 in Shanghai


def _file(app, relative, content=b"PK fake workbook"):
    path = os.path.join(app.config["UPLOAD_FOLDER"], relative)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as fh:
        fh.write(content)
    return path


def _utime(path, moment):
    from datetime import timezone

    stamp = moment.replace(tzinfo=timezone.utc).timestamp()
    os.utime(path, (stamp, stamp))


def _job(username="hq", **kw):
    job = UserJob(kind=kw.pop("kind", "export"), entity=kw.pop("entity", "service_order"),
                  label=kw.pop("label", "服务工单"), user_id=factories.user(username).id,
                  status=kw.pop("status", "done"), **kw)
    db.session.add(job)
    db.session.commit()
    return job


def _name(suffix=".xlsx"):
    return f"{uuid.uuid4().hex}{suffix}"


@pytest.fixture
def scene(app):
    """Old and recent jobs with their files, at ``now``; files of old jobs older than the retention."""

    def build(now):
        old, recent = now - timedelta(days=10), now - timedelta(days=2)
        s = {}
        stored = f"exports/{_name()}"
        s["old_export_file"] = _file(app, stored)
        s["old_export"] = _job(output_file=stored, output_name="orders.xlsx", finished_at=old, result={"rows": 3})
        stored = f"exports/{_name()}"
        s["recent_export_file"] = _file(app, stored)
        s["recent_export"] = _job(output_file=stored, output_name="orders.xlsx", finished_at=recent)
        upload, errors = _name(), _name("-errors.xlsx")
        s["old_invalid_files"] = [_file(app, f"imports/{upload}"), _file(app, f"imports/{errors}")]
        s["old_invalid"] = _job(kind="import", entity="part", status="invalid", input_file=upload,
                                output_file=errors, output_name="part-import-errors.xlsx", finished_at=old,
                                params={"phase": "validate", "locale": "zh"},
                                result={"rows": 1, "errors": 1, "errors_list": [{"row": 2, "messages": ["?"]}]})
        upload = _name()
        s["old_failed_file"] = _file(app, f"imports/{upload}")
        s["old_failed"] = _job(kind="import", entity="part", status="failed", input_file=upload, finished_at=old,
                               error="broke")
        upload = _name()
        s["unconfirmed_file"] = _file(app, f"imports/{upload}")
        s["unconfirmed"] = _job(kind="import", entity="part", status="validated", input_file=upload,
                                finished_at=old, params={"phase": "validate", "locale": "zh"})
        upload = _name()
        s["recent_unconfirmed_file"] = _file(app, f"imports/{upload}")
        s["recent_unconfirmed"] = _job(kind="import", entity="part", status="validated", input_file=upload,
                                       finished_at=recent, params={"phase": "validate"})
        upload = _name()
        s["running_file"] = _file(app, f"imports/{upload}")  # started long ago, still running: kept
        s["running"] = _job(kind="import", entity="part", status="running", input_file=upload,
                            started_at=old, params={"phase": "commit"})
        s["old_orphan"] = _file(app, f"exports/{_name()}")
        _utime(s["old_orphan"], old)
        s["old_import_orphan"] = _file(app, f"imports/{_name()}")
        _utime(s["old_import_orphan"], now - timedelta(days=1, minutes=1))
        s["new_orphan"] = _file(app, f"imports/{_name()}")  # maybe an upload whose job is being recorded
        _utime(s["new_orphan"], now - timedelta(hours=1))
        s["evidence"] = _file(app, f"evidence/{_name('.jpg')}")  # another folder: never touched
        _utime(s["evidence"], old)
        # every job's file is old: what counts is when its job finished
        for key in ("old_export_file", "recent_export_file", "unconfirmed_file", "running_file",
                    "recent_unconfirmed_file", "old_failed_file"):
            _utime(s[key], old)
        for path in s["old_invalid_files"]:
            _utime(path, old)
        return s

    return build


def _reload(job):
    db.session.expire_all()
    return db.session.get(UserJob, job.id)


def test_old_files_go_recent_ones_stay_and_a_second_run_changes_nothing(app, scene):
    with clock.freeze(NOW):
        s = scene(NOW)
        counts = cleanup.clean_up_job_files()
    assert counts["jobs_expired"] == 3  # the old export, invalid and failed imports
    assert counts["unconfirmed_cancelled"] == 1
    assert counts["files_deleted"] == 5
    assert counts["orphans_deleted"] >= 2
    for path in (s["old_export_file"], *s["old_invalid_files"], s["old_failed_file"], s["unconfirmed_file"],
                 s["old_orphan"], s["old_import_orphan"]):
        assert not os.path.exists(path), path
    for path in (s["recent_export_file"], s["recent_unconfirmed_file"], s["running_file"], s["new_orphan"],
                 s["evidence"]):
        assert os.path.exists(path), path
    for key in ("old_export", "old_invalid", "old_failed"):
        job = _reload(s[key])
        assert job.files_deleted_at == NOW and job.status == s[key].status, key
    job = _reload(s["unconfirmed"])
    assert job.status == "cancelled" and job.files_deleted_at == NOW and job.finished_at == NOW
    with force_locale("zh"):
        assert job.error == gettext("Not confirmed within %(days)s days: cancelled, and its file deleted.", days=7)
    for key in ("recent_export", "recent_unconfirmed", "running"):
        job = _reload(s[key])
        assert job.files_deleted_at is None and job.status == s[key].status, key

    with clock.freeze(NOW + timedelta(minutes=5)):
        again = cleanup.clean_up_job_files()
    assert again == {"unconfirmed_cancelled": 0, "jobs_expired": 0, "files_deleted": 0, "orphans_deleted": 0}
    assert _reload(s["old_export"]).files_deleted_at == NOW  # not stamped twice
    assert os.path.exists(s["recent_export_file"]) and os.path.exists(s["new_orphan"])


def test_the_retention_is_a_setting(app, scene):
    set_setting("jobs.file_retention_days", 30)
    with clock.freeze(NOW):
        s = scene(NOW)
        counts = cleanup.clean_up_job_files()
    assert counts["jobs_expired"] == counts["unconfirmed_cancelled"] == 0
    assert os.path.exists(s["old_export_file"]) and os.path.exists(s["unconfirmed_file"])
    assert _reload(s["unconfirmed"]).status == "validated"
    set_setting("jobs.file_retention_days", 1)
    with clock.freeze(NOW):
        counts = cleanup.clean_up_job_files()
    assert counts["jobs_expired"] == 4 and counts["unconfirmed_cancelled"] == 2  # two days old is old now
    assert not os.path.exists(s["recent_export_file"])


def test_my_jobs_says_file_expired_and_the_download_answers_410(app, scene, login):
    with clock.freeze(NOW):
        s = scene(NOW)
        cleanup.clean_up_job_files()
    client = login("hq")
    body = client.get("/myjobs/").get_data(as_text=True)
    expired = body.split(f'id="job-{s["old_export"].id}"', 1)[1].split("</tr>", 1)[0]
    assert "job-file-expired" in expired and "/download" not in expired
    kept = body.split(f'id="job-{s["recent_export"].id}"', 1)[1].split("</tr>", 1)[0]
    assert f'/myjobs/{s["recent_export"].id}/download' in kept and "job-file-expired" not in kept

    r = client.get(f'/myjobs/{s["old_export"].id}/download')
    assert r.status_code == 410
    page = r.get_data(as_text=True)
    assert 'id="file-expired"' in page and "PK fake workbook" not in page
    with force_locale("zh"):
        assert gettext("Export the list again to get a new file.") in page
    assert "2026年11月23日 10:00" in page  # when, in Shanghai time
    # the import's error workbook, from My jobs and from the import page
    assert client.get(f'/myjobs/{s["old_invalid"].id}/download').status_code == 410
    if "ImportView.errors" in app.view_functions:
        assert client.get(f'/import/job/{s["old_invalid"].id}/errors').status_code == 410
        job_page = client.get(f'/import/job/{s["old_invalid"].id}').get_data(as_text=True)
        assert 'id="error-workbook-expired"' in job_page and 'id="error-workbook"' not in job_page
    # still the owner's only
    assert login("hq2").get(f'/myjobs/{s["old_export"].id}/download').status_code == 404
    # a kept file still downloads (an import's error workbook lives under imports/)
    assert client.get(f'/myjobs/{s["recent_export"].id}/download').get_data() == b"PK fake workbook"


def test_an_import_error_workbook_downloads_from_my_jobs(app, login):
    errors = _name("-errors.xlsx")
    _file(app, f"imports/{errors}", b"PK error workbook")
    job = _job(kind="import", entity="part", status="invalid", output_file=errors,
               output_name="part-import-errors.xlsx", finished_at=clock.now())
    assert login("hq").get(f"/myjobs/{job.id}/download").get_data() == b"PK error workbook"


def test_an_unconfirmed_import_cannot_be_confirmed_after_the_clean_up(app, scene, login):
    with clock.freeze(NOW):
        s = scene(NOW)
        cleanup.clean_up_job_files()
    client = login("hq")
    if "ImportView.confirm" in app.view_functions:
        client.post(f'/import/job/{s["unconfirmed"].id}/confirm')
        assert _reload(s["unconfirmed"]).status == "cancelled"


def test_the_job_names_itself_as_the_actor_outside_a_worker(app):
    g.pop("_audit_actor", None)
    cleanup.clean_up_job_files()
    assert g._audit_actor == ("job:clean_up_job_files", "job", None)


def test_the_clean_up_is_scheduled_daily(app):
    from rq.cron import CronScheduler

    scheduler = CronScheduler(connection=queue.connection(app))
    scheduler.load_config_from_file("app.schedule")
    registered = {(j.func_name, j.cron) for j in scheduler.get_jobs()}
    assert ("app.reports.cleanup.clean_up_job_files", "50 16 * * *") in registered


def test_the_clean_up_runs_on_a_real_worker(app, scene):
    """A worker process has its own clock: the scene is built around the real time."""
    from app import jobs

    now = clock.now()
    s = scene(now)
    name = f"test-cleanup-{uuid.uuid4().hex[:8]}"
    q = Queue(name, connection=queue.connection(app))
    rq_job = q.enqueue(jobs.clean_up_job_files)
    burst(app, name)
    assert rq_job.get_status(refresh=True) == "finished"
    result = rq_job.return_value()
    assert result["jobs_expired"] == 3 and result["unconfirmed_cancelled"] == 1
    assert not os.path.exists(s["old_export_file"]) and not os.path.exists(s["old_orphan"])
    assert os.path.exists(s["recent_export_file"]) and os.path.exists(s["new_orphan"])
    assert _reload(s["old_export"]).files_deleted_at is not None
    assert _reload(s["unconfirmed"]).status == "cancelled"
    # once more: nothing left to do
    rq_job = q.enqueue(jobs.clean_up_job_files)
    burst(app, name)
    again = rq_job.return_value()
    assert again["jobs_expired"] == again["unconfirmed_cancelled"] == again["files_deleted"] == 0
    q.delete(delete_jobs=True)
