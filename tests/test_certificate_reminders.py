"""Certificate expiry reminders (engineers.reminders) and the kernel outbox's dedupe (core.outbox).

Time is pinned to DAY; the world's own certificates expire about a year after the real today, so
they have long expired by then and never interfere.
"""
from datetime import date, timedelta

import pytest
from sqlalchemy import insert

from app import jobs
from app.core import clock, outbox, queue
from app.core.models import Notification
from app.engineers import reminders
from app.engineers.models import Certification
from app.extensions import db
from tests import factories
from tests.test_complaints_email import _body, _subject, queue_name, smtp  # noqa: F401  (fixtures)
from tests.workers import burst

DAY = date(2030, 6, 10)
OUTLET_EMAIL = "pudong@example.com"


@pytest.fixture
def w(world):
    world.outlet_e.email = OUTLET_EMAIL
    db.session.commit()
    return world


def _cert(world, days_left, engineer=None, **kw):
    with clock.freeze(DAY):
        c = factories.certification(engineer or world.engineer_e, expires_on=DAY + timedelta(days=days_left), **kw)
        db.session.commit()
    return c


def _run(day=DAY):
    with clock.freeze(day):
        return reminders.send_certificate_reminders()


def _rows():
    db.session.expire_all()
    return db.session.query(Notification).filter_by(topic="certificate_reminder").order_by(Notification.id).all()


def _key(cert, threshold):
    return f"cert-reminder:{cert.id}:{threshold}:{cert.expires_on.isoformat()}"


@pytest.mark.parametrize("days_left, threshold", [
    (31, None),  # beyond the largest threshold
    (30, 30),    # exactly 30 days: the 30-day reminder
    (8, 30),     # first seen at 8 days (nothing sent before): still the 30-day one
    (7, 7),      # exactly 7 days: the 7-day reminder
    (5, 7),      # recorded with 5 days left: only the 7-day one
    (0, 7),      # expires today (last valid day): the 7-day reminder
    (-1, None),  # expired yesterday
])
def test_which_reminder_a_certificate_gets(w, days_left, threshold):
    cert = _cert(w, days_left)
    queued = _run()
    rows = _rows()
    if threshold is None:
        assert queued == 0 and rows == []
    else:
        assert queued == 1
        assert [r.dedupe_key for r in rows] == [_key(cert, threshold)]


def test_one_certificate_over_its_last_five_weeks_gets_two_reminders(w):
    """Run every day from 35 days before expiry to 2 days after: the 30-day and 7-day reminders only."""
    cert = _cert(w, 35)
    sent_on = {}
    for offset in range(0, 38):
        day = DAY + timedelta(days=offset)
        n = _run(day)
        if n:
            sent_on[(cert.expires_on - day).days] = n
    assert sent_on == {30: 1, 7: 1}
    assert [r.dedupe_key for r in _rows()] == [_key(cert, 30), _key(cert, 7)]


def test_expiring_today_gets_the_7_day_reminder_when_it_was_missed(w):
    cert = _cert(w, 20)
    assert _run(DAY) == 1  # the 30-day reminder
    # the job did not run for the next 20 days (an outage): on the expiry day the 7-day one goes out
    assert _run(cert.expires_on) == 1
    assert [r.dedupe_key for r in _rows()] == [_key(cert, 30), _key(cert, 7)]
    assert _run(cert.expires_on) == 0


def test_revoked_expired_and_left_engineers_get_nothing(w):
    _cert(w, 7, revoked=True)
    _cert(w, -3)
    gone = factories.engineer(w.outlet_e, status="left", employee_no="E9999")
    _cert(w, 7, engineer=gone)
    assert _run() == 0
    assert _rows() == []


def test_a_second_run_queues_nothing_new(w):
    _cert(w, 30)
    _cert(w, 6)
    _cert(w, 6, engineer=w.engineer_w)
    assert _run() == 3
    before = [(r.id, r.dedupe_key) for r in _rows()]
    assert _run() == 0
    assert [(r.id, r.dedupe_key) for r in _rows()] == before
    assert db.session.query(Notification).count() == 3


def test_a_renewed_certificate_is_reminded_again(w):
    cert = _cert(w, 7)
    assert _run() == 1
    # renewed: same record, a new expiry date two years on
    renewed_until = cert.expires_on + timedelta(days=730)
    cert = db.session.get(Certification, cert.id)
    cert.expires_on = renewed_until
    db.session.commit()
    assert _run() == 0  # far from expiry now
    assert _run(renewed_until - timedelta(days=30)) == 1
    assert _run(renewed_until - timedelta(days=7)) == 1
    keys = [r.dedupe_key for r in _rows()]
    assert keys == [f"cert-reminder:{cert.id}:7:{(DAY + timedelta(days=7)).isoformat()}",
                    f"cert-reminder:{cert.id}:30:{renewed_until.isoformat()}",
                    f"cert-reminder:{cert.id}:7:{renewed_until.isoformat()}"]


