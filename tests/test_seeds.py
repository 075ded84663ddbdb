"""The demo loader (``seeds.demo``): the promised shape at scale 1, the demo logins, idempotence,
higher scales adding only the missing units, determinism and dates relative to today."""
from collections import Counter
from datetime import date, timedelta
from statistics import mean

import pytest
from sqlalchemy import func, select

from app.core import clock
from app.extensions import db
from seeds import demo
from tests import factories
from tests.conftest import PASSWORD

QUIET = {"log": lambda *a, **k: None}


@pytest.fixture
def demo_users(app):
    """Undo what a test does to users: users it creates are deleted, and users moved aside with
    ``aside()`` (existing users named like the demo ones, e.g. conftest's ``hq``) get their names
    back. Users persist across tests, so this keeps the session's users as conftest made them."""
    sm = app.appbuilder.sm
    before = set(db.session.scalars(select(sm.user_model.id)))
    moved = {}

    def aside():
        for username, _password, _role in demo.DEMO_USERS:
            user = sm.find_user(username=username)
            if user is not None:
                moved[user.id] = username
                user.username = f"{username}.kept-by-test"
        db.session.commit()

    yield aside
    db.session.rollback()
    factories.wipe_business_data()
    for user in db.session.scalars(select(sm.user_model)).all():
        if user.id not in before:
            db.session.delete(user)
    db.session.flush()
    for user_id, username in moved.items():
        db.session.get(sm.user_model, user_id).username = username
    db.session.commit()


def _counts():
    from flask_appbuilder import Model

    return {t.name: db.session.scalar(select(func.count()).select_from(t)) for t in Model.metadata.sorted_tables}


def _fingerprint():
    """Natural keys and a few generated values of the network, to compare two loads."""
    from app.engineers.models import Certification, Engineer
    from app.network.models import Outlet
    from app.orders.models import ServiceOrder

    return (
        db.session.execute(select(Outlet.code, Outlet.name, Outlet.status, Outlet.licence_no, Outlet.updated_at)
                           .order_by(Outlet.code)).all(),
        db.session.execute(select(Engineer.employee_no, Engineer.name, Engineer.status).order_by(Engineer.employee_no))
        .all(),
        db.session.execute(select(Certification.number, Certification.expires_on).order_by(Certification.number)).all(),
        db.session.execute(select(ServiceOrder.number, ServiceOrder.satisfaction).order_by(ServiceOrder.number)).all(),
    )


def _signed_in(client):
    """A page only signed-in users may see proves the login worked."""
    return client.get("/users/userinfo/").status_code == 200


