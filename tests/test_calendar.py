"""Business-time arithmetic on mainland China's calendar (Spring Festival 2026)."""
from datetime import date, datetime

import pytest

from app.core import calendar, clock
from app.core.calendar import Schedule, parse_hours
from app.core.models import BusinessCalendar, CalendarDay


def china_2026():
    cal = BusinessCalendar(name="CN", monday_hours="09:00-18:00", tuesday_hours="09:00-18:00",
                           wednesday_hours="09:00-18:00", thursday_hours="09:00-18:00",
                           friday_hours="09:00-18:00", saturday_hours="", sunday_hours="",
                           makeup_hours="09:00-18:00")
    days = [CalendarDay(day=d, kind=k, name=n) for d, k, n in calendar.china_days([2026])]
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
    days = [CalendarDay(day=d, kind=k, name=n) for d, k, n in calendar.china_days([2026])]
    r = calendar.schedule_from(cal, extra_days=days)
    assert r.is_working_day(date(2026, 2, 16)) and not s.is_working_day(date(2026, 2, 16))


@pytest.mark.parametrize("text", ["9-18", "18:00-09:00", "09:00", "ab:cd-ef:gh"])
def test_bad_hours_are_refused(text):
    with pytest.raises(calendar.CalendarError):
        parse_hours(text)


def test_empty_hours_mean_a_day_off():
    assert parse_hours("") is None
    assert Schedule(weekly=[None] * 7, makeup=None).is_working_day(date(2026, 3, 2)) is False
