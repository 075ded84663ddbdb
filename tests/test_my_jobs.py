"""My jobs (each user's own imports and exports) and queue health (administrators only)."""
import os
import uuid

import pytest
from flask_babel import force_locale
from rq import Queue, SimpleWorker
from rq.registry import FailedJobRegistry

from app.core import queue
from app.extensions import db
from app.reports.enums import JOB_STATUS
from app.reports.models import UserJob
from tests import factories


def explode():
    raise RuntimeError("boom for the queue health page")


def _job(username, **kw):
    job = UserJob(kind=kw.pop("kind", "export"), entity=kw.pop("entity", "service_order"),
                  label=kw.pop("label", "服务工单"), user_id=factories.user(username).id,
                  status=kw.pop("status", "queued"), **kw)
    db.session.add(job)
    db.session.commit()
    return job


def _label(status):
    with force_locale("zh"):
        return JOB_STATUS.label(status)


def test_my_jobs_lists_only_mine_newest_first_with_translated_statuses(app, login):
    first = _job("hq", status="done", progress=3, total=3, result={"rows": 3})
    running = _job("hq", status="running", progress=5, total=20)
    failed = _job("hq", status="failed", error="something broke")
    imported = _job("hq", kind="import", entity="engineer", status="validated")
    theirs = _job("hq2", status="done")
    body = login("hq").get("/myjobs/").get_data(as_text=True)
    for job in (first, running, failed, imported):
        assert f'id="job-{job.id}"' in body
    assert f'id="job-{theirs.id}"' not in body
    assert body.index(f'id="job-{imported.id}"') < body.index(f'id="job-{first.id}"')  # newest first
    for status in ("done", "running", "failed", "validated"):
        assert _label(status) in body
    assert "something broke" in body
    row = body.split(f'id="job-{running.id}"', 1)[1].split("</tr>", 1)[0]
    assert 'data-running="1"' in row and "width: 25%" in row and "5 / 20" in row
    assert "setTimeout(poll, 2000)" in body  # polled while something runs
    if "ImportView.job" in app.view_functions:
        assert f"/{imported.id}" in body.split(f'id="job-{imported.id}"', 1)[1].split("</tr>", 1)[0]


def test_status_endpoint_answers_only_for_my_jobs(login):
    mine = _job("manager_e", status="running", progress=1, total=4)
    theirs = _job("manager_w", status="running")
    r = login("manager_e").get(f"/myjobs/status?ids={mine.id},{theirs.id},x")
    assert r.status_code == 200
    jobs = r.get_json()["jobs"]
    assert [j["id"] for j in jobs] == [mine.id]
    assert jobs[0]["percent"] == 25 and jobs[0]["running"] is True
    assert jobs[0]["status_label"] == _label("running")


def test_downloads_are_for_the_owner_only(app, login):
    folder = os.path.join(app.config["UPLOAD_FOLDER"], "exports")
    os.makedirs(folder, exist_ok=True)
    stored = f"exports/test-{uuid.uuid4().hex}.xlsx"
    with open(os.path.join(app.config["UPLOAD_FOLDER"], stored), "wb") as fh:
        fh.write(b"PK fake workbook")
    job = _job("agent_e", status="done", output_file=stored, output_name="orders.xlsx")
    assert login("agent_e").get(f"/myjobs/{job.id}/download").get_data() == b"PK fake workbook"
    for other in ("manager_e", "hq", "admin"):
        assert login(other).get(f"/myjobs/{job.id}/download").status_code == 404
    assert login("agent_e").get("/myjobs/999999/download").status_code == 404
    escape = _job("agent_e", status="done", output_file="../../etc/passwd", output_name="x")
    assert login("agent_e").get(f"/myjobs/{escape.id}/download").status_code == 404


def test_every_business_role_has_my_jobs_in_the_menu(login):
    for username in ("hq", "manager_e", "agent_e", "auditor"):
        page = login(username)
        assert page.get("/myjobs/").status_code == 200, username
        assert 'href="/myjobs/' in page.get("/serviceorderview/list/").get_data(as_text=True), username


@pytest.fixture
def failed_job(app):
    name = f"test-health-{uuid.uuid4().hex[:8]}"
    connection = queue.connection(app)
    q = Queue(name, connection=connection)
    job = q.enqueue(explode)
    SimpleWorker([q], connection=connection).work(burst=True)
    assert job.get_status(refresh=True) == "failed"
    yield q, job
    q.delete(delete_jobs=True)


def test_queue_health_is_for_admins_only(failed_job, login):
    for username in ("hq", "manager_e", "agent_e", "auditor"):
        page = login(username)
        assert page.get("/queuehealth/").status_code == 403, username
        assert page.post(f"/queuehealth/retry/{failed_job[1].id}").status_code == 403, username
        assert "/queuehealth/" not in page.get("/myjobs/").get_data(as_text=True)


def test_queue_health_shows_a_failed_job_and_retry_requeues_it(failed_job, login):
    q, job = failed_job
    admin = login("admin")
    body = admin.get("/queuehealth/").get_data(as_text=True)
    assert f'data-queue="{q.name}"' in body
    row = body.split(f'data-queue="{q.name}"', 1)[1].split("</tr>", 1)[0]
    assert '<td class="failed text-danger">1</td>' in row
    failed = body.split(f'data-job="{job.id}"', 1)[1].split("</tr>", 1)[0]
    assert "tests.test_my_jobs.explode" in failed and "boom for the queue health page" in failed
    assert "RuntimeError" in failed

    r = admin.post(f"/queuehealth/retry/{job.id}", data={"queue": q.name})
    assert r.status_code == 302
    assert job.get_status(refresh=True) == "queued"
    assert job.id in q.job_ids and job.id not in FailedJobRegistry(queue=q).get_job_ids()
    # a second retry: not among the failed jobs any more, said politely
    r = admin.post(f"/queuehealth/retry/{job.id}", data={"queue": q.name}, follow_redirects=True)
    assert r.status_code == 200


def test_queue_health_without_redis_is_a_message_not_a_500(app, login, monkeypatch):
    def down(*args, **kwargs):
        raise ConnectionError("no redis here")

    monkeypatch.setattr(queue, "connection", down)
    r = login("admin").get("/queuehealth/")
    assert r.status_code == 200 and 'id="queue-error"' in r.get_data(as_text=True)