def test_demo_scale_1_has_the_promised_shape(app, login, demo_users):
    from app.engineers.models import Certification, Engineer, TrainingRecord
    from app.engineers.rules import certification_status
    from app.network.models import Outlet, Region, outlet_product_category
    from app.orders.models import ServiceOrder
    from app.parts.models import Part, Stock
    from app.qualification import evidence

    demo_users()        # conftest's hq, auditor and admin step aside: the demo creates all five
    lines = []
    summary = demo.load(scale=1, log=lines.append)
    assert summary["units_added"] == 1 and summary["users_added"] == len(demo.DEMO_USERS)
    today, now = clock.today(), clock.now()
    session = db.session

    regions = dict(session.execute(select(Region.code, Region.name)).all())
    assert regions == {"E": "华东区", "N": "华北区", "S": "华南区", "SW": "西南区", "NE": "东北区"}

    # users: one per role, with the demo password; manager and agent work in 华东区
    sm = app.appbuilder.sm
    for username, password, role in demo.DEMO_USERS:
        user = sm.find_user(username=username)
        assert [r.name for r in user.roles] == [role]
        assert _signed_in(login(username, password)), username
    assert not _signed_in(login("manager", "wrong-password", must_succeed=False))
    for username in ("manager", "agent"):
        assert [r.code for r in sm.find_user(username=username).regions] == ["E"]

    # outlets
    outlets = session.scalars(select(Outlet)).all()
    assert len(outlets) == 50
    statuses = Counter(o.status for o in outlets)
    assert set(statuses) == {"active", "probation", "applying", "suspended", "terminated"}
    assert statuses["active"] >= 35
    assert sum(o.has_fixed_premises for o in outlets) >= 45
    assert all(len(o.licence_no) == 18 and o.licence_no.startswith("91") for o in outlets)
    assert all(o.name.endswith(("中心", "服务部", "服务站", "网点", "有限公司")) for o in outlets)
    assert all(o.address and o.contact and o.phone for o in outlets)
    assert {o.region.code for o in outlets} == set(regions)
    served = Counter(oid for oid, _cid in session.execute(select(outlet_product_category)))
    assert len(served) == 50
    active = [o for o in outlets if o.status == "active"]
    assert all(o.last_qualified_on <= today and o.next_audit_due_on for o in active)
    assert any(today <= o.next_audit_due_on <= today + timedelta(days=30) for o in active)

    # engineers, certificates, training
    per_outlet = Counter(session.scalars(select(Engineer.outlet_id)))
    assert len(per_outlet) == 50 and all(3 <= n <= 8 for n in per_outlet.values())
    engineer_statuses = Counter(session.scalars(select(Engineer.status)))
    assert set(engineer_statuses) == {"active", "trainee", "suspended", "left"}
    assert engineer_statuses["active"] > sum(engineer_statuses.values()) / 2
    certs = session.scalars(select(Certification)).all()
    assert all(c.status == certification_status(c.expires_on, c.revoked, today) for c in certs)
    cert_statuses = Counter(c.status for c in certs)
    assert set(cert_statuses) == {"valid", "expiring", "expired", "revoked"}
    assert cert_statuses["valid"] > len(certs) / 2
    assert all(today <= c.expires_on <= today + timedelta(days=30) for c in certs if c.status == "expiring")
    trainings = Counter(session.execute(select(TrainingRecord.kind, TrainingRecord.passed)).all())
    assert trainings[("onboarding", True)] >= 150 and trainings[("onboarding", False)] > 0
    assert trainings[("quarterly", True)] > 0 and trainings[("quarterly", False)] > 0

    # parts and stock
    parts = session.scalars(select(Part)).all()
    assert len(parts) == 40
    assert {p.product_category_id for p in parts if p.is_common} == {p.product_category_id for p in parts}
    forward = session.scalars(select(Stock).where(Stock.outlet_id.isnot(None))).all()
    assert len({s.outlet_id for s in forward}) == 50
    assert any(s.low for s in forward)
    central = Counter(session.scalars(select(Stock.region_id).where(Stock.region_id.isnot(None))))
    assert central == {rid: len(parts) for rid in session.scalars(select(Region.id))}

    # service orders: about 20 per outlet over the last 120 days
    orders = session.scalars(select(ServiceOrder)).all()
    assert 15 * 50 <= len(orders) <= 25 * 50
    assert all(now - timedelta(days=121) <= o.created_at <= now for o in orders)
    assert all(o.completed_at >= o.arrived_at >= o.created_at for o in orders if o.completed_at)
    scores = [o.satisfaction for o in orders if o.satisfaction is not None]
    assert set(scores) == {1, 2, 3, 4, 5} and 4.4 <= mean(scores) <= 4.8
    done = [o for o in orders if o.status == "completed"]
    assert sum(o.first_time_fix for o in done) / len(done) > 0.85
    assert sum(o.on_time for o in done) / len(done) > 0.9

    # qualification: most outlets qualify, some fail on each criterion
    found = evidence.for_outlets([o.id for o in outlets])
    qualified = [e for e in found.values() if e.qualifies]
    assert 30 <= len(qualified) <= 42
    assert any(not e.meets_engineers for e in found.values())
    assert any(not e.meets_stock and e.stock_rate is not None and e.stock_rate < 90 for e in found.values())
    assert any(not e.has_fixed_premises for e in found.values())
    assert sum(not found[o.id].qualifies for o in active) >= 5

    # a second run changes nothing
    counts, fingerprint = _counts(), _fingerprint()
    lines.clear()
    summary = demo.load(scale=1, log=lines.append)
    assert summary["units_added"] == 0 and summary["users_added"] == 0
    assert _counts() == counts
    assert _fingerprint() == fingerprint


