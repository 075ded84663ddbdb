"""Finding related records for a form or a search filter: which rows of a related table a user may
pick, searched and paged (the pages' ``/<view>/related/<column>`` answers), how each reads there,
and loading the records a submitted form names, within the user's region scope.

**How a record reads in a picker.** A model may define ``picker_label(self)``: a service order reads
"SO20260817NJ00007014 · 赵先生 · 空调 · 2026年8月17日", not just its number. What the label reads of
other tables is named in ``picker_joins`` (relationship paths, ``"outlet.region"``) and joined into
the search's one statement; every other relation stays unloaded, so a search is one query however
many rows it returns. ``picker_search`` names the columns typed text is looked for in (default: the
first of ``SEARCH_FIELD_CANDIDATES`` the model has, e.g. code and name).
"""
from sqlalchemy import inspect as sa_inspect, or_
from sqlalchemy.orm import joinedload, lazyload

from app.core import scope
from app.extensions import db

RELATED_PAGE_SIZE = 20
"""Rows one related-field search returns (select2 asks for the next page when scrolling)."""

# Columns a related record is searched by and sorted on, first match wins.
SEARCH_FIELD_CANDIDATES = ("code", "sku", "employee_no", "number", "name", "username", "first_name",
                           "last_name", "email")
ORDER_FIELD_CANDIDATES = ("code", "sku", "employee_no", "number", "name", "username")


def load_scoped(model, raw_ids, clause=None):
    """``{id: row}`` for the ids the current user may see (``clause``: a narrower condition than
    the region scope, e.g. the users a related field offers); ``None`` when an id is malformed."""
    ids = []
    for raw in raw_ids:
        try:
            ids.append(int(raw))
        except (TypeError, ValueError):
            return None
    pk = model.__mapper__.primary_key[0]
    query = db.session.query(model).filter(pk.in_(ids))
    clause = scope.clause_for(model) if clause is None else clause
    if clause is not None:
        query = query.filter(clause)
    return {getattr(row, pk.key): row for row in query}


def int_value(value):
    """An integer typed or sent by the user (the first of a list); ``None`` when it is not one."""
    if isinstance(value, (list, tuple)):
        value = value[0] if value else None
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return None


def picker_label(obj):
    """How ``obj`` reads in a picker: its model's ``picker_label()``, else its name (``str``)."""
    label = getattr(obj, "picker_label", None)
    return str(label() if callable(label) else obj)


def picker_options(model):
    """Loader options for a picker's query of ``model``: the relations its label reads
    (``picker_joins``; by default its eagerly joined many-to-one relations) joined in the same
    statement, everything else left unloaded."""
    joins = getattr(model, "picker_joins", None)
    if joins is None:
        joins = [rel.key for rel in sa_inspect(model).relationships
                 if rel.direction.name == "MANYTOONE" and rel.lazy == "joined"]
    options = [lazyload("*")]
    for path in joins:
        loader, owner = None, model
        for name in path.split("."):
            attribute = getattr(owner, name)
            loader = joinedload(attribute) if loader is None else loader.joinedload(attribute)
            owner = attribute.property.mapper.class_
        options.append(loader.lazyload("*"))
    return options


def search_fields_of(model):
    names = {c.key for c in sa_inspect(model).column_attrs}
    declared = getattr(model, "picker_search", None)
    return list(declared) if declared else [c for c in SEARCH_FIELD_CANDIDATES if c in names]


def find_related(model, clause=None, term="", search_fields=None, narrow=None, page=1):
    """``(rows, more)``: page ``page`` (``RELATED_PAGE_SIZE`` rows) of ``model``'s rows meeting
    ``clause`` (the scope, or a field's own rule) and ``narrow`` (``{column: value}``), whose
    ``search_fields`` contain ``term``; in one query, with what their picker labels read."""
    mapper = sa_inspect(model)
    names = {c.key for c in mapper.column_attrs}
    search_fields = search_fields or search_fields_of(model)
    order = [getattr(model, c) for c in ORDER_FIELD_CANDIDATES if c in names][:1]
    pk = mapper.primary_key[0]
    query = db.session.query(model).options(*picker_options(model))
    if clause is not None:
        query = query.filter(clause)
    term = (term or "").strip()[:100]
    if term and search_fields:
        query = query.filter(or_(*[getattr(model, c).icontains(term, autoescape=True) for c in search_fields]))
    for column, value in (narrow or {}).items():
        query = query.filter(getattr(model, column) == value)
    page = max(page or 1, 1)
    rows = query.order_by(*order, pk).offset((page - 1) * RELATED_PAGE_SIZE).limit(RELATED_PAGE_SIZE + 1).all()
    return rows[:RELATED_PAGE_SIZE], len(rows) > RELATED_PAGE_SIZE
