"""Excel imports of engineers, certifications, parts, stock and service orders.

Two phases, both rq jobs taking the ``UserJob`` id and acting for the user who uploaded the file:

* ``validate_import`` reads every row, resolves natural keys and references by code, builds the
  row's object and runs the same rules as every other write path (``services.run_validators``,
  a flush and the region-scope check), then ROLLS BACK — each row in its own short transaction,
  so progress can be committed between rows. The job ends ``validated`` (no errors) or
  ``invalid`` with an error workbook (the original columns plus an error column, rows with
  errors highlighted); its result holds the counts (new / changed / unchanged / errors).
* ``commit_import`` (after the user confirms) applies every row in ONE transaction: any error or
  failure rolls everything back and the job ends ``failed`` with the reason; else ``done``.

Rows are upserts on natural keys; an attribute is only set when its value differs, so
re-importing the same file changes nothing and writes no audit event.

Numbers are read exactly (``core.precision``): a cell with more decimal places than its column
keeps is a row error naming the column, never rounded. An entity may bring one record of another
with each row (``Spec.attached``): the engineers' onboarding columns import the engineer's
onboarding training record with them, through the training records' own rules — the only way a
new engineer can be created on duty (``engineers.rules``' status table).
"""
import io
import logging
import os
import uuid
import zipfile
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation

from flask import current_app
from flask_babel import force_locale, gettext as _, lazy_gettext as _l
from sqlalchemy import inspect, or_

from app.core import clock, scope
from app.core.errors import DomainError, Invalid
from app.extensions import db
from app.reports import job_control
from app.security import permissions as p

log = logging.getLogger(__name__)

MAX_ROWS = 10000
MAX_ERRORS_SHOWN = 500
ERROR_FILL = "FFC7CE"
HEADER_FILL = "DDEBF7"
REQUIRED_FILL = "FCE4D6"


# --- column kinds ------------------------------------------------------------------------------

class RowError(Exception):
    """A cell that cannot be read or a reference that does not resolve."""


def _text(value):
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value).strip()
    return text or None


def _yes_no():
    return [("yes", _l("Yes")), ("no", _l("No"))]


DATETIME_FORMATS = ("%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S", "%Y/%m/%d %H:%M", "%Y/%m/%d %H:%M:%S",
                    "%Y-%m-%d", "%Y/%m/%d")
EXCEL_MAX_SERIAL = 2958466  # 9999-12-31 + 1


def _whole_seconds(value):
    """To the nearest second: Excel keeps a time as a fraction of a day (14:30 may read 14:29:59.999)."""
    if value.microsecond >= 500000:
        value += timedelta(seconds=1)
    return value.replace(microsecond=0)


def _local_datetime(raw):
    """A cell holding a local (Asia/Shanghai) time → naive UTC, the storage convention.

    Accepts an Excel date/time cell, a date cell (midnight), an Excel serial number (a date cell that
    lost its format) or text such as ``2026-11-23 14:30``, ``2026/11/23 14:30:00`` or ISO 8601 (an
    explicit offset is honoured). ``ValueError`` when it is none of these.
    """
    if isinstance(raw, datetime):
        value = raw
    elif isinstance(raw, date):
        value = datetime(raw.year, raw.month, raw.day)
    elif isinstance(raw, (int, float)) and not isinstance(raw, bool):
        if not 1 <= raw < EXCEL_MAX_SERIAL:
            raise ValueError(raw)
        from openpyxl.utils.datetime import from_excel

        value = from_excel(raw)
    else:
        text = " ".join(str(_text(raw) or "").split())
        value = None
        for fmt in DATETIME_FORMATS:
            try:
                value = datetime.strptime(text, fmt)
                break
            except ValueError:
                continue
        if value is None:
            value = datetime.fromisoformat(text)
    try:
        return clock.to_utc(_whole_seconds(value))
    except OverflowError as exc:  # year 1 or 9999 at the edge of the time zone shift
        raise ValueError(raw) from exc


@dataclass
class Col:
    field: str  # the model attribute (a relation for references)
    label: object  # lazy label: the header, in the current locale
    kind: str = "str"  # str, int, decimal, date, datetime, bool, enum, ref
    required: bool = False
    enum: object = None  # an Enumeration for kind "enum"
    ref: str = None  # outlet, region, engineer, category, cert_type, part
    width: int = 16
    example: object = None
    max_length: int = None
    hint: object = None  # lazy text: a note on the template's header cell
    attached: str = None  # the attribute of the row's attached record this column fills (Spec.attached)

    def labels(self):
        """The header in every language (the header row maps back in zh and en)."""
        names = {self.field.lower()}
        for locale in ("zh", "en"):
            with force_locale(locale):
                names.add(str(self.label).strip().lower())
        return names


def _enum_lookup(enum):
    table = {}
    for code, label in enum.items:
        table[code.lower()] = code
        for locale in ("zh", "en"):
            with force_locale(locale):
                table[str(label).strip().lower()] = code
    return table


