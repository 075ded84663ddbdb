"""Exports of what a user sees: a generated list with its filters and region scope, as CSV
(streamed) or as an Excel workbook (written row by row).

One set of pieces for every export (the generated lists here, the audit trail's own export):

* rows of typed values — text, numbers (``int``, ``Decimal``, ``float``), dates, datetimes
  already in local time (naive), flags (``bool``) — and, per column, an optional *kind* saying
  more than the value's type: ``DATE``, ``DATETIME``, ``DATETIME_SECONDS``, ``INTEGER``,
  ``decimal(places)`` (``MONEY``: 2 places) or ``PERCENT`` (values in percent points);
* ``csv_stream`` — UTF-8 CSV with a BOM (Excel reads the Chinese right): dates ISO, datetimes
  to the minute (or second), flags Yes/No, and a text a spreadsheet would read as a formula
  (``=``, ``+``, ``-``, ``@``, tab, carriage return) gets a leading apostrophe (``neutralise``);
* ``write_xlsx`` / ``xlsx_stream`` — openpyxl's write-only workbooks with typed cells: dates and
  datetimes as Excel dates in the reader's format (``2026年5月1日`` in Chinese), numbers as
  numbers (money with 2 places, percentages as percentages), flags as 是/否, text always as text
  (a value starting with ``=`` stays a string, never a formula, and shows no apostrophe); column
  widths fitted to the header and the first rows (CJK characters count double), the header
  row frozen and an autofilter over the data. Each column's writer and its few cells (one per
  style) are made once; a row only sets their values;
* ``attachment`` — the download response (no caching, no sniffing);
* ``ListExport`` — one generated list (``BaseModelView``) as a header, column kinds and rows: the
  list's filters from query arguments (``_flt_<index>_<column>``), its base filters and the acting
  user's region scope; the show columns followed by the list-only (computed) ones, translated
  headers and enumeration labels, related records by name, stored numbers, dates and flags typed,
  datetimes in Asia/Shanghai, the customer's phone masked for users who may not see it. A view
  may name its export's computed columns (``export_computed_columns``, filled by
  ``export_computed_values`` with typed values, one value per column) and the kinds of some
  columns (``export_formats``). Rows are read in batches (keyset paging) in the list's own order:
  the user's sort column, else the view's ``base_order``.

The workbook of a generated list is written by a background job (``reports.exports``), which
registers itself with ``register_background_export``.
"""
import csv
import io
import re
import tempfile
import unicodedata
from datetime import date, datetime
from decimal import Decimal
from itertools import chain, islice

from flask import Response
from flask_babel import gettext
from markupsafe import Markup
from sqlalchemy import and_, inspect as sa_inspect, or_
from sqlalchemy.orm import selectinload

from app.core import clock, l10n
from app.extensions import db

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
_FORMULA_FIRST = frozenset(FORMULA_PREFIXES)
BATCH = 500
"""Rows read per query (and, for CSV, written per chunk)."""
FILTER_ARG = re.compile(r"_flt_(\d)_(.*)")
ORDER_ARG = re.compile(r"_o[cd]_\w+")
XLSX_MIMETYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CSV_MIMETYPE = "text/csv"
"""The CSV's type; the response adds its one ``charset=utf-8``."""

# --- column kinds -------------------------------------------------------------------------------
DATE = "date"
DATETIME = "datetime"
DATETIME_SECONDS = "datetime_seconds"
INTEGER = "integer"
PERCENT = "percent"
"""Percent points: ``Decimal("92.5")`` reads 92.5% (an Excel percentage, 0.925, in a workbook)."""


def decimal(places):
    """The kind of a fixed-point number column with ``places`` decimals (grouped thousands)."""
    return f"decimal:{int(places)}"


MONEY = decimal(2)