def test_demo_leaves_existing_users_adds_missing_units_and_is_deterministic(app, login, demo_users):
    from app.network.models import Outlet
    from app.orders.models import ServiceOrder

    sm = app.appbuilder.sm
    hq = sm.find_user(username="hq")
    hq_before = (hq.id, hq.password, hq.email, [r.name for r in hq.roles])
    frozen = date(2025, 3, 3)

    with clock.freeze(frozen):
        demo.load(scale=1, **QUIET)
        first = _fingerprint()
        counts = _counts()
        demo.load(scale=2, **QUIET)          # adds the second unit only
        assert db.session.scalar(select(func.count(Outlet.id))) == 100
        assert set(first[0]) <= set(_fingerprint()[0])
        bigger = _counts()
        assert bigger["engineer"] > counts["engineer"] and bigger["service_order"] > counts["service_order"]
        demo.load(scale=2, **QUIET)
        assert _counts() == bigger
        demo.load(scale=1, **QUIET)
        assert _counts() == bigger
        # dates follow the (frozen) clock
        now = clock.now()
        newest, oldest = db.session.execute(
            select(func.max(ServiceOrder.created_at), func.min(ServiceOrder.created_at))).one()
        assert now - timedelta(days=2) <= newest <= now and oldest >= now - timedelta(days=121)

        # same unit, same data: wipe and load again
        factories.wipe_business_data()
        demo.load(scale=1, **QUIET)
        assert _fingerprint() == first

    # conftest's hq existed: left exactly as it was (the conftest password still works)
    hq = sm.find_user(username="hq")
    assert (hq.id, hq.password, hq.email, [r.name for r in hq.roles]) == hq_before
    assert _signed_in(login("hq", PASSWORD))
    assert not _signed_in(login("hq", "Zongbu-Demo-2026", must_succeed=False))


# --- the reference calendar (``seeds.reference.load_default_calendar``) ---------------------------

def _calendar_rows():
    from app.core.models import BusinessCalendar, CalendarDay

    cal = db.session.query(BusinessCalendar).filter(BusinessCalendar.region_id.is_(None)).one()
    return {r.day: r for r in db.session.query(CalendarDay).filter(CalendarDay.calendar_id == cal.id)}


def test_reference_data_has_every_day_of_the_official_arrangements(app):
    from seeds import reference
    from tests.test_calendar import OFFICIAL

    with clock.freeze(date(2025, 12, 7)):
        reference.load(**QUIET)  # this year and the next: 2025 and 2026, both published
    rows = _calendar_rows()
    for year, arrangement in OFFICIAL.items():
        missing = [(name, day) for name, days in arrangement["holidays"].items() for day in days
                   if day not in rows or rows[day].kind != "holiday"]
        assert missing == [], year
        assert [d for d in arrangement["workdays"] if d not in rows or rows[d].kind != "workday"] == [], year
        for name, days in arrangement["holidays"].items():
            assert all(rows[day].name == name and not rows[day].provisional for day in days), name
        assert not any(rows[day].provisional for day in arrangement["workdays"])
        in_year = {d for d in rows if d.year == year}
        expected = {d for days in arrangement["holidays"].values() for d in days} | set(arrangement["workdays"])
        assert in_year == expected, year


def test_next_year_is_loaded_as_a_provisional_forecast(app):
    from app.core import calendar
    from seeds import reference

    with clock.freeze(date(2026, 12, 7)):
        reference.load(**QUIET)
    rows = _calendar_rows()
    assert {d.year for d in rows} == {2026, 2027}
    assert not any(r.provisional for d, r in rows.items() if d.year == 2026)
    next_year = {d: r for d, r in rows.items() if d.year == 2027}
    assert next_year and all(r.provisional for r in next_year.values())
    assert set(next_year) == {d.day for d in calendar.china_days([2027])}
    assert next_year[date(2027, 2, 6)].kind == "holiday"


