"""The benchmark filler (``bench/fill.py``) writes rows the app reads as its own: at a tiny scale,
into a database of its own (a copy of this run's migrated database, dropped at the end), the
counts follow the scale, the bench manager sees only their region on the list page and in the API,
the stored SLA figures are the ones ``app.complaints.sla`` computes, the number counters are past
the highest numbers (a new complaint gets the next free number), and the audit trail verifies."""
import os
import re
import uuid

import pytest

if not (os.environ.get("TEST_DATABASE_URL") or "").startswith("postgresql"):
    pytest.skip("the filler is PostgreSQL SQL", allow_module_level=True)

from sqlalchemy import func, select  # noqa: E402

SCALE = 0.0005


@pytest.fixture(scope="module")
def filled(app):
    from sqlalchemy.engine import make_url

    from app.extensions import db
    from bench import common, fill

    source = make_url(app.config["TEST_DATABASE_URL"])
    server = f"postgresql://{source.username}@{source.host}:{source.port or 5432}"
    if source.password:
        server = f"postgresql://{source.username}:{source.password}@{source.host}:{source.port or 5432}"
    name = f"bench_fill_test_{uuid.uuid4().hex[:8]}"
    with app.app_context():
        db.session.remove()
        db.engine.dispose()  # a database is copied only while nobody is connected to it
    overrides = {"REDIS_KEY_PREFIX": app.config["REDIS_KEY_PREFIX"],
                 "RATELIMIT_KEY_PREFIX": app.config["RATELIMIT_KEY_PREFIX"],
                 "FAB_PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000"}
    try:
        info, bench_app = fill.build(f"{server}/{name}", SCALE, audit=True, template=False, source=source.database,
                                     app_overrides=overrides, keep_app=True)
        yield info, bench_app
        common.dispose(bench_app)
    finally:
        with common.admin_connection(server) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _ctx(bench_app):
    from bench import common

    ctx = common.Context(SCALE)
    ctx._apps[ctx.url] = bench_app  # the context's default app: the one on the filled copy
    return ctx


def test_counts_follow_the_scale(filled):
    from app.complaints.models import Complaint
    from app.engineers.models import Certification, Engineer
    from app.extensions import db
    from app.network.models import Outlet
    from app.orders.models import ServiceOrder
    from app.parts.models import Stock
    from bench.fill import counts_for

    info, bench_app = filled
    n = counts_for(SCALE)
    with bench_app.app_context():
        count = lambda model, *where: db.session.scalar(select(func.count(model.id)).where(*where))  # noqa: E731
        assert count(Outlet) == n["outlet"] == 15
        assert count(Engineer) == n["engineer"] == 50
        assert count(Certification) == n["certification"]
        assert count(Stock) == n["stock"]
        assert count(ServiceOrder) == n["service_order"] == 500
        assert count(Complaint) == n["complaint"] == 500
        assert count(Complaint, Complaint.status.notin_(("resolved", "closed"))) == n["open_complaint"] == 50
    assert info["rows"]["complaint"] == 500 and info["complete"]


def test_the_manager_sees_only_their_region(filled):
    from app.complaints.models import Complaint
    from app.extensions import db
    from app.network.models import Outlet, Region

    _info, bench_app = filled
    with bench_app.app_context():
        region_id = db.session.scalar(select(Region.id).where(Region.code == "E"))
        numbers = dict(db.session.execute(select(Complaint.number, Outlet.region_id).join(Outlet)).all())
    mine = {number for number, rid in numbers.items() if rid == region_id}
    assert mine and len(mine) < len(numbers)

    ctx = _ctx(bench_app)
    headers = ctx.api_headers("manager")
    resp = bench_app.test_client().get("/api/v1/complaint/?q=(page_size:100)", headers=headers)
    assert resp.status_code == 200, resp.get_json()
    body = resp.get_json()
    assert body["count"] == len(mine)
    assert {row["number"] for row in body["result"]} <= mine

    page = ctx.client("manager").get("/complaintview/list/")
    assert page.status_code == 200
    shown = set(re.findall(r"TS\d{12,}", page.get_data(as_text=True)))
    assert shown and shown <= mine


