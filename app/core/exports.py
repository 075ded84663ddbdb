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
* ``write_xlsx`` / ``xlsx_stream`` — workbooks streamed into their zip (``core.xlsx``: the parts
  openpyxl's write-only mode writes) with typed cells: dates and datetimes as Excel dates in the
  reader's format (``2026年5月1日`` in Chinese), numbers as numbers (money with 2 places,
  percentages as percentages), flags as 是/否, text always as text (a value starting with ``=``
  stays a string, never a formula, and shows no apostrophe); column widths fitted to the header
  and the first rows (CJK characters count double), the header row frozen and an autofilter over
  the data. Each column's styles are made once, and each workbook compiles one function writing
  a row's XML;
* ``attachment`` — the download response (no caching, no sniffing);
* ``ListExport`` — one generated list (``BaseModelView``) as a header, column kinds and rows: the
  list's filters from query arguments (``_flt_<index>_<column>``), its base filters and the acting
  user's region scope; the show columns followed by the list-only (computed) ones, translated
  headers and enumeration labels, related records by name, stored numbers, dates and flags typed,
  datetimes in Asia/Shanghai, the customer's phone masked for users who may not see it. A view
  may name its export's computed columns (``export_computed_columns``, filled by
  ``export_computed_values`` with typed values, one value per column) and the kinds of some
  columns (``export_formats``). Rows come in the list's own order (the user's sort column, else
  the view's ``base_order``), in batches: as plain column values when every column is a stored
  column or a related record (``PlainRows``: one SELECT of exactly those columns, streamed from a
  server-side cursor on PostgreSQL, keyset batches elsewhere; one compiled converter per row),
  else from the records (keyset paging).

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
from functools import partial
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
    csv_batches = getattr(rows, "csv_batches", None)
    if csv_batches is not None and kinds == _kinds(rows.kinds, len(header)):
        # rows read as CSV fields already (``PlainRows``): one ``writerows`` per batch
        for batch in csv_batches():
            writer.writerows(batch)
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
        yield buffer.getvalue()
        return
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
    """One column of a sheet: ``xml(value, row_number)`` gives the value's cell (``""`` for an
    empty one) in the column's style — text as an inline string (a value starting with ``=`` stays
    text, never a formula), numbers and dates as numbers with the column's format — and
    ``width(value)`` the width the value takes as the column shows it."""

    def __init__(self, book, index, kind, dates, yes, no):
        from app.core import xlsx

        self.kind, self.yes, self.no = kind, yes, no
        datetime_kind = DATETIME_SECONDS if kind == DATETIME_SECONDS else DATETIME
        (date_format, self.date_example), (datetime_format, self.datetime_example) = \
            dates[DATE], dates[datetime_kind]
        self.places = _decimal_places(kind)
        number_style = book.style(_number_format(kind))
        day_style, moment_style = book.style(date_format), book.style(datetime_format)
        letter = self.letter = xlsx.column_letter(index)
        escape, serial, text_cell = xlsx.escape, xlsx.excel_date, xlsx.text_cell
        percent = kind == PERCENT
        yes_text, no_text = self.yes_text, self.no_text = escape(str(yes)), escape(str(no))
        number_open = self.number_open = f' s="{number_style}"><v>' if number_style else "><v>"
        day_open = self.day_open = f' s="{day_style}"><v>'
        moment_open = self.moment_open = f' s="{moment_style}"><v>'

        def xml(value, row):
            kind_of = type(value)
            if kind_of is str:
                if not value:
                    return ""
                return text_cell(f"{letter}{row}", escape(value if len(value) <= XLSX_MAX_TEXT
                                                          else value[:XLSX_MAX_TEXT]))
            if value is None:
                return ""
            if kind_of is int or kind_of is Decimal or kind_of is float:
                if percent:
                    value = value / 100
                return f'<c r="{letter}{row}"{number_open}{value!r}</v></c>' if kind_of is float \
                    else f'<c r="{letter}{row}"{number_open}{value}</v></c>'
            if kind_of is datetime:
                if value.tzinfo is not None:
                    value = clock.to_local(value).replace(tzinfo=None)
                return f'<c r="{letter}{row}"{moment_open}{serial(value)!r}</v></c>'
            if kind_of is date:
                return f'<c r="{letter}{row}"{day_open}{serial(value)}</v></c>'
            if kind_of is bool:
                return text_cell(f"{letter}{row}", yes_text if value else no_text)
            return xml(str(value), row)

        self.xml = xml

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


