"""The audit trail records every write path — pages, API, jobs (a real worker), CLI, bulk
statements, security tables — and security events; the database refuses to change it; the hash
chain shows any change made around it, also with concurrent writers on PostgreSQL."""
import json
import threading
import uuid

import pytest
from sqlalchemy import func, insert, select, text
from sqlalchemy.exc import DBAPIError

from app.audit_trail import chain
from app.audit_trail.models import AuditEvent
from app.core import clock, queue
from app.extensions import db
from tests import factories
from tests.workers import burst


@pytest.fixture
def since(app):
    """Only the events this test writes: the table is append-only and outlives the wipe."""
    return db.session.execute(select(func.coalesce(func.max(AuditEvent.id), 0))).scalar()


def events(since, **filters):
    db.session.expire_all()
    query = db.session.query(AuditEvent).filter(AuditEvent.id > since).filter_by(**filters)
    return query.order_by(AuditEvent.id).all()


def changes(event):
    return json.loads(event.changes)


def test_a_page_edit_records_who_when_what_from_where(world, login, since):
    hq = login("hq")
    data = {"code": "SH001", "name": "上海浦东网点", "region": str(world.east.id), "status": "probation",
            "address": "", "contact": "", "phone": "", "email": "", "licence_no": "", "has_fixed_premises": "y",
            "product_categories": [str(factories.category("air_conditioner").id)], "notes": ""}
    resp = hq.post(f"/outletview/edit/{world.outlet_e.id}", data=data, headers={"X-Request-ID": "req-page-1"})
    assert resp.status_code == 302 and resp.headers["X-Request-ID"] == "req-page-1"
    [event] = events(since, entity="outlet", action="update")
    assert (event.record_id, event.actor_kind, event.actor_name) == (str(world.outlet_e.id), "user", "hq")
    assert event.actor_id == factories.user("hq").id
    assert (event.request_id, event.client_addr) == ("req-page-1", hq.environ_base["REMOTE_ADDR"])
    assert changes(event)["status"] == ["active", "probation"]
    assert "updated_at" not in changes(event)


def test_api_insert_update_delete_with_many_to_many(world, api, since):
    hq = api("hq")
    ac, fridge = factories.category("air_conditioner").id, factories.category("refrigerator").id
    oid = hq.post("/api/v1/outlet/", json={"code": "SH777", "name": "新网点", "region": world.east.id,
                                          "product_categories": [ac], "status": "applying"}).get_json()["id"]
    [created] = events(since, entity="outlet", action="insert")
    assert created.record_id == str(oid) and created.request_id
    c = changes(created)
    assert c["code"] == [None, "SH777"] and c["product_categories"] == [None, [ac]]
    assert hq.put(f"/api/v1/outlet/{oid}", json={"product_categories": [ac, fridge], "status": "active"}
                  ).status_code == 200
    [updated] = events(since, entity="outlet", action="update")
    assert changes(updated)["product_categories"] == [[ac], sorted([ac, fridge])]
    assert changes(updated)["status"] == ["applying", "active"]
    assert hq.delete(f"/api/v1/outlet/{oid}").status_code == 200
    [deleted] = events(since, entity="outlet", action="delete")
    assert changes(deleted)["code"] == ["SH777", None] and changes(deleted)["product_categories"][0] == sorted(
        [ac, fridge])
    assert chain.verify(db.session)["ok"]


