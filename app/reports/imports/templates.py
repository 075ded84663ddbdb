"""The downloadable template of each entity.

* The data sheet (first, the one imported) has the translated header row and nothing else: a note
  on each header (required, the column's hint), dropdowns of the allowed values (fed by a hidden
  "choices" sheet), whole-number ranges, and every column typed — text columns as text (``@``,
  so Excel keeps the leading zeros of 007001), dates, times and numbers in their formats — on the
  whole column and on the first ``TYPED_ROWS`` cells.
* The instructions sheet (说明) describes each column — required or not, format, allowed values —
  and shows example rows, where they cannot be imported by mistake.
"""
import io
from decimal import Decimal

from flask_babel import gettext as _

from app.core import scope
from app.extensions import db
from app.reports.imports.columns import MAX_ROWS, yes_no
from app.reports.imports.parsing import listing
from app.reports.imports.workbook import HEADER_FILL

REQUIRED_FILL = "FCE4D6"
TYPED_ROWS = 1000
"""Cells below the header given their column's format one by one (the column itself is formatted too)."""
CHOICES_SHEET = "choices"

REFERENCE_NOTES = {
    "outlet": lambda: _("The code of an existing outlet (choose from the list)."),
    "region": lambda: _("The code or name of an existing region (choose from the list)."),
    "engineer": lambda: _("The employee no. of an existing engineer (choose from the list)."),
    "category": lambda: _("An existing product category, by code or name (choose from the list)."),
    "cert_type": lambda: _("An existing certification type (choose from the list)."),
    "part": lambda: _("The SKU of an existing part."),
}


def template_name(spec):
    return f"{spec.name}-import-template.xlsx"


def _choices(col):
    """The dropdown values of a column (labels in the current locale), or None."""
    from app.engineers.models import CertificationType, Engineer
    from app.network.models import Outlet, ProductCategory, Region

    if col.kind == "enum":
        return [str(label) for _code, label in col.enum.items]
    if col.kind == "bool":
        return [str(label) for _code, label in yes_no()]
    if col.kind != "ref":
        return None

    def scoped(query, model):
        clause = scope.clause_for(model)
        return query if clause is None else query.filter(clause)

    if col.ref == "outlet":
        return [c for (c,) in scoped(db.session.query(Outlet.code), Outlet).filter(
            Outlet.status != "terminated").order_by(Outlet.code).limit(2000)]
    if col.ref == "region":
        return [c for (c,) in scoped(db.session.query(Region.code), Region).order_by(Region.code)]
    if col.ref == "category":
        return [c for (c,) in db.session.query(ProductCategory.name).order_by(ProductCategory.id)]
    if col.ref == "cert_type":
        return [c for (c,) in db.session.query(CertificationType.name).order_by(CertificationType.name)]
    if col.ref == "engineer":
        rows = scoped(db.session.query(Engineer.employee_no), Engineer).order_by(Engineer.employee_no).limit(2000)
        return [c for (c,) in rows]
    return None


def _example(col, value):
    """An example value as the cell shows it (enumerations and yes/no as their labels)."""
    if value is None:
        return None
    if col.kind == "enum":
        return col.enum.label(value)
    if col.kind == "bool":
        return str(dict(yes_no())[value])
    return value


def _header_note(col):
    notes = []
    if col.required:
        notes.append(_("Required field"))
    if col.hint:
        notes.append(str(col.hint))
    if col.kind == "datetime":
        notes.append(_("Local time (Beijing)."))
    return "\n".join(notes) or None


def _format_text(spec, col):
    """What a column takes, in words (the instructions sheet's "Format" column)."""
    if col.kind == "str" and col.max_length:
        return _("Text; maximum length %(n)s", n=col.max_length)
    if col.kind in ("str", "ref"):
        return _("Text")
    if col.kind in ("enum", "bool"):
        return _("Text: one of the allowed values")
    if col.kind == "int":
        bounds = spec.bounds(col)
        if bounds:
            low, high = (f"{bound:,}" for bound in bounds)
            return _("Whole number from %(min)s to %(max)s", min=low, max=high)
        return _("Whole number, e.g. 1,200")
    if col.kind == "decimal":
        places = spec.places(col)
        example = f"{Decimal(1234.5):,.{places}f}"
        return _("Number with up to %(places)s decimal place(s), e.g. %(example)s", places=places, example=example)
    if col.kind == "date":
        return _("Date: 2026-12-02, 2026/12/2, 2026.12.2 or 2026年12月2日")
    if col.kind == "datetime":
        return _("Date and time, Beijing time: 2026-12-02 14:30 or 2026/12/2 14:30")
    return ""


def _allowed_text(col):
    """The values a column allows (the instructions sheet's "Allowed values and notes" column)."""
    notes = []
    if col.kind == "enum":
        notes.append(listing(label for _c, label in col.enum.items))
    elif col.kind == "bool":
        notes.append(listing(label for _c, label in yes_no()))
    elif col.kind == "ref":
        notes.append(REFERENCE_NOTES[col.ref]())
    if col.hint:
        notes.append(str(col.hint))
    return "\n".join(notes)


