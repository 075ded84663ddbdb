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

A year for which the default calendar has no day rows at all (reference data never loaded, or a
year beyond the loaded ones) is not taken as a year without public holidays: the schedule uses
mainland China's built-in arrangement for it (``core.china_holidays``: published, else forecast)
and logs a warning once per process and year. ``calendar_services.unconfirmed_years`` names such
a year for the dashboard and the calendar page.
"""
import logging
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from app.core import china_holidays, clock

log = logging.getLogger(__name__)

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


_warned_years = set()


def _warn_missing_year(year):
    if year not in _warned_years:
        _warned_years.add(year)
        log.warning("the business calendar has no public holidays or make-up days for %s: using the built-in "
                    "arrangement of mainland China for it; load the reference data (flask deploy) or add the "
                    "days on the calendar page", year)


@dataclass
class Schedule:
    weekly: list  # 7 entries of (start, end) or None, Monday first
    makeup: tuple | None
    holidays: dict = field(default_factory=dict)  # date -> name
    workdays: dict = field(default_factory=dict)  # date -> name
    # Years the calendar's day rows cover; None: the snapshot is complete as given. A day of any
    # other year brings in that year's built-in arrangement, under the days already present.
    covered_years: set | None = None

    def _cover(self, day):
        if self.covered_years is None or day.year in self.covered_years:
            return
        self.covered_years.add(day.year)
        _warn_missing_year(day.year)
        for arranged in china_days([day.year]):
            if arranged.day not in self.holidays and arranged.day not in self.workdays:
                target = self.holidays if arranged.kind == "holiday" else self.workdays
                target[arranged.day] = arranged.name

    def is_working_day(self, day):
        self._cover(day)
        if day in self.workdays:
            return True
        if day in self.holidays:
            return False
        return self.weekly[day.weekday()] is not None

    def hours(self, day):
        """Local (start, end) working hours of ``day``, or None."""
        self._cover(day)
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
    """Mon–Fri 09:00–18:00 with the built-in public holidays (used when no calendar row exists)."""
    nine_to_six = (time(9), time(18))
    return Schedule(weekly=[nine_to_six] * 5 + [None, None], makeup=nine_to_six, covered_years=set())


def schedule_from(calendar, extra_days=(), covered_years=None):
    """``calendar``'s hours and days over ``extra_days`` (the default calendar's); ``covered_years``
    as in ``Schedule`` (None: the days given are all there is)."""
    weekly = [parse_hours(getattr(calendar, f)) for f in WEEKDAY_FIELDS]
    sched = Schedule(weekly=weekly, makeup=parse_hours(calendar.makeup_hours), covered_years=covered_years)
    for day in list(extra_days) + list(calendar.days):
        target = sched.holidays if day.kind == "holiday" else sched.workdays
        other = sched.workdays if day.kind == "holiday" else sched.holidays
        other.pop(day.day, None)
        target[day.day] = day.name
    return sched


_schedules = {}


def _calendar_version():
    """A fingerprint of every calendar and calendar day (one aggregate query): it changes whenever
    a row is added, edited or deleted."""
    from sqlalchemy import func, select

    from app.core.models import BusinessCalendar, CalendarDay
    from app.extensions import db

    cal, day = BusinessCalendar, CalendarDay
    row = db.session.execute(select(
        select(func.count(cal.id)).scalar_subquery(), select(func.coalesce(func.sum(cal.id), 0)).scalar_subquery(),
        select(func.max(cal.updated_at)).scalar_subquery(),
        select(func.count(day.id)).scalar_subquery(), select(func.coalesce(func.sum(day.id), 0)).scalar_subquery(),
        select(func.max(day.updated_at)).scalar_subquery(),
    )).one()
    return (db.engine.url.render_as_string(), tuple(row))


def schedule_for_region(region_id):
    """The region's calendar (its days over the default's), the default calendar, or Mon–Fri; the
    years the default calendar has no days for follow the built-in arrangement (module docstring).

    Kept per process under a fingerprint of the calendar tables, so a computation reads one
    aggregate row instead of every calendar day, and an edit is seen at once."""
    key = (region_id, _calendar_version())
    sched = _schedules.get(key)
    if sched is None:
        if len(_schedules) > 256:
            _schedules.clear()
        sched = _schedules[key] = _load_schedule(region_id)
    return sched


def schedules_for_regions(region_ids):
    """``{region_id: Schedule}`` for many regions at once (a batch of complaints): one fingerprint
    query for all of them, and a load only for those not kept yet."""
    version = _calendar_version()
    out = {}
    for region_id in set(region_ids):
        key = (region_id, version)
        sched = _schedules.get(key)
        if sched is None:
            if len(_schedules) > 256:
                _schedules.clear()
            sched = _schedules[key] = _load_schedule(region_id)
        out[region_id] = sched
    return out


def _load_schedule(region_id):
    from app.core.models import BusinessCalendar
    from app.extensions import db

    default = db.session.query(BusinessCalendar).filter(BusinessCalendar.region_id.is_(None)).first()
    own = None
    if region_id is not None:
        own = db.session.query(BusinessCalendar).filter(BusinessCalendar.region_id == region_id).first()
    default_days = list(default.days) if default is not None else []
    covered = {d.day.year for d in default_days}
    if own is not None:
        return schedule_from(own, extra_days=default_days, covered_years=covered)
    if default is not None:
        return schedule_from(default, covered_years=covered)
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
    """Mainland China's public holidays and make-up working days of ``years``
    (``china_holidays.ArrangedDay``: day, kind, name, provisional), by date."""
    return [d for year in sorted(set(years)) for d in china_holidays.arrangement(year)]