def test_security_tables_users_roles_and_region_assignments(app, since):
    sm = app.appbuilder.sm
    user = sm.add_user(f"u{uuid.uuid4().hex[:6]}", "新", "用户", f"{uuid.uuid4().hex[:6]}@example.com",
                       [sm.find_role("Service Agent")], password="Secret-123")
    [created] = events(since, entity="ab_user", action="insert", record_id=str(user.id))
    c = changes(created)
    assert c["password"] == [None, "***"] and c["roles"] == [None, [sm.find_role("Service Agent").id]]
    user.roles = [sm.find_role("Service Agent"), sm.find_role("Auditor")]
    region = factories.region("Z", "测试区")
    db.session.commit()
    region.users = [user]
    db.session.commit()
    [roles] = events(since, entity="ab_user", action="update", record_id=str(user.id))
    assert changes(roles)["roles"][1] == sorted([sm.find_role("Service Agent").id, sm.find_role("Auditor").id])
    [assigned] = events(since, entity="region", action="update", record_id=str(region.id))
    assert changes(assigned)["users"] == [[], [user.id]]
    db.session.delete(user)
    db.session.delete(region)
    db.session.commit()


def test_bulk_statements_are_recorded_row_by_row(world, since):
    from app.engineers.jobs import refresh_certification_statuses
    from app.engineers.models import Certification
    from app.parts.models import Part

    world.cert_e.status = "expired"  # stale: the nightly job puts it right with one UPDATE
    db.session.commit()
    assert refresh_certification_statuses() >= 1
    [fixed] = events(since, entity="certification", action="bulk_update", record_id=str(world.cert_e.id))
    assert changes(fixed)["status"] == ["expired", "valid"] and fixed.actor_kind == "system"
    ac = factories.category("air_conditioner").id
    now = clock.now()
    db.session.execute(insert(Part.__table__), [
        {"sku": f"BULK-{i}", "name": "批量", "product_category_id": ac, "unit_price": 1, "is_common": False,
         "warranty_days": 90, "created_at": now, "updated_at": now} for i in range(3)])
    db.session.commit()
    [bulk] = events(since, entity="part", action="bulk_insert")
    assert changes(bulk)["rows"] == 3 and [r["sku"] for r in changes(bulk)["values"]] == ["BULK-0", "BULK-1",
                                                                                          "BULK-2"]
    from sqlalchemy import delete, update

    db.session.execute(update(Part).where(Part.sku.like("BULK-%")).values(name="改名"))
    db.session.execute(delete(Certification).where(Certification.id == world.cert_w.id))
    db.session.commit()
    assert len(events(since, entity="part", action="bulk_update")) == 3
    [gone] = events(since, entity="certification", action="bulk_delete")
    assert gone.record_id == str(world.cert_w.id) and changes(gone)["number"][0] == world.cert_w.number
    assert chain.verify(db.session)["ok"]


def test_a_cli_command_is_the_actor(world, app, since):
    world.cert_e.status = "expired"
    db.session.commit()
    result = app.test_cli_runner().invoke(args=["jobs", "run", "refresh_certification_statuses"])
    assert result.exit_code == 0, result.output
    [fixed] = events(since, entity="certification", action="bulk_update")
    assert (fixed.actor_kind, fixed.actor_name) == ("cli", "cli:jobs run")


def test_a_job_on_a_real_worker_is_the_actor(world, app, since):
    from rq import Queue

    from app import jobs

    world.cert_e.status = "expired"
    db.session.commit()
    name = f"test-{uuid.uuid4().hex[:8]}"
    Queue(name, connection=queue.connection(app)).enqueue(jobs.refresh_certification_statuses)
    burst(app, name)
    [fixed] = events(since, entity="certification", action="bulk_update")
    assert (fixed.actor_kind, fixed.actor_name) == ("job", "job:refresh_certification_statuses")
    assert chain.verify(db.session)["ok"]