_KIND_TYPES = {DATETIME: datetime, DATETIME_SECONDS: datetime, DATE: date, INTEGER: int}
"""The type a column of a kind holds, when its sampled rows hold none."""


def _xlsx_row_writer(columns, cells, sample, width):
    """``(row, row_number) -> the row's cells' XML``, made once per workbook: a column whose
    sampled values all have one type (text, a datetime, a date, a number, a flag) writes that type
    inline, anything else through its column's ``xml``."""
    from app.core import xlsx

    names = {"x": xlsx, "MAX": XLSX_MAX_TEXT, "datetime": datetime, "date": date, "Decimal": Decimal}
    parts = []
    for i, column in enumerate(columns):
        names[f"c{i}"] = cells[i]
        fallback = f"c{i}(v, n)"
        seen = {type(row[i]) for row in sample if i < len(row) and row[i] is not None}
        kind_of = seen.pop() if len(seen) == 1 else _KIND_TYPES.get(column.kind) if not seen else None
        ref = f'<c r="{column.letter}{{n}}"'
        if kind_of is str:
            text = ('(v if len(v) <= MAX and v.isprintable() and "&" not in v and "<" not in v and ">" not in v '
                    'else x.escape(v[:MAX]))')
            expression = (f'("" if (v := r[{i}]) is None or v == "" else '
                          f'(f\'{ref} t="inlineStr"><is><t xml:space="preserve">{{{text}}}</t></is></c>\' '
                          f'if type(v) is str else {fallback}))')
        elif kind_of is datetime:
            serial = ("(v.toordinal() - x.EPOCH + (v.hour * 3600 + v.minute * 60 + v.second "
                      "+ v.microsecond / 1e6) / 86400)")
            expression = (f'("" if (v := r[{i}]) is None else (f\'{ref}{column.moment_open}{{{serial}!r}}</v></c>\' '
                          f'if type(v) is datetime and v.tzinfo is None else {fallback}))')
        elif kind_of is date:
            expression = (f'("" if (v := r[{i}]) is None else (f\'{ref}{column.day_open}{{v.toordinal() - x.EPOCH}}'
                          f'</v></c>\' if type(v) is date else {fallback}))')
        elif kind_of is bool:
            names[f"y{i}"], names[f"n{i}"] = column.yes_text, column.no_text
            expression = (f'("" if (v := r[{i}]) is None else (f\'{ref} t="inlineStr"><is><t xml:space="preserve">'
                          f'{{y{i} if v else n{i}}}</t></is></c>\' if type(v) is bool else {fallback}))')
        elif kind_of in (int, Decimal) and column.kind != PERCENT:
            expression = (f'("" if (v := r[{i}]) is None else (f\'{ref}{column.number_open}{{v}}</v></c>\' '
                          f'if type(v) is {kind_of.__name__} else {fallback}))')
        else:
            expression = f'("" if (v := r[{i}]) is None else {fallback})'
        parts.append(expression)
    source = "def row_xml(r, n):\n    return \"\".join([" + ",\n        ".join(parts) + "])\n"
    exec(compile(source, "<workbook row>", "exec"), names)  # noqa: S102 - expressions built here
    short = names["row_xml"]

    def row_xml(row, number):
        if len(row) < width:  # a short row: its missing cells are empty
            row = list(row) + [None] * (width - len(row))
        return short(row, number)

    return row_xml


