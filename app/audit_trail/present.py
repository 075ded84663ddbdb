"""Audit events as people read them: entity and field names translated, values labelled, one line
per changed field. Shared by the list and show pages, the history section of every record's page
and the exports, so they all say the same thing."""
import json

from flask_babel import gettext

from app.audit_trail.enums import (ACCESS_CHANNEL, ACTOR_KIND, AUDIT_ACTION, COMMON_FIELD_LABELS, DETAIL_LABELS,
                                   EXTRA_ENTITY_LABELS, EXTRA_FIELD_LABELS, JOB_LABELS, ROW_ACTIONS)
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
    """Who acted, as people read it: a user by their user name; the system, anonymous visitors,
    jobs and command-line runs by their kind ("Background job: Complaint SLA sweep", "Command
    line: jobs run" — the command as it was typed)."""
    if name in ("system", "anonymous"):
        return ACTOR_KIND.label(name)
    if name and name.startswith("job:"):
        job = name[len("job:"):]
        return f"{ACTOR_KIND.label('job')}: {JOB_LABELS.get(job, job)}"
    if name and name.startswith("cli:"):
        return f"{ACTOR_KIND.label('cli')}: {name[len('cli:'):]}"
    return name or ""


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


def value_text(table, field, value, detail=False):
    """One before/after value as text: enumerations translated, flags Yes/No, lists as JSON."""
    if value is None:
        return ""
    if detail and field == "channel" and value in ACCESS_CHANNEL:
        return ACCESS_CHANNEL.label(value)
    if detail and field == "field" and isinstance(value, str):
        return field_label(table, value)
    enum = None if detail else _enumeration(table, field)
    if enum is not None and isinstance(value, str):
        if value and value not in enum and all(part in enum for part in value.split(",")):
            return ", ".join(enum.label(part) for part in value.split(","))  # a list of codes
        return _memo("value", (table, field, value), lambda: enum.label(value))
    if isinstance(value, bool):
        return gettext("Yes") if value else gettext("No")
    if isinstance(value, (list, dict)):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
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


def lines(event):
    """``[(field code, field label, before text, after text)]``: one per changed field for row
    changes, one per detail for other events (the detail's value as *after*)."""
    data = parsed(event)
    out = []
    row_change = event.action in ROW_ACTIONS
    for field in sorted(data):
        value = data[field]
        if row_change and isinstance(value, list) and len(value) == 2:
            before, after = value
            out.append((field, field_label(event.entity, field), value_text(event.entity, field, before),
                        value_text(event.entity, field, after)))
        else:
            out.append((field, field_label(event.entity, field, detail=not row_change), "",
                        value_text(event.entity, field, value, detail=not row_change)))
    return out


def summary(event, limit=4):
    """``status: Applying → Active; contact: — → 王经理`` (the first few fields)."""
    parts = []
    items = lines(event)
    if event.action in ("insert", "delete"):  # the full list is on the event's page
        items = [line for line in items if line[0] not in SUMMARY_SKIPPED] or items
    for _code, label, before, after in items[:limit]:
        if event.action in ROW_ACTIONS:
            parts.append(f"{label}: {before or NONE} → {after or NONE}")
        else:
            parts.append(f"{label}: {after or NONE}")
    if len(items) > limit:
        parts.append(gettext("and %(n)s more", n=len(items) - limit))
    return "; ".join(parts)


def local_time(value, seconds=True):
    if value is None:
        return ""
    return l10n.datetime_text(value, seconds=seconds)


def action_label(code):
    return AUDIT_ACTION.label(code)
