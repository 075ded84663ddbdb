"""Audit events as people read them: entity and field names translated, values labelled, one line
per changed field. Shared by the list and show pages, the history section of every record's page
and the exports, so they all say the same thing."""
import json
import re

from flask_babel import gettext
from markupsafe import Markup, escape

from app.audit_trail.enums import (ACCESS_CHANNEL, ACTOR_KIND, AUDIT_ACTION, COMMON_FIELD_LABELS, DETAIL_LABELS,
                                   DETAIL_ORDER, EXTRA_ENTITY_LABELS, EXTRA_FIELD_LABELS, JOB_LABELS,
                                   REQUEST_KIND, ROW_ACTIONS)
from app.core import l10n

NONE = "—"
SUMMARY_SKIPPED = {"id", "created_at", "updated_at", "created_on", "changed_on", "created_by_fk", "changed_by_fk"}


def _pages_by_table():
    """``{table name: the first registered page showing that table}`` (built once: pages are
    registered at start-up)."""
    from flask import current_app

    from app.core.views import _views_by_model

    appbuilder = current_app.appbuilder
    cache = getattr(appbuilder, "_audit_page_by_table", None)
    if cache is None:
        cache = {getattr(model, "__tablename__", None): view for model, view in _views_by_model().items()
                 if getattr(model, "__tablename__", None) not in (None, "audit_event")}
        appbuilder._audit_page_by_table = cache
    return cache


def _memo(kind, key, make):
    """A label computed once per app context (a request, a job) and language: exports read the
    same few entities, fields and codes hundreds of thousands of times."""
    from flask import g, has_app_context
    from flask_babel import get_locale

    if not has_app_context():
        return make()
    cache = g.setdefault("_audit_labels", {})
    full = (kind, str(get_locale()), key)
    if full not in cache:
        cache[full] = make()
    return cache[full]


def entity_label(table):
    if not table:
        return ""
    return _memo("entity", table, lambda: _entity_label(table))


def _entity_label(table):
    label = EXTRA_ENTITY_LABELS.get(table)
    if label is None:
        view = _pages_by_table().get(table)
        label = getattr(view, "singular", None) if view is not None else None
    return str(label) if label is not None else table


class EntityNames:
    """The audited tables as an enumeration-like object (``label``, ``choices``) for the pages."""

    def label(self, code):
        return entity_label(code)

    def choices(self):
        from flask_appbuilder import Model

        from app.audit_trail.capture import NOT_AUDITED

        tables = (set(Model.metadata.tables) - NOT_AUDITED) | {"permission"}
        pairs = [(t, entity_label(t)) for t in tables]
        return sorted(pairs, key=lambda p: (p[1] == p[0], p[1]))


ENTITY = EntityNames()


def _column(table, field):
    from flask_appbuilder import Model

    columns = Model.metadata.tables[table].columns if table in Model.metadata.tables else {}
    return columns[field] if field in columns else None


def field_label(table, field, detail=False):
    """A field's name as the pages call it (see ``_field_label``)."""
    return _memo("field", (table, field, detail), lambda: _field_label(table, field, detail))


def _field_label(table, field, detail=False):
    """A field's name as the pages call it. Flask-AppBuilder fills a page's ``label_columns`` with
    English guesses ("Auto Key", plain strings) for every column the page does not label: those
    are skipped for the app's own labels, then the shared ones, then the table a foreign key
    points to. ``detail``: a detail of an event that is not a row change."""
    label = DETAIL_LABELS.get(field) if detail else None
    label = label or EXTRA_FIELD_LABELS.get(table, {}).get(field) or COMMON_FIELD_LABELS.get(field)
    view = _pages_by_table().get(table)
    if label is None and view is not None:
        labels = view.label_columns or {}
        # a foreign key reads as its relation ("region_id" → "Region")
        for name in ([field[:-3]] if field.endswith("_id") else []) + [field]:
            if labels.get(name) is not None and not isinstance(labels[name], str):
                label = labels[name]
                break
    column = _column(table, field) if label is None else None
    if column is not None and column.foreign_keys:
        label = entity_label(next(iter(column.foreign_keys)).column.table.name)
    if label is None and view is not None:
        label = (view.label_columns or {}).get(field)
    return str(label) if label is not None else field


