"""Business-time arithmetic on mainland China's calendar (Spring Festival 2026); the published
arrangements day by day; a region calendar that works weekends; years without rows; the years
whose arrangement still waits for an HQ admin."""
import logging
import random
from datetime import date, datetime, timedelta

import pytest

from app.core import calendar, clock
from app.core.calendar import Schedule, parse_hours
from app.core.models import BusinessCalendar, CalendarDay


def china_2026():
    cal = BusinessCalendar(name="CN", monday_hours="09:00-18:00", tuesday_hours="09:00-18:00",
                           wednesday_hours="09:00-18:00", thursday_hours="09:00-18:00",
                           friday_hours="09:00-18:00", saturday_hours="", sunday_hours="",
                           makeup_hours="09:00-18:00")
    days = [CalendarDay(day=d.day, kind=d.kind, name=d.name) for d in calendar.china_days([2026])]
    return calendar.schedule_from(cal, extra_days=days)


def local(*args):
    return clock.to_utc(datetime(*args))


def test_working_days_around_spring_festival():
    s = china_2026()
    assert s.is_working_day(date(2026, 2, 13))  # Friday
    assert s.is_working_day(date(2026, 2, 14))  # make-up Saturday
    assert not s.is_working_day(date(2026, 2, 16))  # holiday (Monday)
    assert not s.is_working_day(date(2026, 2, 21))  # weekend inside the break
    assert not s.is_working_day(date(2026, 2, 23))  # day off in lieu
    assert s.is_working_day(date(2026, 2, 24))
    assert s.is_working_day(date(2026, 2, 28))  # make-up Saturday
    assert not s.is_working_day(date(2026, 3, 1))  # ordinary Sunday


def test_three_working_days_skip_the_festival_and_count_the_makeup_saturday():
    s = china_2026()
    # received Friday 13 Feb: Sat 14 (make-up) = 1, festival 15–23 off, Tue 24 = 2, Wed 25 = 3
    due = calendar.add_working_days(s, local(2026, 2, 13, 10, 0), 3)
    assert clock.to_local(due).replace(tzinfo=None) == datetime(2026, 2, 25, 18, 0)


def test_working_days_across_an_ordinary_weekend():
    s = china_2026()
    due = calendar.add_working_days(s, local(2026, 3, 6, 16, 0), 3)  # Friday
    assert clock.to_local(due).date() == date(2026, 3, 11)  # Mon, Tue, Wed


def test_business_minutes_cross_the_weekend():
    s = china_2026()
    start = local(2026, 3, 6, 17, 30)  # Friday 17:30, 30 min left that day
    due = calendar.add_business_minutes(s, start, 120)
    assert clock.to_local(due).replace(tzinfo=None) == datetime(2026, 3, 9, 10, 30)
    assert calendar.business_minutes_between(s, start, due) == pytest.approx(120)


def test_business_minutes_start_before_opening_and_on_a_holiday():
    s = china_2026()
    due = calendar.add_business_minutes(s, local(2026, 2, 16, 8, 0), 60)  # holiday Monday
    assert clock.to_local(due).replace(tzinfo=None) == datetime(2026, 2, 24, 10, 0)
    due = calendar.add_business_minutes(s, local(2026, 2, 14, 7, 0), 30)  # make-up Saturday
    assert clock.to_local(due).replace(tzinfo=None) == datetime(2026, 2, 14, 9, 30)


def test_business_minutes_between_a_holiday_span_is_zero():
    s = china_2026()
    assert calendar.business_minutes_between(s, local(2026, 2, 16, 9), local(2026, 2, 20, 18)) == 0


def test_region_days_override_the_default():
    s = china_2026()
    extra = CalendarDay(day=date(2026, 2, 16), kind="workday", name="区域值班")
    cal = BusinessCalendar(name="R", monday_hours="09:00-18:00", tuesday_hours="09:00-18:00",
                           wednesday_hours="09:00-18:00", thursday_hours="09:00-18:00",
                           friday_hours="09:00-18:00", saturday_hours="", sunday_hours="",
                           makeup_hours="09:00-18:00", days=[extra])
    days = [CalendarDay(day=d.day, kind=d.kind, name=d.name) for d in calendar.china_days([2026])]
    r = calendar.schedule_from(cal, extra_days=days)
    assert r.is_working_day(date(2026, 2, 16)) and not s.is_working_day(date(2026, 2, 16))