DATE_FORMATS = {
    # kind: (Excel number format, the widest date it shows — for the column width)
    "zh": {DATE: ('yyyy"年"m"月"d"日"', "2026年12月31日"),
           DATETIME: ('yyyy"年"m"月"d"日" hh:mm', "2026年12月31日 23:59"),
           DATETIME_SECONDS: ('yyyy"年"m"月"d"日" hh:mm:ss', "2026年12月31日 23:59:59")},
    "en": {DATE: ("yyyy-mm-dd", "2026-12-31"),
           DATETIME: ("yyyy-mm-dd hh:mm", "2026-12-31 23:59"),
           DATETIME_SECONDS: ("yyyy-mm-dd hh:mm:ss", "2026-12-31 23:59:59")},
}
"""Dates as the pages write them: 2026年5月1日 14:30 in Chinese, ISO in English."""
WIDTH_SAMPLE = 100
"""Rows read before the workbook is started, to fit the column widths."""
MIN_WIDTH, MAX_WIDTH = 6, 50
XLSX_MAX_TEXT = 32767
"""The most characters an Excel cell holds."""

_background = {}


def register_background_export(starter):
    """``starter(view, args, user) -> job`` starts a list's Excel export in the background."""
    _background["xlsx"] = starter


def background_export():
    return _background.get("xlsx")


def _kinds(kinds, count):
    kinds = list(kinds or ())[:count]
    return kinds + [None] * (count - len(kinds))


def _decimal_places(kind):
    if isinstance(kind, str) and kind.startswith("decimal:"):
        return int(kind.split(":", 1)[1])
    return None


class Rows:
    """Rows (any iterable) carrying their columns' kinds, so that a writer given only the rows
    still writes each column as it should."""

    def __init__(self, rows, kinds=None):
        self._rows, self.kinds = rows, kinds

    def __iter__(self):
        return iter(self._rows)


# --- CSV ----------------------------------------------------------------------------------------

def neutralise(value):
    """A cell a spreadsheet would read as a formula gets a leading apostrophe (as text)."""
    text = "" if value is None else str(value)
    if text.startswith(FORMULA_PREFIXES):
        return "'" + text
    return text


def _csv_writer(kind, yes, no):
    """``value -> CSV field`` for a column of ``kind``."""
    timespec = "seconds" if kind == DATETIME_SECONDS else "minutes"
    percent = kind == PERCENT

    def write(value):
        kind_of = type(value)
        if kind_of is str:
            return "'" + value if value.startswith(FORMULA_PREFIXES) else value
        if value is None:
            return ""
        if kind_of is int or kind_of is Decimal or kind_of is float:
            return f"{value:.1f}%" if percent else value
        if kind_of is datetime:
            if value.tzinfo is not None:
                value = clock.to_local(value).replace(tzinfo=None)
            return value.isoformat(" ", timespec)
        if kind_of is date:
            return value.isoformat()
        if kind_of is bool:
            return yes if value else no
        return write(str(value))

    return write


def csv_stream(header, rows, chunk_rows=None, kinds=None):
    """``\\ufeff`` + the header + the rows as CSV text, yielded every ``chunk_rows`` rows;
    ``kinds`` (else the rows' own, ``Rows``) say how each column is written."""
    chunk_rows = chunk_rows or BATCH
    header = list(header)
    kinds = _kinds(kinds if kinds is not None else getattr(rows, "kinds", None), len(header))
    yes, no = gettext("Yes"), gettext("No")
    writers = [_csv_writer(kind, yes, no) for kind in kinds]
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    yield "\ufeff"
    writer.writerow([neutralise(label) for label in header])
    count = 0
    first = _FORMULA_FIRST
    for row in rows:
        # plain text as it is (the most common cell); anything else through its column's writer
        writer.writerow([value if type(value) is str and value[:1] not in first else write(value)
                         for write, value in zip(writers, row)])
        count += 1
        if count % chunk_rows == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


# --- Excel --------------------------------------------------------------------------------------

def text_width(text):
    """How many character widths ``text`` takes in a spreadsheet (its longest line): CJK and other
    wide characters count 2."""
    if "\n" in text:
        return max((text_width(line) for line in text.splitlines()), default=0)
    if text.isascii():
        return len(text)
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _number_format(kind):
    if kind == INTEGER:
        return "0"
    if kind == PERCENT:
        return "0.0%"
    places = _decimal_places(kind)
    if places is not None:
        return "#,##0" + ("." + "0" * places if places else "")
    return None