def actor_text(name):
    """Who acted, by the name stored with the event: the system, anonymous visitors, jobs and
    command-line runs by their kind ("Background job: Complaint SLA sweep", "Command line: jobs
    run" — the command as it was typed); anything else as stored (a user's account name)."""
    if name in ("system", "anonymous"):
        return ACTOR_KIND.label(name)
    if name and name.startswith("job:"):
        job = name[len("job:"):]
        return f"{ACTOR_KIND.label('job')}: {JOB_LABELS.get(job, job)}"
    if name and name.startswith("cli:"):
        return f"{ACTOR_KIND.label('cli')}: {name[len('cli:'):]}"
    return name or ""


def who(event):
    """Who acted, as people read it: a user by their name (``people.display_name``, resolved with
    the page's other references by ``prepare``), everyone else as ``actor_text`` says."""
    if event.actor_kind == "user" and event.actor_id is not None:
        found = _reference(USER_TABLE, event.actor_id)
        if found is not None:
            return found[0]
    return actor_text(event.actor_name)


# Values of columns whose page says nothing of them: (table, field) → enumeration.
EXTRA_FIELD_ENUMS = {("escalation", "auto_key"): "app.complaints.enums:ESCALATION_REASON",
                     ("outlet", "flag_reasons"): "app.qualification.enums:FLAG_REASON"}


def _enumeration(table, field):
    return _memo("enum", (table, field), lambda: _find_enumeration(table, field))


def _find_enumeration(table, field):
    view = _pages_by_table().get(table)
    enum = (getattr(view, "enum_columns", None) or {}).get(field) if view is not None else None
    if enum is None and (table, field) in EXTRA_FIELD_ENUMS:
        from importlib import import_module

        module, name = EXTRA_FIELD_ENUMS[table, field].split(":")
        enum = getattr(import_module(module), name)
    if enum is None:
        column = _column(table, field)
        enum = column.info.get("enum") if column is not None else None
    return enum


# --- related records: by their number or name, linked to their page ----------------------------
# The values of foreign keys (``complaint_id: 116``), of many-to-many lists, the record an event is
# about and the acting user are looked up once for a whole page of events: ``prepare(events)``
# runs one query per related table and keeps the answers for the request (``g``).

USER_TABLE = "ab_user"
NUMBER_COLUMNS = ("number", "code", "sku", "employee_no", "username", "name", "label", "key", "filename")
"""Columns naming a record, first match first: what a deleted record is called by its own events."""
REFERENCE_CACHE_LIMIT = 20000


def _models_by_table():
    """``{table name: mapped class}`` for every model with a one-column primary key."""
    from flask import current_app
    from flask_appbuilder import Model

    appbuilder = current_app.appbuilder
    cache = getattr(appbuilder, "_audit_model_by_table", None)
    if cache is None:
        cache = {}
        for mapper in Model.registry.mappers:
            name = getattr(mapper.persist_selectable, "name", None)
            if name and len(mapper.primary_key) == 1:
                cache.setdefault(name, mapper.class_)
        appbuilder._audit_model_by_table = cache
    return cache


def target_table(table, field):
    """The table a field's values point to (a foreign key, or a many-to-many list of ids), else None."""
    return _memo("target", (table, field), lambda: _target_table(table, field))


def _target_table(table, field):
    column = _column(table, field)
    if column is not None:
        return next(iter(column.foreign_keys)).column.table.name if column.foreign_keys else None
    model = _models_by_table().get(table)
    relation = model.__mapper__.relationships.get(field) if model is not None else None
    if relation is not None and relation.secondary is not None:
        return relation.mapper.persist_selectable.name
    return None


def _ids(value):
    values = value if isinstance(value, (list, tuple)) else [value]
    return [v for v in values if isinstance(v, (int, str)) and not isinstance(v, bool) and str(v) != ""]


def _references_of(event, data):
    """``(table, id)`` of every record the event names."""
    if event.record_id and "," not in event.record_id:
        yield event.entity, event.record_id
    if event.actor_kind == "user" and event.actor_id is not None:
        yield USER_TABLE, event.actor_id
    if event.action in ROW_ACTIONS:
        pairs = {field: value for field, value in data.items() if isinstance(value, list) and len(value) == 2}
        rows = [{field: pair[0] for field, pair in pairs.items()}, {field: pair[1] for field, pair in pairs.items()}]
    elif event.action == "bulk_insert":
        rows = [row for row in data.get("values") or [] if isinstance(row, dict)]
    else:
        rows = []
    for row in rows:
        for field, value in row.items():
            target = target_table(event.entity, field) if value is not None else None
            if target is not None:
                for one in _ids(value):
                    yield target, one


