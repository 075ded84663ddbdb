"""A breach is a fact of the times; the clock stops only while it runs; the verification deadline.

Each case is a repro: before, late complaints were only ever flagged by the every-minute sweep,
a pause after the due time still moved it, and pauses moved the 3-working-day deadline.
"""
from datetime import datetime, timedelta

import pytest
from click.testing import CliRunner

from app.complaints import services
from app.complaints.models import Complaint, ComplaintEvent, Escalation
from app.core import clock
from app.extensions import db
from seeds.reference import load_default_calendar
from tests import factories
from tests.test_complaints_lifecycle import local, new_complaint


@pytest.fixture
def cal(app):
    load_default_calendar(years=[2026, 2027])
    db.session.commit()


def _fresh(cid):
    db.session.expire_all()
    return db.session.get(Complaint, cid)


def _responded_at_1005(world, severity):
    """A complaint received 2026-03-10 10:00 and first answered at 10:05 (on time)."""
    agent = factories.user("agent_e")
    with clock.freeze(local(2026, 3, 10, 10, 0)):
        c = new_complaint(world, severity=severity, received=local(2026, 3, 10, 10, 0))
    with clock.freeze(local(2026, 3, 10, 10, 5)):
        services.respond(c.id, "已致电客户", agent)
    return agent, c


def _events(cid, kind):
    return db.session.query(ComplaintEvent).filter_by(complaint_id=cid, kind=kind).order_by(ComplaintEvent.id).all()


def test_late_response_and_resolution_are_marked_without_a_sweep(world, cal):
    """Urgent, received three hours ago, then responded to and resolved at once: both breached.
    Still open at the late response, it is escalated once; resolving is not blocked by that."""
    agent = factories.user("agent_e")
    now = local(2026, 3, 10, 15, 0)
    with clock.freeze(now):
        c = new_complaint(world, severity="urgent", received=now - timedelta(hours=3))
        services.respond(c.id, "已致电客户", agent)
        services.resolve(c.id, "已上门修复", agent)
    c = _fresh(c.id)
    assert c.status == "resolved"
    assert c.response_breached and c.resolution_breached
    assert len(_events(c.id, "breached")) == 2
    escalations = db.session.query(Escalation).filter_by(complaint_id=c.id).all()
    assert [(e.reason, e.status) for e in escalations] == [("sla_breach", "pending")]
    assert c.next_check_at is None


def test_resolved_late_after_a_timely_response_is_marked_not_escalated(world, cal):
    agent = factories.user("agent_e")
    received = local(2026, 3, 10, 10, 0)
    with clock.freeze(received + timedelta(minutes=5)):
        c = new_complaint(world, severity="urgent", received=received)
        services.respond(c.id, "已致电客户", agent)
    with clock.freeze(received + timedelta(hours=2, minutes=1)):
        services.resolve(c.id, "已修复", agent)
    c = _fresh(c.id)
    assert not c.response_breached and c.resolution_breached
    assert db.session.query(Escalation).filter_by(complaint_id=c.id).count() == 0
    # the sweep has nothing left to see
    with clock.freeze(received + timedelta(hours=3)):
        assert services.sweep()["checked"] == 0


def test_on_time_is_not_a_breach(world, cal):
    agent = factories.user("agent_e")
    received = local(2026, 3, 10, 10, 0)
    with clock.freeze(received):
        c = new_complaint(world, severity="urgent", received=received)
    with clock.freeze(received + timedelta(minutes=10)):  # exactly at the due time
        services.respond(c.id, "已致电客户", agent)
    with clock.freeze(received + timedelta(hours=2)):
        services.resolve(c.id, "已修复", agent)
    c = _fresh(c.id)
    assert not c.response_breached and not c.resolution_breached


def test_late_response_on_an_open_complaint_escalates_once(world, cal):
    agent = factories.user("agent_e")
    received = local(2026, 3, 10, 10, 0)
    with clock.freeze(received):
        c = new_complaint(world, severity="general", received=received)
    with clock.freeze(received + timedelta(minutes=30)):
        services.respond(c.id, "已致电客户", agent)
    c = _fresh(c.id)
    assert c.response_breached and not c.resolution_breached
    esc = db.session.query(Escalation).filter_by(complaint_id=c.id).one()
    assert (esc.reason, esc.auto_key, esc.status) == ("sla_breach", "sla_breach", "pending")
    # the sweep does not escalate the same breach again
    with clock.freeze(received + timedelta(minutes=31)):
        services.sweep()
    assert db.session.query(Escalation).filter_by(complaint_id=c.id).count() == 1


def test_pause_after_the_breach_does_not_move_the_due_time(world, cal):
    """Received 10:00 urgent, breached at 12:01, paused 13:00–14:00: the due time stays 12:00."""
    agent, c = _responded_at_1005(world, "urgent")
    with clock.freeze(local(2026, 3, 10, 13, 0)):  # no sweep ran: the pause itself records the breach
        services.pause(c.id, "等待配件", agent)
    c = _fresh(c.id)
    assert c.resolution_breached
    assert c.resolution_due_at == local(2026, 3, 10, 12, 0)
    with clock.freeze(local(2026, 3, 10, 14, 0)):
        services.resume(c.id, agent)
    c = _fresh(c.id)
    assert c.resolution_due_at == local(2026, 3, 10, 12, 0)
    assert c.resolution_breached
    resumed = _events(c.id, "resumed")[-1]
    assert "12:00" in resumed.note and "13:00" not in resumed.note
    assert len(_events(c.id, "breached")) == 1


