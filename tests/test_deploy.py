"""The README's deploy step on a fresh database: ``flask --app wsgi deploy`` leaves a working
installation — schema, roles, and the reference data (business calendar, SLA policies, settings)
— and running it again changes nothing an HQ admin changed."""
import os
import shutil
import tempfile
from datetime import date

import pytest
from sqlalchemy import func, select

from app.core import clock
from tests.conftest import _database_url, _drop

# The deploy steps, once per release, exactly as the README gives them (after ``flask --app wsgi``).
DEPLOY_STEPS = [["deploy"]]
TODAY = date(2026, 12, 7)


@pytest.fixture
def fresh_app(app):
    """A second app on an empty database of the same kind as the session's (SQLite, or a new
    PostgreSQL database when ``TEST_DATABASE_URL`` is set), dropped afterwards."""
    from app import create_app
    from app.extensions import db

    tmpdir = tempfile.mkdtemp(prefix="svc-deploy-")
    url, created = _database_url(tmpdir)
    fresh = create_app("testing", overrides={"SQLALCHEMY_DATABASE_URI": url,
                                              "UPLOAD_FOLDER": os.path.join(tmpdir, "uploads"),
                                              "EMBEDDED_REDIS_FILE": os.path.join(tmpdir, "redis.rdb")})
    yield fresh
    with fresh.app_context():
        db.session.remove()
        db.engine.dispose()
    if created:
        _drop(created)
    shutil.rmtree(tmpdir, ignore_errors=True)


def _deploy(fresh_app):
    runner = fresh_app.test_cli_runner()
    # the fresh app's context, as ``flask --app wsgi`` would push (the test holds the session app's)
    with fresh_app.app_context(), clock.freeze(TODAY):
        for step in DEPLOY_STEPS:
            result = runner.invoke(args=step)
            assert result.exit_code == 0, (step, result.output, result.exception)
    return result.output


def _snapshot():
    from app.complaints.models import SlaPolicy
    from app.core.models import CalendarDay, Setting
    from app.extensions import db

    return (
        db.session.execute(select(Setting.key, Setting.value).order_by(Setting.key)).all(),
        db.session.execute(select(SlaPolicy.severity, SlaPolicy.response_minutes, SlaPolicy.resolution_hours,
                                  SlaPolicy.business_time).order_by(SlaPolicy.severity)).all(),
        db.session.execute(select(CalendarDay.day, CalendarDay.kind, CalendarDay.name, CalendarDay.provisional)
                           .order_by(CalendarDay.day)).all(),
    )


def test_a_fresh_deployment_has_its_reference_data_and_keeps_what_hq_admins_change(fresh_app):
    from app.complaints.models import SlaPolicy
    from app.core import calendar, calendar_services
    from app.core.models import BusinessCalendar, CalendarDay, Setting
    from app.core.settings import DEFINITIONS
    from app.extensions import db
    from seeds.reference import SLA_DEFAULTS

    output = _deploy(fresh_app)
    assert "2027" in output  # the deploy says which arrangement waits for confirmation
    with fresh_app.app_context():
        assert {k for (k,) in db.session.execute(select(Setting.key))} == set(DEFINITIONS)
        assert {s for (s,) in db.session.execute(select(SlaPolicy.severity))} == {s[0] for s in SLA_DEFAULTS}
        assert fresh_app.appbuilder.sm.find_role("HQ Admin").permissions
        cal = db.session.scalars(select(BusinessCalendar).where(BusinessCalendar.region_id.is_(None))).one()
        days = {d.day: d for d in db.session.scalars(select(CalendarDay).where(CalendarDay.calendar_id == cal.id))}
        assert days[date(2026, 2, 15)].kind == "holiday" and days[date(2026, 2, 14)].kind == "workday"
        assert not days[date(2026, 10, 4)].provisional and days[date(2027, 2, 8)].provisional
        # the holidays are days off, not working days
        sched = calendar.schedule_for_region(None)
        assert not sched.is_working_day(date(2026, 10, 5)) and sched.is_working_day(date(2026, 10, 10))
        assert calendar_services.unconfirmed_years(TODAY) == [2027]

        # HQ admins change a setting, an SLA policy and the calendar, and confirm next year
        setting = db.session.scalars(select(Setting).where(Setting.key == "certification.expiring_days")).one()
        setting.value = "45"
        policy = db.session.scalars(select(SlaPolicy).where(SlaPolicy.severity == "urgent")).one()
        policy.resolution_hours, policy.business_time = 3, True
        days[date(2026, 10, 7)].name = "国庆节（总部通知）"
        db.session.add(CalendarDay(calendar_id=cal.id, day=date(2026, 10, 8), kind="holiday", name="总部加休"))
        db.session.commit()
        calendar_services.confirm_year(2027)
        changed = _snapshot()

    # once per release: the next run changes nothing of it
    _deploy(fresh_app)
    with fresh_app.app_context():
        assert _snapshot() == changed
        assert db.session.scalar(select(func.count(BusinessCalendar.id))) == 1
        assert calendar_services.unconfirmed_years(TODAY) == []


