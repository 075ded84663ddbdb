"""Complaint lifecycle and SLA clocks, through the services (no HTTP)."""
from datetime import date, datetime, timedelta

import pytest

from app.complaints import services
from app.complaints.models import Complaint, Escalation
from app.core import clock, scope
from app.core.errors import Conflict, Forbidden, Invalid
from app.core.services import save
from app.extensions import db
from seeds.reference import load_default_calendar
from tests import factories


def local(*args):
    return clock.to_utc(datetime(*args))


def new_complaint(world, severity="general", received=None, owner="agent_e"):
    with scope.acting_as(factories.user(owner)):
        c = Complaint(customer_name="王先生", customer_phone="13912345678", channel="phone",
                      outlet=world.outlet_e, severity=severity, description="空调不制冷",
                      received_at=received or clock.now())
        save(c)
    return c


@pytest.fixture
def cal(app):
    load_default_calendar(years=[2026, 2027])
    db.session.commit()


def test_recording_sets_owner_number_and_due_times(world, cal):
    with clock.freeze(local(2026, 3, 10, 10, 0)):
        c = new_complaint(world)
    assert c.owner.username == "agent_e"
    assert c.number.startswith("TS20260310")
    assert clock.to_local(c.response_due_at).replace(tzinfo=None) == datetime(2026, 3, 10, 10, 10)
    assert clock.to_local(c.resolution_due_at).replace(tzinfo=None) == datetime(2026, 3, 11, 10, 0)
    # initial verification: end of the 3rd working day after receipt
    assert clock.to_local(c.verification_due_at).replace(tzinfo=None) == datetime(2026, 3, 13, 18, 0)
    assert [e.kind for e in c.events] == ["received"]


def test_verification_clock_skips_spring_festival(world, cal):
    with clock.freeze(local(2026, 2, 13, 10, 0)):
        c = new_complaint(world)
    assert clock.to_local(c.verification_due_at).replace(tzinfo=None) == datetime(2026, 2, 25, 18, 0)


def test_valid_transitions(world, cal):
    c = new_complaint(world)
    agent = factories.user("agent_e")
    services.respond(c.id, "已致电客户", agent)
    assert c.status == "responded" and c.first_response_at is not None
    services.pause(c.id, "等待客户提供购买凭证", agent)
    services.resume(c.id, agent)
    services.resolve(c.id, "更换压缩机", agent)
    assert c.status == "resolved"
    services.close(c.id, True, agent)
    assert c.status == "closed" and c.customer_satisfied is True
    kinds = [e.kind for e in sorted(c.events, key=lambda e: (e.at, e.id))]
    assert kinds == ["received", "responded", "paused", "resumed", "resolved", "notified", "closed"]


@pytest.mark.parametrize("status,action", [
    ("new", lambda i, u: services.resolve(i, "x", u)),
    ("new", lambda i, u: services.close(i, True, u)),
    ("new", lambda i, u: services.pause(i, "x", u)),
    ("responded", lambda i, u: services.respond(i, "x", u)),
    ("resolved", lambda i, u: services.respond(i, "x", u)),
    ("resolved", lambda i, u: services.pause(i, "x", u)),
    ("resolved", lambda i, u: services.escalate(i, "customer_request", "repair", None, "", u)),
    ("closed", lambda i, u: services.resolve(i, "x", u)),
    ("closed", lambda i, u: services.close(i, True, u)),
])
def test_invalid_transitions_answer_409_naming_the_state(world, cal, status, action):
    c = new_complaint(world)
    c.status = status
    db.session.commit()
    with pytest.raises(Conflict) as err:
        action(c.id, factories.user("agent_e"))
    assert err.value.status == 409
    assert err.value.errors["status"] == [status]
    db.session.expire_all()
    assert db.session.get(Complaint, c.id).status == status


def test_resume_gives_back_every_pause(world, cal):
    agent = factories.user("agent_e")
    t0 = local(2026, 3, 10, 10, 0)
    with clock.freeze(t0):
        c = new_complaint(world)
    with clock.freeze(t0 + timedelta(minutes=5)):
        services.respond(c.id, "ok", agent)
    original = c.resolution_due_at
    pauses = [(60, 90), (120, 200), (300, 310)]  # minutes after receipt: paused 30 + 80 + 10
    for start, end in pauses:
        with clock.freeze(t0 + timedelta(minutes=start)):
            services.pause(c.id, "等待客户", agent)
        with clock.freeze(t0 + timedelta(minutes=end)):
            services.resume(c.id, agent)
    assert c.resolution_due_at == original + timedelta(minutes=120)


def test_changing_severity_recomputes_from_receipt(world, cal):
    t0 = local(2026, 3, 10, 10, 0)
    with clock.freeze(t0):
        c = new_complaint(world)
    with clock.freeze(t0 + timedelta(minutes=3)):
        services.change_severity(c.id, "urgent", factories.user("agent_e"))
    assert c.resolution_due_at == t0 + timedelta(hours=2)


def test_business_time_policy_uses_the_calendar(world, cal):
    from app.complaints.models import SlaPolicy

    policy = db.session.query(SlaPolicy).filter_by(severity="general").one()
    policy.business_time = True
    db.session.commit()
    with clock.freeze(local(2026, 2, 13, 17, 0)):  # Friday before the festival, 1 h left
        c = new_complaint(world)
    # 24 business hours: Fri 1 h, Sat 14 (make-up) 9 h, then Tue 24 and Wed 25 9 h each → Wed 14:00
    assert clock.to_local(c.resolution_due_at).replace(tzinfo=None) == datetime(2026, 2, 25, 14, 0)