def _store(fresh=False):
    """The answers kept for the request (a long export starts afresh now and then)."""
    from flask import g

    store = g.get("_audit_references")
    if store is None or (fresh and len(store) > REFERENCE_CACHE_LIMIT):
        store = g._audit_references = {}
    return store


def prepare(events):
    """Look up every record ``events`` name, one query per table; ``lines``, ``summary``, ``who``
    and ``record_text`` then read the answers."""
    from flask import has_app_context

    if not has_app_context():
        return
    store = _store(fresh=True)
    wanted = {}
    for event in events:
        for table, key in _references_of(event, parsed(event)):
            if (table, str(key)) not in store:
                wanted.setdefault(table, set()).add(str(key))
    for table, keys in wanted.items():
        _load(table, keys, store)


def _load(table, keys, store):
    from sqlalchemy import Integer
    from sqlalchemy.orm import joinedload, lazyload
    from sqlalchemy.orm.interfaces import MANYTOONE

    from app.extensions import db

    model = _models_by_table().get(table)
    if model is None:
        for key in keys:
            store[(table, key)] = None
        return
    mapper = model.__mapper__
    pk = mapper.primary_key[0]
    numeric = isinstance(pk.type, Integer)
    values = []
    for key in keys:
        store[(table, key)] = None  # unless found below
        if not numeric:
            values.append(key)
        elif key.lstrip("-").isdigit():
            values.append(int(key))
    # the records a name needs (one level of many-to-one) in the same statement; nothing else:
    # the models' own eager chains (an outlet's region, the region's users…) are not needed here
    options = [lazyload("*")] + [joinedload(getattr(model, rel.key)).lazyload("*")
                                 for rel in mapper.relationships if rel.direction is MANYTOONE]
    attribute = mapper.get_property_by_column(pk).key
    for start in range(0, len(values), 500):
        chunk = values[start:start + 500]
        for row in db.session.query(model).options(*options).filter(pk.in_(chunk)):
            key = getattr(row, attribute)
            store[(table, str(key))] = (_record_text(table, row), table, key)


def _record_text(table, row):
    """A record as people name it: FAB's security rows by their labels, users by name, every other
    record as its model writes itself (a complaint's number, an outlet's code and name…) with its
    enumeration codes translated, or else by the record it belongs to."""
    from sqlalchemy import inspect
    from sqlalchemy.orm.interfaces import MANYTOONE

    from app.core.people import display_name
    from app.security.permission_labels import action_label, permission_text, resource_label
    from app.security.roles import role_label

    if table == USER_TABLE:
        return display_name(row)
    if table == "ab_role":
        return role_label(row.name)
    if table == "ab_permission_view":
        return permission_text(row)
    if table == "ab_permission":
        return action_label(row.name)
    if table == "ab_view_menu":
        return resource_label(row.name)
    enums = {}
    for column in row.__table__.columns:
        code = getattr(row, column.key, None) if column.key in row.__mapper__.column_attrs else None
        enum = _enumeration(table, column.name) if isinstance(code, str) and code else None
        if enum is not None and code in enum:
            enums[code] = enum.label(code)
    if type(row).__repr__ is not object.__repr__ or type(row).__str__ is not object.__str__:
        return " ".join(enums.get(part, part) for part in str(row).split(" "))
    # no name of its own (a complaint's timeline entry): the record it belongs to, and its kind
    parents = [getattr(row, rel.key) for rel in row.__mapper__.relationships
               if rel.direction is MANYTOONE and any(fk.ondelete == "CASCADE" for c in rel.local_columns
                                                     for fk in c.foreign_keys)]
    parts = [_record_text(parent.__table__.name, parent) for parent in parents if parent is not None]
    return " · ".join(parts + list(enums.values())) or gettext("id %(id)s", id=inspect(row).identity[0])


def _record_url(table, key):
    """The record's page, when there is one and the reader may open it."""
    from flask import current_app, g, has_request_context, url_for

    view = _pages_by_table().get(table)
    if view is None or not has_request_context():
        return None
    access = g.setdefault("_audit_page_access", {})
    name = view.class_permission_name
    if name not in access:
        access[name] = bool(current_app.appbuilder.sm.has_access("can_read", name))
    return url_for(f"{view.endpoint}.show", pk=key) if access[name] else None