def _bool_lookup():
    table = {"true": True, "false": False, "1": True, "0": False, "y": True, "n": False}
    for code, label in _yes_no():
        table[code] = code == "yes"
        for locale in ("zh", "en"):
            with force_locale(locale):
                table[str(label).strip().lower()] = code == "yes"
    return table


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
        text = _text(raw)
        if col.max_length and text and len(text) > col.max_length:
            raise RowError(_("At most %(n)s characters.", n=col.max_length))
        return text
    if kind == "int":
        try:
            if isinstance(raw, float) and not raw.is_integer():
                raise ValueError
            return int(str(_text(raw)))
        except (TypeError, ValueError):
            raise RowError(_("Enter a whole number."))
    if kind == "decimal":
        # exactly as entered: a value its column would round is an error, never rounded here
        from app.core.precision import parse

        try:
            return parse(raw, column)
        except ValueError as exc:
            raise RowError(str(exc)) from None
    if kind == "date":
        if isinstance(raw, datetime):
            return raw.date()
        if isinstance(raw, date):
            return raw
        try:
            return date.fromisoformat(_text(raw))
        except (TypeError, ValueError):
            raise RowError(_("Enter a date as YYYY-MM-DD."))
    if kind == "datetime":
        # entered in the business time zone, stored as naive UTC
        try:
            return _local_datetime(raw)
        except (TypeError, ValueError, OverflowError):
            raise RowError(_("Enter a date and time as YYYY-MM-DD HH:MM."))
    if kind == "bool":
        if isinstance(raw, bool):
            return raw
        value = refs.bools.get(str(_text(raw)).lower())
        if value is None:
            raise RowError(_("Enter Yes or No."))
        return value
    if kind == "enum":
        code = refs.enum(col.enum).get(str(_text(raw)).lower())
        if code is None:
            raise RowError(_("Not a valid choice. Choose one of: %(codes)s.",
                             codes=", ".join(str(label) for _c, label in col.enum.items)))
        return code
    if kind == "ref":
        return refs.resolve(col.ref, _text(raw))
    raise ValueError(kind)


# --- references by code ------------------------------------------------------------------------

class References:
    """Look-ups of references by their code, cached per job: ids, reloaded per row."""

    def __init__(self):
        self._cache = {}
        self._enums = {}
        self.bools = _bool_lookup()

    def enum(self, enumeration):
        if enumeration.name not in self._enums:
            self._enums[enumeration.name] = _enum_lookup(enumeration)
        return self._enums[enumeration.name]

    def _find(self, kind, code):
        from app.engineers.models import CertificationType, Engineer
        from app.network.models import Outlet, ProductCategory, Region
        from app.parts.models import Part

        query = {
            "outlet": lambda: db.session.query(Outlet.id).filter(Outlet.code == code),
            "region": lambda: db.session.query(Region.id).filter(or_(Region.code == code, Region.name == code)),
            "engineer": lambda: db.session.query(Engineer.id).filter(Engineer.employee_no == code),
            "category": lambda: db.session.query(ProductCategory.id).filter(
                or_(ProductCategory.code == code, ProductCategory.name == code)),
            "cert_type": lambda: db.session.query(CertificationType.id).filter(CertificationType.name == code),
            "part": lambda: db.session.query(Part.id).filter(Part.sku == code),
        }[kind]()
        row = query.first()
        return row[0] if row else None

    MODELS = {"outlet": "app.network.models:Outlet", "region": "app.network.models:Region",
              "engineer": "app.engineers.models:Engineer", "category": "app.network.models:ProductCategory",
              "cert_type": "app.engineers.models:CertificationType", "part": "app.parts.models:Part"}

    @classmethod
    def model(cls, kind):
        import importlib

        module, name = cls.MODELS[kind].split(":")
        return getattr(importlib.import_module(module), name)

    def resolve(self, kind, code):
        key = (kind, code)
        if key not in self._cache:
            self._cache[key] = self._find(kind, code)
        pk = self._cache[key]
        if pk is None:
            raise RowError(UNKNOWN[kind]())
        item = db.session.get(self.model(kind), pk)
        if item is None:
            raise RowError(UNKNOWN[kind]())
        return item


UNKNOWN = {
    "outlet": lambda: _("Unknown outlet code."),
    "region": lambda: _("Unknown region code."),
    "engineer": lambda: _("Unknown employee no."),
    "category": lambda: _("Unknown product category."),
    "cert_type": lambda: _("Unknown certification type."),
    "part": lambda: _("Unknown part SKU."),
}


# --- the entities ------------------------------------------------------------------------------

def _import_model(path):
    import importlib

    module, name = path.split(":")
    return getattr(importlib.import_module(module), name)


@dataclass
class Attached:
    """A record of another entity imported with each row that fills its columns (``Col.attached``),
    written through that entity's own rules: e.g. an engineer's onboarding training record."""
    model_path: str
    parent: str  # its relation to the row's object
    fixed: dict  # the values every such record has (``kind``)
    key: tuple  # its attributes telling it apart among the parent's records (required when any column is filled)

    @property
    def model(self):
        return _import_model(self.model_path)


@dataclass
class Spec:
    name: str  # the entity key in URLs and UserJob.entity
    label: object
    resource: str  # the permission resource whose can_write importing needs
    model_path: str
    columns: list
    key: tuple  # the natural key's fields
    width_hint: dict = field(default_factory=dict)
    attached: Attached = None

    @property
    def model(self):
        return _import_model(self.model_path)

    def column(self, name):
        return next(c for c in self.columns if c.field == name)

    def model_column(self, col):
        """The database column ``col`` fills (None for relations)."""
        if col.attached:
            return inspect(self.attached.model).columns.get(col.attached)
        return inspect(self.model).columns.get(col.field)


