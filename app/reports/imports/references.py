"""References by code: the outlet, region, engineer, product category, certification type or part
a cell names. Looked up once per job and code (ids cached), the record reloaded per row."""
from flask_babel import gettext as _
from sqlalchemy import or_

from app.extensions import db
from app.reports.imports.columns import RowError, import_model
from app.reports.imports.parsing import bool_lookup, enum_lookup, shown

MODELS = {"outlet": "app.network.models:Outlet", "region": "app.network.models:Region",
          "engineer": "app.engineers.models:Engineer", "category": "app.network.models:ProductCategory",
          "cert_type": "app.engineers.models:CertificationType", "part": "app.parts.models:Part"}

UNKNOWN = {
    "outlet": lambda value: _('There is no outlet with the code "%(value)s".', value=value),
    "region": lambda value: _('There is no region with the code or name "%(value)s".', value=value),
    "engineer": lambda value: _('There is no engineer with the employee no. "%(value)s".', value=value),
    "category": lambda value: _('There is no product category with the code or name "%(value)s".', value=value),
    "cert_type": lambda value: _('There is no certification type named "%(value)s".', value=value),
    "part": lambda value: _('There is no part with the SKU "%(value)s".', value=value),
}


def _query(kind, code):
    model = import_model(MODELS[kind])
    column = {"outlet": "code", "engineer": "employee_no", "cert_type": "name", "part": "sku"}.get(kind)
    if column is not None:
        return db.session.query(model.id).filter(getattr(model, column) == code)
    return db.session.query(model.id).filter(or_(model.code == code, model.name == code))  # region, category


class References:
    """Look-ups of references by their code, cached per job: ids, reloaded per row. Also the
    job's tables of enumeration and yes/no labels."""

    def __init__(self):
        self._cache = {}
        self._enums = {}
        self.bools = bool_lookup()

    def enum(self, enumeration):
        if enumeration.name not in self._enums:
            self._enums[enumeration.name] = enum_lookup(enumeration)
        return self._enums[enumeration.name]

    @staticmethod
    def model(kind):
        return import_model(MODELS[kind])

    def resolve(self, kind, code):
        key = (kind, code)
        if key not in self._cache:
            row = _query(kind, code).first()
            self._cache[key] = row[0] if row else None
        pk = self._cache[key]
        item = db.session.get(self.model(kind), pk) if pk is not None else None
        if item is None:
            raise RowError(UNKNOWN[kind](shown(code)))
        return item