def test_sla_figures_are_the_apps(filled):
    from app.complaints import sla
    from app.complaints.models import Complaint
    from app.core import calendar, clock
    from app.extensions import db

    _info, bench_app = filled
    now = clock.now()
    with bench_app.app_context():
        complaints = db.session.query(Complaint).order_by(Complaint.id).all()
        checked = {"closed": 0, "open": 0}
        for c in complaints:
            clk = sla.Clock(c, sla.policy_for(c.severity), calendar.schedule_for_region(c.outlet.region_id), now=now)
            assert (c.response_due_at, c.resolution_due_at, c.verification_due_at) == (
                clk.response_due, clk.resolution_due, clk.verification_due), c.number
            if c.status in ("resolved", "closed"):
                assert c.first_response_at <= c.resolved_at and c.received_at <= c.first_response_at
                assert c.response_breached == clk.response_late(now)
                assert c.resolution_breached == clk.resolution_late(now)
                assert c.next_check_at is None
                checked["closed"] += 1
            else:
                # the flags are the sweep's of a few minutes ago: a breach it recorded is a fact now
                assert not c.response_breached or clk.response_late(now)
                assert not c.resolution_breached or clk.resolution_late(now)
                assert c.next_check_at == sla.next_check(c, clk)
                checked["open"] += 1
            assert c.received_at <= now
        assert checked["closed"] and checked["open"]
        breached = sum(c.response_breached or c.resolution_breached for c in complaints)
        assert 0 < breached < len(complaints)


def test_new_complaints_get_new_numbers(filled):
    from app.complaints.models import Complaint
    from app.core import clock, numbering
    from app.extensions import db
    from app.network.models import Outlet, Region

    _info, bench_app = filled
    with bench_app.app_context():
        behind = db.session.execute(
            select(numbering.number_sequence.c.prefix).where(
                numbering.number_sequence.c.value
                < select(func.max(func.substr(Complaint.number, 11).cast(db.Integer)))
                .where(func.left(Complaint.number, 10) == numbering.number_sequence.c.prefix).scalar_subquery())
        ).all()
        assert behind == []
        outlet = db.session.scalar(select(Outlet.id).join(Region).where(Region.code == "E",
                                                                       Outlet.status == "active").limit(1))
        prefix = f"TS{clock.to_local(clock.now()):%Y%m%d}"
        before = set(db.session.scalars(select(Complaint.number).where(Complaint.number.like(prefix + "%"))))
    headers = _ctx(bench_app).api_headers("agent")
    payload = {"customer_name": "王先生", "customer_phone": "13912345678", "channel": "phone",
               "outlet": outlet, "severity": "general", "description": "空调不制冷"}
    numbers = []
    for _ in range(2):
        resp = bench_app.test_client().post("/api/v1/complaint/", json=payload, headers=headers)
        assert resp.status_code == 201, resp.get_json()
        numbers.append(resp.get_json()["result"]["number"])
    assert len(set(numbers)) == 2 and not set(numbers) & before
    assert all(n.startswith(prefix) for n in numbers)


def test_the_audit_trail_verifies(filled):
    from app.audit_trail import chain
    from app.audit_trail.models import AuditChain, AuditEvent
    from app.extensions import db

    info, bench_app = filled
    with bench_app.app_context():
        first = db.session.scalar(select(func.min(AuditEvent.id)).where(AuditEvent.actor_name == "cli:bench.fill"))
        prev = db.session.scalar(select(AuditEvent.hash).where(AuditEvent.id == first - 1)) or chain.GENESIS
        rows = db.session.execute(select(AuditEvent.__table__).where(AuditEvent.id >= first)
                                  .order_by(AuditEvent.id)).mappings().all()
        filled_rows = [r for r in rows if r["actor_name"] == "cli:bench.fill"]
        assert len(filled_rows) == info["rows"]["complaint"]
        for expected_id, row in enumerate(rows, start=first):  # the filler's events, then the sign-ins since
            assert (row["id"], row["prev_hash"], chain.digest(row)) == (expected_id, prev, row["hash"])
            prev = row["hash"]
        head = db.session.execute(select(AuditChain.last_id, AuditChain.last_hash)).one()
        assert tuple(head) == (rows[-1]["id"], rows[-1]["hash"])
        result = chain.verify(db.session)
        # the whole trail verifies, unless the copied test database's own trail was broken before
        assert result["ok"] or result["first_broken_id"] < first, result
