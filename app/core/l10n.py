"""Dates, times and numbers as the reader's locale writes them, times in Asia/Shanghai.

Storage is naive UTC (``core.clock``); everything a person reads goes through these functions:
``datetime_text(value)`` → "2026年11月23日 14:30" in Chinese, "Nov 23, 2026, 2:30 PM" in English;
``date_text`` → "2026年11月23日" / "Nov 23, 2026"; ``number_text(1234.5)`` → "1,234.5".
The locale is the request's (the language switch) or, outside a request or inside
``force_locale``, whatever Flask-Babel says; Chinese when nothing says otherwise.
Machine formats (the API, exports' cells, form inputs) stay ISO.
"""
from datetime import date, datetime
from decimal import Decimal

from babel import Locale
from babel.dates import format_date, format_time
from babel.numbers import format_currency, format_decimal, format_percent

from app.core import clock

DEFAULT_LOCALE = "zh"
DATE_FORMAT = "medium"
TIME_FORMAT = "short"
NARROW_SPACE = "\u202f"  # CLDR's space before AM/PM: a plain one pastes and searches better


def _parsed(value):
    """ISO text (as kept in JSON snapshots) → date or datetime; anything else unchanged."""
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value) if "T" in value or " " in value else date.fromisoformat(value)
        except ValueError:
            return value
    return value


def locale():
    """The current Babel locale (the language switch, ``force_locale``), else Chinese."""
    try:
        from flask_babel import get_locale

        current = get_locale()
    except (RuntimeError, KeyError, AttributeError):  # no app context, or Babel not set up
        current = None
    return current or Locale.parse(DEFAULT_LOCALE)


def datetime_text(value, seconds=False, loc=None):
    """A stored (naive UTC) or aware datetime in Asia/Shanghai, in the locale's format; "" for None."""
    if value is None or value == "":
        return ""
    value = _parsed(value)
    if not isinstance(value, datetime):
        return date_text(value, loc)
    loc = Locale.parse(loc) if loc else locale()
    moment = clock.to_local(value)
    day = format_date(moment.date(), DATE_FORMAT, locale=loc)
    hour = format_time(moment.timetz(), "medium" if seconds else TIME_FORMAT, locale=loc)
    pattern = loc.datetime_formats.get(DATE_FORMAT, "{1} {0}")
    return str(pattern).replace("{1}", day).replace("{0}", hour).replace(NARROW_SPACE, " ")


def date_text(value, loc=None):
    """A calendar date in the locale's format; "" for None."""
    if value is None or value == "":
        return ""
    value = _parsed(value)
    if isinstance(value, datetime):
        value = clock.to_local(value).date()
    if not isinstance(value, date):
        return str(value)
    return format_date(value, DATE_FORMAT, locale=Locale.parse(loc) if loc else locale())


def time_text(value, loc=None):
    """Only the local time of day ("14:30" / "2:30 PM")."""
    if value is None:
        return ""
    moment = clock.to_local(value).timetz()
    return format_time(moment, TIME_FORMAT, locale=Locale.parse(loc) if loc else locale()).replace(NARROW_SPACE, " ")


def number_text(value, pattern=None, loc=None):
    """A number with the locale's grouping and decimal signs; "" for None.

    ``pattern`` is a CLDR pattern ("#,##0.0"); by default integers show no decimals, decimals
    their own places (a price ``Decimal("100.00")`` stays "100.00") and floats at most three.
    """
    if value is None:
        return ""
    loc = Locale.parse(loc) if loc else locale()
    if pattern is None:
        places = -value.as_tuple().exponent if isinstance(value, Decimal) and value.is_finite() else 0
        if isinstance(value, int) or (isinstance(value, Decimal) and places <= 0):
            pattern = "#,##0"
        elif isinstance(value, Decimal):
            pattern = "#,##0." + "0" * places
        else:
            pattern = "#,##0.###"
    return format_decimal(value, pattern, locale=loc)


def percent_text(value, pattern="#,##0.0%", loc=None):
    """A share (0.975) as "97.5%"; "" for None."""
    if value is None:
        return ""
    return format_percent(value, pattern, locale=Locale.parse(loc) if loc else locale())


def money_text(value, currency="CNY", loc=None):
    """An amount in yuan: "¥1,234.50" in both locales; "" for None."""
    if value is None:
        return ""
    loc = Locale.parse(loc) if loc else locale()
    return format_currency(value, currency, format="¤#,##0.00", locale=loc, currency_digits=False)