def _reference(table, key):
    """``(text, table, key)`` of one record, ``None`` when it is gone; looked up now if ``prepare``
    did not."""
    from flask import has_app_context

    if not has_app_context():
        return None
    store = _store()
    if (table, str(key)) not in store:
        _load(table, {str(key)}, store)
    return store.get((table, str(key)))


def _linked(found, html):
    text, table, key = found
    if not html:
        return text
    url = _record_url(table, key)
    if url is None:
        return escape(text)
    return Markup('<a href="{}">{}</a>').format(url, text)


def _gone(key):
    return gettext("deleted, id %(id)s", id=key)


def record_text(event, html=False):
    """The record an event is about: its number or name (linked to its page), or what its own
    change recorded of it once it is gone."""
    if not event.record_id:
        return ""
    if "," in event.record_id or event.entity not in _models_by_table():
        return escape(event.record_id) if html else event.record_id
    found = _reference(event.entity, event.record_id)
    if found is not None:
        return _linked(found, html)
    data = parsed(event) if event.action in ROW_ACTIONS else {}
    for name in NUMBER_COLUMNS:
        pair = data.get(name)
        if isinstance(pair, list) and len(pair) == 2 and (pair[0] or pair[1]):
            text = f"{pair[0] or pair[1]} ({_gone(event.record_id)})"
            return escape(text) if html else text
    text = _gone(event.record_id)
    return escape(text) if html else text


# --- values -------------------------------------------------------------------------------------

ISO_DATETIME = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?([+-]\d{2}:\d{2}|Z)?")


def hidden(table, field):
    """Bookkeeping that is not a change anyone made (``capture.BOOKKEEPING``), kept out of sight in
    events recorded before it was left out."""
    from app.audit_trail.capture import bookkeeping

    return field in bookkeeping(table)


def _kind(table, field):
    """``"datetime"``, ``"date"``, ``"text"`` or ``None`` (no such column) by the column's type."""
    return _memo("kind", (table, field), lambda: _column_kind(table, field))


def _column_kind(table, field):
    from sqlalchemy import Date, DateTime, String, Text

    column = _column(table, field)
    if column is None:
        return None
    if isinstance(column.type, DateTime):
        return "datetime"
    if isinstance(column.type, Date):
        return "date"
    if isinstance(column.type, (String, Text)):
        return "text"
    return "other"


def _name_copy(table, field):
    """A name kept beside a foreign key (``actor_name`` beside ``actor_id``): the key it copies."""
    if not field.endswith("_name"):
        return None
    sibling = field[:-len("_name")] + "_id"
    return sibling if target_table(table, sibling) is not None else None


def _detail_text(table, field, value):
    from app.security.permission_labels import action_label, view_label

    if field == "channel" and value in ACCESS_CHANNEL:
        return ACCESS_CHANNEL.label(value)
    if field == "field" and isinstance(value, str):
        return field_label(table, value)
    if field == "permission" and isinstance(value, str):
        return action_label(value)
    if field == "view" and isinstance(value, str):
        return view_label(value)
    if field == "method" and isinstance(value, str):
        return REQUEST_KIND.label(value.upper()) if value.upper() in REQUEST_KIND else gettext("Other request")
    return None


def value_text(table, field, value, detail=False, html=False):
    """One before/after value (or an event's detail) as people read it: related records by their
    number or name (linked to their page with ``html``), enumerations translated, times in local
    time, flags Yes/No, lists as JSON. Text, or markup with ``html``."""
    if value is None:
        return ""
    text = _detail_text(table, field, value) if detail else None
    if text is None and not detail:
        target = target_table(table, field)
        if target is not None and _ids(value):
            parts = []
            for key in _ids(value):
                found = _reference(target, key)
                parts.append(_linked(found, html) if found is not None else _gone(key))
            if html:
                return Markup(", ").join(parts)
            return ", ".join(parts)
        if _name_copy(table, field) is not None and isinstance(value, str):
            text = actor_text(value)
    if text is None:
        text = _plain_value(table, field, value, detail)
    return escape(text) if html else text


