"""The SLA sweep: warnings, breaches, one automatic escalation, and its cost."""
import threading
from datetime import datetime, timedelta

import pytest

from app.complaints import services
from app.complaints.models import Complaint, ComplaintEvent, Escalation
from app.core import clock
from app.core.models import Notification
from app.extensions import db
from seeds.reference import load_default_calendar
from tests import factories
from tests.test_complaints_lifecycle import local, new_complaint


@pytest.fixture
def cal(app):
    load_default_calendar(years=[2026, 2027])
    db.session.commit()


T0 = None


def _at(minutes):
    return local(2026, 3, 10, 10, 0) + timedelta(minutes=minutes)


def test_warning_then_breach_then_one_escalation(world, cal):
    with clock.freeze(_at(0)):
        c = new_complaint(world)
    with clock.freeze(_at(7)):  # 75 % of 10 minutes is 7.5
        assert services.sweep()["warned"] == 0
    with clock.freeze(_at(8)):
        counts = services.sweep()
    assert counts["warned"] == 1 and counts["breached"] == 0
    with clock.freeze(_at(11)):
        counts = services.sweep()
    assert counts["breached"] == 1 and counts["escalated"] == 1
    db.session.expire_all()
    c = db.session.get(Complaint, c.id)
    assert c.response_breached and not c.resolution_breached
    esc = db.session.query(Escalation).filter_by(complaint_id=c.id).one()
    assert (esc.level, esc.reason, esc.status, esc.requested_by_id) == (1, "sla_breach", "pending", None)
    # the owner was warned, the region's managers told of the escalation
    topics = {n.topic: n.recipients for n in db.session.query(Notification)}
    assert topics["warning_response"] == "agent_e@example.com"
    assert topics["escalation_new"] == "manager_e@example.com"


def test_sweep_twice_changes_nothing_more(world, cal):
    with clock.freeze(_at(0)):
        c = new_complaint(world)
    with clock.freeze(_at(30)):
        services.sweep()
        events = db.session.query(ComplaintEvent).count()
        again = services.sweep()
    assert again["checked"] == 0
    assert db.session.query(ComplaintEvent).count() == events
    assert db.session.query(Escalation).filter_by(complaint_id=c.id).count() == 1


def test_resolution_breach_escalates_once_even_after_response_breach(world, cal):
    with clock.freeze(_at(0)):
        c = new_complaint(world)
    with clock.freeze(_at(30)):
        services.sweep()
    with clock.freeze(_at(25 * 60)):
        counts = services.sweep()
    assert counts["breached"] == 1 and counts["escalated"] == 0
    db.session.expire_all()
    assert db.session.get(Complaint, c.id).resolution_breached
    assert db.session.query(Escalation).filter_by(complaint_id=c.id).count() == 1


def test_paused_complaint_does_not_breach(world, cal):
    agent = factories.user("agent_e")
    with clock.freeze(_at(0)):
        c = new_complaint(world)
    with clock.freeze(_at(5)):
        services.respond(c.id, "ok", agent)
    with clock.freeze(_at(60)):
        services.pause(c.id, "等待客户", agent)
    with clock.freeze(_at(30 * 60)):
        assert services.sweep()["breached"] == 0
        services.resume(c.id, agent)
    db.session.expire_all()
    c = db.session.get(Complaint, c.id)
    assert not c.resolution_breached
    assert c.resolution_due_at == _at(24 * 60 + 30 * 60 - 60)


def test_cost_follows_complaints_coming_due(world, cal):
    """Many complaints far from due: the sweep reads none of them."""
    with clock.freeze(_at(0)):
        for _ in range(30):
            c = new_complaint(world)
            services.respond(c.id, "ok", factories.user("agent_e"))
    with clock.freeze(_at(60)):
        assert services.sweep()["checked"] == 0
    stmt = []

    from sqlalchemy import event

    def count(conn, cursor, statement, *a):
        if "FROM complaint" in statement:
            stmt.append(statement)

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        with clock.freeze(_at(61)):
            services.sweep()
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
    assert len(stmt) == 1 and "next_check_at" in stmt[0]


def test_concurrent_sweeps_escalate_once(world, cal, app):
    """On PostgreSQL four sweeps run at once and share the rows through SKIP LOCKED. SQLite has
    no row locks (it serialises writers), so there the four sweeps run one after another, each
    in its own session."""
    with clock.freeze(_at(0)):
        ids = [new_complaint(world).id for _ in range(20)]
    barrier = threading.Barrier(4)
    errors = []

    def run():
        with app.app_context():
            try:
                barrier.wait()
                services.sweep(now=_at(30))
            except Exception as exc:  # pragma: no cover - reported below
                errors.append(exc)
            finally:
                db.session.remove()

    if db.engine.dialect.name == "postgresql":
        threads = [threading.Thread(target=run) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    else:
        barrier = threading.Barrier(1)
        for _ in range(4):
            thread = threading.Thread(target=run)
            thread.start()
            thread.join()
    assert not errors
    db.session.expire_all()
    for cid in ids:
        assert db.session.query(Escalation).filter_by(complaint_id=cid).count() == 1
        assert db.session.query(ComplaintEvent).filter_by(complaint_id=cid, kind="breached").count() == 1
