"""My jobs (each user's own imports and exports) and queue health (administrators only)."""
import os
import uuid

import pytest
from flask_babel import force_locale, gettext
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


def _row(body, job):
    """The table row of ``job`` on the My jobs page."""
    assert f'id="job-{job.id}"' in body, job.id
    return body.split(f'id="job-{job.id}"', 1)[1].split("</tr>", 1)[0]


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
    for job, status in ((first, "done"), (running, "running"), (failed, "failed"), (imported, "validated")):
        assert _label(status) in _row(body, job)
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


# --- paging and filters ------------------------------------------------------------------------

def _ids(body):
    return [int(part.split('"', 1)[0]) for part in body.split('class="my-job" id="job-')[1:]]


def test_my_jobs_pages_25_at_a_time_newest_first_with_the_total(login):
    jobs = [_job("hq", status="done", result={"rows": 1}) for _ in range(60)]
    _job("hq2", status="done")  # someone else's: not counted
    newest_first = [j.id for j in reversed(jobs)]
    client = login("hq")

    body = client.get("/myjobs/").get_data(as_text=True)
    assert _ids(body) == newest_first[:25]
    assert 'data-count="60"' in body and 'data-page="1" data-pages="3"' in body
    assert 'href="/myjobs/?page=2"' in body and 'href="/myjobs/?page=3"' in body

    body = client.get("/myjobs/?page=2").get_data(as_text=True)
    assert _ids(body) == newest_first[25:50]
    assert 'href="/myjobs/"' in body and 'href="/myjobs/?page=3"' in body  # page 1 and next

    body = client.get("/myjobs/?page=3").get_data(as_text=True)
    assert _ids(body) == newest_first[50:]
    assert client.get("/myjobs/?page=99").get_data(as_text=True).count('class="my-job"') == 10  # the last page
    assert _ids(client.get("/myjobs/?page=abc").get_data(as_text=True)) == newest_first[:25]


def test_my_jobs_filters_by_kind_and_status_and_pages_keep_them(login):
    exports_done = [_job("hq", kind="export", status="done") for _ in range(27)]
    failed_export = _job("hq", kind="export", status="failed", error="broke")
    invalid_import = _job("hq", kind="import", entity="part", status="invalid")
    done_import = _job("hq", kind="import", entity="part", status="done")
    client = login("hq")

    body = client.get("/myjobs/?kind=import").get_data(as_text=True)
    assert set(_ids(body)) == {invalid_import.id, done_import.id} and 'data-count="2"' in body
    body = client.get("/myjobs/?status=failed").get_data(as_text=True)
    assert _ids(body) == [failed_export.id]
    body = client.get("/myjobs/?kind=import&status=done").get_data(as_text=True)
    assert _ids(body) == [done_import.id]
    body = client.get("/myjobs/?kind=import&status=running").get_data(as_text=True)
    assert _ids(body) == [] and 'id="my-jobs-empty"' in body

    body = client.get("/myjobs/?kind=export&status=done").get_data(as_text=True)
    assert 'data-count="27"' in body and len(_ids(body)) == 25
    assert "/myjobs/?page=2&amp;kind=export&amp;status=done" in body  # the next page keeps the filters
    body = client.get("/myjobs/?page=2&kind=export&status=done").get_data(as_text=True)
    assert set(_ids(body)) == {exports_done[0].id, exports_done[1].id}
    # unknown values are ignored, not errors
    body = client.get("/myjobs/?kind=bogus&status=nope").get_data(as_text=True)
    assert 'data-count="30"' in body


def test_status_endpoint_answers_for_the_rows_of_any_page(login):
    running = _job("hq", status="running", progress=3, total=12)
    for _ in range(30):
        _job("hq", status="done")
    client = login("hq")
    body = client.get("/myjobs/?page=2").get_data(as_text=True)
    assert running.id in _ids(body) and 'data-running="1"' in _row(body, running)
    jobs = client.get(f"/myjobs/status?ids={running.id}").get_json()["jobs"]
    assert jobs[0]["id"] == running.id and jobs[0]["percent"] == 25 and jobs[0]["running"] is True


def test_my_jobs_dates_are_in_the_readers_locale_and_shanghai_time(login):
    from datetime import datetime

    from app.core.l10n import datetime_text

    job = _job("hq", status="done", finished_at=datetime(2026, 11, 23, 6, 45))
    job.created_at = datetime(2026, 11, 23, 6, 30)  # 14:30 in Shanghai
    db.session.commit()
    row = _row(login("hq").get("/myjobs/").get_data(as_text=True), job)
    assert datetime_text(job.created_at, loc="zh") in row and "2026年11月23日 14:30" in row
    assert "2026年11月23日 14:45" in row
    client = login("hq")
    client.post("/language/", data={"locale": "en"})
    row = _row(client.get("/myjobs/").get_data(as_text=True), job)
    assert "Nov 23, 2026, 2:30\u202fPM" in row or "Nov 23, 2026, 2:30 PM" in row
    assert "2026年" not in row and "2026-11-23" not in row


