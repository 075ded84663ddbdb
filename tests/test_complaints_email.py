"""Complaint emails, end to end: outbox row (core.outbox) → rq job on a real worker → SMTP sink on loopback."""
import email
import socket
from email.header import decode_header, make_header

import pytest
from aiosmtpd.controller import Controller

from app.complaints import services
from app.core import clock, outbox
from app.core.models import Notification
from app.extensions import db
from seeds.reference import load_default_calendar
from tests import factories
from tests.test_complaints_lifecycle import new_complaint
from tests.workers import burst


class Sink:
    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append((envelope.rcpt_tos, email.message_from_bytes(envelope.content)))
        return "250 OK"


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def smtp():
    sink = Sink()
    controller = Controller(sink, hostname="127.0.0.1", port=_free_port())
    controller.start()
    yield sink, controller.port
    controller.stop()


@pytest.fixture
def queue_name(app):
    """The test's own queue of users' jobs (``tests/conftest.py``); emails go on its own notification queue."""
    return app.config["RQ_QUEUE"]


def _run_worker(app, queue_name, port):
    burst(app, queue_name, MAIL_SERVER="127.0.0.1", MAIL_PORT=port)


def _subject(msg):
    return str(make_header(decode_header(msg["Subject"])))


def _body(msg):
    return msg.get_payload(decode=True).decode(msg.get_content_charset() or "utf-8")


def test_new_escalation_and_decision_mails_in_chinese(world, smtp, queue_name, app):
    sink, port = smtp
    load_default_calendar(years=[clock.today().year])
    db.session.commit()
    c = new_complaint(world, severity="major")
    esc = services.escalate(c.id, "compensation", "compensation", "800", "客户要求赔偿", factories.user("agent_e"))
    _run_worker(app, queue_name, port)
    assert len(sink.messages) == 1
    rcpts, msg = sink.messages[0]
    assert rcpts == ["manager_e@example.com"]
    assert c.number in _subject(msg) and "投诉升级" in _subject(msg)
    body = _body(msg)
    assert "¥800.00" in body and "赔偿" in body and "重大" in body

    services.approve(esc.id, "同意赔偿", factories.user("manager_e"))
    _run_worker(app, queue_name, port)
    assert len(sink.messages) == 2
    rcpts, msg = sink.messages[1]
    assert rcpts == ["agent_e@example.com"]  # requester and owner are the same agent
    assert "同意赔偿" in _body(msg) and "批准" in _subject(msg)
    db.session.expire_all()
    assert all(n.sent_at is not None for n in db.session.query(Notification))


def test_breach_warning_goes_to_the_owner(world, smtp, queue_name, app):
    sink, port = smtp
    t0 = clock.now()
    with clock.freeze(t0):
        c = new_complaint(world)
    from datetime import timedelta

    with clock.freeze(t0 + timedelta(minutes=8)):
        services.sweep()
    _run_worker(app, queue_name, port)
    rcpts, msg = sink.messages[0]
    assert rcpts == ["agent_e@example.com"]
    assert "SLA" in _subject(msg) and c.number in _subject(msg)
    assert "首次响应" in _subject(msg)


def test_sending_twice_sends_once(world, smtp, app):
    sink, port = smtp
    mail_state = app.extensions["mail"]
    old = (mail_state.server, mail_state.port)
    mail_state.server, mail_state.port = "127.0.0.1", port
    try:
        n = Notification(recipients="x@example.com", subject="测试", body="正文", topic="t")
        db.session.add(n)
        db.session.commit()
        assert outbox.send(n.id) is True
        assert outbox.send(n.id) is False
        assert len(sink.messages) == 1
    finally:
        mail_state.server, mail_state.port = old
