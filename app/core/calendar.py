"""Business time: working days and working hours of a region's calendar.

A date is a working day when it is a make-up working day (调休) of the calendar, or when its
weekday has working hours and it is not a public holiday. Working hours are local
(Asia/Shanghai); every function here takes and returns naive UTC datetimes.

* ``add_business_minutes(cal, start, minutes)`` — the moment ``minutes`` of working time after
  ``start``;
* ``business_minutes_between(cal, a, b)`` — working minutes in [a, b);
* ``add_working_days(cal, start, n)`` — the end of the n-th working day after ``start``'s date
  (the day of receipt does not count).

``Schedule`` is a plain snapshot of a calendar (no database access while computing), loaded with
``schedule_for_region(region_id)``.
"""
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from app.core import clock

WEEKDAY_FIELDS = ("monday_hours", "tuesday_hours", "wednesday_hours", "thursday_hours", "friday_hours",
                  "saturday_hours", "sunday_hours")
MAX_DAYS = 3 * 366


class CalendarError(ValueError):
    pass


def parse_hours(text):
    """'09:00-18:00' → (time(9), time(18)); '' → None. Raises CalendarError."""
    text = (text or "").strip()
    if not text:
        return None
    try:
        start_s, end_s = text.split("-")
        start = time.fromisoformat(start_s.strip())
        end = time.fromisoformat(end_s.strip())
    except ValueError:
        raise CalendarError(text) from None
    if end <= start:
        raise CalendarError(text)
    return start, end


@dataclass
class Schedule:
    weekly: list  # 7 entries of (start, end) or None, Monday first
    makeup: tuple | None
    holidays: dict = field(default_factory=dict)  # date -> name
    workdays: dict = field(default_factory=dict)  # date -> name

    def is_working_day(self, day):
        if day in self.workdays:
            return True
        if day in self.holidays:
            return False
        return self.weekly[day.weekday()] is not None

    def hours(self, day):
        """Local (start, end) working hours of ``day``, or None."""
        if day in self.workdays:
            return self.makeup or self.weekly[0] or (time(9), time(18))
        if day in self.holidays:
            return None
        return self.weekly[day.weekday()]

    def interval(self, day):
        """Working interval of ``day`` as naive UTC datetimes, or None."""
        hours = self.hours(day)
        if hours is None:
            return None
        start = clock.to_utc(datetime.combine(day, hours[0]))
        end = clock.to_utc(datetime.combine(day, hours[1]))
        return start, end


def default_schedule():
    """Mon–Fri 09:00–18:00 with no special days (used when no calendar row exists)."""
    nine_to_six = (time(9), time(18))
    return Schedule(weekly=[nine_to_six] * 5 + [None, None], makeup=nine_to_six)


def schedule_from(calendar, extra_days=()):
    weekly = [parse_hours(getattr(calendar, f)) for f in WEEKDAY_FIELDS]
    sched = Schedule(weekly=weekly, makeup=parse_hours(calendar.makeup_hours))
    for day in list(extra_days) + list(calendar.days):
        target = sched.holidays if day.kind == "holiday" else sched.workdays
        other = sched.workdays if day.kind == "holiday" else sched.holidays
        other.pop(day.day, None)
        target[day.day] = day.name
    return sched


def schedule_for_region(region_id):
    """The region's calendar (its days over the default's), the default calendar, or Mon–Fri."""
    from app.core.models import BusinessCalendar
    from app.extensions import db

    default = db.session.query(BusinessCalendar).filter(BusinessCalendar.region_id.is_(None)).first()
    own = None
    if region_id is not None:
        own = db.session.query(BusinessCalendar).filter(BusinessCalendar.region_id == region_id).first()
    if own is not None:
        return schedule_from(own, extra_days=default.days if default is not None else ())
    if default is not None:
        return schedule_from(default)
    return default_schedule()


def _local_date(moment):
    return clock.to_local(moment).date()


def add_business_minutes(sched, start, minutes):
    remaining = timedelta(minutes=minutes)
    day = _local_date(start)
    for _ in range(MAX_DAYS):
        interval = sched.interval(day)
        if interval is not None:
            begin, end = max(interval[0], start), interval[1]
            if begin < end:
                available = end - begin
                if remaining <= available:
                    return begin + remaining
                remaining -= available
        day += timedelta(days=1)
    raise CalendarError("no working time within three years")


def business_minutes_between(sched, a, b):
    if b <= a:
        return 0.0
    total = timedelta()
    day = _local_date(a)
    last = _local_date(b)
    while day <= last:
        interval = sched.interval(day)
        if interval is not None:
            begin, end = max(interval[0], a), min(interval[1], b)
            if begin < end:
                total += end - begin
        day += timedelta(days=1)
    return total.total_seconds() / 60


def add_working_days(sched, start, n):
    day = _local_date(start)
    counted = 0
    for _ in range(MAX_DAYS):
        day += timedelta(days=1)
        if sched.is_working_day(day):
            counted += 1
            if counted >= n:
                hours = sched.hours(day)
                return clock.to_utc(datetime.combine(day, hours[1] if hours else time(23, 59, 59)))
    raise CalendarError("no working day within three years")


def working_days_in(sched, first: date, last: date):
    day, out = first, []
    while day <= last:
        if sched.is_working_day(day):
            out.append(day)
        day += timedelta(days=1)
    return out


def china_days(years):
    """Public holidays and make-up working days of mainland China from the ``holidays`` package."""
    import holidays

    cn = holidays.China(years=years, language="zh_CN") if "zh_CN" in getattr(
        holidays.China, "supported_languages", ()) else holidays.China(years=years)
    days = [(d, "holiday", str(name)) for d, name in sorted(cn.items())]
    for d in sorted(getattr(cn, "weekend_workdays", ())):
        if d.year in years:
            days.append((d, "workday", "调休上班"))
    return days