# --- live progress -----------------------------------------------------------------------------

def test_the_live_progress_in_redis_wins_while_a_job_runs(login):
    from app.reports import job_control

    running = _job("hq", status="running", progress=0, total=0)
    done = _job("hq", status="done", progress=8, total=8)
    job_control.tick(running.id, 40, 160)
    job_control.tick(done.id, 1, 8)  # a stale value of a finished job is never shown
    try:
        client = login("hq")
        jobs = {j["id"]: j for j in client.get(f"/myjobs/status?ids={running.id},{done.id}").get_json()["jobs"]}
        assert (jobs[running.id]["progress"], jobs[running.id]["total"], jobs[running.id]["percent"]) == (40, 160, 25)
        assert (jobs[done.id]["progress"], jobs[done.id]["percent"]) == (8, 100)
        row = _row(client.get("/myjobs/").get_data(as_text=True), running)
        assert "40 / 160" in row and "width: 25%" in row
        db.session.expire_all()
        assert db.session.get(UserJob, running.id).progress == 0  # the row itself was not touched
    finally:
        job_control.clear(running.id)
        job_control.clear(done.id)
    jobs = login("hq").get(f"/myjobs/status?ids={running.id}").get_json()["jobs"]
    assert jobs[0]["progress"] == 0  # without a live value: the row's


def write_live(job_id, progress, total):
    """Run by a worker process: a tick of job ``job_id``."""
    from app.reports import job_control

    job_control.tick(job_id, progress, total)


def test_a_workers_live_progress_reaches_the_pages(app, login):
    """The worker process and the web process find the same Redis key."""
    from app.reports import job_control
    from tests.workers import burst

    running = _job("hq", status="running", progress=0, total=0)
    name = f"test-live-{uuid.uuid4().hex[:8]}"
    q = Queue(name, connection=queue.connection(app))
    q.enqueue(write_live, running.id, 7, 28)
    burst(app, name)
    try:
        jobs = login("hq").get(f"/myjobs/status?ids={running.id}").get_json()["jobs"]
        assert (jobs[0]["progress"], jobs[0]["total"], jobs[0]["percent"]) == (7, 28, 25)
    finally:
        job_control.clear(running.id)
        q.delete(delete_jobs=True)


def test_without_redis_the_pages_show_the_rows_progress(login, monkeypatch):
    running = _job("hq", status="running", progress=2, total=4)
    client = login("hq")

    def down(*args, **kwargs):
        raise ConnectionError("no redis here")

    monkeypatch.setattr(queue, "connection", down)
    jobs = client.get(f"/myjobs/status?ids={running.id}").get_json()["jobs"]
    assert jobs[0]["percent"] == 50
    assert client.get("/myjobs/").status_code == 200


# --- cancel ------------------------------------------------------------------------------------

def test_cancel_someone_elses_job_is_404_and_changes_nothing(login):
    theirs = _job("manager_w", status="queued")
    for username in ("manager_e", "hq", "admin"):
        assert login(username).post(f"/myjobs/{theirs.id}/cancel").status_code == 404, username
    assert login("manager_e").post("/myjobs/999999/cancel").status_code == 404
    db.session.expire_all()
    assert db.session.get(UserJob, theirs.id).status == "queued"


def test_cancel_a_finished_job_is_refused_with_a_message(login):
    from app.core.errors import Conflict
    from app.reports import job_control

    client = login("hq")
    for status in ("done", "failed", "cancelled", "invalid"):
        job = _job("hq", status=status)
        r = client.post(f"/myjobs/{job.id}/cancel", data={"next": "/myjobs/?status=" + status})
        assert r.status_code == 302 and r.headers["Location"].endswith("/myjobs/?status=" + status)
        page = client.get("/myjobs/").get_data(as_text=True)
        with force_locale("zh"):
            assert gettext("This job has already finished; it cannot be cancelled.") in page, status
        db.session.expire_all()
        assert db.session.get(UserJob, job.id).status == status
        assert 'class="btn btn-default btn-xs job-cancel"' not in _row(page, job)
    # the service says 409
    job = _job("hq", status="done")
    with pytest.raises(Conflict) as refused:
        job_control.cancel(job, factories.user("hq"))
    assert refused.value.status == 409