def test_security_events(world, app, api, login, since):
    client = app.test_client()
    client.post("/login/", data={"username": "manager_e", "password": "wrong"})
    login("manager_e")
    r = client.post("/api/v1/security/login", json={"username": "agent_e", "password": "nope", "provider": "db"})
    assert r.status_code == 401
    agent = api("agent_e")
    assert agent.get("/api/v1/setting/").status_code == 403
    page = login("agent_e")
    page.get("/settingview/list/")
    page.post("/signout/")
    got = [(e.action, e.actor_name, json.loads(e.changes).get("channel")) for e in events(since)
           if e.entity in ("ab_user", "permission")]
    assert ("login_failed", "anonymous", "page") in got
    assert ("login", "manager_e", "page") in got
    assert ("login_failed", "anonymous", "api") in got
    assert ("login", "agent_e", "api") in got and ("token_issued", "agent_e", "api") in got
    assert ("logout", "agent_e", "page") in got
    denied = [json.loads(e.changes) for e in events(since, action="permission_denied")]
    assert {"GET /api/v1/setting/", "GET /settingview/list/"} <= {f"{d['method']} {d['path']}" for d in denied}
    failed = events(since, action="login_failed")
    assert json.loads(failed[0].changes)["username"] == "manager_e"
    assert "wrong" not in failed[0].changes


def test_the_database_refuses_to_change_the_trail(world):
    assert db.session.query(AuditEvent).count() > 0
    for statement in ("UPDATE audit_event SET action = 'x'", "DELETE FROM audit_event"):
        with pytest.raises(DBAPIError):
            db.session.execute(text(statement))
        db.session.rollback()
    if db.engine.dialect.name == "postgresql":
        with pytest.raises(DBAPIError):
            db.session.execute(text("TRUNCATE audit_event"))
        db.session.rollback()
    assert chain.verify(db.session)["ok"]


def _tamper(sql, params):
    engine = db.engine
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("ALTER TABLE audit_event DISABLE TRIGGER USER"))
            conn.execute(text(sql), params)
            conn.execute(text("ALTER TABLE audit_event ENABLE TRIGGER USER"))
        else:
            conn.execute(text("DROP TRIGGER audit_event_no_update"))
            conn.execute(text("DROP TRIGGER audit_event_no_delete"))
            conn.execute(text(sql), params)
            import importlib

            migration = importlib.import_module("migrations.versions.0004_audit_trail")
            for trigger in migration.SQLITE_TRIGGERS:
                conn.execute(text(trigger))


def test_verify_finds_a_row_changed_behind_the_triggers(world, api, app, since):
    api("hq").put(f"/api/v1/outlet/{world.outlet_e.id}", json={"status": "probation"})
    [event] = events(since, entity="outlet", action="update")
    assert chain.verify(db.session)["ok"] is True
    original = event.changes
    _tamper("UPDATE audit_event SET changes = :c WHERE id = :i",
            {"c": original.replace("probation", "active"), "i": event.id})
    try:
        result = chain.verify(db.session)
        assert result["ok"] is False and result["first_broken_id"] == event.id
        body = api("auditor").get("/api/v1/audit_event/verify").get_json() if "AuditEventApi" in {
            type(v).__name__ for v in app.appbuilder.baseviews} else None
        if body is not None:
            assert body["first_broken_id"] == event.id
        cli = app.test_cli_runner().invoke(args=["audit", "verify"]) if "audit" in app.cli.commands else None
        if cli is not None:
            assert cli.exit_code == 1 and str(event.id) in cli.output
    finally:
        _tamper("UPDATE audit_event SET changes = :c WHERE id = :i", {"c": original, "i": event.id})
    assert chain.verify(db.session)["ok"]


def test_concurrent_writers_keep_one_chain(world, api, since):
    clients = [api("hq") for _ in range(4)] + [api("hq2") for _ in range(4)]
    outlets = [factories.outlet(world.east, code=f"CC{i:03d}") for i in range(len(clients))]
    db.session.commit()
    postgres = db.engine.dialect.name == "postgresql"
    barrier = threading.Barrier(len(clients) if postgres else 1)
    codes = []

    def write(client, outlet_id):
        barrier.wait()
        for status in ("probation", "active", "suspended"):
            r = client.put(f"/api/v1/outlet/{outlet_id}", json={"status": status})
            codes.append(r.status_code)

    threads = [threading.Thread(target=write, args=(c, o.id)) for c, o in zip(clients, outlets)]
    for t in threads:
        t.start()
        if not postgres:
            t.join()
    for t in threads:
        t.join()
    assert codes == [200] * len(codes)
    written = events(since, entity="outlet", action="update")
    assert len(written) == 3 * len(clients)
    ids = [e.id for e in events(since)]
    assert ids == list(range(ids[0], ids[0] + len(ids)))  # gapless
    result = chain.verify(db.session)
    assert result["ok"] and result["first_broken_id"] is None


