"""Audit events as people read them: entity and field names translated, values labelled, one line
per changed field. Shared by the list and show pages, the history section of every record's page
and the exports, so they all say the same thing."""
import json

from flask_babel import gettext

from app.audit_trail.enums import AUDIT_ACTION, EXTRA_ENTITY_LABELS, ROW_ACTIONS
from app.core import l10n

NONE = "—"
SUMMARY_SKIPPED = {"id", "created_at", "updated_at", "created_on", "changed_on", "created_by_fk", "changed_by_fk"}


def _pages_by_table():
    """``{table name: the first registered page showing that table}``."""
    from app.core.views import _views_by_model

    return {getattr(model, "__tablename__", None): view for model, view in _views_by_model().items()
            if getattr(model, "__tablename__", None) not in (None, "audit_event")}


def entity_label(table):
    if not table:
        return ""
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


def field_label(table, field):
    view = _pages_by_table().get(table)
    if view is not None:
        labels = view.label_columns or {}
        # a foreign key reads as its relation ("region_id" → "Region")
        label = labels.get(field[:-3]) if field.endswith("_id") else None
        if label is None:
            label = labels.get(field)
        if label is not None:
            return str(label)
    return field


def value_text(table, field, value):
    """One before/after value as text: enumerations translated, flags Yes/No, lists as JSON."""
    if value is None:
        return ""
    view = _pages_by_table().get(table)
    enum = (getattr(view, "enum_columns", None) or {}).get(field) if view is not None else None
    if enum is not None and isinstance(value, str):
        return enum.label(value)
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
            out.append((field, field_label(event.entity, field), "", value_text(event.entity, field, value)))
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