@pytest.mark.parametrize("text", ["9-18", "18:00-09:00", "09:00", "ab:cd-ef:gh"])
def test_bad_hours_are_refused(text):
    with pytest.raises(calendar.CalendarError):
        parse_hours(text)


def test_empty_hours_mean_a_day_off():
    assert parse_hours("") is None
    assert Schedule(weekly=[None] * 7, makeup=None).is_working_day(date(2026, 3, 2)) is False


# --- mainland China's arrangements, as the State Council published them ---------------------------
# Written out day by day from the notices (国务院办公厅关于2025年/2026年部分节假日安排的通知),
# independently of app/core/china_holidays.py.

def _days(*isos):
    return [date.fromisoformat(d) for d in isos]


OFFICIAL = {
    2025: {
        "holidays": {
            "元旦": _days("2025-01-01"),
            "春节": _days("2025-01-28", "2025-01-29", "2025-01-30", "2025-01-31", "2025-02-01", "2025-02-02",
                          "2025-02-03", "2025-02-04"),
            "清明节": _days("2025-04-04", "2025-04-05", "2025-04-06"),
            "劳动节": _days("2025-05-01", "2025-05-02", "2025-05-03", "2025-05-04", "2025-05-05"),
            "端午节": _days("2025-05-31", "2025-06-01", "2025-06-02"),
            "国庆节、中秋节": _days("2025-10-01", "2025-10-02", "2025-10-03", "2025-10-04", "2025-10-05",
                                  "2025-10-06", "2025-10-07", "2025-10-08"),
        },
        "workdays": _days("2025-01-26", "2025-02-08", "2025-04-27", "2025-09-28", "2025-10-11"),
    },
    2026: {
        "holidays": {
            "元旦": _days("2026-01-01", "2026-01-02", "2026-01-03"),
            "春节": _days("2026-02-15", "2026-02-16", "2026-02-17", "2026-02-18", "2026-02-19", "2026-02-20",
                          "2026-02-21", "2026-02-22", "2026-02-23"),
            "清明节": _days("2026-04-04", "2026-04-05", "2026-04-06"),
            "劳动节": _days("2026-05-01", "2026-05-02", "2026-05-03", "2026-05-04", "2026-05-05"),
            "端午节": _days("2026-06-19", "2026-06-20", "2026-06-21"),
            "中秋节": _days("2026-09-25", "2026-09-26", "2026-09-27"),
            "国庆节": _days("2026-10-01", "2026-10-02", "2026-10-03", "2026-10-04", "2026-10-05", "2026-10-06",
                          "2026-10-07"),
        },
        "workdays": _days("2026-01-04", "2026-02-14", "2026-02-28", "2026-05-09", "2026-09-20", "2026-10-10"),
    },
}
# The days the package leaves out (weekends inside a holiday period) — the reported defect.
WEEKEND_HOLIDAYS_2026 = _days("2026-01-03", "2026-02-15", "2026-02-21", "2026-02-22", "2026-04-04", "2026-05-03",
                              "2026-06-20", "2026-06-21", "2026-09-26", "2026-09-27", "2026-10-04")


def official_holidays(year):
    return {d for days in OFFICIAL[year]["holidays"].values() for d in days}


PERIODS = [(year, name) for year in OFFICIAL for name in OFFICIAL[year]["holidays"]]


@pytest.mark.parametrize("year,name", PERIODS)
def test_every_day_of_an_official_period_is_a_holiday(year, name):
    arranged = {d.day: d for d in calendar.china_days([year])}
    for day in OFFICIAL[year]["holidays"][name]:
        assert day in arranged and arranged[day].kind == "holiday", (name, day)
        assert arranged[day].name == name and not arranged[day].provisional


@pytest.mark.parametrize("year", sorted(OFFICIAL))
def test_a_published_year_is_exactly_the_notice(year):
    arranged = calendar.china_days([year])
    assert {d.day for d in arranged if d.kind == "holiday"} == official_holidays(year)
    assert sorted(d.day for d in arranged if d.kind == "workday") == OFFICIAL[year]["workdays"]
    assert all(d.name.endswith("调休上班") for d in arranged if d.kind == "workday")
    assert not any(d.provisional for d in arranged)


