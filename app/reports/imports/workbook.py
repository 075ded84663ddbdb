"""Reading the uploaded workbook (its first sheet: a header row, then one record per row) and
writing the error workbook (the original columns plus an error column, rows with errors
highlighted).

The rows are never all held in memory: ``Sheet.rows`` reads the stored file again on each pass
(openpyxl's read-only mode for the workbook, its shared strings and styles; the sheet's rows
streamed by ``_stream``, which gives each cell the value openpyxl's own reader gives it), and the
error workbook is written in write-only mode. ``read_workbook`` counts the rows once (refusing a
file over ``MAX_ROWS``) before any row is judged.
"""
import uuid
from dataclasses import dataclass

from flask_babel import gettext as _

from app.core.errors import DomainError
from app.reports.imports.archive import check_archive_file
from app.reports.imports import columns as _columns
from app.reports.imports.files import file_path
from app.reports.imports.parsing import text

ERROR_FILL = "FFC7CE"
HEADER_FILL = "DDEBF7"


@dataclass
class Sheet:
    headers: list  # the original header cells
    fields: list  # per column: the Col it maps to, or None
    rows: object  # (excel row number, [cell values]): a list, or ``StoredRows`` read on each pass


class _Book:
    """The parts of a stored workbook the rows need: its shared strings, its date formats and
    epoch (openpyxl's reader, read-only), and where its first worksheet is. The worksheet itself is
    never handed to openpyxl (which reads a sheet with no declared dimension whole, to find it)."""

    def __init__(self, path):
        from openpyxl.reader.excel import ExcelReader
        from openpyxl.styles.stylesheet import apply_stylesheet

        try:
            reader = ExcelReader(path, read_only=True, data_only=True)
            reader.read_manifest()
            reader.read_strings()
            reader.read_workbook()
            apply_stylesheet(reader.archive, reader.wb)
            self.sheet = next((rel.target for _sheet, rel in reader.parser.find_sheets()
                               if rel.target in reader.valid_files and "chartsheet" not in rel.Type), None)
        except Exception as exc:
            raise DomainError(_("The file is not a valid Excel workbook (.xlsx).")) from exc
        self.reader = reader
        self.shared = reader.shared_strings
        self.date_formats, self.timedelta_formats = reader.wb._date_formats, reader.wb._timedelta_formats
        self.epoch = reader.wb.epoch

    def rows(self, convert=True):
        if self.sheet is None:
            return iter(())
        return _stream(self, convert)

    def close(self):
        self.reader.archive.close()


def _empty(values):
    return all(v is None or (isinstance(v, str) and not v.strip()) for v in values)