def test_reminder_days_come_from_the_setting(w):
    from app.core.models import Setting

    db.session.query(Setting).filter_by(key="certification.reminder_days").one().value = "60,14,1"
    db.session.commit()
    cert = _cert(w, 45)
    assert _run() == 1
    assert _run(DAY + timedelta(days=31)) == 1  # 14 days left
    assert _run(DAY + timedelta(days=44)) == 1  # 1 day left
    assert [r.dedupe_key for r in _rows()] == [_key(cert, 60), _key(cert, 14), _key(cert, 1)]


def test_recipients_are_the_outlet_and_its_regions_managers(w):
    east = _cert(w, 7)
    west = _cert(w, 7, engineer=w.engineer_w)  # outlet without an email
    # an outlet with no email in a region with no manager: nobody to tell, no row
    lonely = factories.outlet(factories.region("N", "华北区"), code="BJ001", name="北京朝阳网点")
    _cert(w, 7, engineer=factories.engineer(lonely, employee_no="N1001"))
    assert _run() == 2
    by_key = {r.dedupe_key: set(r.recipients.split(",")) for r in _rows()}
    assert by_key == {
        _key(east, 7): {OUTLET_EMAIL, "manager_e@example.com"},
        _key(west, 7): {"manager_w@example.com"},
    }


def test_inactive_managers_are_not_told(w):
    manager = factories.user("manager_e")
    manager.active = False
    db.session.commit()
    try:
        _cert(w, 7)
        _run()
        assert [r.recipients for r in _rows()] == [OUTLET_EMAIL]
    finally:
        manager = factories.user("manager_e")
        manager.active = True
        db.session.commit()


def test_the_email_is_in_chinese_and_says_what_to_do(w):
    cert = _cert(w, 7)
    _run()
    (row,) = _rows()
    d = cert.expires_on
    expires = f"{d.year}年{d.month}月{d.day}日"  # the Chinese date format, whatever the current locale
    assert "E1001" in row.subject and "张工" in row.subject and "制冷与空调作业操作证" in row.subject
    assert expires in row.subject and "7" in row.subject
    body = row.body
    for line in ("工程师：E1001 张工", "服务网点：SH001 上海浦东网点", "证书类型：制冷与空调作业操作证",
                 f"证书编号：{cert.number}", f"到期日期：{expires}"):
        assert line in body.splitlines(), (line, body)
    assert "证书到期提醒" in row.subject and "剩余 7 天" in row.subject
    assert "剩余天数：7" in body.splitlines() and "7 天后到期" in body
    # what to do, and the product categories the engineer can no longer serve without it
    assert "到期前" in body and "换证" in body and "冰箱、空调" in body
    # rendered in Chinese whatever the current locale: no English field labels
    assert "Engineer:" not in body and "Outlet:" not in body


def test_expiring_today_says_so(w):
    _cert(w, 0)
    _run()
    (row,) = _rows()
    assert "剩余天数：0" in row.body.splitlines() and "今天到期" in row.body


def test_one_query_for_many_certificates(w, app):
    """Set-based: the number of SELECTs does not grow with the number of certificates."""
    from sqlalchemy import event

    def count_selects(n_certs):
        factories.wipe_business_data()
        world = factories.build_world()
        world.outlet_e.email = OUTLET_EMAIL
        db.session.commit()
        for i in range(n_certs):
            _cert(world, 7 + (i % 20), engineer=world.engineer_e if i % 2 else world.engineer_w)
        db.session.expire_all()
        statements = []

        def before(conn, cursor, statement, *args):
            if statement.lstrip().upper().startswith("SELECT"):
                statements.append(statement)

        event.listen(db.engine, "before_cursor_execute", before)
        try:
            queued = _run()
        finally:
            event.remove(db.engine, "before_cursor_execute", before)
        assert queued == n_certs
        return len(statements)

    assert count_selects(3) == count_selects(30)


def test_queue_email_with_a_taken_key_writes_nothing(app):
    first = outbox.queue_email(["a@example.com"], "主题", "正文", "test", dedupe_key="k-1")
    assert first is not None
    assert outbox.queue_email(["b@example.com"], "主题", "正文", "test", dedupe_key="k-1") is None
    # the caller's transaction is intact: the first row and other work commit together
    other = outbox.queue_email(["c@example.com"], "主题", "正文", "test")
    db.session.commit()
    rows = db.session.query(Notification).order_by(Notification.id).all()
    assert [(r.recipients, r.dedupe_key) for r in rows] == [("a@example.com", "k-1"), ("c@example.com", None)]
    from flask import g

    assert g.pop("_outbox") == [first.id, other.id]  # only rows actually written are dispatched
    # later, in another transaction: still nothing
    assert outbox.queue_email(["d@example.com"], "主题", "正文", "test", dedupe_key="k-1") is None
    db.session.commit()
    assert db.session.query(Notification).count() == 2
    g.pop("_outbox", None)


