"""Rules for the business calendars: working hours must read as HH:MM-HH:MM; which years'
holiday arrangements still wait for an HQ admin (``unconfirmed_years``); confirming a year.

A year's days loaded from a forecast (the State Council publishes next year's arrangement late in
the year) are *provisional*. They stop being provisional when an HQ admin confirms the year on the
calendar page (``confirm_year``) or saves the day by hand (page or API): whoever edits a day has
looked at it.
"""
from datetime import date

from flask_babel import gettext as _
from sqlalchemy import select

from app.core import clock
from app.core.calendar import WEEKDAY_FIELDS, CalendarError, parse_hours
from app.core.errors import Conflict, Invalid
from app.core.models import BusinessCalendar, CalendarDay
from app.core.services import transaction, validates_entity
from app.extensions import db

FIRST_YEAR, LAST_YEAR = 2000, 2100


@validates_entity(BusinessCalendar)
def _calendar(item, errors):
    for field in WEEKDAY_FIELDS + ("makeup_hours",):
        try:
            parse_hours(getattr(item, field))
        except CalendarError:
            errors.add(field, _("Write working hours as HH:MM-HH:MM (e.g. 09:00-18:00), or leave empty for a day off."))


@validates_entity(CalendarDay)
def _saved_by_hand_is_confirmed(item, errors):
    """A day added or edited by hand (page or API) is no longer a forecast."""
    item.provisional = False


def _year_bounds(year):
    return date(year, 1, 1), date(year, 12, 31)


def default_calendar():
    """The calendar without a region (mainland China's), or None before reference data is loaded."""
    return db.session.scalars(select(BusinessCalendar).where(BusinessCalendar.region_id.is_(None))
                              .limit(1)).first()


def year_status(years):
    """``{year: (days, provisional days)}`` of the default calendar for each of ``years``."""
    status = {year: (0, 0) for year in years}
    cal = default_calendar()
    if cal is None or not years:
        return status
    first, last = _year_bounds(min(years))[0], _year_bounds(max(years))[1]
    rows = db.session.execute(
        select(CalendarDay.day, CalendarDay.provisional)
        .where(CalendarDay.calendar_id == cal.id, CalendarDay.day >= first, CalendarDay.day <= last)).all()
    for day, provisional in rows:
        if day.year in status:
            total, unconfirmed = status[day.year]
            status[day.year] = (total + 1, unconfirmed + bool(provisional))
    return status


def unconfirmed_years(today=None):
    """The years among this one and the next (by ``clock.today()``) whose holiday arrangement is
    missing (no day rows in the default calendar) or still has provisional days, sorted."""
    year = (today or clock.today()).year
    return [y for y, (total, unconfirmed) in sorted(year_status([year, year + 1]).items())
            if total == 0 or unconfirmed]


def provisional_years():
    """Every year of the default calendar that still has provisional days, sorted."""
    cal = default_calendar()
    if cal is None:
        return []
    days = db.session.scalars(select(CalendarDay.day).where(CalendarDay.calendar_id == cal.id,
                                                           CalendarDay.provisional.is_(True))).all()
    return sorted({d.year for d in days})


def parse_year(raw):
    """A year typed or posted as text → int; ``Invalid`` on the ``year`` field otherwise."""
    try:
        year = int(str(raw).strip())
    except (TypeError, ValueError):
        year = None
    if year is None or not FIRST_YEAR <= year <= LAST_YEAR:
        raise Invalid({"year": [_("Enter a year between %(first)s and %(last)s.", first=FIRST_YEAR,
                                  last=LAST_YEAR)]})
    return year


def year_days(year):
    """The default calendar's days of ``year``, by date (none without a default calendar)."""
    cal = default_calendar()
    if cal is None:
        return []
    first, last = _year_bounds(year)
    return db.session.scalars(select(CalendarDay).where(
        CalendarDay.calendar_id == cal.id, CalendarDay.day >= first, CalendarDay.day <= last)
        .order_by(CalendarDay.day)).all()


def confirm_year(year):
    """An HQ admin confirms ``year``'s holiday arrangement: its provisional days in the default
    calendar become confirmed (each change is in the audit trail with the acting user). Returns
    ``(year, days confirmed)``; ``Invalid`` on a malformed year, ``Conflict`` when none is waiting."""
    year = parse_year(year)
    with transaction():
        rows = [d for d in year_days(year) if d.provisional]
        if not rows:
            raise Conflict(_("The %(year)s holiday arrangement has no provisional days to confirm.", year=year))
        for row in rows:
            row.provisional = False
    return year, len(rows)