def _stream(book, convert=True):
    """``(row number, values)`` of every row element of the first worksheet, each cell's value as
    openpyxl's read-only reader gives it (``iter_rows(values_only=True)``: numbers, shared and
    inline strings, booleans, dates by the cell's number format, cached formula results) and each
    row as wide as the sheet's declared dimension (else as its last cell). ``convert=False``:
    numbers and dates stay text (enough to count rows)."""
    from warnings import warn

    from openpyxl.cell.text import Text
    from openpyxl.utils.cell import column_index_from_string, coordinate_to_tuple, range_boundaries
    from openpyxl.utils.datetime import from_excel, from_ISO8601
    from openpyxl.worksheet._reader import _cast_number
    from openpyxl.xml.constants import SHEET_MAIN_NS
    from openpyxl.xml.functions import iterparse

    ns = f"{{{SHEET_MAIN_NS}}}"
    row_tag, cell_tag, value_tag, inline_tag = ns + "row", ns + "c", ns + "v", ns + "is"
    plain_tag, data_tag, dimension_tag = ns + "t", ns + "sheetData", ns + "dimension"
    shared = book.shared
    date_formats, timedelta_formats, epoch = book.date_formats, book.timedelta_formats, book.epoch
    max_col = max_row = None
    digits = "0123456789"
    number = 0
    rows_seen = False
    with book.reader.archive.open(book.sheet) as source:
        parent = None
        for event, element in iterparse(source, events=("start", "end")):
            tag = element.tag
            if event == "start":
                if parent is None and tag == data_tag:
                    parent = element
                continue
            if tag != row_tag:
                if tag == dimension_tag and not rows_seen:
                    try:
                        _min_col, _min_row, max_col, max_row = range_boundaries(element.get("ref", ""))
                    except (TypeError, ValueError):
                        max_col = max_row = None
                continue
            rows_seen = True
            r = element.get("r")
            if r:
                try:
                    number = int(r)
                except ValueError:
                    val = float(r)
                    if not val.is_integer():
                        raise ValueError(f"{r} is not a valid row number")
                    number = int(val)
            else:
                number += 1
            if max_row is not None and number > max_row:
                break
            cells, column = [], 0
            for c in element:
                if c.tag != cell_tag:
                    continue
                coordinate = c.get("r")
                if coordinate:
                    letters = coordinate.rstrip(digits)
                    column = (column_index_from_string(letters) if letters.isalpha()
                              else coordinate_to_tuple(coordinate)[1])
                else:
                    column += 1
                data_type = c.get("t", "n")
                if data_type == "inlineStr":
                    child = c.find(inline_tag)
                    if child is None:
                        value = None
                    elif len(child) == 1 and child[0].tag == plain_tag:  # plain text: what Text.content gives
                        value = child[0].text or ""
                    else:
                        value = Text.from_tree(child).content
                else:
                    value = c.findtext(value_tag, None) or None
                    if value is not None:
                        if data_type == "n":
                            if convert:
                                value = _cast_number(value)
                                style_id = c.get("s", 0)
                                if style_id:
                                    style_id = int(style_id)
                                if style_id in date_formats:
                                    try:
                                        value = from_excel(value, epoch, timedelta=style_id in timedelta_formats)
                                    except (OverflowError, ValueError):
                                        warn(f"Cell {coordinate} is marked as a date but the serial value {value} "
                                             "is outside the limits for dates. The cell will be treated as an error.")
                                        value = "#VALUE!"
                        elif data_type == "s":
                            value = shared[int(value)]
                        elif data_type == "b":
                            value = bool(int(value))
                        elif data_type == "d" and convert:
                            value = from_ISO8601(value)
                cells.append((column, value))
            element.clear()
            if parent is not None:
                parent.clear()  # the rows read are dropped: memory stays flat
            if not cells and not max_col:
                yield number, []
                continue
            width = max_col or cells[-1][0]
            values = [None] * width
            for column, value in cells:
                if 1 <= column <= width:
                    values[column - 1] = value
            yield number, values


class StoredRows:
    """The data rows of a stored workbook (``(row number, values)``, empty rows left out), read
    from the file on each pass. ``len()``: their number, counted by ``read_workbook`` or by the
    last whole pass; before that, the sheet's declared dimension (``estimated``)."""

    def __init__(self, path, count, estimated=False):
        self.path, self.count, self.estimated = path, count, estimated

    def __len__(self):
        return self.count

    def __iter__(self):
        book = _Book(self.path)
        read = 0
        try:
            for number, values in book.rows():
                if number >= 2 and not _empty(values):
                    read += 1
                    if read > _columns.MAX_ROWS:
                        raise DomainError(_("At most %(n)s rows can be imported at once.", n=_columns.MAX_ROWS))
                    yield number, values
        finally:
            book.close()
        self.count, self.estimated = read, False  # a whole pass: the exact number


def _declared_rows(book):
    """The data rows the first sheet's dimension declares (at most; None when it declares none)."""
    from openpyxl.utils.cell import range_boundaries
    from openpyxl.xml.constants import SHEET_MAIN_NS
    from openpyxl.xml.functions import iterparse

    if book.sheet is None:
        return 0
    with book.reader.archive.open(book.sheet) as source:
        for _event, element in iterparse(source, events=("start",)):
            if element.tag == f"{{{SHEET_MAIN_NS}}}dimension":
                try:
                    return max(0, range_boundaries(element.get("ref", ""))[3] - 1)
                except (TypeError, ValueError):
                    return None
            if element.tag == f"{{{SHEET_MAIN_NS}}}sheetData":
                return None
    return None