def test_cancel_needs_a_valid_csrf_token(app, login):
    job = _job("hq", status="queued")
    client = login("hq")
    r = client.post(f"/myjobs/{job.id}/cancel", data={"csrf_token": "forged"}, csrf=False)
    assert r.status_code == 403
    db.session.expire_all()
    assert db.session.get(UserJob, job.id).status == "queued"


def test_a_checked_import_can_be_dropped_from_my_jobs(login):
    job = _job("hq", kind="import", entity="part", status="validated", params={"phase": "validate"})
    client = login("hq")
    assert 'job-cancel' in _row(client.get("/myjobs/").get_data(as_text=True), job)
    assert client.post(f"/myjobs/{job.id}/cancel").status_code == 302
    db.session.expire_all()
    assert db.session.get(UserJob, job.id).status == "cancelled"


def test_cancel_a_queued_import_and_export_the_worker_then_does_nothing(app, world, login, monkeypatch):
    from tests.test_imports import _upload, _workbook
    from tests.workers import burst

    name = f"test-cancel-{uuid.uuid4().hex[:8]}"
    monkeypatch.setitem(app.config, "RQ_QUEUE", name)
    client = login("hq")
    r = _upload(client, "part", _workbook("part", [["CQ-1", "甲", "空调", 1, "否", 90]]))
    assert r.status_code == 302
    imported = db.session.query(UserJob).filter_by(kind="import").order_by(UserJob.id.desc()).first()
    r = client.post("/serviceorderview/export.xlsx")
    assert r.status_code == 302
    exported = db.session.query(UserJob).filter_by(kind="export").order_by(UserJob.id.desc()).first()
    connection = queue.connection(app)
    for job in (imported, exported):
        assert job.status == "queued" and job.rq_job_id
        assert 'job-cancel' in _row(client.get("/myjobs/").get_data(as_text=True), job)
        r = client.post(f"/myjobs/{job.id}/cancel", follow_redirects=True)
        assert r.status_code == 200
        db.session.expire_all()
        job = db.session.get(UserJob, job.id)
        assert job.status == "cancelled" and job.finished_at is not None
        from rq.job import Job

        assert Job.fetch(job.rq_job_id, connection=connection).get_status() == "canceled"
        assert job.rq_job_id not in Queue(name, connection=connection).job_ids
    # a worker that took the job off the queue before the cancel finds nothing to claim
    from app.reports import exports, imports

    Queue(name, connection=connection).enqueue(imports.validate_import, imported.id)
    Queue(name, connection=connection).enqueue(exports.export_list, exported.id)
    burst(app, name)
    db.session.expire_all()
    for job in (imported, exported):
        job = db.session.get(UserJob, job.id)
        assert job.status == "cancelled" and job.started_at is None and job.output_file is None
    from app.parts.models import Part

    assert db.session.query(Part).filter_by(sku="CQ-1").count() == 0
    # cancelling it again: finished, refused
    r = client.post(f"/myjobs/{imported.id}/cancel")
    assert r.status_code == 302
    Queue(name, connection=connection).delete(delete_jobs=True)


def test_cancel_a_running_job_whose_worker_is_gone_marks_it_at_once(login):
    job = _job("hq", status="running", rq_job_id=f"gone-{uuid.uuid4().hex}")
    assert login("hq").post(f"/myjobs/{job.id}/cancel").status_code == 302
    db.session.expire_all()
    assert db.session.get(UserJob, job.id).status == "cancelled"


@pytest.fixture
def recorded(app, monkeypatch):
    """Import jobs the pages enqueue, recorded instead of sent (``run()`` performs them here)."""
    from app.reports import imports

    calls = []

    def fake(func, job_id):
        calls.append((func, job_id))
        return None

    monkeypatch.setattr(imports, "_enqueue", fake)

    def run():
        while calls:
            func, job_id = calls.pop(0)
            with app.app_context():
                func(job_id)

    return calls, run