def _specs():
    from app.engineers.enums import ENGINEER_STATUS
    from app.orders.enums import ORDER_KIND, ORDER_STATUS

    return [
        Spec("engineer", _l("Engineers"), p.ENGINEER, "app.engineers.models:Engineer", [
            Col("employee_no", _l("Employee no."), required=True, example="E2001", max_length=30),
            Col("name", _l("Name"), required=True, example="王工", max_length=100),
            Col("phone", _l("Phone"), example="13900001111", max_length=30),
            Col("email", _l("Email"), width=24, example="wang@example.com", max_length=200),
            Col("outlet", _l("Outlet code"), "ref", required=True, ref="outlet", example="SH001"),
            Col("hire_date", _l("Hire date"), "date", required=True, example=date(2025, 3, 1)),
            Col("status", _l("Status"), "enum", enum=ENGINEER_STATUS, example="trainee",
                hint=_l("A new engineer is a trainee; on duty only with a passed onboarding training in the "
                        "onboarding columns.")),
            Col("onboarding_taken_on", _l("Onboarding date"), "date", attached="taken_on",
                hint=_l("Optional: the onboarding training record imported with the engineer (date, hours, "
                        "mentored orders, scores).")),
            Col("onboarding_theory_hours", _l("Onboarding theory hours"), "decimal", attached="theory_hours"),
            Col("onboarding_practical_hours", _l("Onboarding practical hours"), "decimal",
                attached="practical_hours"),
            Col("onboarding_mentored_orders", _l("Onboarding mentored orders"), "int", attached="mentored_orders"),
            Col("onboarding_theory_score", _l("Onboarding theory score"), "decimal", attached="theory_score"),
            Col("onboarding_practical_score", _l("Onboarding practical score"), "decimal",
                attached="practical_score"),
        ], ("employee_no",), attached=Attached("app.engineers.models:TrainingRecord", "engineer",
                                               {"kind": "onboarding"}, ("taken_on",))),
        Spec("certification", _l("Certifications"), p.CERTIFICATION, "app.engineers.models:Certification", [
            Col("number", _l("Certificate no."), required=True, example="T2025-0001", max_length=50),
            Col("engineer", _l("Employee no."), "ref", required=True, ref="engineer", example="E2001"),
            Col("certification_type", _l("Certification type"), "ref", required=True, ref="cert_type", width=24,
                example="制冷与空调作业操作证"),
            Col("issuer", _l("Issuer"), width=20, example="应急管理局", max_length=200),
            Col("issued_on", _l("Issued on"), "date", required=True, example=date(2025, 1, 10)),
            Col("expires_on", _l("Expires on"), "date", required=True, example=date(2031, 1, 9)),
            Col("revoked", _l("Revoked"), "bool", example="no"),
        ], ("number",)),
        Spec("part", _l("Parts"), p.PART, "app.parts.models:Part", [
            Col("sku", _l("SKU"), required=True, example="AC-FAN-02", max_length=50),
            Col("name", _l("Name"), required=True, width=24, example="室外风扇电机", max_length=200),
            Col("product_category", _l("Product category"), "ref", required=True, ref="category", example="空调"),
            Col("unit_price", _l("Unit price"), "decimal", required=True, example=Decimal("260.00")),
            Col("is_common", _l("Common part"), "bool", example="yes"),
            Col("warranty_days", _l("Repair warranty (days)"), "int", example=90),
        ], ("sku",)),
        Spec("stock", _l("Stock levels"), p.STOCK, "app.parts.models:Stock", [
            Col("outlet", _l("Outlet code"), "ref", ref="outlet", example="SH001"),
            Col("region", _l("Region code"), "ref", ref="region", example=None),
            Col("part", _l("SKU"), "ref", required=True, ref="part", example="AC-FAN-02"),
            Col("quantity", _l("Quantity on hand"), "int", required=True, example=12),
            Col("safety_level", _l("Safety level"), "int", required=True, example=5),
        ], ("outlet", "region", "part")),
        Spec("service_order", _l("Service orders"), p.SERVICE_ORDER, "app.orders.models:ServiceOrder", [
            Col("number", _l("Order no."), required=True, example="SO20250001", max_length=40),
            Col("customer_name", _l("Customer name"), required=True, example="李女士", max_length=100),
            Col("customer_phone", _l("Customer phone"), required=True, example="13800001234", max_length=30),
            Col("customer_address", _l("Customer address"), width=30, example="上海市浦东新区", max_length=300),
            Col("product_category", _l("Product category"), "ref", required=True, ref="category", example="空调"),
            Col("outlet", _l("Outlet code"), "ref", required=True, ref="outlet", example="SH001"),
            Col("engineer", _l("Engineer employee no."), "ref", ref="engineer", example="E1001"),
            Col("kind", _l("Kind"), "enum", required=True, enum=ORDER_KIND, example="repair"),
            Col("status", _l("Status"), "enum", enum=ORDER_STATUS, example="completed"),
            # times: Beijing time in the workbook, naive UTC in the database
            Col("created_at", _l("Received at"), "datetime", width=18, example=datetime(2025, 5, 31, 10, 20)),
            Col("dispatched_at", _l("Dispatched at"), "datetime", width=18, example=datetime(2025, 5, 31, 11, 0)),
            Col("appointment_at", _l("Appointment"), "datetime", width=18, example=datetime(2025, 6, 1, 9, 0)),
            Col("arrived_at", _l("Arrived at"), "datetime", width=18, example=datetime(2025, 6, 1, 8, 50)),
            Col("completed_at", _l("Completed at"), "datetime", width=18, example=datetime(2025, 6, 1, 10, 30)),
            Col("first_time_fix", _l("First-time fix"), "bool", example="yes"),
            Col("satisfaction", _l("Satisfaction"), "int", example=5,
                hint=_l("1 to 5, recorded once the order is completed.")),
        ], ("number",)),
    ]


def specs():
    return {s.name: s for s in _specs()}