def test_the_weekend_days_of_2026_periods_are_holidays():
    holidays = {d.day for d in calendar.china_days([2026]) if d.kind == "holiday"}
    assert all(d.weekday() >= 5 for d in WEEKEND_HOLIDAYS_2026)
    assert set(WEEKEND_HOLIDAYS_2026) <= holidays


@pytest.mark.parametrize("year", sorted(OFFICIAL))
def test_the_forecast_rule_reproduces_the_published_years(year):
    """Next year's forecast takes a weekend touching a holiday into its period: on the years already
    published, that gives exactly the notice."""
    from app.core import china_holidays

    forecast = china_holidays.forecast_days(year)
    assert {d.day for d in forecast if d.kind == "holiday"} == official_holidays(year)
    assert sorted(d.day for d in forecast if d.kind == "workday") == OFFICIAL[year]["workdays"]
    assert all(d.provisional for d in forecast)


def test_an_unpublished_year_is_a_provisional_forecast():
    days = calendar.china_days([2027])
    holidays = {d.day for d in days if d.kind == "holiday"}
    assert days and all(d.provisional for d in days)
    # the statutory days the package knows, with the weekends that touch them
    assert {date(2027, 1, 1), date(2027, 1, 2), date(2027, 1, 3)} <= holidays  # New Year's Day is a Friday
    assert {date(2027, 2, 6), date(2027, 2, 7), date(2027, 2, 8)} <= holidays  # Spring Festival
    assert date(2027, 10, 1) in holidays


# --- a region calendar that works weekends ------------------------------------------------------

def _weekend_working_region(world):
    from app.extensions import db
    from seeds.reference import load_default_calendar

    load_default_calendar(years=[2025, 2026])
    region_cal = BusinessCalendar(name="华东区全周服务", region_id=world.east.id, saturday_hours="09:00-18:00",
                                  sunday_hours="09:00-18:00")
    db.session.add(region_cal)
    db.session.commit()
    return calendar.schedule_for_region(world.east.id)


def test_a_weekend_working_region_is_off_on_every_day_of_the_spring_festival(world):
    s = _weekend_working_region(world)
    assert s.is_working_day(date(2026, 2, 14))  # make-up Saturday
    for day in OFFICIAL[2026]["holidays"]["春节"]:
        assert not s.is_working_day(day), day
    assert s.is_working_day(date(2026, 2, 24)) and s.is_working_day(date(2026, 3, 1))  # an ordinary Sunday
    # Fri 13 Feb 09:00 → Tue 24 Feb 09:00: Friday and the make-up Saturday only
    assert calendar.business_minutes_between(s, local(2026, 2, 13, 9), local(2026, 2, 24, 9)) == 2 * 9 * 60
    # two working hours from Saturday 14 Feb 17:00: one that evening, one after the festival
    due = calendar.add_business_minutes(s, local(2026, 2, 14, 17, 0), 120)
    assert clock.to_local(due).replace(tzinfo=None) == datetime(2026, 2, 24, 10, 0)
    # the verification deadline: 3 working days after Saturday 14 Feb
    due = calendar.add_working_days(s, local(2026, 2, 14, 10, 0), 3)
    assert clock.to_local(due).replace(tzinfo=None) == datetime(2026, 2, 26, 18, 0)


@pytest.mark.parametrize("day", WEEKEND_HOLIDAYS_2026)
def test_a_weekend_working_region_has_no_working_time_on_a_weekend_holiday(world, day):
    s = _weekend_working_region(world)
    assert not s.is_working_day(day)
    start = local(day.year, day.month, day.day, 0, 0)
    assert calendar.business_minutes_between(s, start, start + timedelta(days=1)) == 0


