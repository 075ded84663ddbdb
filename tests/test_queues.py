"""Queues by urgency: emails first, then users' imports and exports, then housekeeping.

Each job goes on the queue of its kind; a worker takes the most urgent waiting job first; and the
express worker (emails and periodic jobs, never a user's job) sends an email while a long import
holds the general worker.
"""
import time
import uuid
from datetime import timedelta

from rq import Worker
from rq.job import Job

from app.core import outbox, queue
from app.core.models import Notification
from app.extensions import db
from app.reports.models import UserJob
from tests.workers import burst, running


def record(key, tag, seconds=0):
    """Run by a worker: wait ``seconds``, then append ``tag`` to the Redis list ``key``."""
    time.sleep(seconds)
    queue.connection().rpush(key, tag)


def _key(app):
    return f"{app.config['REDIS_KEY_PREFIX']}order:{uuid.uuid4().hex}"


def _seen(app, key):
    return [v.decode() for v in queue.connection(app).lrange(key, 0, -1)]


def _wait(predicate, timeout):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def _origin(rq_job_id, app):
    return Job.fetch(rq_job_id, connection=queue.connection(app)).origin


def test_each_job_goes_on_the_queue_of_its_urgency(app, world, login):
    from tests.test_imports import _upload, _workbook

    # an email: on the notification queue, nothing on the others
    n = outbox.queue_email(["a@example.com"], "主题", "正文", "test")
    db.session.commit()
    outbox.dispatch()
    notify = queue.get_queue(queue.NOTIFY)
    assert notify.name == app.config["RQ_NOTIFY_QUEUE"]
    (job_id,) = notify.job_ids
    job = notify.fetch_job(job_id)
    assert job.func_name == "app.core.jobs.send_notification" and job.args == (n.id,)
    assert queue.get_queue(queue.USER).count == 0 and queue.get_queue(queue.HOUSEKEEPING).count == 0

    # an export and an import a user starts: on the users' queue
    client = login("hq")
    assert client.post("/serviceorderview/export.xlsx").status_code == 302
    export = db.session.query(UserJob).filter_by(kind="export").one()
    assert _origin(export.rq_job_id, app) == app.config["RQ_QUEUE"]
    assert _upload(client, "part", _workbook("part", [["QU-1", "甲", "空调", 1, "否", 90]])).status_code == 302
    imported = db.session.query(UserJob).filter_by(kind="import").one()
    assert _origin(imported.rq_job_id, app) == app.config["RQ_QUEUE"]

    # periodic work, queued by hand from the command line: housekeeping; the outbox flush re-queues
    # its emails on the notification queue
    result = app.test_cli_runner().invoke(args=["jobs", "enqueue", "flush_outbox"])
    assert result.exit_code == 0, result.output
    assert _origin(result.output.strip(), app) == app.config["RQ_HOUSEKEEPING_QUEUE"]
    db.session.query(Notification).update({"created_at": Notification.created_at - timedelta(minutes=5)})
    db.session.commit()
    from app import jobs

    assert jobs.flush_outbox() == 1
    assert notify.count == 2 and queue.get_queue(queue.USER).count == 2


def test_a_worker_takes_the_most_urgent_job_first(app):
    key = _key(app)
    try:
        # queued least urgent first
        queue.enqueue(record, key, "housekeeping", queue=queue.HOUSEKEEPING)
        queue.enqueue(record, key, "user", queue=queue.USER)
        queue.enqueue(record, key, "notify", queue=queue.NOTIFY)
        burst(app)
        assert _seen(app, key) == ["notify", "user", "housekeeping"]
    finally:
        queue.connection(app).delete(key)


def test_the_express_worker_sends_an_email_while_a_long_import_holds_the_general_one(app):
    key = _key(app)
    connection = queue.connection(app)
    express_queues = queue.worker_queues(app.config)["express"]
    assert express_queues == [app.config["RQ_NOTIFY_QUEUE"], app.config["RQ_HOUSEKEEPING_QUEUE"]]
    try:
        with running(app) as general, running(app, queues=express_queues) as express:
            _wait(lambda: len(Worker.all(connection=connection)) >= 2, 60)
            long_job = queue.enqueue(record, key, "import done", 30, queue=queue.USER)
            _wait(lambda: long_job.get_status(refresh=True) == "started", 30)
            started = time.monotonic()
            email = queue.enqueue(record, key, "email sent", queue=queue.NOTIFY)
            _wait(lambda: email.get_status(refresh=True) == "finished", 20)
            assert time.monotonic() - started < 20
            assert long_job.get_status(refresh=True) == "started"  # still importing
            assert _seen(app, key) == ["email sent"]
            email.refresh()
            long_job.refresh()
            assert email.worker_name and long_job.worker_name and email.worker_name != long_job.worker_name
            general.kill()  # no need to wait for the long job
            express.terminate()
    finally:
        connection.delete(key)