def _data_sheet(wb, spec):
    from openpyxl.comments import Comment
    from openpyxl.styles import Font, PatternFill
    from openpyxl.utils import get_column_letter
    from openpyxl.worksheet.datavalidation import DataValidation

    ws = wb.active
    ws.title = str(spec.label)[:31]
    lists = wb.create_sheet(CHOICES_SHEET)
    lists.sheet_state = "hidden"
    list_col = 0
    for i, col in enumerate(spec.columns, start=1):
        letter = get_column_letter(i)
        cell = ws.cell(row=1, column=i, value=str(col.label))
        cell.font = Font(bold=True)
        cell.fill = PatternFill("solid", fgColor=REQUIRED_FILL if col.required else HEADER_FILL)
        cell.number_format = "@"
        note = _header_note(col)
        if note:
            cell.comment = Comment(note, "import")
        dimension = ws.column_dimensions[letter]
        dimension.width = max(col.width, len(str(col.label)) * 2 + 2)
        number_format = spec.number_format(col)
        if number_format:
            dimension.number_format = number_format  # the whole column, as Excel's own "Format Cells"
            for r in range(2, TYPED_ROWS + 2):
                ws.cell(row=r, column=i).number_format = number_format
        choices = _choices(col)
        if choices:
            list_col += 1
            list_letter = get_column_letter(list_col)
            lists.cell(row=1, column=list_col, value=str(col.label))
            for r, value in enumerate(choices, start=2):
                lists.cell(row=r, column=list_col, value=value).data_type = "s"
            last = max(len(choices) + 1, 2)
            dv = DataValidation(type="list", formula1=f"={CHOICES_SHEET}!${list_letter}$2:${list_letter}${last}",
                                allow_blank=not col.required, showErrorMessage=col.kind in ("enum", "bool"))
            dv.error = _("Choose a value from the list.")
            dv.prompt = str(col.label)
            ws.add_data_validation(dv)
            dv.add(f"{letter}2:{letter}{MAX_ROWS + 1}")
        bounds = None if choices else spec.bounds(col)
        if bounds:
            dv = DataValidation(type="whole", operator="between", formula1=str(bounds[0]),
                                formula2=str(bounds[1]), allow_blank=not col.required, showErrorMessage=True)
            dv.error = _("Enter a whole number from %(min)s to %(max)s.", min=bounds[0], max=bounds[1])
            dv.prompt = str(col.label)
            ws.add_data_validation(dv)
            dv.add(f"{letter}2:{letter}{MAX_ROWS + 1}")
    ws.freeze_panes = "A2"
    return ws


def _instructions_sheet(wb, spec, data_title):
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter

    ws = wb.create_sheet(_("Instructions")[:31], 1)
    bold = Font(bold=True)
    wrap = Alignment(wrap_text=True, vertical="top")
    key = listing(f"“{spec.column(name).label}”" for name in spec.key)
    lines = [
        _("Fill in the sheet “%(sheet)s”: one record per row, from row 2. This sheet is not imported.",
          sheet=data_title),
        _("Existing records are matched by %(key)s and updated; rows that match none are added. "
          "Cells left empty are not changed.", key=key),
        _("Columns with an orange header must be filled in. Text columns keep what you type, leading "
          "zeros included (007001)."),
        _("Dates: 2026-12-02, 2026/12/2, 2026.12.2 or 2026年12月2日; times: 14:30 (Beijing time). "
          "Numbers may have thousands separators: 1,234.50."),
    ]
    title = ws.cell(row=1, column=1, value=_("How to fill in this template: %(what)s", what=spec.label))
    title.font = Font(bold=True, size=14)
    row = 2
    for line in lines:
        ws.cell(row=row, column=1, value=line)
        row += 1
    row += 1
    headings = [_("Column"), _("Required?"), _("Format"), _("Allowed values and notes"), _("Example")]
    for i, heading in enumerate(headings, start=1):
        cell = ws.cell(row=row, column=i, value=heading)
        cell.font = bold
        cell.fill = PatternFill("solid", fgColor=HEADER_FILL)
    first_example = spec.examples()[0]
    yes, no = (str(label) for _code, label in yes_no())
    for col in spec.columns:
        row += 1
        example = _example(col, first_example.get(col.field))
        values = [str(col.label), yes if col.required else no, _format_text(spec, col), _allowed_text(col), example]
        for i, value in enumerate(values, start=1):
            cell = ws.cell(row=row, column=i, value=value)
            cell.alignment = wrap
            if i == 1 and col.required:
                cell.fill = PatternFill("solid", fgColor=REQUIRED_FILL)
        number_format = spec.number_format(col)
        if number_format and example is not None:
            ws.cell(row=row, column=5).number_format = number_format
    row += 2
    ws.cell(row=row, column=1, value=_("Example rows (for reference only: they are not imported)")).font = bold
    row += 1
    for i, col in enumerate(spec.columns, start=1):
        cell = ws.cell(row=row, column=i, value=str(col.label))
        cell.font = bold
        cell.fill = PatternFill("solid", fgColor=REQUIRED_FILL if col.required else HEADER_FILL)
    for example in spec.examples():
        row += 1
        for i, col in enumerate(spec.columns, start=1):
            cell = ws.cell(row=row, column=i, value=_example(col, example.get(col.field)))
            if spec.number_format(col):
                cell.number_format = spec.number_format(col)
    for letter, width in zip("ABCDE", (22, 10, 36, 48, 22)):
        ws.column_dimensions[letter].width = width
    for i in range(6, len(spec.columns) + 1):
        ws.column_dimensions[get_column_letter(i)].width = 16
    return ws


def build_template(spec):
    """The entity's template workbook (bytes): the data sheet (header only), the instructions sheet
    with example rows, the hidden sheet of choices."""
    from openpyxl import Workbook

    wb = Workbook()
    data = _data_sheet(wb, spec)
    _instructions_sheet(wb, spec, data.title)
    wb.active = 0
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()
