"""A small test session that leaves as much behind as a careless run would — a worker still
running, jobs waiting on the queues, an SMTP sink, files, live-progress and rate-limit keys in Redis.

Not part of the suite (its name does not start with ``test_``): ``tests/test_suite_cleanup.py``
runs it in a child ``pytest`` and then looks for anything of it left on the machine. It writes its
run's name and folders to the file named by ``PROBE_REPORT``.
"""
import json
import os

from app.core import outbox, queue
from app.extensions import db
from app.reports import job_control
from tests import conftest, workers
from tests.test_complaints_email import smtp  # noqa: F401  (fixture)


def test_leave_things_behind(app, login, smtp, tmp_path):  # noqa: F811
    _sink, port = smtp
    from sqlalchemy.engine import make_url

    url = make_url(app.config["SQLALCHEMY_DATABASE_URI"])
    with open(os.environ["PROBE_REPORT"], "w") as fh:
        json.dump({"run_id": conftest.RUN_ID, "run_dir": conftest.RUN_DIR, "backend": url.get_backend_name(),
                   "database": url.database, "redis": queue.redis_url(app)}, fh)

    login("hq")  # rate-limit counters
    job_control.tick(424242, 1, 2)  # a live progress key, never cleared
    (tmp_path / "scratch.txt").write_text("left here")
    with open(os.path.join(app.config["UPLOAD_FOLDER"], "upload.bin"), "wb") as fh:
        fh.write(os.urandom(1024))

    # an email sent by a real worker, and another one left waiting on the queue
    sent = outbox.queue_email(["a@example.com"], "主题", "正文", "probe")
    db.session.commit()
    outbox.dispatch()
    workers.burst(app, MAIL_SERVER="127.0.0.1", MAIL_PORT=port)
    outbox.queue_email(["b@example.com"], "主题", "正文", "probe")
    db.session.commit()
    outbox.dispatch()
    assert sent.id and queue.get_queue(queue.NOTIFY).count == 1

    # a worker started and never stopped by the test (the run's end stops it)
    leaked = workers.running(app, queue_name="probe-leftover")
    process = leaked.__enter__()
    assert process.poll() is None