def test_an_installation_seeded_before_gets_its_calendar_completed(fresh_app):
    """A calendar the earlier loader wrote (the package's days for 2026 and 2027, no weekend days of
    the periods, nothing provisional) plus a day an HQ admin added: after the upgrade and the
    deploy, 2026 is the published arrangement, the package's 2027 days are a provisional forecast,
    and the HQ admin's day is kept as it was."""
    import holidays
    from flask_migrate import upgrade
    from sqlalchemy import text

    from app.core import calendar_services
    from app.core.models import CalendarDay
    from app.extensions import db
    from tests.test_calendar import OFFICIAL, WEEKEND_HOLIDAYS_2026

    cn = holidays.China(years=[2026, 2027], language="zh_CN")
    earlier = [(d, "holiday", str(n)) for d, n in cn.items()]
    earlier += [(d, "workday", "调休上班") for d in cn.weekend_workdays if d.year in (2026, 2027)]
    hq_day = (date(2027, 2, 20), "workday", "春节调休上班（总部通知）")
    with fresh_app.app_context():
        upgrade(revision="0007")
        now = clock.now()
        db.session.execute(text(
            "INSERT INTO business_calendar (id, name, monday_hours, tuesday_hours, wednesday_hours, thursday_hours, "
            "friday_hours, saturday_hours, sunday_hours, makeup_hours, created_at, updated_at) "
            "VALUES (1, '中国大陆工作日历', '09:00-18:00', '09:00-18:00', '09:00-18:00', '09:00-18:00', "
            "'09:00-18:00', '', '', '09:00-18:00', :now, :now)"),
            {"now": now})
        for day, kind, name in earlier + [hq_day]:
            db.session.execute(text("INSERT INTO calendar_day (calendar_id, day, kind, name, created_at, updated_at) "
                                    "VALUES (1, :day, :kind, :name, :now, :now)"),
                               {"day": day, "kind": kind, "name": name, "now": now})
        db.session.commit()

    _deploy(fresh_app)
    with fresh_app.app_context():
        rows = {r.day: r for r in db.session.scalars(select(CalendarDay))}
        in_2026 = {d: r for d, r in rows.items() if d.year == 2026}
        assert {d for d, r in in_2026.items() if r.kind == "holiday"} == {
            d for days in OFFICIAL[2026]["holidays"].values() for d in days}
        assert set(WEEKEND_HOLIDAYS_2026) <= set(in_2026)
        assert sorted(d for d, r in in_2026.items() if r.kind == "workday") == OFFICIAL[2026]["workdays"]
        assert not any(r.provisional for r in in_2026.values())
        assert (rows[hq_day[0]].kind, rows[hq_day[0]].name, rows[hq_day[0]].provisional) == (
            "workday", hq_day[2], False)
        package_2027 = {d for d, _k, _n in earlier if d.year == 2027}
        assert all(rows[d].provisional for d in package_2027)
        assert rows[date(2027, 2, 9)].name == "春节"  # brought up to date with the forecast ('春节（补假）' before)
        assert calendar_services.unconfirmed_years(TODAY) == [2027]
