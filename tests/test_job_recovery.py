"""Work that survives a crash: a job whose worker was killed is marked failed within minutes, with a
message saying so in Chinese; nothing of it is half-written; its owner can retry it (a new job with
the same input) from My jobs."""
import os
import signal
import time
import uuid
from datetime import timedelta

import psutil
import pytest
from flask_babel import force_locale, gettext
from rq.job import Job
from rq.registry import FailedJobRegistry

from app.core import clock, queue
from app.extensions import db
from app.parts.models import Part
from app.reports import job_control
from app.reports.models import UserJob
from tests.test_imports import _upload, _workbook
from tests.workers import burst, running

def slow_commit_import(job_id, seconds_per_row):
    """Run by a worker: the real commit of an import, each row taking a while (time to kill it)."""
    from app.reports import imports

    real = imports.process_row

    def slow(*args, **kwargs):
        time.sleep(seconds_per_row)
        return real(*args, **kwargs)

    imports.process_row = slow
    return imports.commit_import(job_id)


def _wait(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def _latest():
    db.session.expire_all()
    return db.session.query(UserJob).order_by(UserJob.id.desc()).first()


def _row(body, job):
    assert f'id="job-{job.id}"' in body, job.id
    return body.split(f'id="job-{job.id}"', 1)[1].split("</tr>", 1)[0]


def _killed_message(locale="zh"):
    with force_locale(locale):
        return gettext("The process running this job stopped unexpectedly (for example, a server restarted). "
                       "Nothing of its unfinished work was kept; you can retry it.")


def test_an_import_whose_worker_is_killed_mid_commit_writes_nothing_is_failed_and_can_be_retried(app, world, login):
    client = login("hq")
    rows = [[f"KILL-{i:03d}", "甲", "空调", 1, "否", 90] for i in range(60)]
    assert _upload(client, "part", _workbook("part", rows)).status_code == 302
    burst(app)  # the check
    job = _latest()
    assert job.status == "validated", (job.error, job.result)
    assert client.post(f"/import/job/{job.id}/confirm").status_code == 302
    job = _latest()
    assert job.status == "queued"
    # the same commit, slowed down so that the worker can be killed in the middle of it
    Job.fetch(job.rq_job_id, connection=queue.connection(app)).cancel()
    job.rq_job_id = queue.enqueue(slow_commit_import, job.id, 0.2).id
    db.session.commit()

    with running(app) as worker:
        _wait(lambda: job_control.snapshot([job.id]).get(job.id, {}).get("progress", 0) >= 10, 90,
              "the commit to pass row 10")
        horses = psutil.Process(worker.pid).children()
        assert horses, "the work horse"
        os.kill(worker.pid, signal.SIGKILL)  # kill -9 of the worker
        worker.wait(10)
        gone, alive = psutil.wait_procs(horses, timeout=10)
        assert not alive, "the work horse outlived its worker"

    # nothing of the import is stored; the row still says running …
    db.session.expire_all()
    assert db.session.query(Part).filter(Part.sku.like("KILL-%")).count() == 0
    assert db.session.get(UserJob, job.id).status == "running"
    # … for as long as rq's heartbeat of the execution holds (the worker renews it every 30 s, +60 s)
    assert job_control.reap_abandoned_jobs() == 0
    assert db.session.get(UserJob, job.id).status == "running"

    # a few minutes later the housekeeping job marks it failed, with a message in Chinese
    with clock.freeze(clock.now() + timedelta(minutes=3)):
        assert job_control.reap_abandoned_jobs() == 1
        assert job_control.reap_abandoned_jobs() == 0  # once
    db.session.expire_all()
    failed = db.session.get(UserJob, job.id)
    assert failed.status == "failed" and failed.finished_at is not None
    assert failed.error == _killed_message()  # 处理该任务的进程意外终止…
    assert job_control.snapshot([job.id]) == {}  # no stale live progress
    rq_job = Job.fetch(job.rq_job_id, connection=queue.connection(app))
    assert rq_job.get_status() == "failed"
    assert rq_job.id in FailedJobRegistry(app.config["RQ_QUEUE"], connection=queue.connection(app))
    assert db.session.query(Part).filter(Part.sku.like("KILL-%")).count() == 0

    # My jobs says so and offers a retry, to the owner only
    row = _row(client.get("/myjobs/").get_data(as_text=True), failed)
    assert _killed_message() in row and "job-retry" in row
    for other in ("hq2", "manager_e"):
        assert login(other).post(f"/myjobs/{job.id}/retry").status_code == 404
    assert client.post(f"/myjobs/{job.id}/retry", data={"csrf_token": "forged"}, csrf=False).status_code == 403
    assert _latest().id == job.id

    r = client.post(f"/myjobs/{job.id}/retry", follow_redirects=True)
    assert r.status_code == 200
    new = _latest()
    assert new.id != job.id and new.kind == "import" and new.entity == "part" and new.user_id == job.user_id
    assert new.status == "queued" and new.rq_job_id and new.params["phase"] == "validate"
    assert new.params["retry_of"] == job.id and new.input_file != failed.input_file
    with force_locale("zh"):
        assert gettext("Job #%(old)s is started again as job #%(new)s.", old=job.id, new=new.id) in r.get_data(
            as_text=True)
    db.session.expire_all()
    assert db.session.get(UserJob, job.id).params["retried_as"] == new.id
    row = _row(client.get("/myjobs/").get_data(as_text=True), failed)
    assert "job-retry" not in row and "job-retried" in row
    # a second press: refused, with a message, and no second job
    page = client.post(f"/myjobs/{job.id}/retry", follow_redirects=True).get_data(as_text=True)
    with force_locale("zh"):
        assert gettext("This job was already retried as job #%(id)s.", id=new.id) in page
    assert _latest().id == new.id

    # the new job checks the same workbook; confirmed, it imports every row once
    burst(app)
    assert _latest().status == "validated"
    assert client.post(f"/import/job/{new.id}/confirm").status_code == 302
    burst(app)
    done = _latest()
    assert done.id == new.id and done.status == "done", done.error
    assert db.session.query(Part).filter(Part.sku.like("KILL-%")).count() == 60


def _export(client):
    assert client.post("/serviceorderview/export.xlsx").status_code == 302
    job = _latest()
    assert job.kind == "export" and job.status == "queued" and job.rq_job_id
    return job


def test_a_running_export_whose_job_is_gone_is_failed_at_once_and_keeps_no_partial_file(app, world, login):
    client = login("manager_e")
    job = _export(client)
    # a worker took it and died while writing; its rq job is gone with the Redis it lived in
    Job.fetch(job.rq_job_id, connection=queue.connection(app)).delete()
    job.status, job.started_at = "running", clock.now()
    db.session.commit()
    folder = os.path.join(app.config["UPLOAD_FOLDER"], "exports")
    os.makedirs(folder, exist_ok=True)
    partial = os.path.join(folder, f"{job.id}-{uuid.uuid4().hex}.xlsx")
    with open(partial, "wb") as fh:
        fh.write(b"PK half a workbook")
    job_control.tick(job.id, 500, 2000)  # its last live progress

    assert job_control.reap_abandoned_jobs() == 1
    db.session.expire_all()
    failed = db.session.get(UserJob, job.id)
    assert failed.status == "failed" and failed.error == _killed_message()
    assert not os.path.exists(partial)
    row = _row(client.get("/myjobs/").get_data(as_text=True), failed)
    assert "500 / 2000" not in row and "job-retry" in row and "job-download" not in row

    r = client.post(f"/myjobs/{job.id}/retry")
    assert r.status_code == 302
    new = _latest()
    assert new.kind == "export" and new.id != job.id and new.status == "queued"
    assert {k: v for k, v in new.params.items() if k != "retry_of"} == {
        k: v for k, v in job.params.items() if k != "retried_as"}
    assert Job.fetch(new.rq_job_id, connection=queue.connection(app)).origin == app.config["RQ_QUEUE"]
    burst(app)
    new = _latest()
    assert new.status == "done", new.error
    assert client.get(f"/myjobs/{new.id}/download").status_code == 200


def test_a_queued_job_lost_from_the_queue_is_failed_after_a_grace_period(app, login):
    from tests import factories

    lost = UserJob(kind="export", entity="service_order", label="服务工单", user_id=factories.user("hq").id,
                   status="queued", rq_job_id=f"lost-{uuid.uuid4().hex}", params={"locale": "en"})
    never = UserJob(kind="export", entity="service_order", label="服务工单", user_id=factories.user("hq").id,
                    status="queued", params={"locale": "zh"})  # its web process died before the enqueue
    db.session.add_all([lost, never])
    db.session.commit()
    assert job_control.reap_abandoned_jobs() == 0  # just queued: an enqueue may be under way
    with clock.freeze(clock.now() + timedelta(minutes=3)):
        assert job_control.reap_abandoned_jobs() == 2
    db.session.expire_all()
    lost, never = db.session.get(UserJob, lost.id), db.session.get(UserJob, never.id)
    assert lost.status == never.status == "failed"
    message = ("This job was lost from the queue before it ran (for example, the queue's server restarted). "
               "Nothing was done; you can retry it.")
    assert lost.error == message  # in the language of its user
    with force_locale("zh"):
        assert never.error == gettext(message)


def test_a_job_waiting_for_a_worker_or_running_is_never_reaped(app, world, login):
    job = _export(login("manager_e"))
    with clock.freeze(clock.now() + timedelta(hours=2)):  # a long backlog: still waiting
        assert job_control.reap_abandoned_jobs() == 0
    db.session.expire_all()
    assert db.session.get(UserJob, job.id).status == "queued"


def test_only_a_failed_job_can_be_retried(app, login):
    from tests import factories

    client = login("hq")
    for status in ("queued", "running", "done", "cancelled", "invalid", "validated"):
        job = UserJob(kind="export", entity="service_order", label="服务工单", user_id=factories.user("hq").id,
                      status=status, params={"view": "ServiceOrderView", "args": {}, "locale": "zh"})
        db.session.add(job)
        db.session.commit()
        assert "job-retry" not in _row(client.get("/myjobs/").get_data(as_text=True), job)
        page = client.post(f"/myjobs/{job.id}/retry", follow_redirects=True).get_data(as_text=True)
        with force_locale("zh"):
            assert gettext("Only a failed job can be retried.") in page, status
        assert _latest().id == job.id  # nothing new


def test_retrying_an_import_whose_workbook_was_deleted_says_so(app, login):
    from tests import factories

    job = UserJob(kind="import", entity="part", label="配件", user_id=factories.user("hq").id, status="failed",
                  input_file=f"{uuid.uuid4().hex}.xlsx", params={"phase": "commit", "locale": "zh"}, error="x")
    db.session.add(job)
    db.session.commit()
    client = login("hq")
    page = client.post(f"/myjobs/{job.id}/retry", follow_redirects=True).get_data(as_text=True)
    with force_locale("zh"):
        assert gettext("The workbook of this import is no longer kept; please upload it again.") in page
    assert _latest().id == job.id
    job.files_deleted_at = clock.now()
    db.session.commit()
    assert "job-retry" not in _row(client.get("/myjobs/").get_data(as_text=True), job)


@pytest.mark.parametrize("locale", ["zh", "en"])
def test_the_killed_message_is_in_the_users_language(app, locale):
    from tests import factories

    job = UserJob(kind="export", entity="service_order", label="x", user_id=factories.user("hq").id,
                  status="running", rq_job_id=f"gone-{uuid.uuid4().hex}", params={"locale": locale})
    db.session.add(job)
    db.session.commit()
    assert job_control.reap(job) is True
    assert job.error == _killed_message(locale)