def read_workbook(spec, path, count=None):
    """The sheet's headers mapped to ``spec``'s columns, and its rows (``StoredRows``). The rows
    are counted first (refusing more than ``MAX_ROWS``) unless ``count`` is known (the check
    counted them) or the sheet's dimension already declares no more than the cap (then the first
    pass counts them)."""
    check_archive_file(path)  # never hand a decompression bomb to the parser
    book = _Book(path)
    try:
        first = next(book.rows(), None)
        headers = list(first[1]) if first is not None and first[0] == 1 else []
        by_name = {}
        for col in spec.columns:
            for name in col.labels():
                by_name[name] = col
        fields = []
        for h in headers:
            name = (text(h) or "").rstrip("*").strip().lower()
            fields.append(by_name.get(name))
        found = {c.field for c in fields if c is not None}
        missing = [str(c.label) for c in spec.columns if c.required and c.field not in found]
        if missing:
            raise DomainError(_("Missing columns: %(names)s.", names=", ".join(missing)))
        if count is not None:
            return Sheet(headers, fields, StoredRows(path, count))
        declared = _declared_rows(book)
        if declared is not None and declared <= _columns.MAX_ROWS:
            return Sheet(headers, fields, StoredRows(path, declared, estimated=True))
        count = 0
        for number, values in book.rows(convert=False):
            if number < 2 or _empty(values):
                continue
            count += 1
            if count > _columns.MAX_ROWS:
                raise DomainError(_("At most %(n)s rows can be imported at once.", n=_columns.MAX_ROWS))
        return Sheet(headers, fields, StoredRows(path, count))
    finally:
        book.close()


def _cell(ws, value, number_format=None, fill=None):
    """A write-only cell: text as typed (a leading ``=`` never makes a formula), its format and fill."""
    from openpyxl.cell import WriteOnlyCell

    cell = WriteOnlyCell(ws, value=value)
    if isinstance(value, str) and value.startswith("="):
        cell.data_type = "s"  # text as typed, never a formula
    if number_format:
        cell.number_format = number_format
    if fill is not None:
        cell.fill = fill
    return cell


def write_error_workbook(spec, sheet, errors):
    """The original columns plus an error column; rows with errors highlighted. Written in
    write-only mode, a row at a time (the rows are read again from the upload). Returns the
    stored file name."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter

    by_row = {e["row"]: e["messages"] for e in errors}
    wb = Workbook(write_only=True)
    ws = wb.create_sheet(str(spec.label)[:31])
    header = list(sheet.headers) + [_("Errors")]
    width = len(header)
    formats = [spec.number_format(col) if col is not None else None for col in sheet.fields]
    for i, col in enumerate(sheet.fields, start=1):
        letter = get_column_letter(i)
        ws.column_dimensions[letter].width = max(col.width if col else 14, 12)
        if formats[i - 1]:
            ws.column_dimensions[letter].number_format = formats[i - 1]
    ws.column_dimensions[get_column_letter(width)].width = 60
    ws.freeze_panes = "A2"
    bold, header_fill = Font(bold=True), PatternFill("solid", fgColor=HEADER_FILL)
    cells = []
    for value in header:
        cell = _cell(ws, value, fill=header_fill)
        cell.font = bold
        cells.append(cell)
    ws.append(cells)
    fill = PatternFill("solid", fgColor=ERROR_FILL)
    wrap = Alignment(wrap_text=True, vertical="top")
    for number, values in sheet.rows:
        messages = by_row.get(number)
        values = list(values)[:len(sheet.headers)]
        row_fill = fill if messages else None
        cells = [_cell(ws, value, formats[i] if i < len(formats) else None, row_fill) for i, value in enumerate(values)]
        if messages:
            cells += [_cell(ws, None, fill=fill) for _ in range(len(cells), width - 1)]
            message = _cell(ws, "\n".join(messages), fill=fill)
            message.alignment = wrap
            cells.append(message)
        ws.append(cells)
    stored = f"{uuid.uuid4().hex}-errors.xlsx"
    wb.save(file_path(stored))
    return stored