def spec_for(name):
    spec = specs().get(name)
    if spec is None:
        raise DomainError(_("Unknown kind of import."))
    return spec


def can_import(user, spec):
    """Whether ``user`` holds write permission on the entity's resource."""
    sm = current_app.appbuilder.sm
    for role in user.roles:
        if role.name == sm.auth_role_admin:
            return True
        for pv in role.permissions:
            if pv.permission and pv.view_menu and pv.permission.name == p.WRITE and pv.view_menu.name == spec.resource:
                return True
    return False


def importable(user):
    return [s for s in _specs() if can_import(user, s)]


# --- the template ------------------------------------------------------------------------------

def _choices(col, refs_region_ids):
    """The dropdown values of a column (labels in the current locale), or None."""
    from app.engineers.models import CertificationType, Engineer
    from app.network.models import Outlet, ProductCategory, Region

    if col.kind == "enum":
        return [str(label) for _code, label in col.enum.items]
    if col.kind == "bool":
        return [str(label) for _code, label in _yes_no()]
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


def _example(col):
    value = col.example
    if col.kind == "enum" and value is not None:
        return col.enum.label(value)
    if col.kind == "bool" and value is not None:
        return str(dict(_yes_no())[value])
    return value


def _number_format(spec, col):
    if col.kind == "decimal":
        from app.core.precision import digits

        places = (digits(spec.model_column(col)) or (None, 2))[1]
        return "0." + "0" * places if places else "0"
    return {"date": "yyyy-mm-dd", "datetime": "yyyy-mm-dd hh:mm", "int": "0"}.get(col.kind)


def _bounds(spec, col):
    """``(min, max)`` of a whole-number column, from the model column's ``info`` (the same bounds
    the entity rules check), or None."""
    if col.kind != "int":
        return None
    column = spec.model_column(col)
    info = (column.info or {}) if column is not None else {}
    if "min" in info and "max" in info:
        return info["min"], info["max"]
    return None


def _header_note(col):
    notes = []
    if col.required:
        notes.append(_("Required field"))
    if col.hint:
        notes.append(str(col.hint))
    if col.kind == "datetime":
        notes.append(_("Local time (Beijing)."))
    return "\n".join(notes) or None


def build_template(spec):
    """The entity's template workbook (bytes): translated headers, an example row, a hidden
    sheet of choices feeding data-validation dropdowns, column widths, a frozen header."""
    from openpyxl import Workbook
    from openpyxl.comments import Comment
    from openpyxl.styles import Font, PatternFill
    from openpyxl.utils import get_column_letter
    from openpyxl.worksheet.datavalidation import DataValidation

    wb = Workbook()
    ws = wb.active
    ws.title = str(spec.label)[:31]
    lists = wb.create_sheet("choices")
    lists.sheet_state = "hidden"
    list_col = 0
    for i, col in enumerate(spec.columns, start=1):
        letter = get_column_letter(i)
        cell = ws.cell(row=1, column=i, value=str(col.label))
        cell.font = Font(bold=True)
        cell.fill = PatternFill("solid", fgColor=REQUIRED_FILL if col.required else HEADER_FILL)
        note = _header_note(col)
        if note:
            cell.comment = Comment(note, "import")
        example = ws.cell(row=2, column=i, value=_example(col))
        if _number_format(spec, col):
            example.number_format = _number_format(spec, col)
        ws.column_dimensions[letter].width = max(col.width, len(str(col.label)) * 2 + 2)
        choices = _choices(col, None)
        if choices:
            list_col += 1
            list_letter = get_column_letter(list_col)
            lists.cell(row=1, column=list_col, value=str(col.label))
            for r, value in enumerate(choices, start=2):
                lists.cell(row=r, column=list_col, value=value)
            last = max(len(choices) + 1, 2)
            dv = DataValidation(type="list", formula1=f"=choices!${list_letter}$2:${list_letter}${last}",
                                allow_blank=not col.required, showErrorMessage=col.kind in ("enum", "bool"))
            dv.error = _("Choose a value from the list.")
            dv.prompt = str(col.label)
            ws.add_data_validation(dv)
            dv.add(f"{letter}2:{letter}{MAX_ROWS + 1}")
        elif _number_format(spec, col):
            for r in range(3, 202):
                ws.cell(row=r, column=i).number_format = _number_format(spec, col)
        bounds = None if choices else _bounds(spec, col)
        if bounds:
            dv = DataValidation(type="whole", operator="between", formula1=str(bounds[0]),
                                formula2=str(bounds[1]), allow_blank=not col.required, showErrorMessage=True)
            dv.error = _("Enter a whole number from %(min)s to %(max)s.", min=bounds[0], max=bounds[1])
            dv.prompt = str(col.label)
            ws.add_data_validation(dv)
            dv.add(f"{letter}2:{letter}{MAX_ROWS + 1}")
    ws.freeze_panes = "A2"
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def template_name(spec):
    return f"{spec.name}-import-template.xlsx"


# --- files -------------------------------------------------------------------------------------

def _folder():
    path = os.path.join(current_app.config["UPLOAD_FOLDER"], "imports")
    os.makedirs(path, exist_ok=True)
    return path


def file_path(stored):
    return os.path.join(_folder(), os.path.basename(stored))


def max_upload_bytes():
    return int(current_app.config.get("IMPORT_MAX_MB", 10)) * 1024 * 1024