def write_xlsx(target, sheet_title, header, rows, progress=None, every=None, kinds=None):
    """Write a one-sheet workbook to ``target`` (a path or a binary file), streaming
    (``core.xlsx``): typed cells, fitted column widths, the header frozen and filtered. ``kinds``
    (else the rows' own, ``Rows``) say how each column is written; ``progress(n)`` is called every
    ``every`` rows and at the end. Returns the number of rows."""
    from app.core import xlsx

    every = every or BATCH
    header = [str(label) for label in header]
    kinds = _kinds(kinds if kinds is not None else getattr(rows, "kinds", None), len(header))
    dates = DATE_FORMATS.get(l10n.locale().language, DATE_FORMATS["en"])
    yes, no = gettext("Yes"), gettext("No")
    book = xlsx.Workbook(target, sheet_title)
    try:
        columns = [_XlsxColumn(book, index, kind, dates, yes, no) for index, kind in enumerate(kinds, 1)]
        cells = [column.xml for column in columns]
        bold = book.style(bold=True)

        rows = iter(rows)
        sample = list(islice(rows, WIDTH_SAMPLE))
        book.start(_fitted_widths(header, columns, sample), freeze_header=bool(header))
        book.row("".join(f'<c r="{xlsx.column_letter(index)}1" s="{bold}" t="inlineStr"><is>'
                         f'<t xml:space="preserve">{xlsx.escape(label)}</t></is></c>'
                         for index, label in enumerate(header, 1)))
        count = 0
        write_row = book.row
        row_xml = _xlsx_row_writer(columns, cells, sample, len(header))
        for row in chain(sample, rows):
            write_row(row_xml(row, count + 2))
            count += 1
            if progress is not None and count % every == 0:
                progress(count)
        book.close(len(header), autofilter=bool(header))
    except BaseException:
        book.abort()
        raise
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

    def probe(self):
        """Run the export's query for no rows: a filter value the database refuses fails here,
        before anything is streamed, without counting the rows first."""
        self.query().order_by(None).limit(0).all()

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
        """``(order_by, after, key_names)``: the list's order with the primary key as tie-break; a
        function ``after(last_pk, last_value)`` giving the condition for the rows after the row with
        that primary key and sort value; the names of the primary key and the sort column. NULLs
        go where the database puts them on the list page (PostgreSQL: as the largest value;
        SQLite: as the smallest)."""
        pk = self.model.__mapper__.primary_key[0]
        pk_attr = getattr(self.model, pk.key)
        if self.order is None or self.order[0] == pk.key:
            ascending = self.order is None or self.order[1]
            return ([pk_attr.asc() if ascending else pk_attr.desc()],
                    lambda last_pk, _value: (pk_attr > last_pk) if ascending else (pk_attr < last_pk),
                    (pk.key, pk.key))
        name, ascending = self.order
        key = getattr(self.model, name)
        nulls_large = db.session.get_bind().dialect.name == "postgresql"
        nulls_last = ascending == nulls_large
        ordered = key.asc() if ascending else key.desc()
        order_by = [ordered.nulls_last() if nulls_last else ordered.nulls_first(), pk_attr.asc()]

        def after(last_pk, value):
            if value is None:
                tail = and_(key.is_(None), pk_attr > last_pk)
                return tail if nulls_last else or_(tail, key.isnot(None))
            beyond = key > value if ascending else key < value
            condition = or_(beyond, and_(key == value, pk_attr > last_pk))
            return or_(condition, key.is_(None)) if nulls_last else condition

        return order_by, after, (pk.key, name)

    def batches(self, size=None):
        """The rows' objects, ``size`` at a time, in the list's order (keyset paging: memory stays
        flat and each batch costs the same)."""
        size = size or BATCH
        order_by, after, (pk_name, order_name) = self._keyset()
        base = self.query().options(*self._load_options())
        last = None
        while True:
            query = base if last is None else base.filter(last)
            batch = query.order_by(*order_by).limit(size).all()
            if not batch:
                return
            yield batch
            last = after(getattr(batch[-1], pk_name), getattr(batch[-1], order_name))
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
        read; a whole batch is converted before the next is read (a caller may commit in between).
        Plain column values when every column can be read so (``PlainRows``), else records."""
        plan = PlainRows.plan(self)
        if plan is not None:
            return plan.row_batches()
        return self.record_row_batches()

    def record_row_batches(self):
        """``row_batches`` from the records themselves (computed columns, properties, paths)."""
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
        """Every row, with the columns' ``kinds`` (``Rows``; read as plain values when the list
        allows it, ``PlainRows``)."""
        if type(self).row_batches is ListExport.row_batches:
            plan = PlainRows.plan(self)
            if plan is not None:
                return plan.rows()
        return Rows((row for rows in self.row_batches() for row in rows), self.kinds())


# --- a generated list as plain values ----------------------------------------------------------

STREAM_FETCH = 2000
"""Rows fetched at a time from a server-side cursor (handed on ``BATCH`` at a time)."""
LABEL_CACHE = 50000
"""Related records' labels kept per export (the cache starts again when full)."""


