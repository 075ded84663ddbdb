"""Reading a cell: the value its column's kind takes from what Excel stored or the user typed.

Excel hands over text, numbers (int or float), booleans and date-times. Chinese users type dates
as ``2026/12/2``, ``2026-12-2``, ``2026.12.2`` or ``2026年12月2日``, times as ``14:30`` or
``14时30分``, numbers with thousands separators (``1,234.50``), sometimes in full-width digits
(``１２３``, ``１，２３４``). Every date, date-time and number column reads all of these the same
way; text columns take what Excel stored as it is (a number Excel made of a code becomes its digits,
``7001.0`` → ``7001``: no zeros are invented). A cell that cannot be read raises ``RowError``
with a message quoting the cell.
"""
import re
import unicodedata
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

from flask_babel import force_locale, gettext as _

from app.core import clock
from app.reports.imports.columns import RowError, yes_no

EXCEL_MAX_SERIAL = 2958466  # 9999-12-31 + 1
SHOWN_LENGTH = 40  # characters of a cell a message quotes


# --- the cell as the user sees it ----------------------------------------------------------------

def text(value):
    """A cell as text, stripped (None when empty); an int-valued float (a code Excel stored as a
    number) without its ``.0``."""
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    result = str(value).strip()
    return result or None


def shown(raw):
    """The cell as a message quotes it: as typed, dates as ``2026-12-02 14:30``, long text cut."""
    if raw is None:
        return ""
    if isinstance(raw, datetime):
        return raw.strftime("%Y-%m-%d %H:%M:%S" if raw.second else "%Y-%m-%d %H:%M")
    if isinstance(raw, date):
        return raw.isoformat()
    value = text(raw) or ""
    return value if len(value) <= SHOWN_LENGTH else value[:SHOWN_LENGTH] + "…"


def _normal(raw):
    """Typed text with full-width digits and punctuation made plain (``１２３，５`` → ``123,5``)."""
    value = unicodedata.normalize("NFKC", str(raw)).strip()
    return value.replace("\u2212", "-")  # the minus sign


# --- numbers ----------------------------------------------------------------------------------------

_GROUPED = re.compile(r"[+-]?\d{1,3}(?:,\d{3})+(?:\.\d*)?")
_PLAIN = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)")


def number(raw):
    """An exact ``Decimal`` from a number cell or typed text (``1,234.50``, full-width digits);
    ``ValueError`` otherwise. Commas are taken only as thousands separators."""
    from app.core.precision import to_decimal

    if isinstance(raw, bool) or isinstance(raw, (date, datetime)):
        raise ValueError(raw)
    if isinstance(raw, (int, float, Decimal)):
        return to_decimal(raw)
    value = _normal(raw)
    if "," in value:
        if not _GROUPED.fullmatch(value):
            raise ValueError(raw)
        value = value.replace(",", "")
    if not _PLAIN.fullmatch(value):
        raise ValueError(raw)
    return Decimal(value)


def whole_number(raw):
    value = number(raw)
    if value != value.to_integral_value():
        raise ValueError(raw)
    return int(value)


# --- dates and times --------------------------------------------------------------------------------

_DATE = r"(?P<y>\d{4})\s*(?:(?P<sep>[-/.])\s*(?P<m>\d{1,2})\s*(?P=sep)\s*(?P<d>\d{1,2})" \
        r"|年\s*(?P<cm>\d{1,2})\s*月\s*(?P<cd>\d{1,2})\s*日?)"
_TIME = r"(?:(?P<H>\d{1,2}):(?P<M>\d{2})(?::(?P<S>\d{2})(?:\.(?P<f>\d+))?)?" \
        r"|(?P<cH>\d{1,2})\s*[时点]\s*(?:(?P<cM>\d{1,2})\s*分\s*(?:(?P<cS>\d{1,2})\s*秒)?)?)"
_OFFSET = r"(?P<z>Z|[+-]\d{2}:?\d{2})"
_MOMENT = re.compile(rf"{_DATE}(?:\s*T?\s*{_TIME})?\s*{_OFFSET}?", re.IGNORECASE)


def _moment(value):
    """Typed text → ``(datetime, has_time)``: a date in any of the forms above, an optional time,
    an optional UTC offset (then an aware datetime); ISO 8601 as Python reads it otherwise."""
    match = _MOMENT.fullmatch(value)
    if match is None:
        parsed = datetime.fromisoformat(value)  # ValueError when it is not a date either
        return parsed, len(value) > 10
    g = match.groupdict()
    year, month, day = int(g["y"]), int(g["m"] or g["cm"]), int(g["d"] or g["cd"])
    hour = g["H"] or g["cH"]
    minute, second = g["M"] or g["cM"] or 0, g["S"] or g["cS"] or 0
    fraction = (g["f"] or "0")[:6].ljust(6, "0")
    moment = datetime(year, month, day, int(hour or 0), int(minute), int(second), int(fraction))
    if g["z"]:
        offset = g["z"].upper()
        if offset == "Z":
            moment = moment.replace(tzinfo=timezone.utc)
        else:
            sign = -1 if offset[0] == "-" else 1
            digits = offset[1:].replace(":", "")
            moment = moment.replace(tzinfo=timezone(sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))))
    return moment, hour is not None


def _serial(raw):
    """An Excel serial number (a date cell that lost its format) → datetime; ``ValueError`` out of range."""
    from openpyxl.utils.datetime import from_excel

    if not 1 <= raw < EXCEL_MAX_SERIAL:
        raise ValueError(raw)
    return from_excel(raw)


