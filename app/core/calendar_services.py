"""Rules for editing business calendars: working hours must read as HH:MM-HH:MM."""
from flask_babel import gettext as _

from app.core.calendar import WEEKDAY_FIELDS, CalendarError, parse_hours
from app.core.models import BusinessCalendar
from app.core.services import validates_entity


@validates_entity(BusinessCalendar)
def _calendar(item, errors):
    for field in WEEKDAY_FIELDS + ("makeup_hours",):
        try:
            parse_hours(getattr(item, field))
        except CalendarError:
            errors.add(field, _("Write working hours as HH:MM-HH:MM (e.g. 09:00-18:00), or leave empty for a day off."))