def _text_function(cls):
    """The function giving a record's text (what ``str(record)`` calls)."""
    return cls.__str__ if cls.__str__ is not object.__str__ else cls.__repr__


def _label_columns(cls):
    """The names of the columns a record's text reads (``__repr__`` read on a probe), or ``None``
    when it reads more than its own columns (a method, a related record)."""
    names = set(sa_inspect(cls).column_attrs.keys())
    seen = []

    class Probe:
        def __getattr__(self, name):
            if name not in names:
                raise AttributeError(name)
            if name not in seen:
                seen.append(name)
            return "0"

    if _text_function(cls) is object.__repr__:
        return None
    try:
        text = _text_function(cls)(Probe())
    except Exception:
        return None
    return seen if isinstance(text, str) else None


def _record_text(cls, names):
    """``values -> str(record)`` for a record of ``cls`` holding only the columns ``names``."""
    text = _text_function(cls)
    record_class = type(f"{cls.__name__}Label", (), {"__slots__": tuple(names)})
    new = object.__new__
    setters = [(name, i) for i, name in enumerate(names)]

    def label(values):
        record = new(record_class)
        for name, i in setters:
            object.__setattr__(record, name, values[i])
        return text(record)

    return label


class _Shift:
    """Naive UTC → naive Asia/Shanghai: one addition while the offset stays the same (checked
    once per process, week by week from 1992 to 2100), else ``clock.to_local``."""

    _range = None

    @classmethod
    def range(cls):
        """``(start, end, offset)``: naive UTC datetimes in ``[start, end)`` are local at
        ``+ offset`` (``offset`` ``None``: the zone's offset changes)."""
        if cls._range is None:
            from datetime import timedelta

            start, end = datetime(1992, 1, 1), datetime(2100, 1, 1)
            offset = clock.to_local(start).utcoffset()
            moment, week = start, timedelta(days=7)
            while moment < end:
                if clock.to_local(moment).utcoffset() != offset:
                    offset = None
                    break
                moment += week
            cls._range = (start, end, offset)
        return cls._range

    @classmethod
    def converter(cls):
        start, end, offset = cls.range()
        if offset is None:
            return _local_datetime

        def local(value):
            if value.tzinfo is None and start <= value < end:
                return value + offset
            return _local_datetime(value)

        return local


def _memo(convert):
    """``convert`` remembered per value (enumeration labels: a few codes, many rows; at most
    ``LABEL_CACHE`` values, then it starts again)."""
    seen = {}

    def remembered(value):
        try:
            return seen[value]
        except KeyError:
            if len(seen) >= LABEL_CACHE:
                seen.clear()
            result = seen[value] = convert(value)
            return result
        except TypeError:  # unhashable
            return convert(value)

    return remembered


