"""Reading the uploaded workbook (its first sheet: a header row, then one record per row) and
writing the error workbook (the original columns plus an error column, rows with errors
highlighted)."""
import uuid
from dataclasses import dataclass

from flask_babel import gettext as _

from app.core.errors import DomainError
from app.reports.imports.archive import check_archive_file
from app.reports.imports.columns import MAX_ROWS
from app.reports.imports.files import file_path
from app.reports.imports.parsing import text

ERROR_FILL = "FFC7CE"
HEADER_FILL = "DDEBF7"


@dataclass
class Sheet:
    headers: list  # the original header cells
    fields: list  # per column: the Col it maps to, or None
    rows: list  # (excel row number, [cell values])


def read_workbook(spec, path):
    from openpyxl import load_workbook

    check_archive_file(path)  # never hand a decompression bomb to the parser
    try:
        wb = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:
        raise DomainError(_("The file is not a valid Excel workbook (.xlsx).")) from exc
    try:
        ws = wb.worksheets[0]
        rows = ws.iter_rows(values_only=True)
        headers = list(next(rows, None) or [])
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
        data = []
        for number, values in enumerate(rows, start=2):
            values = list(values)
            if all(v is None or (isinstance(v, str) and not v.strip()) for v in values):
                continue
            data.append((number, values))
            if len(data) > MAX_ROWS:
                raise DomainError(_("At most %(n)s rows can be imported at once.", n=MAX_ROWS))
        return Sheet(headers, fields, data)
    finally:
        wb.close()


def _put(ws, row, column, value, number_format=None):
    cell = ws.cell(row=row, column=column, value=value)
    if isinstance(value, str) and value.startswith("="):
        cell.data_type = "s"  # text as typed, never a formula
    if number_format:
        cell.number_format = number_format
    return cell


def write_error_workbook(spec, sheet, errors):
    """The original columns plus an error column; rows with errors highlighted. Returns the
    stored file name."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter

    by_row = {e["row"]: e["messages"] for e in errors}
    wb = Workbook()
    ws = wb.active
    ws.title = str(spec.label)[:31]
    header = list(sheet.headers) + [_("Errors")]
    width = len(header)
    for i, value in enumerate(header, start=1):
        cell = _put(ws, 1, i, value)
        cell.font = Font(bold=True)
        cell.fill = PatternFill("solid", fgColor=HEADER_FILL)
    formats = [spec.number_format(col) if col is not None else None for col in sheet.fields]
    fill = PatternFill("solid", fgColor=ERROR_FILL)
    for r, (number, values) in enumerate(sheet.rows, start=2):
        messages = by_row.get(number)
        values = list(values)[:len(sheet.headers)]
        for i, value in enumerate(values, start=1):
            _put(ws, r, i, value, formats[i - 1] if i <= len(formats) else None)
        if messages:
            _put(ws, r, width, "\n".join(messages)).alignment = Alignment(wrap_text=True, vertical="top")
            for i in range(1, width + 1):
                ws.cell(row=r, column=i).fill = fill
    for i, col in enumerate(sheet.fields, start=1):
        letter = get_column_letter(i)
        ws.column_dimensions[letter].width = max(col.width if col else 14, 12)
        if formats[i - 1]:
            ws.column_dimensions[letter].number_format = formats[i - 1]
    ws.column_dimensions[get_column_letter(width)].width = 60
    ws.freeze_panes = "A2"
    stored = f"{uuid.uuid4().hex}-errors.xlsx"
    wb.save(file_path(stored))
    return stored
