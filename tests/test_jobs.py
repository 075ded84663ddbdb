"""Background work: the nightly certification refresh, run by a real rq worker process."""
import uuid
from datetime import timedelta

from rq import Queue
from rq.cron import CronScheduler

from app import jobs
from app.core import clock, queue
from app.engineers.models import Certification
from app.extensions import db
from tests import factories
from tests.workers import burst


def _stale_certificates():
    r = factories.region("E")
    o = factories.outlet(r)
    e = factories.engineer(o)
    today = clock.today()
    expired = factories.certification(e, expires_on=today - timedelta(days=1))
    expiring = factories.certification(e, expires_on=today + timedelta(days=5))
    valid = factories.certification(e, expires_on=today + timedelta(days=400))
    # as if written long ago: all stored as "valid"
    for c in (expired, expiring, valid):
        c.status = "valid"
    db.session.commit()
    return expired.id, expiring.id, valid.id


def _statuses(ids):
    db.session.expire_all()
    return [db.session.get(Certification, i).status for i in ids]


def test_refresh_is_idempotent(app):
    ids = _stale_certificates()
    assert jobs.refresh_certification_statuses() == 2
    assert _statuses(ids) == ["expired", "expiring", "valid"]
    assert jobs.refresh_certification_statuses() == 0
    assert _statuses(ids) == ["expired", "expiring", "valid"]


def test_refresh_follows_time(app):
    ids = _stale_certificates()
    jobs.refresh_certification_statuses()
    with clock.freeze(clock.today() + timedelta(days=10)):
        assert jobs.refresh_certification_statuses() == 1
        assert _statuses(ids) == ["expired", "expired", "valid"]


def test_real_worker_runs_the_refresh(app):
    ids = _stale_certificates()
    name = f"test-{uuid.uuid4().hex[:8]}"
    q = Queue(name, connection=queue.connection(app))
    job = q.enqueue(jobs.refresh_certification_statuses)
    result = burst(app, name)
    job.refresh()
    latest = job.latest_result()
    assert job.get_status() == "finished", (latest.exc_string if latest else "", result.stderr[-3000:])
    assert job.return_value() == 2
    assert _statuses(ids) == ["expired", "expiring", "valid"]


def test_schedule_declares_the_nightly_refresh(app):
    import config

    scheduler = CronScheduler(connection=queue.connection(app))
    scheduler.load_config_from_file("app.schedule")
    registered = {(j.func_name, j.cron) for j in scheduler.get_jobs()}
    assert ("app.engineers.jobs.refresh_certification_statuses", "5 16 * * *") in registered
    assert ("app.complaints.jobs.sla_sweep", "* * * * *") in registered
    assert ("app.core.jobs.flush_outbox", "* * * * *") in registered
    assert ("app.engineers.reminders.send_certificate_reminders", "30 0 * * *") in registered
    assert ("app.reports.job_control.reap_abandoned_jobs", "* * * * *") in registered
    # periodic work is housekeeping: the least urgent queue
    assert {j.queue_name for j in scheduler.get_jobs()} == {config.load()["RQ_HOUSEKEEPING_QUEUE"]} == {"housekeeping"}