def _whole_seconds(value):
    """To the nearest second: Excel keeps a time as a fraction of a day (14:30 may read 14:29:59.999)."""
    if value.microsecond >= 500000:
        value += timedelta(seconds=1)
    return value.replace(microsecond=0)


def _is_number(raw):
    return isinstance(raw, (int, float)) and not isinstance(raw, bool)


def parse_date(raw):
    """A date cell, an Excel serial number or typed text (a time, if any, must be midnight);
    ``ValueError`` otherwise."""
    if isinstance(raw, datetime):
        return raw.date()
    if isinstance(raw, date):
        return raw
    if _is_number(raw):
        return _serial(raw).date()
    if not isinstance(raw, str):
        raise ValueError(raw)
    moment, has_time = _moment(_normal(raw))
    if moment.tzinfo is not None or (has_time and moment.time() != datetime.min.time()):
        raise ValueError(raw)
    return moment.date()


def local_datetime(raw):
    """A cell holding a local (Asia/Shanghai) time → naive UTC, the storage convention.

    Accepts an Excel date/time cell, a date cell (midnight), an Excel serial number or typed text
    (``2026-11-23 14:30``, ``2026/11/23 9:15:00``, ``2026年11月23日 14时30分``, ISO 8601; an explicit
    offset is honoured). ``ValueError`` when it is none of these.
    """
    if isinstance(raw, datetime):
        value = raw
    elif isinstance(raw, date):
        value = datetime(raw.year, raw.month, raw.day)
    elif _is_number(raw):
        value = _serial(raw)
    elif isinstance(raw, str):
        value, _has_time = _moment(_normal(raw))
    else:
        raise ValueError(raw)
    try:
        return clock.to_utc(_whole_seconds(value))
    except OverflowError as exc:  # year 1 or 9999 at the edge of the time zone shift
        raise ValueError(raw) from exc


# --- choices ----------------------------------------------------------------------------------------

def _labels(code, label, table, value):
    table[code.lower()] = value
    for locale in ("zh", "en"):
        with force_locale(locale):
            table[str(label).strip().lower()] = value


def enum_lookup(enum):
    """Code or label (zh, en), lower-case → code."""
    table = {}
    for code, label in enum.items:
        _labels(code, label, table, code)
    return table


def bool_lookup():
    table = {"true": True, "false": False, "1": True, "0": False, "y": True, "n": False}
    for code, label in yes_no():
        _labels(code, label, table, code == "yes")
    return table


def listing(items):
    """A list in the current language: 在岗、停用 / active, suspended."""
    from flask_babel import get_locale

    locale = get_locale()
    separator = "、" if locale is not None and locale.language == "zh" else ", "
    return separator.join(str(i) for i in items)


# --- one cell ---------------------------------------------------------------------------------------

def parse_cell(col, raw, refs, column=None):
    """The cell's Python value (None when empty); ``RowError`` when it cannot be read. ``column``
    is the model column the value goes into (for the places a decimal may have)."""
    if isinstance(raw, str):
        raw = raw.strip()
        if raw == "":
            raw = None
    if raw is None:
        return None
    kind = col.kind
    if kind == "str":
        result = text(raw)
        if col.max_length and result and len(result) > col.max_length:
            raise RowError(_('"%(value)s" has %(length)s characters; the limit is %(n)s.',
                             value=shown(raw), length=len(result), n=col.max_length))
        return result
    if kind == "int":
        try:
            return whole_number(raw)
        except (TypeError, ValueError, ArithmeticError):
            raise RowError(_('"%(value)s" is not a whole number.', value=shown(raw))) from None
    if kind == "decimal":
        # exactly as entered: a value its column would round is an error, never rounded here
        from app.core.precision import digits, value_problem

        try:
            result = number(raw)
        except (TypeError, ValueError, ArithmeticError):
            raise RowError(_('"%(value)s" is not a number.', value=shown(raw))) from None
        places = digits(column) if column is not None else None
        problem = value_problem(result, *places) if places else None
        if problem:
            raise RowError(_('"%(value)s": %(problem)s', value=shown(raw), problem=problem))
        return result
    if kind == "date":
        try:
            return parse_date(raw)
        except (TypeError, ValueError, OverflowError):
            raise RowError(_('"%(value)s" is not a valid date; write it as 2026-12-02 or 2026/12/2.',
                             value=shown(raw))) from None
    if kind == "datetime":
        # entered in the business time zone, stored as naive UTC
        try:
            return local_datetime(raw)
        except (TypeError, ValueError, OverflowError):
            raise RowError(_('"%(value)s" is not a valid date and time; write it as 2026-12-02 14:30.',
                             value=shown(raw))) from None
    if kind == "bool":
        if isinstance(raw, bool):
            return raw
        result = refs.bools.get(str(text(raw)).lower())
        if result is None:
            raise RowError(_('"%(value)s" is neither %(yes)s nor %(no)s.', value=shown(raw),
                             **{code: label for code, label in yes_no()}))
        return result
    if kind == "enum":
        code = refs.enum(col.enum).get(str(text(raw)).lower())
        if code is None:
            raise RowError(_('"%(value)s" is not one of the choices: %(choices)s.', value=shown(raw),
                             choices=listing(label for _c, label in col.enum.items)))
        return code
    if kind == "ref":
        return refs.resolve(col.ref, text(raw))
    raise ValueError(kind)