class _XlsxColumn:
    """One column of a write-only sheet: its cells (one per style, made once) and ``cell(value)``,
    which sets the value on the right one — or returns ``None`` for an empty cell."""

    def __init__(self, sheet, index, kind, dates, yes, no):
        from openpyxl.cell import WriteOnlyCell
        from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

        def make(data_type, number_format=None):
            cell = WriteOnlyCell(sheet)
            cell.column = index
            if number_format:
                cell.number_format = number_format
            cell.data_type = data_type
            return cell

        self.kind, self.yes, self.no = kind, yes, no
        datetime_kind = DATETIME_SECONDS if kind == DATETIME_SECONDS else DATETIME
        (date_format, self.date_example), (datetime_format, self.datetime_example) = \
            dates[DATE], dates[datetime_kind]
        self.places = _decimal_places(kind)
        number_format = _number_format(kind)
        text, number = make("s"), make("n", number_format)
        day, moment = make("d", date_format), make("d", datetime_format)
        illegal = ILLEGAL_CHARACTERS_RE.sub
        percent = kind == PERCENT

        def cell(value):
            kind_of = type(value)
            if kind_of is str:
                if not value:
                    return None
                # set directly: a text starting with "=" stays text, never a formula
                text._value = illegal("", value if len(value) <= XLSX_MAX_TEXT else value[:XLSX_MAX_TEXT])
                return text
            if value is None:
                return None
            if kind_of is int or kind_of is Decimal or kind_of is float:
                number._value = value / 100 if percent else value
                return number
            if kind_of is datetime:
                if value.tzinfo is not None:
                    value = clock.to_local(value).replace(tzinfo=None)
                moment._value = value
                return moment
            if kind_of is date:
                day._value = value
                return day
            if kind_of is bool:
                text._value = yes if value else no
                return text
            return cell(str(value))

        self.cell = cell

    def width(self, value):
        """The width ``value`` takes as this column shows it."""
        if value is None or value == "":
            return 0
        if isinstance(value, bool):
            return text_width(self.yes if value else self.no)
        if isinstance(value, datetime):
            return text_width(self.datetime_example)
        if isinstance(value, date):
            return text_width(self.date_example)
        if isinstance(value, (int, Decimal, float)):
            if self.kind == PERCENT:
                return len(f"{value:.1f}%")
            if self.places is not None:
                return len(f"{value:,.{self.places}f}")
            return len(str(value))
        return text_width(str(value))


def _fitted_widths(header, columns, sample):
    """Each column's width: its header (with room for the filter button) or its widest sampled
    value, whichever is wider, within ``MIN_WIDTH`` and ``MAX_WIDTH``."""
    widths = []
    for index, (label, column) in enumerate(zip(header, columns)):
        widest = max((column.width(row[index]) for row in sample if index < len(row)), default=0)
        widths.append(min(MAX_WIDTH, max(MIN_WIDTH, text_width(str(label)) + 3, widest + 2)))
    return widths


def _cells_to_row(cells, row_index):
    """A row of ready cells (``None`` for an empty one) as openpyxl's write-only sheet writes it."""
    for cell in cells:
        if cell is not None:
            cell.row = row_index
            yield cell