def _plain_value(table, field, value, detail):
    enum = None if detail else _enumeration(table, field)
    if enum is not None and isinstance(value, str):
        if value and value not in enum and all(part in enum for part in value.split(",")):
            return ", ".join(enum.label(part) for part in value.split(","))  # a list of codes
        return _memo("value", (table, field, value), lambda: enum.label(value))
    if isinstance(value, bool):
        return gettext("Yes") if value else gettext("No")
    if isinstance(value, (list, dict)):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    kind = None if detail else _kind(table, field)
    if isinstance(value, str):
        if kind == "datetime" or (kind is None and ISO_DATETIME.fullmatch(value)):
            return l10n.datetime_text(value) or value
        if kind == "date":
            return l10n.date_text(value) or value
    return str(value)


def parsed(event):
    """The event's changes (or details), customers' phone numbers masked for users who may not
    see them (``core.personal``: the same rule as the pages and the API)."""
    from app.core.personal import mask_changes

    try:
        data = json.loads(event.changes or "{}")
    except ValueError:
        return {"_": event.changes}
    return mask_changes(event.entity, data) if isinstance(data, dict) else {"_": data}


def lines(event, html=False):
    """``[(field code, field label, before, after)]``: one per changed field for row changes (bookkeeping
    left out), one per detail for other events (the detail's value as *after*), one per row of a
    bulk creation. Text, or markup with ``html``."""
    data = parsed(event)
    entity = event.entity
    if event.action == "bulk_insert" and isinstance(data.get("values"), list):
        return _bulk_insert_lines(event, data, html)
    if event.action not in ROW_ACTIONS:
        order = {name: i for i, name in enumerate(DETAIL_ORDER)}
        return [(field, field_label(entity, field, detail=True), "",
                 value_text(entity, field, data[field], detail=True, html=html))
                for field in sorted(data, key=lambda f: (order.get(f, len(order)), f))]
    out = []
    for field in sorted(data):
        value = data[field]
        if hidden(entity, field) or field == "id":  # bookkeeping; the record's own id (the record column names it)
            continue
        copied = _name_copy(entity, field)
        if copied is not None and isinstance(data.get(copied), list) and any(v is not None for v in data[copied]):
            continue  # the name beside a recorded key: the key's line names the record
        if isinstance(value, list) and len(value) == 2:
            before, after = value
            out.append((field, field_label(entity, field), value_text(entity, field, before, html=html),
                        value_text(entity, field, after, html=html)))
        else:
            out.append((field, field_label(entity, field), "", value_text(entity, field, value, html=html)))
    return out


def _bulk_insert_lines(event, data, html):
    entity = event.entity
    out = [("rows", field_label(entity, "rows", detail=True), "", str(data.get("rows", len(data["values"]))))]
    for number, row in enumerate(data["values"], 1):
        if not isinstance(row, dict):
            continue
        parts = [(field_label(entity, field), value_text(entity, field, value, html=html))
                 for field, value in sorted(row.items()) if value not in (None, "") and not hidden(entity, field)
                 and field not in SUMMARY_SKIPPED]
        if html:
            text = Markup("; ").join(Markup("{}: {}").format(label, value) for label, value in parts)
        else:
            text = "; ".join(f"{label}: {value}" for label, value in parts)
        out.append((f"row-{number}", gettext("Row %(n)s", n=number), "", text))
    return out


def summary(event, limit=4, html=False):
    """``状态: 申请中 → 合作中; 联系人: — → 王经理`` (the first few fields); a creation or deletion
    names only the values it created or removed."""
    parts = []
    items = lines(event, html=html)
    one_sided = event.action in ("insert", "delete", "bulk_delete")
    if one_sided:  # the full list is on the event's page
        items = [line for line in items if line[0] not in SUMMARY_SKIPPED and (line[2] or line[3])] or items
    join = (lambda *p: Markup("").join(p)) if html else (lambda *p: "".join(str(x) for x in p))
    for _code, label, before, after in items[:limit]:
        if event.action in ROW_ACTIONS and not one_sided:
            parts.append(join(label, ": ", before or NONE, " → ", after or NONE))
        else:
            parts.append(join(label, ": ", (before if event.action in ("delete", "bulk_delete") else after) or NONE))
    if len(items) > limit:
        parts.append(gettext("and %(n)s more", n=len(items) - limit))
    return Markup("; ").join(parts) if html else "; ".join(parts)


def local_time(value, seconds=True):
    if value is None:
        return ""
    return l10n.datetime_text(value, seconds=seconds)


def action_label(code):
    return AUDIT_ACTION.label(code)