class PlainRows:
    """A list's export read as plain column values — one SELECT of exactly the exported columns
    (related records' labels from outer joins of the columns their text reads), no records: on
    PostgreSQL one query streamed from a server-side cursor on a connection of its own (a job's
    progress commits do not end it), elsewhere keyset batches on the session. Converters are made
    once per column (labels remembered per code, local times by one addition, phones masked)."""

    def __init__(self, export, columns):
        self.export = export
        self.columns = columns
        """Per exported column: ``("column", attribute)``, ``("join", relationship, class, label
        columns)`` or ``("lookup", foreign key column, class, its key column)``."""

    @classmethod
    def plan(cls, export):
        """The plain reading of ``export``, or ``None`` when a column needs the records (computed
        values, properties, paths through relations, collections)."""
        if not isinstance(export, ListExport) or type(export).row_batches is not ListExport.row_batches \
                or export._computed():
            return None
        model = export.model
        mapper = sa_inspect(model)
        formatted = set(getattr(type(export.view), "formatters_columns", None) or {})
        columns = []
        for col in export.columns:
            if col in mapper.column_attrs:
                columns.append(("column", getattr(model, col)))
                continue
            rel = mapper.relationships.get(col)
            if rel is None or rel.uselist or len(rel.local_remote_pairs) != 1 or col in formatted:
                return None
            target = rel.mapper.class_
            names = _label_columns(target)
            if names is not None:
                columns.append(("join", getattr(model, col), target, names))
            else:
                local, remote = rel.local_remote_pairs[0]
                columns.append(("lookup", local, target, remote))
        return cls(export, columns)

    # --- the statement -------------------------------------------------------------------------
    def _select(self):
        """``(query, slices)``: the filtered, scoped query selecting the plain values, and per
        exported column where its values are in a row."""
        from sqlalchemy.orm import aliased

        export = self.export
        query = export.query()
        exprs, slices = [], []
        pk = getattr(export.model, export.model.__mapper__.primary_key[0].key)
        order_by, _after, (_pk_name, order_name) = export._keyset()
        exprs.append(pk)
        exprs.append(getattr(export.model, order_name))
        for spec in self.columns:
            start = len(exprs)
            if spec[0] == "column":
                exprs.append(spec[1])
            elif spec[0] == "join":
                _kind, attr, target, names = spec
                alias = aliased(target)
                query = query.outerjoin(attr.of_type(alias))
                target_pk = sa_inspect(target).primary_key[0].key
                exprs.append(getattr(alias, target_pk))
                exprs.extend(getattr(alias, name) for name in names)
            else:
                exprs.append(spec[1])
            slices.append((start, len(exprs)))
        return query.with_entities(*exprs).order_by(None).order_by(*order_by), slices

    # --- the rows ------------------------------------------------------------------------------
    def _raw_batches(self, query):
        size = BATCH
        session = db.session
        if session.get_bind().dialect.name == "postgresql":
            statement = query.statement
            fetch = max(size, STREAM_FETCH)
            with db.engine.connect() as connection:
                result = connection.execution_options(stream_results=True, max_row_buffer=fetch,
                                                      yield_per=fetch).execute(statement)
                for part in result.partitions():  # ``fetch`` rows a round trip
                    for start in range(0, len(part), size):
                        yield part[start:start + size]
            return
        _order_by, after, _names = self.export._keyset()
        last = None
        while True:
            batch = (query if last is None else query.filter(last)).limit(size).all()
            if not batch:
                return
            yield batch
            last = after(batch[-1][0], batch[-1][1])

    def _specs(self, slices):
        """Per exported column, how its value is read from a row: ``(how, index, convert)`` with
        ``how`` one of ``text`` (stored text as it is), ``number``, ``datetime`` (stored UTC),
        ``date``, ``flag``, ``other`` (through ``convert``: labels, masks, formatters) and
        ``related`` (``convert(finish=None)`` makes the ``row -> text`` reader of the related
        record's text, ``finish(text)`` remembered with it)."""
        from sqlalchemy import Boolean, Date, DateTime, Float, Integer, Numeric, String, Text

        export = self.export
        converters = export._converters()
        specs = []
        for col, spec, (start, stop) in zip(export.columns, self.columns, slices):
            if spec[0] == "join":
                specs.append(("related", start, partial(self._join_reader, spec[2], spec[3], start, stop)))
                continue
            if spec[0] == "lookup":
                specs.append(("related", start, partial(self._lookup_reader, spec[2], spec[3], start)))
                continue
            convert = converters[col]
            column_type = getattr(spec[1], "type", None)
            if convert is _local_datetime and isinstance(column_type, DateTime) and not column_type.timezone:
                specs.append(("datetime", start, None))
            elif convert is not _plain:
                if col in export.view.enum_columns:
                    convert = _memo(convert)
                    convert.remembered = True
                specs.append(("other", start, convert))
            elif isinstance(column_type, (String, Text)):
                specs.append(("text", start, None))
            elif isinstance(column_type, Boolean):
                specs.append(("flag", start, None))
            elif isinstance(column_type, DateTime):
                specs.append(("other", start, _plain))
            elif isinstance(column_type, Date):
                specs.append(("date", start, None))
            elif isinstance(column_type, (Integer, Numeric, Float)):
                specs.append(("number", start, None))
            else:
                specs.append(("other", start, _plain))
        return specs

    @staticmethod
    def _compile(expressions, names):
        """``(convert, prepares)``: ``convert(row) -> list`` of the given per-column expressions of
        ``r`` (made once per export: a row costs one call, not one per column), and the readers'
        per-batch look-ups."""
        source = "def convert(r):\n    return [" + ",\n            ".join(expressions) + "]\n"
        namespace = dict(names)
        exec(compile(source, "<export row>", "exec"), namespace)  # noqa: S102 - expressions built here
        prepares = [value.prepare for value in names.values() if hasattr(value, "prepare")]
        return namespace["convert"], prepares

    def _typed_converter(self, specs):
        """``row -> typed values`` (what ``row_batches`` gives: dates local, labels, masks)."""
        shift = _Shift.converter()
        names, expressions = {"shift": shift}, []
        for n, (how, index, convert) in enumerate(specs):
            if how in ("text", "number", "date", "flag"):
                expressions.append(f"r[{index}]")
            elif how == "datetime":
                expressions.append(f"(None if (v := r[{index}]) is None else shift(v))")
            elif how == "related":
                expressions.append(self._related_expression(n, index, convert(), names))
            else:
                names[f"c{n}"] = convert
                expressions.append(f"(None if (v := r[{index}]) is None else c{n}(v))")
        return self._compile(expressions, names)

    def _csv_converter(self, specs, kinds):
        """``row -> CSV fields``: the typed values as ``csv_stream`` writes them, in one step."""
        yes, no = gettext("Yes"), gettext("No")
        start, end, offset = _Shift.range()
        names = {"F": _FORMULA_FIRST, "Y": yes, "N": no, "local": _local_datetime, "start": start,
                 "end": end, "offset": offset}
        expressions = []
        for n, ((how, index, convert), kind) in enumerate(zip(specs, kinds)):
            write = _csv_writer(kind, yes, no)
            if how == "text":
                expressions.append(f"(v if (v := r[{index}]) is None or v[:1] not in F else \"'\" + v)")
            elif how == "number" and kind != PERCENT:
                expressions.append(f"r[{index}]")
            elif how == "datetime" and offset is not None:
                timespec = "seconds" if kind == DATETIME_SECONDS else "minutes"
                expressions.append(f"(None if (v := r[{index}]) is None else (v + offset if start <= v < end "
                                   f"else local(v)).isoformat(' ', '{timespec}'))")
            elif how == "date":
                expressions.append(f"(None if (v := r[{index}]) is None else v.isoformat())")
            elif how == "flag":
                expressions.append(f"(None if (v := r[{index}]) is None else (Y if v else N))")
            elif how == "related":
                expressions.append(self._related_expression(n, index, convert(write), names))
            elif getattr(convert, "remembered", False):  # labels: the field remembered per code
                names[f"c{n}"] = _memo(lambda v, write=write, convert=convert: write(convert(v)))
                expressions.append(f"(None if (v := r[{index}]) is None else c{n}(v))")
            else:
                if how == "datetime":
                    convert = _local_datetime
                elif convert is None:
                    convert = _plain
                names[f"w{n}"], names[f"c{n}"] = write, convert
                expressions.append(f"(None if (v := r[{index}]) is None else w{n}(c{n}(v)))")
        return self._compile(expressions, names)

    @staticmethod
    def _related_expression(n, index, read, names):
        """A related record's text: its remembered text read inline, else ``read(row)``."""
        names[f"c{n}"] = read
        cache = getattr(read, "cache", None)
        if cache is None:
            return f"c{n}(r)"
        names[f"g{n}"] = cache.get
        return f"(None if (k := r[{index}]) is None else (t if (t := g{n}(k)) is not None else c{n}(r)))"

    @staticmethod
    def _join_reader(target, names, start, stop, finish=None):
        label = _record_text(target, names)
        cache = {}

        def read(row):
            key = row[start]
            if key is None:
                return None
            text = cache.get(key)
            if text is None:
                values = row[start + 1:stop]
                try:
                    text = label(values)
                except AttributeError:  # the text read a column it did not read on the probe
                    text = str(db.session.get(target, key))
                if finish is not None:
                    text = finish(text)
                if len(cache) >= LABEL_CACHE:
                    cache.clear()
                cache[key] = text
            return text

        read.cache = cache
        return read

    def _lookup_reader(self, target, remote, index, finish=None):
        """A related record whose text needs the record: looked up by batch (``prepare``)."""
        cache = {}

        def read(row):
            key = row[index]
            return None if key is None else cache.get(key)

        read.prepare = lambda rows: self._look_up(target, remote, cache, {row[index] for row in rows}, finish)
        return read

    @staticmethod
    def _look_up(target, remote, cache, keys, finish):
        keys = [key for key in keys if key is not None and key not in cache]
        if not keys:
            return
        if len(cache) + len(keys) > LABEL_CACHE:
            cache.clear()
        attr = getattr(target, sa_inspect(target).get_property_by_column(remote).key)
        for record in db.session.query(target).filter(attr.in_(keys)):
            text = str(record)
            cache[getattr(record, attr.key)] = text if finish is None else finish(text)

    def _batches(self, make_converter):
        query, slices = self._select()
        convert, prepares = make_converter(self._specs(slices))
        for batch in self._raw_batches(query):
            for prepare in prepares:
                prepare(batch)
            yield list(map(convert, batch))

    def row_batches(self):
        """Lists of rows of typed values, one per batch read (as ``ListExport.row_batches``)."""
        return self._batches(self._typed_converter)

    def csv_batches(self):
        """Lists of rows of CSV fields (what ``csv_stream`` would write of ``row_batches``)."""
        kinds = _kinds(self.export.kinds(), len(self.export.columns))
        return self._batches(lambda specs: self._csv_converter(specs, kinds))

    def rows(self):
        return PlainRowsSource(self)


class PlainRowsSource(Rows):
    """Every row of a ``PlainRows`` (typed), which ``csv_stream`` may also read as CSV fields."""

    def __init__(self, plain):
        super().__init__((row for rows in plain.row_batches() for row in rows), plain.export.kinds())
        self.csv_batches = plain.csv_batches


def _value(item, col):
    value = item
    for part in col.split("."):
        if value is None:
            return None
        value = getattr(value, part, None)
    if callable(value):
        value = value()
    return value
