"""The SLA sweep's cost follows its batches, not the complaints in them; settings are read once
per transaction and a saved setting is seen by the next read."""
import json
from contextlib import contextmanager
from datetime import timedelta

import pytest
from sqlalchemy import event, insert, select

from app.complaints import jobs, services
from app.complaints.models import Complaint, ComplaintEvent, Escalation
from app.core import clock, settings
from app.core.models import Notification, Setting
from app.core.services import save
from app.extensions import db
from seeds.reference import load_default_calendar
from tests.test_complaints_lifecycle import local, new_complaint


@pytest.fixture
def cal(app):
    load_default_calendar(years=[2026, 2027])
    db.session.commit()


@contextmanager
def statements():
    seen = []

    def count(conn, cursor, statement, *args):
        seen.append(statement)

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(db.engine, "before_cursor_execute", count)


def complaints(world, n, received):
    """``n`` complaints received at ``received``: one recorded through the rules, the others copies
    of its row (same due times), so a test of many stays fast."""
    with clock.freeze(received):
        first = new_complaint(world)
    table = Complaint.__table__
    row = dict(db.session.execute(select(table).where(table.c.id == first.id)).mappings().one())
    del row["id"]
    copies = [dict(row, number=f"{row['number']}-{i}") for i in range(1, n)]
    if copies:
        db.session.execute(insert(Complaint), copies)
    db.session.commit()
    return [first.id] + list(db.session.scalars(select(Complaint.id).where(Complaint.number.like(f"{row['number']}-%"))))


def appends(seen):
    return sum(1 for s in seen if s.lstrip().upper().startswith("UPDATE AUDIT_CHAIN SET TOUCHED_AT"))


def own(seen):
    return [s for s in seen if "audit_chain" not in s.lower() and "audit_event" not in s.lower()]


def swept(at, **kwargs):
    with clock.freeze(at), statements() as seen:
        counts = jobs.sla_sweep() if not kwargs else services.sweep(**kwargs)
    return counts, seen


