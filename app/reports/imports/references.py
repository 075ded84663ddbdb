"""References by code: the outlet, region, engineer, product category, certification type or part
a cell names. A chunk of rows looks up every code it names at once (``prefetch``: one query per
kind of reference and chunk); a code outside a prefetched chunk is looked up once per job (ids
cached), the record reloaded per row."""
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


COLUMNS = {"outlet": ("code",), "engineer": ("employee_no",), "cert_type": ("name",), "part": ("sku",),
           "region": ("code", "name"), "category": ("code", "name")}
"""The columns a code is looked up in (region and category: their code, else their name)."""


def _query(kind, code):
    model = import_model(MODELS[kind])
    columns = COLUMNS[kind]
    if len(columns) == 1:
        return db.session.query(model.id).filter(getattr(model, columns[0]) == code)
    return db.session.query(model.id).filter(or_(model.code == code, model.name == code))  # region, category


class References:
    """Look-ups of references by their code, cached per job: ids, reloaded per row. Also the
    job's tables of enumeration and yes/no labels."""

    def __init__(self):
        self._cache = {}
        self._enums = {}
        self._chunk = {}  # (kind, code) → record (None: no such code), for the chunk of rows at hand
        self.bools = bool_lookup()

    def enum(self, enumeration):
        if enumeration.name not in self._enums:
            self._enums[enumeration.name] = enum_lookup(enumeration)
        return self._enums[enumeration.name]

    @staticmethod
    def model(kind):
        return import_model(MODELS[kind])

    def prefetch(self, kind, codes):
        """Load the records of every code in ``codes`` in one query, for the rows at hand."""
        codes = {c for c in codes if c is not None and (kind, c) not in self._chunk}
        if not codes:
            return
        model = self.model(kind)
        names = COLUMNS[kind]
        found = [{} for _ in names]  # per column: value → record (a code wins over a name)
        for part in _slices(sorted(codes), 2000):
            clause = or_(*(getattr(model, name).in_(part) for name in names))
            for item in db.session.query(model).filter(clause).order_by(model.id):
                for i, name in enumerate(names):
                    found[i].setdefault(getattr(item, name), item)
        for code in codes:
            item = next((f[code] for f in found if code in f), None)
            self._chunk[(kind, code)] = item
            self._cache[(kind, code)] = item.id if item is not None else None

    def chunk_records(self, kind):
        """The records of ``kind`` found by ``prefetch`` for the rows at hand."""
        return [item for (k, _code), item in self._chunk.items() if k == kind and item is not None]

    def forget_chunk(self):
        """The records of the chunk done are forgotten (a rollback may expire them)."""
        self._chunk = {}

    def resolve(self, kind, code):
        key = (kind, code)
        if key in self._chunk:
            item = self._chunk[key]
            if item is None:
                raise RowError(UNKNOWN[kind](shown(code)))
            return item
        if key not in self._cache:
            row = _query(kind, code).first()
            self._cache[key] = row[0] if row else None
        pk = self._cache[key]
        item = db.session.get(self.model(kind), pk) if pk is not None else None
        if item is None:
            raise RowError(UNKNOWN[kind](shown(code)))
        return item


def _slices(items, size):
    for start in range(0, len(items), size):
        yield items[start:start + size]
