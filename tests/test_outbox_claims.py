"""Each email goes out once: a sender claims a notification (committed) before it talks to the SMTP
server. Two real workers racing on the same notifications against a slow SMTP server send each one
once; a claim whose sender died expires after the lease, and the email still goes."""
import asyncio
import email
import threading
from datetime import timedelta

import pytest
from aiosmtpd.controller import Controller

from app.core import clock, outbox, queue
from app.core.models import Notification
from app.extensions import db
from tests.test_complaints_email import _free_port
from tests.workers import burst


class SlowSink:
    """An SMTP server on loopback that takes ``delay`` seconds to accept each message."""

    def __init__(self, delay):
        self.delay, self.messages = delay, []

    async def handle_DATA(self, server, session, envelope):
        await asyncio.sleep(self.delay)
        self.messages.append(email.message_from_bytes(envelope.content))
        return "250 OK"


@pytest.fixture
def slow_smtp():
    sink = SlowSink(delay=0.4)
    controller = Controller(sink, hostname="127.0.0.1", port=_free_port())
    controller.start()
    yield sink, controller.port
    controller.stop()


@pytest.fixture
def mail_to(app):
    """``mail_to(port)`` points this process's Flask-Mail at a sink (restored afterwards)."""
    state = app.extensions["mail"]
    old = (state.server, state.port)

    def point(port):
        state.server, state.port = "127.0.0.1", port

    yield point
    state.server, state.port = old


def _notifications(count):
    rows = [Notification(recipients=f"user{i}@example.com", subject=f"通知 {i}", body="正文", topic="test",
                         created_at=clock.now()) for i in range(count)]
    db.session.add_all(rows)
    db.session.commit()
    return [n.id for n in rows]


def test_two_workers_send_each_email_once_though_each_was_queued_twice(app, slow_smtp):
    sink, port = slow_smtp
    ids = _notifications(10)
    for nid in ids:  # each twice, back to back: the two workers take the same notification at once
        outbox.enqueue_send(nid)
        outbox.enqueue_send(nid)
    assert queue.get_queue(queue.NOTIFY).count == 20
    failures = []

    def worker():
        try:
            burst(app, timeout=180, MAIL_SERVER="127.0.0.1", MAIL_PORT=port)
        except BaseException as exc:  # noqa: BLE001 (reported below)
            failures.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(240)
    assert not failures, failures
    assert queue.get_queue(queue.NOTIFY).count == 0
    subjects = sorted(str(email.header.make_header(email.header.decode_header(m["Subject"]))) for m in sink.messages)
    assert subjects == sorted(f"通知 {i}" for i in range(10))  # ten emails, not twenty
    db.session.expire_all()
    rows = db.session.query(Notification).filter(Notification.id.in_(ids)).all()
    assert all(n.sent_at is not None and n.attempts == 1 and n.last_error is None for n in rows)


def test_a_notification_claimed_by_a_live_sender_is_left_alone(app, slow_smtp, mail_to):
    sink, port = slow_smtp
    mail_to(port)
    (nid,) = _notifications(1)
    token = outbox.claim(nid)
    assert token and outbox.claim(nid) is None  # a second claim while the first holds: refused
    assert outbox.send(nid) is False and sink.messages == []
    from app import jobs

    with clock.freeze(clock.now() + timedelta(minutes=2)):
        assert jobs.flush_outbox() == 0  # claimed, within the lease: not queued again


def test_a_claim_whose_sender_died_expires_after_the_lease_and_the_email_goes(app, slow_smtp, mail_to):
    sink, port = slow_smtp
    mail_to(port)
    (nid,) = _notifications(1)
    assert outbox.claim(nid)  # a sender claimed it and died before sending
    lease = timedelta(seconds=app.config["OUTBOX_CLAIM_LEASE"])
    from app import jobs

    with clock.freeze(clock.now() + lease + timedelta(seconds=1)):
        assert jobs.flush_outbox() == 1  # the lease ran out: queued again, on the notification queue
        assert queue.get_queue(queue.NOTIFY).count == 1
        assert outbox.send(nid) is True
        assert outbox.send(nid) is False  # sent: never twice
    assert len(sink.messages) == 1
    db.session.expire_all()
    n = db.session.get(Notification, nid)
    assert n.sent_at is not None and n.attempts == 2


def test_a_failed_send_gives_its_claim_back(app, slow_smtp, mail_to):
    sink, port = slow_smtp
    (nid,) = _notifications(1)
    mail_to(_free_port())  # nobody listens there
    with pytest.raises(OSError):
        outbox.send(nid)
    db.session.expire_all()
    n = db.session.get(Notification, nid)
    assert n.sent_at is None and n.claimed_at is None and n.claim_token is None
    assert n.attempts == 1 and n.last_error
    mail_to(port)
    assert outbox.send(nid) is True and len(sink.messages) == 1
    db.session.expire_all()
    n = db.session.get(Notification, nid)
    assert n.sent_at is not None and n.attempts == 2 and n.last_error is None