def write_xlsx(target, sheet_title, header, rows, progress=None, every=None, kinds=None):
    """Write a workbook in openpyxl's write-only mode to ``target`` (a path or a binary file):
    typed cells, fitted column widths, the header frozen and filtered. ``kinds`` (else the rows'
    own, ``Rows``) say how each column is written; ``progress(n)`` is called every ``every`` rows
    and at the end. Returns the number of rows."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import DEFAULT_FONT, Font
    from openpyxl.utils import get_column_letter

    every = every or BATCH
    header = [str(label) for label in header]
    kinds = _kinds(kinds if kinds is not None else getattr(rows, "kinds", None), len(header))
    dates = DATE_FORMATS.get(l10n.locale().language, DATE_FORMATS["en"])
    yes, no = gettext("Yes"), gettext("No")
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(str(sheet_title)[:31] or "Sheet")
    sheet._values_to_row = _cells_to_row  # rows arrive as ready cells (``_XlsxColumn``)
    columns = [_XlsxColumn(sheet, index, kind, dates, yes, no) for index, kind in enumerate(kinds, 1)]
    writers = [column.cell for column in columns]

    rows = iter(rows)
    sample = list(islice(rows, WIDTH_SAMPLE))
    for index, width in enumerate(_fitted_widths(header, columns, sample), 1):
        sheet.column_dimensions[get_column_letter(index)].width = width
    if header:
        sheet.freeze_panes = "A2"

    bold = Font(name=DEFAULT_FONT.name, size=DEFAULT_FONT.sz, family=DEFAULT_FONT.family,
                scheme=DEFAULT_FONT.scheme, bold=True)  # the workbook's font, bold
    titles = []
    for index, label in enumerate(header, 1):
        cell = WriteOnlyCell(sheet)
        cell.column, cell.font, cell._value, cell.data_type = index, bold, label, "s"
        titles.append(cell)
    sheet.append(titles)
    count = 0
    for row in chain(sample, rows):
        sheet.append([write(value) for write, value in zip(writers, row)])
        count += 1
        if progress is not None and count % every == 0:
            progress(count)
    if header:
        sheet.auto_filter.ref = f"A1:{get_column_letter(len(header))}{count + 1}"
    workbook.save(target)
    if progress is not None:
        progress(count)
    return count


def xlsx_stream(sheet_title, header, rows, chunk=64 * 1024, kinds=None):
    """The workbook written to a temporary file, then sent in chunks; the file goes away when
    the download ends."""
    spool = tempfile.TemporaryFile()
    try:
        write_xlsx(spool, sheet_title, header, rows, kinds=kinds)
        spool.seek(0)
        while True:
            data = spool.read(chunk)
            if not data:
                break
            yield data
    finally:
        spool.close()


def export_filename(prefix, ext):
    return f"{prefix}-{clock.to_local(clock.now()):%Y%m%d-%H%M%S}.{ext}"


def attachment(body, mimetype, filename):
    """The download response; a ``text/*`` type gets its one ``charset=utf-8`` here."""
    response = Response(body, mimetype=mimetype.split(";", 1)[0].strip())
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "no-store"
    return response


# --- a generated list as rows ------------------------------------------------------------------

def filter_args(args):
    """The list filters among query arguments: ``{"_flt_0_status": ["created"], …}``."""
    getlist = getattr(args, "getlist", None)
    out = {}
    for key in args:
        if FILTER_ARG.fullmatch(key):
            values = getlist(key) if getlist else args[key]
            out[key] = list(values) if isinstance(values, (list, tuple)) else [values]
    return out


def list_args(args):
    """The list filters and its sort (``_oc_<View>``/``_od_<View>``) among query arguments, as kept
    with a background export."""
    out = filter_args(args)
    for key in args:
        if ORDER_ARG.fullmatch(key):
            value = args[key]
            out[key] = value[0] if isinstance(value, (list, tuple)) else value
    return out


def _first(args, key):
    value = args.get(key) if hasattr(args, "get") else None
    return value[0] if isinstance(value, (list, tuple)) and value else value


def _local_datetime(value):
    """A stored (naive UTC) datetime as the naive local time a spreadsheet shows."""
    return clock.to_local(value).replace(tzinfo=None)


def _plain(value):
    if isinstance(value, Markup):
        return value.striptags()
    return value


class ListExport:
    """One generated list (a ``BaseModelView``) as a header and rows for the acting user."""

    def __init__(self, view, args=None):
        self.view = view
        self.model = view.datamodel.obj
        self.columns = self._columns()
        self.filters = self._filters(args or {})
        self.order = self._order(args or {})

    # --- what is exported ----------------------------------------------------------------------
    def _columns(self):
        view = self.view
        declared = getattr(view, "export_columns", None)
        if declared:
            return list(declared)
        show = list(view.show_columns or [])
        columns = show + [c for c in view.list_columns if c not in show]
        computed = getattr(view, "export_computed_columns", None)
        if computed is not None:  # the export's own computed columns (one value per column)
            columns = [c for c in columns if c not in view.computed_columns] + list(computed)
        return columns

    def _computed(self):
        """The exported columns filled per batch (``export_computed_values``, else the page's
        ``computed_values`` as plain text)."""
        view = self.view
        names = getattr(view, "export_computed_columns", None)
        if names is None:
            names = view.computed_columns
        return [c for c in self.columns if c in names]

    def kinds(self):
        """How each column is written (``DATE``, ``MONEY``, …; ``None``: by its values' type):
        the view's ``export_formats``, else the stored column's type."""
        view, dm = self.view, self.view.datamodel
        declared = dict(getattr(view, "export_formats", None) or {})
        computed = set(self._computed())
        kinds = []
        for col in self.columns:
            kind = declared.get(col)
            if kind is None and col not in computed and "." not in col and col not in view.enum_columns \
                    and not dm.is_relation(col) and not dm.is_boolean(col):
                if dm.is_datetime(col):
                    kind = DATETIME
                elif dm.is_date(col):
                    kind = DATE
                elif dm.is_integer(col):
                    kind = INTEGER
                elif dm.is_numeric(col) and not dm.is_float(col):
                    scale = getattr(dm.list_columns[col].type, "scale", None)
                    kind = decimal(2 if scale is None else scale)
            kinds.append(kind)
        return kinds

    def header(self):
        labels = self.view.label_columns
        return [str(labels.get(col, col)) for col in self.columns]

    def sheet_title(self):
        return str(self.view.list_title or self.model.__tablename__)

    def filename(self, ext):
        return export_filename(self.model.__tablename__.replace("_", "-"), ext)

    # --- which rows ----------------------------------------------------------------------------
    def _filters(self, args):
        from app.core.filters import ViewFilters

        view = self.view
        filters = ViewFilters(view.datamodel, view.search_columns, view._column_filters())
        filters.clear_filters()
        search = filters.get_search_filters()
        for key, values in filter_args(args).items():
            index, column = FILTER_ARG.fullmatch(key).groups()
            if column in search:
                filters.add_filter_index(column, int(index), values)
        return filters.get_joined_filters(view._base_filters)

    def _order(self, args):
        """``(attribute, ascending)`` as the list page sorts: the user's column (``_oc_<View>``,
        ``_od_<View>``) when the list offers it, else the view's ``base_order``; ``None`` for
        primary-key order."""
        view, mapper = self.view, sa_inspect(self.model)
        name = type(view).__name__
        column, direction = _first(args, f"_oc_{name}"), _first(args, f"_od_{name}")
        if column not in (view.order_columns or ()):
            column, direction = view.base_order or (None, None)
        if column is None or column not in mapper.column_attrs:
            return None
        return column, direction != "desc"

    def query(self):
        dm = self.view.datamodel
        query = dm.apply_filters(db.session.query(self.model), self.filters)
        return dm._scoped(query)

    def count(self):
        return self.query().order_by(None).count()

    def _load_options(self):
        options = []
        mapper = sa_inspect(self.model)
        for col in self.columns:
            current, option = mapper, None
            for part in col.split("."):
                rel = current.relationships.get(part)
                if rel is None:
                    break
                attr = getattr(current.class_, part)
                option = selectinload(attr) if option is None else option.selectinload(attr)
                current = rel.mapper
            if option is not None:
                options.append(option)
        return options

    def _keyset(self):
        """``(order_by, after)``: the list's order with the primary key as tie-break, and a function
        giving the condition for the rows after a given row. NULLs go where the database puts them
        on the list page (PostgreSQL: as the largest value; SQLite: as the smallest)."""
        pk = self.model.__mapper__.primary_key[0]
        pk_attr = getattr(self.model, pk.key)
        if self.order is None:
            return [pk_attr.asc()], lambda row: pk_attr > getattr(row, pk.key)
        name, ascending = self.order
        if name == pk.key:
            return ([pk_attr.asc() if ascending else pk_attr.desc()],
                    lambda row: (pk_attr > getattr(row, pk.key)) if ascending else (pk_attr < getattr(row, pk.key)))
        key = getattr(self.model, name)
        nulls_large = db.session.get_bind().dialect.name == "postgresql"
        nulls_last = ascending == nulls_large
        ordered = key.asc() if ascending else key.desc()
        order_by = [ordered.nulls_last() if nulls_last else ordered.nulls_first(), pk_attr.asc()]

        def after(row):
            value, last_pk = getattr(row, name), getattr(row, pk.key)
            if value is None:
                tail = and_(key.is_(None), pk_attr > last_pk)
                return tail if nulls_last else or_(tail, key.isnot(None))
            beyond = key > value if ascending else key < value
            condition = or_(beyond, and_(key == value, pk_attr > last_pk))
            return or_(condition, key.is_(None)) if nulls_last else condition

        return order_by, after

    def batches(self, size=None):
        """The rows' objects, ``size`` at a time, in the list's order (keyset paging: memory stays
        flat and each batch costs the same)."""
        size = size or BATCH
        order_by, after = self._keyset()
        base = self.query().options(*self._load_options())
        last = None
        while True:
            query = base if last is None else base.filter(last)
            batch = query.order_by(*order_by).limit(size).all()
            if not batch:
                return
            yield batch
            last = after(batch[-1])
            for item in batch:
                if item in db.session:
                    db.session.expunge(item)

    # --- how a value reads ---------------------------------------------------------------------
    def _converters(self):
        """``{column: stored value -> exported value}``: typed values (numbers, dates, local
        datetimes, flags) and text (labels, names, the page's formatters for text columns)."""
        from app.core import personal

        view, dm = self.view, self.view.datamodel
        declared = dict(getattr(type(view), "formatters_columns", None) or {})
        phones = personal.PHONE in personal.PERSONAL_FIELDS.get(self.model.__tablename__, ())
        see_phones = personal.may_see_phones() if phones else True

        def related(value):
            if isinstance(value, (list, tuple, set)):
                return ", ".join(str(v) for v in value)
            return str(value)

        def typed(col):
            """A stored date, number or flag: the page's formatter (badges, stars, "95%") stays on
            the page; the spreadsheet gets the value."""
            return "." not in col and (dm.is_date(col) or dm.is_datetime(col) or dm.is_numeric(col)
                                       or dm.is_integer(col) or dm.is_boolean(col))

        def make(col):
            if phones and col == personal.PHONE:
                return (lambda v: v) if see_phones else personal.mask_phone
            if col in declared and not typed(col):
                formatter = declared[col]

                def formatted(v, formatter=formatter, col=col):
                    try:
                        return _plain(formatter(v))
                    except Exception:  # a page formatter that needs a request: the plain value
                        return fallback(col)(v)
                return formatted
            return fallback(col)

        def fallback(col):
            if col in view.enum_columns:
                return view.enum_columns[col].label
            if "." in col or dm.is_relation(col):
                return related
            if dm.is_datetime(col):
                return _local_datetime
            return _plain

        return {col: make(col) for col in self.columns}

    def _computed_values(self, batch):
        view = self.view
        if getattr(view, "export_computed_columns", None) is not None:
            return view.export_computed_values(batch)
        return view.computed_values(batch)

    def row_batches(self):
        """Lists of rows of typed values (``kinds`` says how each column is written), one per batch
        read; a whole batch is converted before the next is read (a caller may commit in between)."""
        dm = self.view.datamodel
        converters = self._converters()
        computed = set(self._computed())
        for batch in self.batches():
            extra = self._computed_values(batch) if computed else {}
            rows = []
            for item in batch:
                values = extra.get(dm.get_pk_value(item), {}) if computed else {}
                row = []
                for col in self.columns:
                    if col in computed:
                        value = _plain(values.get(col))
                    else:
                        value = _value(item, col)
                        if value is not None:
                            value = converters[col](value)
                    row.append(value)
                rows.append(row)
            yield rows

    def rows(self):
        """Every row, with the columns' ``kinds`` (``Rows``)."""
        return Rows((row for rows in self.row_batches() for row in rows), self.kinds())


def _value(item, col):
    value = item
    for part in col.split("."):
        if value is None:
            return None
        value = getattr(value, part, None)
    if callable(value):
        value = value()
    return value
