"""The one place the product asks what time it is.

Stored datetimes are naive UTC; "today" is the business day in Asia/Shanghai.
Tests control time with ``freeze()``.
"""
from contextlib import contextmanager
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

BUSINESS_TZ = ZoneInfo("Asia/Shanghai")
_frozen = None


def now():
    """Current time as naive UTC (the storage convention)."""
    if _frozen is not None:
        return _frozen
    return datetime.now(timezone.utc).replace(tzinfo=None)


def today():
    """Today's date in the business time zone."""
    return to_local(now()).date()


def to_local(value):
    """Naive UTC datetime → aware Asia/Shanghai datetime."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone(BUSINESS_TZ)


def to_utc(value):
    """Aware datetime (or naive local time) → naive UTC."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=BUSINESS_TZ)
    return value.astimezone(timezone.utc).replace(tzinfo=None)


@contextmanager
def freeze(moment):
    """Pin ``now()`` to ``moment`` (a naive UTC datetime, or a date meaning 09:00 local time).

    Process-wide and not thread-safe: freeze in the test's own thread, around any threads it starts.
    """
    global _frozen
    if isinstance(moment, date) and not isinstance(moment, datetime):
        moment = to_utc(datetime(moment.year, moment.month, moment.day, 9, 0))
    previous, _frozen = _frozen, moment
    try:
        yield moment
    finally:
        _frozen = previous


def days_ago(days):
    return now() - timedelta(days=days)
