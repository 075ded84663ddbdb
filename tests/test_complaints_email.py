"""Complaint emails, end to end: outbox row (core.outbox) → rq job on a real worker → SMTP sink on loopback."""
import email
import socket
from email.header import decode_header, make_header

import pytest
from aiosmtpd.controller import Controller

from app.complaints import services
from app.complaints.models import Escalation
from app.core import clock, outbox
from app.core.people import display_name
from app.core.models import Notification
from app.extensions import db
from seeds.reference import load_default_calendar
from tests import factories
from tests.auth_support import zh
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
    return str(make_header(decode_header(msg["Subject"]))).replace("\r\n", "").replace("\n", "").strip()


def _body(msg):
    return msg.get_payload(decode=True).decode(msg.get_content_charset() or "utf-8")


BASE = "https://svc.example.cn/backoffice"  # a public base URL with a path prefix, as behind a proxy


@pytest.fixture
def public_base(app, monkeypatch):
    monkeypatch.setitem(app.config, "PUBLIC_BASE_URL", BASE + "/")  # the trailing slash is dropped


def _by_topic(sink):
    """The sent messages by their ``Notification.topic`` (subjects are unique per message here)."""
    db.session.expire_all()
    topics = {n.subject: n.topic for n in db.session.query(Notification)}
    found = {}
    for rcpts, msg in sink.messages:
        found.setdefault(topics[_subject(msg)], []).append((sorted(rcpts), _subject(msg), _body(msg)))
    return found


def test_each_escalation_mail_says_what_happened_and_links_to_its_page(world, smtp, queue_name, app, public_base):
    """Request → deciders (desk link); level 1 approval that needs HQ → HQ (desk link) and the owner (wait);
    HQ rejects → the owner (reason, back with them, complaint link); a plain approval → the owner (remedy,
    tell the customer)."""
    sink, port = smtp
    load_default_calendar(years=[clock.today().year])
    db.session.commit()
    agent, manager, hq = (factories.user(u) for u in ("agent_e", "manager_e", "hq"))
    big, small = new_complaint(world, severity="major"), new_complaint(world)
    esc_big = services.escalate(big.id, "compensation", "compensation", "3000", "客户要求赔偿", agent)
    esc_small = services.escalate(small.id, "compensation", "compensation", "800", "客户要求补偿", agent)
    services.approve(esc_big.id, "同意，报总部", manager)
    level2 = db.session.query(Escalation).filter_by(parent_id=esc_big.id).one()
    services.reject(level2.id, "金额过高，请先与客户协商", hq)
    services.approve(esc_small.id, "同意赔偿", manager)
    _run_worker(app, queue_name, port)

    mails = _by_topic(sink)
    assert sorted((t, len(m)) for t, m in mails.items()) == [
        ("escalation_approved", 1), ("escalation_awaiting_hq", 1), ("escalation_new", 2),
        ("escalation_referred", 1), ("escalation_rejected", 1)]
    desk = f"{BASE}/desk/#escalation-"
    big_page, small_page = f"{BASE}/complaintview/show/{big.id}", f"{BASE}/complaintview/show/{small.id}"
    follow_up = zh(app, "Please carry out the approved remedy now, tell the customer the result and ask whether "
                        "they are satisfied, then record the resolution on the complaint.")

    # the requests: to the region's manager, who decides on the desk
    for rcpts, subject, body in mails["escalation_new"]:
        assert rcpts == ["manager_e@example.com"] and "投诉升级" in subject
        assert zh(app, "Requested by: %(who)s at %(at)s", who=display_name(agent), at="")[:-1] in body
        assert desk in body and big_page not in body
    assert f"{desk}{esc_big.id}" in mails["escalation_new"][0][2] + mails["escalation_new"][1][2]
    assert "¥3,000.00" in mails["escalation_new"][0][2] + mails["escalation_new"][1][2]

    # level 1 approved, the remedy needs HQ: HQ is asked on its desk, the owner waits
    [(rcpts, subject, body)] = mails["escalation_referred"]
    assert rcpts == ["hq2@example.com", "hq@example.com"] and big.number in subject
    assert display_name(manager) in body and "同意，报总部" in body
    assert f"{desk}{level2.id}" in body
    [(rcpts, subject, body)] = mails["escalation_awaiting_hq"]
    assert rcpts == ["agent_e@example.com"] and big_page in body and desk not in body
    assert zh(app, "This remedy also needs a level 2 approval by HQ: do not carry it out yet. You will get "
                   "another email when HQ decides.") in body
    assert follow_up not in body

    # rejected: the reason, back with the owner; never "tell the customer and follow up"
    [(rcpts, subject, body)] = mails["escalation_rejected"]
    assert rcpts == ["agent_e@example.com"] and big.number in subject
    assert "金额过高，请先与客户协商" in body and display_name(hq) in body
    assert zh(app, "The complaint is back with its owner, %(owner)s: do not carry out the proposed remedy; go on "
                   "handling the complaint, or request an escalation again with more information.",
              owner=display_name(agent)) in body
    assert follow_up not in body
    assert zh(app, "Please tell the customer the result and ask whether they are satisfied.") not in body
    assert body.rstrip().endswith(big_page)

    # approved for good: the remedy and what to do next, on the complaint's page
    [(rcpts, subject, body)] = mails["escalation_approved"]
    assert rcpts == ["agent_e@example.com"] and small.number in subject
    assert "同意赔偿" in body and "¥800.00" in body and display_name(manager) in body
    assert follow_up in body and body.rstrip().endswith(small_page)
    assert all(n.sent_at is not None for n in db.session.query(Notification))


def test_breach_warning_goes_to_the_owner(world, smtp, queue_name, app, public_base):
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
    assert _body(msg).rstrip().endswith(f"{BASE}/complaintview/show/{c.id}")


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