def check_upload(filename, data):
    """Refuse anything but a real .xlsx (a zip holding a workbook) within the size limit."""
    if not filename or not filename.lower().endswith(".xlsx"):
        raise DomainError(_("Upload an Excel workbook (.xlsx)."), {"file": [_("Upload an Excel workbook (.xlsx).")]})
    if not data:
        raise DomainError(_("The file is empty."), {"file": [_("The file is empty.")]})
    if len(data) > max_upload_bytes():
        message = _("The file is larger than %(mb)s MB.", mb=max_upload_bytes() // (1024 * 1024))
        raise DomainError(message, {"file": [message]})
    message = _("The file is not a valid Excel workbook (.xlsx).")
    if not data.startswith(b"PK\x03\x04"):
        raise DomainError(message, {"file": [message]})
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = set(archive.namelist())
    except zipfile.BadZipFile:
        raise DomainError(message, {"file": [message]})
    if "[Content_Types].xml" not in names or "xl/workbook.xml" not in names:
        raise DomainError(message, {"file": [message]})
    check_archive(io.BytesIO(data))


# --- what a workbook unpacks to -----------------------------------------------------------------
# An .xlsx is a zip: a few hundred KB can unpack to gigabytes (one huge repetitive shared string),
# and openpyxl holds the shared strings in memory. Before any parser opens a workbook — at upload
# and again in the job — its parts are checked against the ``imports.*`` settings: the sizes the
# archive declares, each part's compression ratio, then the bytes actually unpacked, read in
# chunks and stopped at the limit (a header may lie).

MAX_PARTS = 1000
"""Parts an .xlsx may hold (a workbook has a few dozen; a zip of many tiny parts is itself a bomb)."""
RATIO_FLOOR = 1024 * 1024
"""Parts unpacking to less than this are never refused for their compression ratio."""
UNPACK_CHUNK = 1024 * 1024
_EOCD = b"PK\x05\x06"


def archive_limits():
    """``(total bytes, part bytes, ratio)`` an uploaded workbook may unpack to."""
    from app.core import settings

    mb = 1024 * 1024
    return (settings.get("imports.max_uncompressed_mb") * mb, settings.get("imports.max_part_mb") * mb,
            settings.get("imports.max_compression_ratio"))


def _too_large(message):
    return Invalid({"file": [message]}, message=message)


def _declared_parts(fh):
    """The number of parts the archive's end record declares (read before the directory is)."""
    import struct

    fh.seek(0, os.SEEK_END)
    size = fh.tell()
    fh.seek(max(0, size - 65557))
    tail = fh.read()
    at = tail.rfind(_EOCD)
    if at < 0 or len(tail) - at < 22:
        return None
    return struct.unpack("<H", tail[at + 10:at + 12])[0]


def check_archive(fh):
    """Refuse (422, on ``file``) a workbook (a binary file object) that unpacks beyond the limits:
    too many parts, more than ``imports.max_uncompressed_mb`` in all, a part over
    ``imports.max_part_mb``, or a part compressed more than ``imports.max_compression_ratio``
    times. Returns the bytes it unpacked."""
    total_limit, part_limit, ratio_limit = archive_limits()
    invalid = _("The file is not a valid Excel workbook (.xlsx).")
    total_message = _("The workbook unpacks to more than %(mb)s MB; split it into smaller files.",
                      mb=total_limit // (1024 * 1024))
    part_message = _("A part of the workbook unpacks to more than %(mb)s MB; split it into smaller files.",
                     mb=part_limit // (1024 * 1024))
    ratio_message = _("The workbook is compressed far more than a normal workbook (over %(n)s times); "
                      "it was refused.", n=ratio_limit)
    parts = _declared_parts(fh)
    if parts is None:
        raise Invalid({"file": [invalid]}, message=invalid)
    if parts >= min(MAX_PARTS, 0xFFFF):
        message = _("The workbook has too many parts (%(n)s); it is not a normal workbook.", n=parts)
        raise _too_large(message)
    fh.seek(0)
    try:
        with zipfile.ZipFile(fh) as archive:
            infos = archive.infolist()
            # what the archive declares
            if sum(i.file_size for i in infos) > total_limit:
                raise _too_large(total_message)
            for info in infos:
                if info.file_size > part_limit:
                    raise _too_large(part_message)
                if info.file_size > RATIO_FLOOR and info.file_size > ratio_limit * max(info.compress_size, 1):
                    raise _too_large(ratio_message)
            # what it really unpacks to, never reading past a limit
            total = 0
            for info in infos:
                unpacked = 0
                with archive.open(info) as part:
                    while True:
                        chunk = part.read(UNPACK_CHUNK)
                        if not chunk:
                            break
                        unpacked += len(chunk)
                        total += len(chunk)
                        if unpacked > part_limit:
                            raise _too_large(part_message)
                        if total > total_limit:
                            raise _too_large(total_message)
                        if unpacked > RATIO_FLOOR and unpacked > ratio_limit * max(info.compress_size, 1):
                            raise _too_large(ratio_message)
    except DomainError:
        raise
    except Exception as exc:  # a damaged, encrypted or lying archive (bad CRC, zlib error, unknown method)
        raise Invalid({"file": [invalid]}, message=invalid) from exc
    return total


def check_archive_file(path):
    """``check_archive`` on a stored upload (the job checks again before openpyxl opens it)."""
    with open(path, "rb") as fh:
        return check_archive(fh)


def create_job(user, spec, filename, data):
    """Store the upload and record the job (queued); the caller enqueues it."""
    from app.reports.models import UserJob

    check_upload(filename, data)
    if not can_import(user, spec):
        raise DomainError(_("You are not allowed to import %(what)s.", what=spec.label))
    stored = f"{uuid.uuid4().hex}.xlsx"
    with open(file_path(stored), "wb") as fh:
        fh.write(data)
    job = UserJob(kind="import", entity=spec.name, label=f"{spec.label}: {os.path.basename(filename)}"[:200],
                  user_id=user.id, status="queued", params={"phase": "validate", "filename": filename[:200]},
                  input_file=stored)
    db.session.add(job)
    db.session.commit()
    return job


def _enqueue(func, job_id):
    from app.core.queue import enqueue

    return enqueue(func, job_id)


def start(job, func):
    """Put ``func(job.id)`` on the queue; a queue that cannot be reached fails the job."""
    try:
        rq_job = _enqueue(func, job.id)
    except Exception as exc:  # Redis down: tell the user instead of leaving the job queued forever
        log.exception("could not enqueue import %s", job.id)
        job.status = "failed"
        job.error = _("The background queue is not available; try again later.")
        job.finished_at = clock.now()
        db.session.commit()
        raise DomainError(job.error) from exc
    job.rq_job_id = getattr(rq_job, "id", None)
    db.session.commit()
    return job


def confirm(job, user):
    """The user confirms a validated import: queue the commit."""
    spec = spec_for(job.entity)
    if not can_import(user, spec):
        raise DomainError(_("You are not allowed to import %(what)s.", what=spec.label))
    from app.reports.models import UserJob

    claimed = db.session.query(UserJob).filter(UserJob.id == job.id, UserJob.status == "validated").update(
        {"status": "queued", "params": dict(job.params or {}, phase="commit"), "progress": 0},
        synchronize_session=False)
    db.session.commit()
    if not claimed:
        raise DomainError(_("Only a checked import without errors can be confirmed."))
    db.session.refresh(job)
    return start(job, commit_import)


def cancel(job):
    from app.reports.models import UserJob

    claimed = db.session.query(UserJob).filter(
        UserJob.id == job.id, UserJob.status.in_(("validated", "invalid"))).update(
        {"status": "cancelled", "finished_at": clock.now()}, synchronize_session=False)
    db.session.commit()
    if not claimed:
        raise DomainError(_("This import can no longer be cancelled."))


# --- reading the workbook ----------------------------------------------------------------------

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
            name = (_text(h) or "").rstrip("*").strip().lower()
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


# --- one row -----------------------------------------------------------------------------------

def _message(label, text):
    return f"{label}: {text}" if label else str(text)


def _domain_messages(spec, exc, attached=False):
    """The row's messages for a refusal, each named by its column's header. ``attached``: the
    refusal is the attached record's (its fields are the columns' ``attached`` attributes)."""
    if attached:
        labels = {c.attached: str(c.label) for c in spec.columns if c.attached}
    else:
        labels = {c.field: str(c.label) for c in spec.columns if not c.attached}
    messages = []
    texts = set()
    for name, msgs in (exc.errors or {}).items():
        for m in msgs:
            messages.append(_message(labels.get(name, ""), m))
            texts.add(str(m))
    if not messages or not exc.errors:
        messages.insert(0, str(exc.message))
    elif str(exc.message) and exc.status == 409 and str(exc.message) not in texts:
        messages.insert(0, str(exc.message))
    return messages


def _same(current, value):
    if current is None or value is None:
        return current is value
    if hasattr(current, "_sa_instance_state"):
        return current is value
    if isinstance(current, Decimal) or isinstance(value, Decimal):
        try:
            return Decimal(str(current)) == Decimal(str(value))
        except InvalidOperation:
            return False
    if isinstance(current, datetime) and isinstance(value, datetime):
        # ``value`` is whole seconds (UTC); a workbook time to the minute (the template's format and
        # the exports') matches the stored time within that minute, so a re-import changes nothing
        current = current.replace(microsecond=0)
        if value.second == 0:
            current = current.replace(second=0)
        return current == value
    return current == value


def _find_existing(spec, values):
    model = spec.model
    query = db.session.query(model)
    for name in spec.key:
        value = values.get(name)
        prop = inspect(model).attrs[name]
        if hasattr(prop, "direction"):  # a relation: compare its foreign key
            column = list(prop.local_columns)[0]
            query = query.filter(column.is_(None) if value is None else column == value.id)
        else:
            query = query.filter(getattr(model, name) == value)
    return query.one_or_none()


DEFAULTS = {"engineer": {"status": "trainee"}, "service_order": {"status": "created"},
            "certification": {"revoked": False}, "part": {"is_common": False}}


def process_row(spec, refs, sheet, values):
    """Build or update the row's object and run the rules. Returns ``(outcome, key, messages)``
    where outcome is new / changed / unchanged / error. Leaves the change flushed in the session
    (the caller commits or rolls back)."""
    from app.core.services import run_validators

    messages = []
    parsed = {}
    attached = {}  # the attached record's values, by attribute
    provided = set()
    for col, raw in zip(sheet.fields, values):
        if col is None:
            continue
        try:
            value = parse_cell(col, raw, refs, spec.model_column(col))
        except RowError as exc:
            messages.append(_message(str(col.label), exc))
            provided.add(col.field)
            continue
        if value is None:
            if col.required:
                messages.append(_message(str(col.label), _("This field is required.")))
            continue
        if col.attached:
            attached[col.attached] = value
        else:
            parsed[col.field] = value
        provided.add(col.field)
    if attached:
        for name in spec.attached.key:
            if name not in attached and not any(c.attached == name and c.field in provided for c in spec.columns):
                label = next(str(c.label) for c in spec.columns if c.attached == name)
                messages.append(_message(label, _("This field is required.")))
    key = tuple((parsed.get(n).id if hasattr(parsed.get(n), "_sa_instance_state") else parsed.get(n))
                for n in spec.key)
    if spec.name == "stock" and ("outlet" in parsed) == ("region" in parsed) and not messages:
        text = _("Give exactly one warehouse: an outlet (forward warehouse) or a region (central warehouse).")
        messages.append(_message(str(spec.column("outlet").label), text))
    if messages:
        return "error", key, messages

    existing = _find_existing(spec, parsed)
    if existing is not None and not scope.in_scope(existing):
        return "error", key, [scope.outside_message()]
    item = existing if existing is not None else spec.model()
    changed = existing is None
    if existing is None:
        for name, value in DEFAULTS.get(spec.name, {}).items():
            if name not in parsed:
                setattr(item, name, value)
    for name, value in parsed.items():
        if existing is not None and _same(getattr(item, name), value):
            continue
        setattr(item, name, value)
        changed = True
    session = db.session
    record = None
    if attached:
        with session.no_autoflush:
            record, record_changed = _attach(spec.attached, item, existing, attached)
        if not record_changed:
            record = None  # stored as the row says: left alone
        changed = changed or record_changed
    if not changed:
        return "unchanged", key, []
    try:
        with session.no_autoflush:
            if record is not None:
                try:
                    run_validators(record)
                except DomainError as exc:
                    return "error", key, _domain_messages(spec, exc, attached=True)
            run_validators(item)
        session.add(item)
        if record is not None:
            session.add(record)
        session.flush()
        scope.ensure_in_scope(item)
    except DomainError as exc:
        return "error", key, _domain_messages(spec, exc)
    except Exception as exc:  # a database refusal (unique key, check)
        from sqlalchemy.exc import IntegrityError

        from app.core.services import integrity_error

        if isinstance(exc, IntegrityError):
            return "error", key, _domain_messages(spec, integrity_error(exc))
        raise
    return ("new" if existing is None else "changed"), key, []


def _attach(attached, item, existing, values):
    """The row's attached record — the parent's one with the same key, or a new one — with the
    row's values set where they differ. Returns ``(record, changed)``."""
    model = attached.model
    record = None
    if existing is not None:
        relation = inspect(model).relationships[attached.parent]
        fk = list(relation.local_columns)[0]
        query = db.session.query(model).filter(fk == existing.id)
        for name, value in {**attached.fixed, **{k: values.get(k) for k in attached.key}}.items():
            query = query.filter(getattr(model, name) == value)
        record = query.first()
    changed = record is None
    if record is None:
        record = model(**attached.fixed)
        setattr(record, attached.parent, item)
    for name, value in values.items():
        if not changed and _same(getattr(record, name), value):
            continue
        setattr(record, name, value)
        changed = True
    return record, changed


# --- the jobs ----------------------------------------------------------------------------------

def _claim(job_id, phase):
    """Move a queued job of ``phase`` to running (compare-and-set); None when someone else did."""
    from app.reports.models import UserJob

    job = db.session.get(UserJob, job_id)
    if job is None or job.kind != "import" or job.status != "queued" or (job.params or {}).get("phase") != phase:
        return None
    claimed = db.session.query(UserJob).filter(UserJob.id == job_id, UserJob.status == "queued").update(
        {"status": "running", "started_at": clock.now(), "progress": 0, "error": None},
        synchronize_session=False)
    db.session.commit()
    if not claimed:
        return None
    job_control.clear(job_id)  # a live value or cancel request left by an earlier phase
    db.session.refresh(job)
    return job


def _finish(job_id, **values):
    from app.reports.models import UserJob

    db.session.rollback()
    job = db.session.get(UserJob, job_id)
    for name, value in values.items():
        setattr(job, name, value)
    job.finished_at = clock.now()
    db.session.commit()
    job_control.clear(job_id)  # the row holds the final progress now
    return job


def _progress_outside(job_id, progress, total):
    """Write progress on a connection of its own (the import's transaction stays open). Not on
    SQLite: the live value in Redis (``job_control``) is what the pages show meanwhile."""
    from app.reports.models import UserJob

    if db.engine.dialect.name == "sqlite":
        return  # one writer at a time: the import's transaction holds the lock
    with db.engine.begin() as conn:
        conn.execute(UserJob.__table__.update().where(UserJob.__table__.c.id == job_id)
                     .values(progress=progress, total=total))


class _acting:
    """Act for the job's user: their region scope, their name in the audit trail, their locale."""

    def __init__(self, user):
        self.user = user

    def __enter__(self):
        from app.audit_trail.capture import set_actor

        set_actor(self.user.username, "user", self.user.id)
        self._scope = scope.acting_as(self.user)
        self._scope.__enter__()
        return self

    def __exit__(self, *exc):
        self._scope.__exit__(*exc)
        return False


@contextmanager
def _uploaders_workbook(job):
    """``(spec, sheet)``: the job's workbook read while acting as its uploader, in their language,
    once their permission to import the entity is checked (both phases start here)."""
    spec = spec_for(job.entity)
    user, stored = job.user, job.input_file
    with _acting(user), force_locale(job.locale):
        if not can_import(user, spec):
            raise DomainError(_("You are not allowed to import %(what)s.", what=spec.label))
        yield spec, read_workbook(spec, file_path(stored))


def _run_rows(spec, sheet, on_row):
    refs = References()
    seen = {}
    counts = {"new": 0, "changed": 0, "unchanged": 0, "errors": 0}
    errors = []
    for index, (number, values) in enumerate(sheet.rows, start=1):
        outcome, key, messages = process_row(spec, refs, sheet, values)
        if key and any(k is not None for k in key):
            if key in seen:
                messages = list(messages) + [_("Duplicate of row %(row)s in this file.", row=seen[key])]
                outcome = "error"
            else:
                seen[key] = number
        counts["errors" if outcome == "error" else outcome] += 1
        if outcome == "error":
            errors.append({"row": number, "messages": [str(m) for m in messages]})
        on_row(index, outcome)
    return counts, errors


def validate_import(job_id):
    """Phase one: check every row with the entity rules, roll back, record the outcome."""
    job = _claim(job_id, "validate")
    if job is None:
        return None
    locale = job.locale
    try:
        with _uploaders_workbook(job) as (spec, sheet):
            total = len(sheet.rows)
            job.total = total
            db.session.commit()

            def save_progress(done, _total):
                from app.reports.models import UserJob

                db.session.query(UserJob).filter(UserJob.id == job_id).update(
                    {"progress": done}, synchronize_session=False)
                db.session.commit()

            ticker = job_control.Ticker(job_id, total, also=save_progress)
            ticker(0, force=True)

            def on_row(index, outcome):
                db.session.rollback()  # each row is checked in its own transaction, then undone
                ticker(index)  # live progress, the row's progress, a cancel request

            counts, errors = _run_rows(spec, sheet, on_row)
            db.session.rollback()
            output = output_name = None
            if errors:
                output = write_error_workbook(spec, sheet, errors)
                output_name = f"{spec.name}-import-errors.xlsx"
            result = dict(counts, rows=total, errors_list=errors[:MAX_ERRORS_SHOWN],
                          errors_truncated=len(errors) > MAX_ERRORS_SHOWN)
        _finish(job_id, status="invalid" if errors else "validated", progress=total, result=result,
                output_file=output, output_name=output_name)
        return counts
    except job_control.JobCancelled:
        db.session.rollback()
        with force_locale(locale):
            _finish(job_id, status="cancelled", error=_("Cancelled while checking; nothing was written."))
    except DomainError as exc:
        _finish(job_id, status="invalid", error=str(exc.message), result={"rows": 0, "new": 0, "changed": 0,
                                                                           "unchanged": 0, "errors": 0,
                                                                           "errors_list": []})
    except Exception:
        log.exception("import %s: validation failed", job_id)
        _finish(job_id, status="failed", error=_("The check stopped with an unexpected error."))
    return None


class _Abort(Exception):
    pass


def commit_import(job_id):
    """Phase two: apply every row in one transaction — all or nothing."""
    job = _claim(job_id, "commit")
    if job is None:
        return None
    locale = job.locale
    try:
        with _uploaders_workbook(job) as (spec, sheet):
            total = len(sheet.rows)
            db.session.commit()
            # the rows go in one transaction: the pages read the live value in Redis meanwhile
            ticker = job_control.Ticker(job_id, total,
                                        also=lambda done, of: _progress_outside(job_id, done, of))
            ticker(0, force=True)

            def on_row(index, outcome):
                ticker(index)  # raises JobCancelled when the user asked: everything rolls back

            counts, errors = _run_rows(spec, sheet, on_row)
            if errors:
                db.session.rollback()
                first = errors[0]
                raise _Abort(_("Nothing was imported: row %(row)s: %(message)s", row=first["row"],
                               message="; ".join(first["messages"])))
            job_control.raise_if_cancelled(job_id)  # the last word before the commit
            db.session.commit()
        _finish(job_id, status="done", progress=total, total=total,
                result=dict(job.result or {}, **counts, rows=total, errors_list=[]))
        return counts
    except job_control.JobCancelled:
        db.session.rollback()
        with force_locale(locale):
            _finish(job_id, status="cancelled", error=_("Cancelled; nothing was imported."))
    except (_Abort, DomainError) as exc:
        db.session.rollback()
        message = str(exc.message) if isinstance(exc, DomainError) else str(exc)
        _finish(job_id, status="failed", error=message)
    except Exception as exc:
        db.session.rollback()
        log.exception("import %s: commit failed", job_id)
        _finish(job_id, status="failed",
                error=_("Nothing was imported: the import stopped with an error (%(error)s).",
                        error=type(exc).__name__))
    return None


# --- the error workbook ------------------------------------------------------------------------

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
    header = [h for h in sheet.headers] + [_("Errors")]
    ws.append(header)
    for cell in ws[1]:
        cell.font = Font(bold=True)
        cell.fill = PatternFill("solid", fgColor=HEADER_FILL)
    fill = PatternFill("solid", fgColor=ERROR_FILL)
    width = len(header)
    for number, values in sheet.rows:
        messages = by_row.get(number)
        values = list(values) + [None] * (len(sheet.headers) - len(values))
        ws.append(values[:len(sheet.headers)] + ["\n".join(messages) if messages else None])
        if messages:
            for cell in ws[ws.max_row]:
                cell.fill = fill
            ws.cell(row=ws.max_row, column=width).alignment = Alignment(wrap_text=True, vertical="top")
    for i, col in enumerate(sheet.fields, start=1):
        ws.column_dimensions[get_column_letter(i)].width = max(col.width if col else 14, 12)
        if col is not None and _number_format(spec, col):
            for row in ws.iter_rows(min_row=2, min_col=i, max_col=i):
                row[0].number_format = _number_format(spec, col)
    ws.column_dimensions[get_column_letter(width)].width = 60
    ws.freeze_panes = "A2"
    stored = f"{uuid.uuid4().hex}-errors.xlsx"
    wb.save(file_path(stored))
    return stored