def test_same_statements_for_10_and_for_60_due(world, cal):
    """Each complaint warned, breached and escalated: the same statements for 10 as for 60, and
    one append to the audit trail's chain for the whole batch."""
    from sqlalchemy import func

    from app.audit_trail.models import AuditEvent

    since = db.session.query(func.coalesce(func.max(AuditEvent.id), 0)).scalar()  # the trail outlives tests
    t0 = local(2026, 3, 10, 10, 0)
    small = complaints(world, 10, t0)
    counts10, seen10 = swept(t0 + timedelta(minutes=30))
    t1 = t0 + timedelta(hours=1)
    big = complaints(world, 60, t1)
    counts60, seen60 = swept(t1 + timedelta(minutes=30))

    assert counts10 == {"checked": 10, "warned": 10, "breached": 10, "escalated": 10}
    assert counts60 == {"checked": 60, "warned": 60, "breached": 60, "escalated": 60}
    # the audit trail's own statements per append are its business (audit_trail.chain): counted
    # as appends to the chain, the rest one by one
    assert appends(seen10) == appends(seen60) == 1
    assert len(own(seen10)) == len(own(seen60)), (own(seen10), own(seen60))
    assert len(own(seen60)) <= 20, own(seen60)

    # every change is there, as one complaint at a time would have written it
    db.session.expire_all()
    for ids in (small, big):
        rows = db.session.query(Complaint).filter(Complaint.id.in_(ids)).all()
        assert all(c.response_warned and c.response_breached and not c.resolution_warned for c in rows)
        assert all(c.next_check_at == c.resolution_due_at - timedelta(hours=6) for c in rows)  # 75 % of 24 h
        kinds = {}
        for ev in db.session.query(ComplaintEvent).filter(ComplaintEvent.complaint_id.in_(ids)).order_by(ComplaintEvent.id):
            kinds.setdefault(ev.complaint_id, []).append(ev.kind)
        assert all(kinds[i] == ["received", "warning", "breached", "escalated"] for i in ids[:1])
        assert all(kinds[i] == ["warning", "breached", "escalated"] for i in ids[1:])
        escs = db.session.query(Escalation).filter(Escalation.complaint_id.in_(ids)).all()
        assert sorted(e.complaint_id for e in escs) == sorted(ids)
        assert {(e.level, e.reason, e.auto_key, e.status) for e in escs} == {(1, "sla_breach", "sla_breach", "pending")}
    topics = {}
    for n in db.session.query(Notification):
        topics.setdefault(n.topic, []).append(n.recipients)
    assert topics["warning_response"] == ["agent_e@example.com"] * 70
    assert topics["escalation_new"] == ["manager_e@example.com"] * 70

    # and the audit trail has each complaint's change, each timeline event and each escalation
    def recorded(entity, action, record_ids):
        return db.session.query(AuditEvent).filter(
            AuditEvent.id > since, AuditEvent.entity == entity, AuditEvent.action == action,
            AuditEvent.record_id.in_([str(i) for i in record_ids])).all()

    [one] = recorded("complaint", "update", big[:1])
    assert json.loads(one.changes) == {"response_breached": [False, True], "response_warned": [False, True]}
    assert one.actor_kind in ("job", "system")
    assert len(recorded("complaint", "update", big)) == 60
    new_events = db.session.scalars(select(ComplaintEvent.id).where(ComplaintEvent.complaint_id.in_(big))).all()
    assert len(recorded("complaint_event", "insert", new_events)) == len(new_events) == 181
    new_escs = db.session.scalars(select(Escalation.id).where(Escalation.complaint_id.in_(big))).all()
    assert len(recorded("escalation", "insert", new_escs)) == 60
    # recorded as a flush records an inserted row: every value set, the id included
    received = db.session.scalars(select(ComplaintEvent.id).where(ComplaintEvent.complaint_id == big[0],
                                                                  ComplaintEvent.kind == "received")).one()
    [by_flush] = recorded("complaint_event", "insert", [received])
    [by_sweep] = recorded("complaint_event", "insert", [max(new_events)])
    assert set(json.loads(by_sweep.changes)) == set(json.loads(by_flush.changes)) - {"actor_id"}
    assert json.loads(by_sweep.changes)["kind"] == [None, "escalated"]
    esc = json.loads(recorded("escalation", "insert", new_escs[:1])[0].changes)
    assert set(esc) == {"id", "complaint_id", "level", "reason", "request_comment", "auto_key", "requested_at",
                        "status", "created_at", "updated_at"}
    from app.audit_trail import chain

    assert chain.verify(db.session)["ok"]


def test_batches_commit_one_after_another_and_the_sweep_takes_them_all(world, cal):
    t0 = local(2026, 3, 10, 10, 0)
    complaints(world, 30, t0)
    counts, seen = swept(t0 + timedelta(minutes=8), batch=12)  # warnings only
    assert counts == {"checked": 30, "warned": 30, "breached": 0, "escalated": 0}
    due = [s for s in seen if "next_check_at <=" in s or "next_check_at <= " in s]
    assert len(due) == 3  # 12 + 12 + 6
    with clock.freeze(t0 + timedelta(minutes=8)):
        assert services.sweep()["checked"] == 0


def test_nothing_due_is_one_statement(world, cal):
    t0 = local(2026, 3, 10, 10, 0)
    complaints(world, 5, t0)
    counts, seen = swept(t0 + timedelta(minutes=1))
    assert counts["checked"] == 0 and len(seen) == 1


def test_settings_are_read_once_per_transaction(app):
    db.session.commit()
    with statements() as seen:
        for _ in range(5):
            settings.get("complaint.warning_percent")
            settings.get("complaint.investigation_working_days")
    assert len([s for s in seen if "setting" in s]) == 1


def test_a_saved_setting_is_seen_by_the_next_read(app):
    assert settings.get("complaint.warning_percent") == 75
    row = db.session.query(Setting).filter_by(key="complaint.warning_percent").one_or_none()
    row = row or Setting(key="complaint.warning_percent", value="75")
    row.value = "80"
    save(row)  # the settings service: its rules, then the commit
    assert settings.get("complaint.warning_percent") == 80
    # a value written in a transaction that is rolled back is forgotten with it
    row.value = "90"
    db.session.flush()
    assert settings.get("complaint.warning_percent") == 90
    db.session.rollback()
    assert settings.get("complaint.warning_percent") == 80