def test_pause_before_the_due_time_stops_the_clock_and_counts_whole(world, cal):
    agent, c = _responded_at_1005(world, "urgent")
    with clock.freeze(local(2026, 3, 10, 11, 0)):
        services.pause(c.id, "等待客户", agent)
    with clock.freeze(local(2026, 3, 10, 15, 0)):  # paused 4 h: no breach while stopped
        assert services.sweep()["breached"] == 0
        services.resume(c.id, agent)
    c = _fresh(c.id)
    assert c.resolution_due_at == local(2026, 3, 10, 16, 0) and not c.resolution_breached
    # a second pause after the (extended) due time counts nothing
    with clock.freeze(local(2026, 3, 10, 16, 30)):
        services.pause(c.id, "再次等待", agent)
    with clock.freeze(local(2026, 3, 10, 17, 30)):
        services.resume(c.id, agent)
    c = _fresh(c.id)
    assert c.resolution_due_at == local(2026, 3, 10, 16, 0) and c.resolution_breached


def test_a_breach_stays_when_the_sweep_sees_a_paused_complaint(world, cal):
    """Paused after the due time (no sweep in between): the clock is not stopped, the sweep marks it."""
    agent, c = _responded_at_1005(world, "urgent")
    with clock.freeze(local(2026, 3, 10, 11, 59)):
        services.pause(c.id, "等待客户", agent)  # before the due time: stops the clock
    c = _fresh(c.id)
    assert c.next_check_at is None
    with clock.freeze(local(2026, 3, 10, 18, 0)):
        assert services.sweep()["breached"] == 0
    assert not _fresh(c.id).resolution_breached


def test_verification_deadline_is_the_close_of_the_third_working_day_and_ignores_pauses(world, cal):
    """Received 03-10 10:00 with a 41-minute pause: due 03-13 18:00 (the close of working hours of
    the third working day after the day of receipt), not 03-16 09:41."""
    agent, c = _responded_at_1005(world, "general")
    with clock.freeze(local(2026, 3, 10, 11, 0)):
        services.pause(c.id, "等待客户", agent)
    with clock.freeze(local(2026, 3, 10, 11, 41)):
        services.resume(c.id, agent)
    c = _fresh(c.id)
    assert clock.to_local(c.verification_due_at).replace(tzinfo=None) == datetime(2026, 3, 13, 18, 0)


def test_recompute_command_marks_what_happened_late(world, cal, app):
    """Complaints recorded before breaches were marked on the spot: the one-off command fixes them."""
    agent = factories.user("agent_e")
    received = local(2026, 3, 10, 10, 0)
    with clock.freeze(received):
        late = new_complaint(world, severity="urgent", received=received)
        timely = new_complaint(world, severity="urgent", received=received)
    for cid, hours in ((late.id, 19), (timely.id, 1)):
        with clock.freeze(received + timedelta(minutes=5)):
            services.respond(cid, "已致电客户", agent)
        with clock.freeze(received + timedelta(hours=hours)):
            services.resolve(cid, "已修复", agent)
    # as the old code left them: no flag
    db.session.query(Complaint).update({"resolution_breached": False})
    db.session.query(ComplaintEvent).filter_by(kind="breached").delete()
    db.session.commit()

    with clock.freeze(received + timedelta(days=2)):
        result = CliRunner().invoke(app.cli, ["complaints", "recompute-breaches"], catch_exceptions=False)
        assert result.exit_code == 0, result.output
        assert "resolution 1" in result.output
        again = CliRunner().invoke(app.cli, ["complaints", "recompute-breaches"], catch_exceptions=False)
        assert "resolution 0" in again.output
    assert _fresh(late.id).resolution_breached and not _fresh(timely.id).resolution_breached
    assert len(_events(late.id, "breached")) == 1
    assert db.session.query(Escalation).count() == 0  # marked, not escalated after the fact


def test_a_compensation_with_more_than_fen_is_refused_not_rounded(world, cal, api):
    from tests.test_complaints_api import _create

    agent = api("agent_e")
    cid = _create(agent, world).get_json()["id"]
    r = agent.post(f"/api/v1/complaint/{cid}/escalate",
                   json={"reason": "compensation", "remedy": "compensation", "compensation_amount": "1999.995"})
    assert r.status_code == 422 and "compensation_amount" in r.get_json()["errors"]
    assert db.session.query(Escalation).count() == 0
    r = agent.post(f"/api/v1/complaint/{cid}/escalate",
                   json={"reason": "compensation", "remedy": "compensation", "compensation_amount": "1999.90"})
    assert r.status_code == 201, r.get_json()