def test_loading_again_keeps_what_hq_admins_changed(app):
    from app.core import calendar_services, services
    from app.core.models import CalendarDay
    from seeds.reference import load_default_calendar

    with clock.freeze(date(2026, 12, 7)):
        load_default_calendar()
        db.session.commit()
        rows = _calendar_rows()
        cal_id = rows[date(2026, 1, 1)].calendar_id
        # an HQ admin renames a published day, turns a forecast day into a working day (both now
        # confirmed: saved by hand), adds a day, and deletes a published day and a forecast day
        renamed = rows[date(2026, 10, 7)]
        renamed.name = "国庆节（总部通知）"
        services.save(renamed)
        changed = rows[date(2027, 10, 5)]
        assert changed.provisional
        changed.kind, changed.name = "workday", "总部值班"
        services.save(changed)
        assert not changed.provisional
        services.save(CalendarDay(calendar_id=cal_id, day=date(2027, 12, 31), kind="holiday", name="年终盘点"))
        services.delete(rows[date(2027, 5, 4)])
        services.delete(rows[date(2026, 6, 20)])
        before = {d: (r.kind, r.name, r.provisional) for d, r in _calendar_rows().items()}

        load_default_calendar()
        db.session.commit()
        after = {d: (r.kind, r.name, r.provisional) for d, r in _calendar_rows().items()}
    assert after[date(2026, 10, 7)] == ("holiday", "国庆节（总部通知）", False)
    assert after[date(2027, 10, 5)] == ("workday", "总部值班", False)
    assert after[date(2027, 12, 31)] == ("holiday", "年终盘点", False)
    assert date(2027, 5, 4) not in after  # a forecast year HQ admins worked on is theirs
    # a published day missing from the calendar comes back (a holiday for everyone is changed, not
    # deleted: make it a make-up day, or override it in a region's calendar)
    assert after[date(2026, 6, 20)] == ("holiday", "端午节", False)
    assert {d: v for d, v in after.items() if d != date(2026, 6, 20)} == before
    assert calendar_services.unconfirmed_years(date(2026, 12, 7)) == [2027]


def test_a_published_year_replaces_the_forecast_nobody_confirmed(app, monkeypatch):
    from app.core import china_holidays, services
    from seeds.reference import load_default_calendar

    with clock.freeze(date(2026, 12, 7)):
        load_default_calendar()
        db.session.commit()
        edited = _calendar_rows()[date(2027, 2, 5)]
        edited.name = "除夕（总部通知）"
        services.save(edited)  # confirmed by hand: kept
        stale = _calendar_rows()[date(2027, 10, 5)]
        assert stale.provisional

        published = china_holidays.Published(
            notice="test", url="", periods=(("春节", "2027-02-05", "2027-02-12"), ("国庆节", "2027-10-01", "2027-10-07")),
            workdays=(("春节", "2027-02-20"),))
        monkeypatch.setitem(china_holidays.PUBLISHED, 2027, published)
        china_holidays._year.cache_clear()
        try:
            load_default_calendar()
            db.session.commit()
        finally:
            monkeypatch.undo()
            china_holidays._year.cache_clear()
    rows = {d: r for d, r in _calendar_rows().items() if d.year == 2027}
    assert rows[date(2027, 2, 5)].name == "除夕（总部通知）"
    assert {d for d, r in rows.items() if r.kind == "holiday"} == (
        {date(2027, 2, 5) + timedelta(days=i) for i in range(8)} | {date(2027, 10, i) for i in range(1, 8)})
    assert rows[date(2027, 2, 20)].kind == "workday"
    assert not any(r.provisional for r in rows.values())
    assert date(2027, 1, 1) not in rows  # a forecast day the notice does not have is gone


def test_loading_completes_a_calendar_seeded_without_the_weekend_days(app):
    """A calendar loaded before the weekend days of the periods were included (and before days
    could be provisional) gets the missing days; nothing else changes."""
    from app.core import calendar
    from app.core.models import BusinessCalendar, CalendarDay
    from seeds.reference import load_default_calendar
    from tests.test_calendar import WEEKEND_HOLIDAYS_2026

    cal = BusinessCalendar(name="中国大陆工作日历")
    db.session.add(cal)
    db.session.flush()
    for d in calendar.china_days([2026]):
        if d.day not in WEEKEND_HOLIDAYS_2026:
            db.session.add(CalendarDay(calendar_id=cal.id, day=d.day, kind=d.kind, name=d.name))
    db.session.commit()
    load_default_calendar(years=[2026])
    db.session.commit()
    rows = _calendar_rows()
    for day in WEEKEND_HOLIDAYS_2026:
        assert rows[day].kind == "holiday" and not rows[day].provisional, day