def test_payload_errors(world, cal):
    c = new_complaint(world)
    agent = factories.user("agent_e")
    with pytest.raises(Invalid) as err:
        services.respond(c.id, "  ", agent)
    assert "note" in err.value.errors
    with pytest.raises(Invalid) as err:
        services.escalate(c.id, "bogus", "repair", "-5", "", agent)
    assert set(err.value.errors) == {"reason", "compensation_amount"}
    assert db.session.query(Escalation).count() == 0


def test_scope_hides_other_regions(world, cal):
    c = new_complaint(world)
    with scope.acting_as(factories.user("manager_w")):
        with pytest.raises(Exception) as err:
            services.get_complaint(c.id)
    assert err.value.status == 404


def _escalated(world, amount=None, remedy="repair", severity="general"):
    c = new_complaint(world, severity=severity)
    esc = services.escalate(c.id, "compensation" if amount else "customer_request", remedy, amount, "客户要求",
                            factories.user("agent_e"))
    return c, esc


@pytest.mark.parametrize("amount,level2", [("1999.99", False), ("2000", False), ("2000.01", True)])
def test_level2_at_the_compensation_threshold(world, cal, amount, level2):
    c, esc = _escalated(world, amount=amount, remedy="compensation")
    services.approve(esc.id, "同意", factories.user("manager_e"))
    levels = sorted((e.level, e.status) for e in c.escalations)
    if level2:
        assert levels == [(1, "approved"), (2, "pending")]
        assert c.status == "new"
        with pytest.raises(Forbidden):
            services.approve(c.escalations[-1].id, "ok", factories.user("manager_e"))
        top = [e for e in c.escalations if e.level == 2][0]
        services.approve(top.id, "总部同意", factories.user("hq"))
        assert c.status == "in_progress"
    else:
        assert levels == [(1, "approved")]
        assert c.status == "in_progress"


def test_threshold_is_a_setting(world, cal):
    from app.core.models import Setting

    db.session.query(Setting).filter_by(key="escalation.level2_compensation_threshold").one().value = "500"
    db.session.commit()
    c, esc = _escalated(world, amount="600", remedy="compensation")
    services.approve(esc.id, "同意", factories.user("manager_e"))
    assert any(e.level == 2 for e in c.escalations)


@pytest.mark.parametrize("remedy,level2", [("refund", True), ("replacement", True), ("repair", False)])
def test_urgent_refund_or_replacement_needs_hq(world, cal, remedy, level2):
    c, esc = _escalated(world, remedy=remedy, severity="urgent")
    services.approve(esc.id, "同意", factories.user("manager_e"))
    assert any(e.level == 2 for e in c.escalations) is level2


def test_nobody_decides_what_they_requested(world, cal):
    c = new_complaint(world)
    esc = services.escalate(c.id, "customer_request", "repair", None, "", factories.user("manager_e"))
    with pytest.raises(Forbidden):
        services.approve(esc.id, "ok", factories.user("manager_e"))
    assert db.session.get(Escalation, esc.id).status == "pending"


def test_a_decided_escalation_cannot_be_decided_again(world, cal):
    c, esc = _escalated(world)
    services.reject(esc.id, "证据不足", factories.user("manager_e"))
    with pytest.raises(Conflict):
        services.approve(esc.id, "ok", factories.user("manager_e"))
    assert c.status == "new"
    assert esc.comment == "证据不足"


def test_rejection_needs_a_comment(world, cal):
    _c, esc = _escalated(world)
    with pytest.raises(Invalid) as err:
        services.reject(esc.id, "", factories.user("manager_e"))
    assert "comment" in err.value.errors


def test_manager_of_another_region_cannot_decide(world, cal):
    _c, esc = _escalated(world)
    with pytest.raises(Forbidden):
        services.approve(esc.id, "ok", factories.user("manager_w"))


def _delegate(starts, ends, manager="manager_e", delegate="hq2"):
    from app.complaints.models import EscalationDelegation

    d = EscalationDelegation(manager=factories.user(manager), delegate=factories.user(delegate),
                             starts_on=starts, ends_on=ends)
    save(d)
    return d


@pytest.mark.parametrize("today,allowed", [
    (date(2026, 3, 9), False), (date(2026, 3, 10), True), (date(2026, 3, 12), True), (date(2026, 3, 13), False),
])
def test_delegation_window_edges(world, cal, today, allowed):
    _delegate(date(2026, 3, 10), date(2026, 3, 12))
    _c, esc = _escalated(world)
    with clock.freeze(today):
        if allowed:
            services.approve(esc.id, "代为审批", factories.user("hq2"))
            assert esc.status == "approved" and esc.decided_by.username == "hq2"
        else:
            with pytest.raises(Forbidden):
                services.approve(esc.id, "代为审批", factories.user("hq2"))


def test_a_delegate_cannot_pass_it_on(world, cal):
    # "nobody" is a regional manager of no region: it cannot be named a delegate (it could not decide)
    with pytest.raises(Invalid) as err:
        _delegate(date(2026, 1, 1), date(2026, 12, 31), manager="manager_e", delegate="nobody")
    assert "delegate" in err.value.errors
    # nor delegate what it does not hold
    with pytest.raises(Invalid) as err:
        _delegate(date(2026, 1, 1), date(2026, 12, 31), manager="nobody", delegate="hq2")
    assert "manager" in err.value.errors
