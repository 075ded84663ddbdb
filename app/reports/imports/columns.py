"""How an import is described: an entity (``Spec``), its columns (``Col``) and the record of
another entity each row may bring with it (``Attached``).

The entities are declared one module each: ``engineers``, ``certifications``, ``parts``,
``stock``, ``service_orders``; ``registry`` lists them.
"""
import importlib
from dataclasses import dataclass, field

from flask_babel import force_locale, lazy_gettext as _l
from sqlalchemy import inspect

MAX_ROWS = 200000
"""Data rows one workbook may hold."""

TEXT_KINDS = ("str", "ref", "enum", "bool")
"""Kinds typed as text in the template: codes, employee numbers and phones keep their leading zeros."""


class RowError(Exception):
    """A cell that cannot be read or a reference that does not resolve; the message quotes the cell."""


def yes_no():
    return [("yes", _l("Yes")), ("no", _l("No"))]


def import_model(path):
    """``"package.module:Name"`` → the class (models are imported when first needed)."""
    module, name = path.split(":")
    return getattr(importlib.import_module(module), name)


@dataclass
class Col:
    field: str  # the model attribute (a relation for references)
    label: object  # lazy label: the header, in the current locale
    kind: str = "str"  # str, int, decimal, date, datetime, bool, enum, ref
    required: bool = False
    enum: object = None  # an Enumeration for kind "enum"
    ref: str = None  # outlet, region, engineer, category, cert_type, part (see ``references``)
    width: int = 16
    example: object = None  # shown on the template's instructions sheet, never on its data sheet
    max_length: int = None
    hint: object = None  # lazy text: a note on the header cell and on the instructions sheet
    attached: str = None  # the attribute of the row's attached record this column fills (Spec.attached)

    @property
    def is_text(self):
        return self.kind in TEXT_KINDS

    def labels(self):
        """The header in every language (the header row maps back in zh and en)."""
        names = {self.field.lower()}
        for locale in ("zh", "en"):
            with force_locale(locale):
                names.add(str(self.label).strip().lower())
        return names


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
        return import_model(self.model_path)


@dataclass
class Spec:
    name: str  # the entity key in URLs and UserJob.entity
    label: object
    resource: str  # the permission resource whose can_write importing needs
    model_path: str
    columns: list
    key: tuple  # the natural key's fields
    attached: Attached = None
    defaults: dict = field(default_factory=dict)  # values a new record takes when its row leaves them empty
    more_examples: list = field(default_factory=list)  # example rows besides the columns' own ({field: value})
    # ``prepare(batch)`` → a context in which the entity's rules answer, for a chunk of rows, what
    # they would otherwise ask the database per row (``chunks.Batch``); None when nothing to ask
    prepare: object = None
    _cache: dict = field(default_factory=dict, repr=False, compare=False)  # the model, its columns

    @property
    def model(self):
        if "model" not in self._cache:
            self._cache["model"] = import_model(self.model_path)
        return self._cache["model"]

    def column(self, name):
        return next(c for c in self.columns if c.field == name)

    def model_column(self, col):
        """The database column ``col`` fills (None for relations); looked up once per column."""
        key = ("column", col.field)
        if key not in self._cache:
            if col.attached:
                self._cache[key] = inspect(self.attached.model).columns.get(col.attached)
            else:
                self._cache[key] = inspect(self.model).columns.get(col.field)
        return self._cache[key]

    def places(self, col):
        """Decimal places a decimal column keeps (its model column's scale)."""
        from app.core.precision import digits

        return (digits(self.model_column(col)) or (None, 2))[1]

    def number_format(self, col):
        """The Excel number format of ``col``'s cells (templates and error workbooks), or None."""
        if col.is_text:
            return "@"
        if col.kind == "decimal":
            places = self.places(col)
            return "0." + "0" * places if places else "0"
        return {"date": "yyyy-mm-dd", "datetime": "yyyy-mm-dd hh:mm", "int": "0"}.get(col.kind)

    def bounds(self, col):
        """``(min, max)`` of a whole-number column, from the model column's ``info`` (the same bounds
        the entity rules check), or None."""
        if col.kind != "int":
            return None
        column = self.model_column(col)
        info = (column.info or {}) if column is not None else {}
        if "min" in info and "max" in info:
            return info["min"], info["max"]
        return None

    def examples(self):
        """The example rows ({field: value}) the instructions sheet shows."""
        return [{c.field: c.example for c in self.columns}] + list(self.more_examples)