def test_cancel_a_running_import_commit_midway_stores_nothing_and_progress_is_live(app, world, login, recorded,
                                                                                     monkeypatch):
    """The commit (one transaction) is paused after 60 of 120 rows: the pages read its live progress
    from Redis (on SQLite the row cannot be written meanwhile); the user cancels; at its next tick
    the job rolls everything back and ends cancelled."""
    import threading

    from app.audit_trail.models import AuditEvent
    from app.parts.models import Part
    from app.reports import imports, job_control
    from tests.test_imports import _upload, _workbook

    calls, run = recorded
    rows = [[f"MID-{i:03d}", "甲", "空调", 1, "否", 90] for i in range(120)]
    client = login("hq")
    assert _upload(client, "part", _workbook("part", rows)).status_code == 302
    run()
    job = db.session.query(UserJob).order_by(UserJob.id.desc()).first()
    assert job.status == "validated", (job.error, job.result)
    client.post(f"/import/job/{job.id}/confirm")
    db.session.expire_all()
    assert db.session.get(UserJob, job.id).status == "queued" and len(calls) == 1
    func, job_id = calls.pop()
    assert func is imports.commit_import
    mark = db.session.query(db.func.coalesce(db.func.max(AuditEvent.id), 0)).scalar()
    db.session.rollback()

    paused, resume = threading.Event(), threading.Event()
    real = imports.process_row
    done = {"rows": 0}

    def slow(*args, **kwargs):
        done["rows"] += 1
        if done["rows"] == 61:
            paused.set()
            assert resume.wait(60)
        return real(*args, **kwargs)

    monkeypatch.setattr(imports, "process_row", slow)
    outcome = {}

    def work():
        with app.app_context():
            outcome["result"] = imports.commit_import(job_id)

    thread = threading.Thread(target=work)
    thread.start()
    try:
        assert paused.wait(60), "the commit never reached row 61"
        status = client.get(f"/myjobs/status?ids={job_id}").get_json()["jobs"][0]
        assert status["running"] is True and status["status"] == "running"
        assert status["total"] == 120 and 0 < status["progress"] <= 60  # live, mid-way
        assert job_control.snapshot([job_id])[job_id]["progress"] == status["progress"]
        page = client.get(f"/import/job/{job_id}/status").get_json()
        assert (page["progress"], page["total"]) == (status["progress"], 120) and not page["finished"]
        if db.engine.dialect.name == "sqlite":  # the row is stuck at 0 until the commit ends
            assert db.session.get(UserJob, job_id).progress == 0
            db.session.rollback()

        r = client.post(f"/myjobs/{job_id}/cancel", follow_redirects=True)
        assert r.status_code == 200
        status = client.get(f"/myjobs/status?ids={job_id}").get_json()["jobs"][0]
        assert status["cancelling"] is True and status["running"] is True and status["cancel_url"] is None
        with force_locale("zh"):
            assert status["status_label"] == gettext("Cancelling…")
    finally:
        resume.set()
        thread.join(60)
    assert not thread.is_alive() and outcome["result"] is None

    db.session.expire_all()
    job = db.session.get(UserJob, job_id)
    assert job.status == "cancelled" and job.finished_at is not None and job.error
    assert done["rows"] < 120  # stopped at a tick, not at the end
    assert db.session.query(Part).filter(Part.sku.like("MID-%")).count() == 0
    assert db.session.query(AuditEvent).filter(AuditEvent.id > mark, AuditEvent.entity == "part").count() == 0
    assert job_control.snapshot([job_id]) == {}  # the live value and the request are gone
    row = _row(client.get("/myjobs/").get_data(as_text=True), job)
    assert job.error in row and "job-cancel" not in row


def test_cancel_a_running_export_keeps_no_file(app, world, login, monkeypatch):
    from app.core import exports as core_exports
    from app.reports import exports, job_control

    for i in range(6):
        factories.service_order(world.outlet_e, world.engineer_e, number=f"SO-STOP-{i}")
    db.session.commit()
    monkeypatch.setattr(core_exports, "BATCH", 2)
    monkeypatch.setattr(exports, "PROGRESS_EVERY", 2)
    monkeypatch.setattr(queue, "enqueue", lambda *a, **k: type("J", (), {"id": None})())
    client = login("manager_e")
    client.post("/serviceorderview/export.xlsx?_flt_2_number=SO-STOP-")
    job = db.session.query(UserJob).order_by(UserJob.id.desc()).first()
    real_tick = job_control.tick
    seen = []

    def tick(job_id, done, total):
        seen.append(done)
        if done == 2:  # the user presses Cancel while the export runs
            assert client.post(f"/myjobs/{job_id}/cancel").status_code == 302
        return real_tick(job_id, done, total)

    monkeypatch.setattr(job_control, "tick", tick)
    folder = os.path.join(app.config["UPLOAD_FOLDER"], "exports")
    before = set(os.listdir(folder)) if os.path.isdir(folder) else set()
    assert exports.export_list(job.id) is None
    db.session.expire_all()
    job = db.session.get(UserJob, job.id)
    assert job.status == "cancelled" and job.output_file is None and job.error
    assert seen == [0, 2]  # stopped at the tick after the request
    after = set(os.listdir(folder)) if os.path.isdir(folder) else set()
    assert after == before
    assert job_control.snapshot([job.id]) == {}