def test_business_minutes_on_a_weekend_working_region_match_the_notices(world):
    """Random spans over 2025–2026 against a minute count written from the notices alone: the
    region works 09:00–18:00 every day except the official holidays."""
    s = _weekend_working_region(world)
    off = official_holidays(2025) | official_holidays(2026)

    def expected(a, b):
        total, day = 0.0, clock.to_local(a).date()
        while day <= clock.to_local(b).date():
            if day not in off:
                begin = max(a, local(day.year, day.month, day.day, 9))
                end = min(b, local(day.year, day.month, day.day, 18))
                total += max((end - begin).total_seconds() / 60, 0)
            day += timedelta(days=1)
        return total

    rng = random.Random(20260215)
    origin = datetime(2025, 1, 1)
    for _ in range(2000):
        a = origin + timedelta(minutes=rng.randrange(0, 729 * 24 * 60))
        b = min(a + timedelta(minutes=rng.randrange(0, 12 * 24 * 60)), datetime(2026, 12, 31, 15, 59))
        assert calendar.business_minutes_between(s, a, b) == pytest.approx(expected(a, b)), (a, b)


# --- a year without rows ------------------------------------------------------------------------

def test_without_any_calendar_the_built_in_holidays_apply_and_a_warning_is_logged(app, caplog, monkeypatch):
    monkeypatch.setattr(calendar, "_warned_years", set())
    s = calendar.schedule_for_region(None)
    with caplog.at_level(logging.WARNING, logger="app.core.calendar"):
        assert not s.is_working_day(date(2026, 2, 16))  # Spring Festival, not a Monday like any other
        assert s.is_working_day(date(2026, 2, 14))  # make-up Saturday
        assert not s.is_working_day(date(2026, 2, 21))
    warnings = [r for r in caplog.records if r.name == "app.core.calendar"]
    assert len(warnings) == 1 and "2026" in warnings[0].getMessage()


def test_a_year_the_calendar_lacks_follows_the_built_in_arrangement(world, caplog, monkeypatch):
    from app.extensions import db
    from seeds.reference import load_default_calendar

    monkeypatch.setattr(calendar, "_warned_years", set())
    load_default_calendar(years=[2026])
    db.session.commit()
    s = calendar.schedule_for_region(world.east.id)
    with caplog.at_level(logging.WARNING, logger="app.core.calendar"):
        assert not s.is_working_day(date(2026, 2, 16))
        assert not [r for r in caplog.records if r.name == "app.core.calendar"]  # 2026 has its rows
        assert not s.is_working_day(date(2027, 2, 8))  # forecast Spring Festival, a Monday
        assert s.is_working_day(date(2027, 2, 15))
        # received on the last working day of 2026: Jan 1–3 2027 are off
        due = calendar.add_working_days(s, local(2026, 12, 31, 10, 0), 1)
        assert clock.to_local(due).date() == date(2027, 1, 4)
    warnings = [r.getMessage() for r in caplog.records if r.name == "app.core.calendar"]
    assert len(warnings) == 1 and "2027" in warnings[0]


def test_region_days_override_the_built_in_arrangement_too(world):
    from app.extensions import db

    cal = BusinessCalendar(name="华东区", region_id=world.east.id,
                           days=[CalendarDay(day=date(2026, 2, 16), kind="workday", name="区域值班")])
    db.session.add(cal)
    db.session.commit()
    s = calendar.schedule_for_region(world.east.id)
    assert s.is_working_day(date(2026, 2, 16)) and not s.is_working_day(date(2026, 2, 17))


# --- which years still wait for an HQ admin ------------------------------------------------------

def test_unconfirmed_years(app):
    from app.core.calendar_services import confirm_year, unconfirmed_years
    from app.extensions import db
    from seeds.reference import load_default_calendar

    today = date(2026, 12, 7)
    assert unconfirmed_years(today) == [2026, 2027]  # no calendar at all
    with clock.freeze(today):
        load_default_calendar()  # this year (published) and the next (a forecast)
        db.session.commit()
        assert unconfirmed_years() == [2027]
    assert unconfirmed_years(today) == [2027]
    assert unconfirmed_years(date(2025, 6, 1)) == [2025]  # 2025 has no rows; 2026 is published
    assert confirm_year(2027) == (2027, len(calendar.china_days([2027])))
    assert unconfirmed_years(today) == []
    assert unconfirmed_years(date(2027, 3, 1)) == [2028]  # next year: no rows yet
    # one provisional day left is enough
    with clock.freeze(date(2027, 3, 1)):
        load_default_calendar()
        db.session.commit()
    assert unconfirmed_years(date(2027, 3, 1)) == [2028]
    row = db.session.query(CalendarDay).filter(CalendarDay.day == date(2028, 1, 1)).one()
    assert row.provisional
