"""Exports of what a user sees: a generated list with its filters and region scope, as CSV
(streamed) or as an Excel workbook (written row by row).

One set of pieces for every export (the generated lists here, the audit trail's own export):

* ``neutralise`` — a text cell a spreadsheet would read as a formula (``=``, ``+``, ``-``, ``@``,
  tab, carriage return) gets a leading apostrophe;
* ``csv_stream`` / ``xlsx_stream`` / ``write_xlsx`` — UTF-8 CSV with a BOM (Excel reads the
  Chinese right) and openpyxl's write-only workbooks, fed by row iterators, never holding the rows;
* ``attachment`` — the download response (no caching, no sniffing);
* ``ListExport`` — one generated list (``BaseModelView``) as a header and rows: the list's filters
  from query arguments (``_flt_<index>_<column>``), its base filters and the acting user's region
  scope; the show columns followed by the list-only (computed) ones, translated headers and
  enumeration labels, related records by name, flags as Yes/No, datetimes in Asia/Shanghai, the
  customer's phone masked for users who may not see it. Rows are read in batches (keyset
  paging) in the list's own order: the user's sort column, else the view's ``base_order``.

The workbook of a generated list is written by a background job (``reports.exports``), which
registers itself with ``register_background_export``.
"""
import csv
import io
import re
import tempfile
from datetime import date, datetime
from decimal import Decimal

from flask import Response
from flask_babel import gettext
from markupsafe import Markup
from sqlalchemy import and_, inspect as sa_inspect, or_
from sqlalchemy.orm import selectinload

from app.core import clock
from app.extensions import db

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
BATCH = 500
"""Rows read per query (and, for CSV, written per chunk)."""
FILTER_ARG = re.compile(r"_flt_(\d)_(.*)")
ORDER_ARG = re.compile(r"_o[cd]_\w+")
XLSX_MIMETYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CSV_MIMETYPE = "text/csv; charset=utf-8"

_background = {}


def register_background_export(starter):
    """``starter(view, args, user) -> job`` starts a list's Excel export in the background."""
    _background["xlsx"] = starter


def background_export():
    return _background.get("xlsx")


# --- cells, streams, responses ------------------------------------------------------------------

def neutralise(value):
    """A cell a spreadsheet would read as a formula gets a leading apostrophe (as text)."""
    text = "" if value is None else str(value)
    if text.startswith(FORMULA_PREFIXES):
        return "'" + text
    return text


def safe_cell(value):
    """Numbers stay numbers; everything else becomes neutralised text."""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, (int, float, Decimal)):
        return value
    return neutralise(value)


def csv_stream(header, rows, chunk_rows=None):
    """``\\ufeff`` + the header + the rows as CSV text, yielded every ``chunk_rows`` rows."""
    chunk_rows = chunk_rows or BATCH
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    yield "\ufeff"
    writer.writerow(header)
    count = 0
    for row in rows:
        writer.writerow(row)
        count += 1
        if count % chunk_rows == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def _xlsx_cell(value):
    if isinstance(value, str):
        from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

        return ILLEGAL_CHARACTERS_RE.sub("", value)
    return value


def write_xlsx(target, sheet_title, header, rows, progress=None, every=None):
    """Write a workbook in openpyxl's write-only mode to ``target`` (a path or a binary file);
    ``progress(n)`` is called every ``every`` rows and at the end. Returns the number of rows."""
    from openpyxl import Workbook

    every = every or BATCH
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(str(sheet_title)[:31] or "Sheet")
    sheet.append([_xlsx_cell(v) for v in header])
    count = 0
    for row in rows:
        sheet.append([_xlsx_cell(v) for v in row])
        count += 1
        if progress is not None and count % every == 0:
            progress(count)
    workbook.save(target)
    if progress is not None:
        progress(count)
    return count


def xlsx_stream(sheet_title, header, rows, chunk=64 * 1024):
    """The workbook written to a temporary file, then sent in chunks; the file goes away when
    the download ends."""
    spool = tempfile.TemporaryFile()
    try:
        write_xlsx(spool, sheet_title, header, rows)
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
    response = Response(body, mimetype=mimetype)
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
    return clock.to_local(value).strftime("%Y-%m-%d %H:%M")


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
        return show + [c for c in view.list_columns if c not in show]

    def header(self):
        labels = self.view.label_columns
        return [str(labels.get(col, col)) for col in self.columns]

    def sheet_title(self):
        return str(self.view.list_title or self.model.__tablename__)

    def filename(self, ext):
        return export_filename(self.model.__tablename__.replace("_", "-"), ext)

    # --- which rows ----------------------------------------------------------------------------
    def _filters(self, args):
        from app.core.views import ViewFilters

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
        from app.core import personal

        view, dm = self.view, self.view.datamodel
        declared = dict(getattr(type(view), "formatters_columns", None) or {})
        phones = personal.PHONE in personal.PERSONAL_FIELDS.get(self.model.__tablename__, ())
        see_phones = personal.may_see_phones() if phones else True
        yes, no = gettext("Yes"), gettext("No")

        def related(value):
            if isinstance(value, (list, tuple, set)):
                return ", ".join(str(v) for v in value)
            return str(value)

        def make(col):
            if phones and col == personal.PHONE:
                return lambda v: v if see_phones else personal.mask_phone(v)
            if col in declared and "." not in col and (dm.is_date(col) or dm.is_datetime(col)):
                return fallback(col)  # a spreadsheet sorts ISO dates; the page's badges stay on the page
            if col in declared:
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
            if dm.is_boolean(col):
                return lambda v: yes if v else no
            if dm.is_datetime(col):
                return _local_datetime
            return lambda v: v.isoformat() if isinstance(v, (date, datetime)) else v

        return {col: make(col) for col in self.columns}

    def row_batches(self):
        """Lists of rows of display values (text neutralised, numbers kept), one per batch read;
        a whole batch is converted before the next is read (a caller may commit in between)."""
        view, dm = self.view, self.view.datamodel
        converters = self._converters()
        computed = [c for c in self.columns if c in view.computed_columns]
        for batch in self.batches():
            extra = view.computed_values(batch) if computed else {}
            rows = []
            for item in batch:
                values = extra.get(dm.get_pk_value(item), {}) if computed else {}
                row = []
                for col in self.columns:
                    if col in computed:
                        value = _plain(values.get(col, ""))
                    else:
                        value = _value(item, col)
                        value = "" if value is None else converters[col](value)
                    row.append(safe_cell("" if value is None else value))
                rows.append(row)
            yield rows

    def rows(self):
        for rows in self.row_batches():
            yield from rows


def _value(item, col):
    value = item
    for part in col.split("."):
        if value is None:
            return None
        value = getattr(value, part, None)
    if callable(value):
        value = value()
    return value