def test_customer_phones_are_kept_out_of_the_trail(world, since):
    """The trail is never erased: personal data goes in masked (PIPL), the record keeps it whole."""
    from app.orders.models import ServiceOrder

    order = factories.service_order(world.outlet_e, number="SO-PIPL-1")
    db.session.commit()
    order.customer_phone = "13912345678"
    db.session.commit()
    [created] = events(since, entity="service_order", action="insert")
    [updated] = events(since, entity="service_order", action="update")
    assert changes(created)["customer_phone"] == [None, "138****1234"]
    assert changes(updated)["customer_phone"] == ["138****1234", "139****5678"]
    assert "13912345678" not in updated.changes and "13800001234" not in created.changes
    assert db.session.get(ServiceOrder, order.id).customer_phone == "13912345678"


def test_an_auditor_proves_the_trail_intact_from_the_page_and_sees_a_break(world, login, since):
    auditor = login("auditor")
    assert auditor.get("/auditeventview/verify").status_code == 405  # a POST: the run is recorded
    page = auditor.post("/auditeventview/verify", follow_redirects=True).get_data(as_text=True)
    assert "alert-success" in page and "alert-danger" not in page
    event = db.session.query(AuditEvent).order_by(AuditEvent.id.desc()).first()
    original = event.changes
    _tamper("UPDATE audit_event SET changes = :c WHERE id = :i", {"c": original + " ", "i": event.id})
    try:
        page = auditor.post("/auditeventview/verify",
                            follow_redirects=True).get_data(as_text=True)
        assert "alert-danger" in page and f" {event.id}" in page
    finally:
        _tamper("UPDATE audit_event SET changes = :c WHERE id = :i", {"c": original, "i": event.id})
    agent = login("agent_e")
    assert agent.post("/auditeventview/verify").status_code in (302, 403)


def test_bookkeeping_alone_records_nothing(world, since):
    """The SLA sweep's next-check time is the sweep's own bookkeeping: never in the trail, and a
    sweep (or any write) that changes only it writes no event at all."""
    from datetime import timedelta

    from sqlalchemy import update

    from app.complaints import services
    from app.complaints.models import Complaint
    from tests.test_complaints_lifecycle import local, new_complaint

    with clock.freeze(local(2026, 3, 10, 10, 0)):
        complaint = new_complaint(world)
    [created] = events(since, entity="complaint", action="insert")
    assert "next_check_at" not in changes(created) and changes(created)["number"][1] == complaint.number
    due = complaint.next_check_at
    assert due is not None
    complaint.next_check_at = due - timedelta(minutes=5)  # stale: the sweep looks, finds nothing due
    db.session.commit()
    db.session.execute(update(Complaint).where(Complaint.id == complaint.id)
                       .values(next_check_at=due - timedelta(minutes=4)))
    db.session.commit()
    with clock.freeze(local(2026, 3, 10, 10, 4)):
        assert services.sweep()["checked"] == 1
    db.session.expire_all()
    assert db.session.get(Complaint, complaint.id).next_check_at == due  # the sweep did its work
    assert [e.action for e in events(since, entity="complaint")] == ["insert"]  # and nobody sees it
    with clock.freeze(local(2026, 3, 10, 10, 8)):  # a warning is a real change: recorded, without it
        assert services.sweep()["warned"] == 1
    [warned] = events(since, entity="complaint", action="update")
    assert changes(warned) == {"response_warned": [False, True]}