def test_queue_email_loses_a_race_quietly(app):
    """Another transaction commits the same key after ours began: the unique constraint decides."""
    db.session.query(Notification).count()  # our transaction has started
    with db.engine.begin() as other:
        other.execute(insert(Notification.__table__).values(
            recipients="x@example.com", subject="s", body="b", topic="test", dedupe_key="k-race",
            created_at=clock.now(), attempts=0))
    assert outbox.queue_email(["y@example.com"], "主题", "正文", "test", dedupe_key="k-race") is None
    mine = outbox.queue_email(["z@example.com"], "主题", "正文", "test", dedupe_key="k-mine")
    db.session.commit()
    assert mine is not None
    assert sorted(r[0] for r in db.session.query(Notification.dedupe_key)) == ["k-mine", "k-race"]
    from flask import g

    g.pop("_outbox", None)


def test_queue_email_rolls_back_with_the_caller(app):
    outbox.queue_email(["a@example.com"], "主题", "正文", "test", dedupe_key="k-rollback")
    db.session.rollback()
    assert db.session.query(Notification).count() == 0
    from flask import g

    g.pop("_outbox", None)


def test_queue_email_without_recipients_writes_nothing(app):
    assert outbox.queue_email([], "主题", "正文", "test", dedupe_key="k-empty") is None
    assert outbox.queue_email(["", "  "], "主题", "正文", "test") is None
    db.session.commit()
    assert db.session.query(Notification).count() == 0


def _run_worker(app, name, port):
    """A real rq worker (burst) whose jobs queue their follow-up jobs on the same queue."""
    burst(app, name, MAIL_SERVER="127.0.0.1", MAIL_PORT=port, RQ_QUEUE=name)


def test_end_to_end_the_scheduled_job_on_a_real_worker_mails_once(w, smtp, queue_name, app):  # noqa: F811
    """The job runs in a real rq worker (real time), queues its email, and the worker sends it over SMTP."""
    sink, port = smtp
    cert = factories.certification(w.engineer_e, expires_on=clock.today() + timedelta(days=7))
    factories.certification(w.engineer_e, expires_on=clock.today() + timedelta(days=100))  # not yet
    db.session.commit()
    job = queue.enqueue(jobs.send_certificate_reminders)
    _run_worker(app, queue_name, port)
    job.refresh()
    assert job.get_status() == "finished" and job.return_value() == 1
    assert len(sink.messages) == 1
    rcpts, msg = sink.messages[0]
    assert sorted(rcpts) == ["manager_e@example.com", OUTLET_EMAIL]
    subject, body = _subject(msg), _body(msg)
    assert "E1001 张工" in subject and "制冷与空调作业操作证" in subject
    assert f"证书编号：{cert.number}" in body and "服务网点：SH001 上海浦东网点" in body
    db.session.expire_all()
    (row,) = _rows()
    assert row.sent_at is not None and row.attempts == 1

    # the next morning's run (here: again at once) mails nobody
    job = queue.enqueue(jobs.send_certificate_reminders)
    _run_worker(app, queue_name, port)
    job.refresh()
    assert job.return_value() == 0
    assert len(sink.messages) == 1


def test_queue_email_does_not_hide_other_refusals(app):
    from sqlalchemy.exc import IntegrityError

    with pytest.raises(IntegrityError):
        outbox.queue_email(["a@example.com"], "主题", "正文", "test", complaint_id=987654, dedupe_key="k-fk")
    db.session.rollback()
    assert db.session.query(Notification).count() == 0


def test_two_writers_at_once_leave_one_row(app):
    """T1 writes the key and holds its transaction open; T2 writes the same key meanwhile (it waits on
    T1's lock), gets the refusal when T1 commits, and goes on without failing its transaction."""
    import threading
    import time

    from flask import g

    written = threading.Event()
    results, errors = {}, []

    def writer(name, wait_for=None, hold=0.0):
        try:
            with app.app_context():
                if wait_for is not None:
                    wait_for.wait(10)
                results[name] = outbox.queue_email([f"{name}@example.com"], "主题", "正文", "test",
                                                   dedupe_key="k-concurrent") is not None
                if wait_for is None:
                    written.set()
                time.sleep(hold)
                db.session.commit()
                g.pop("_outbox", None)
                db.session.remove()
        except Exception as exc:  # surfaced below
            errors.append(exc)

    first = threading.Thread(target=writer, args=("first", None, 0.5))
    second = threading.Thread(target=writer, args=("second", written))
    first.start()
    second.start()
    first.join(30)
    second.join(30)
    assert errors == []
    assert results == {"first": True, "second": False}
    assert [r.recipients for r in db.session.query(Notification)] == ["first@example.com"]
