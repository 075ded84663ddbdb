"""Every write recorded in the same transaction: ORM flushes and bulk statements alike.

* ``after_flush``: one event per inserted, updated or deleted row of every audited table, with
  the before and after values of the changed columns and of many-to-many relations (id lists);
* ``do_orm_execute``: bulk ``UPDATE``/``DELETE`` statements run through the session (jobs,
  imports) are recorded row by row — the affected rows are read before and after the statement —
  and a bulk ``INSERT`` as one event carrying every inserted row's values;
* ``record()``: events that are not row changes (logins, token issuance, permission denied, a
  revealed phone number), written in the current transaction.

The actor is the signed-in user, else the job (``job:<function>``) or CLI command
(``cli:<command>``) running, else the system. Pages and the API also record the request id
(``X-Request-ID``, made up when absent and echoed back) and the client address.
"""
import json
import uuid
from datetime import date, datetime
from decimal import Decimal

from flask import g, has_app_context, has_request_context, request
from sqlalchemy import event, inspect, select
from sqlalchemy.orm import Session

from app.audit_trail import chain

# infrastructure, not records: the email outbox and the progress of users' background jobs
NOT_AUDITED = {"audit_event", "audit_chain", "notification", "user_job", "alembic_version",
               "user_credential",  # sign-in bookkeeping: locks and unlocks have their own events
               "number_sequence"}  # counters of record numbers: each number is in its record's event
# bookkeeping that changes on its own (logins have their own events)
IGNORED = {"updated_at", "changed_on", "last_login", "login_count", "fail_login_count"}
# Columns a program keeps for its own work, not facts about the record: never recorded (an update
# changing nothing else writes no event), and hidden in the events written before this rule
# (``present``). A column can say so itself with ``info={"audited": False}``.
BOOKKEEPING = {
    "complaint": {"next_check_at"},  # when the SLA sweep looks at the complaint next
    "ab_api_key": {"last_used_on"},  # stamped by every request made with the key
}
SECRET = {"password"}
MASK = "***"
# personal data kept out of the trail, which is never erased (PIPL): stored masked, like the
# lists show it; the record itself keeps the number
PERSONAL = {"customer_phone"}


def _jsonable(value):
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (bytes, bytearray)):
        return f"<{len(value)} bytes>"
    if isinstance(value, (list, tuple, set)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return value


def dumps(data):
    return json.dumps(_jsonable(data), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


# --- who, from where ---------------------------------------------------------------------------

def set_actor(name, kind, user_id=None):
    """Name who acts now outside a request: a job (``AppWorker`` does it), or a job acting for
    the user who started it (an import: ``set_actor(user.username, "user", user.id)``)."""
    g._audit_actor = (name, kind, user_id)


def actor():
    """``(kind, id, name)`` of whoever acts now."""
    if has_request_context():
        from flask import current_app

        try:
            user = current_app.appbuilder.sm.current_user
        except Exception:
            user = None
        if user is not None and getattr(user, "is_authenticated", False):
            return "user", user.id, user.username
    if has_app_context() and g.get("_audit_actor"):
        name, kind, user_id = g._audit_actor
        return kind, user_id, name
    if has_request_context():
        return "anonymous", None, "anonymous"
    try:
        import click

        ctx = click.get_current_context(silent=True)
    except Exception:
        ctx = None
    if ctx is not None:
        return "cli", None, "cli:" + " ".join(ctx.command_path.split()[1:])
    return "system", None, "system"


def request_id():
    if not has_request_context():
        return ""
    rid = g.get("_request_id")
    if rid is None:
        rid = (request.headers.get("X-Request-ID") or "").strip()[:64] or uuid.uuid4().hex
        g._request_id = rid
    return rid


def client_addr():
    if not has_request_context():
        return ""
    return (request.remote_addr or "")[:64]


def _event(entity, record_id, action, changes, as_user=None):
    kind, actor_id, name = ("user", as_user.id, as_user.username) if as_user is not None else actor()
    return {"actor_kind": kind, "actor_id": actor_id, "actor_name": name[:150], "request_id": request_id(),
            "client_addr": client_addr(), "entity": entity, "record_id": None if record_id is None else str(record_id),
            "action": action, "changes": dumps(changes)}


def record(action, entity, record_id=None, details=None, session=None, as_user=None):
    """Write one event now, in the current transaction (the caller commits). ``as_user`` names
    the actor when it is not yet the signed-in user (a login)."""
    from app.extensions import db

    session = session or db.session
    chain.append(session.connection(), [_event(entity, record_id, action, details or {}, as_user)])


# --- row changes from the ORM ------------------------------------------------------------------

def _audited(table_name):
    return table_name not in NOT_AUDITED


def bookkeeping(table_name):
    """The names of ``table_name``'s columns that are never recorded (``BOOKKEEPING``)."""
    names = _BOOKKEEPING_CACHE.get(table_name)
    if names is None:
        from flask_appbuilder import Model

        table = Model.metadata.tables.get(table_name)
        declared = {c.name for c in table.columns if c.info.get("audited") is False} if table is not None else set()
        names = _BOOKKEEPING_CACHE[table_name] = frozenset(BOOKKEEPING.get(table_name, set()) | declared)
    return names


_BOOKKEEPING_CACHE = {}


def _pk(state):
    """The row's primary key as text (new rows have theirs once flushed, before the identity map)."""
    identity = state.identity or state.mapper.primary_key_from_instance(state.obj())
    if not identity or all(v is None for v in identity):
        return None
    return ",".join(str(v) for v in identity)


def _ids(objs):
    ids = []
    for o in objs:
        state = inspect(o)
        ident = state.identity or state.mapper.primary_key_from_instance(o)
        ids.append(ident[0] if ident and len(ident) == 1 else (list(ident) if ident else None))
    return sorted(ids, key=lambda v: (v is None, not isinstance(v, int), v if isinstance(v, int) else 0, str(v)))


def _value(key, value):
    if value is None:
        return None
    if key in SECRET:
        return MASK
    if key in PERSONAL:
        from app.core.personal import mask_phone

        return mask_phone(value)
    return value


def row_changes(obj, action):
    """``{field: [before, after]}`` of a flushed object (columns and many-to-many id lists)."""
    state = inspect(obj)
    mapper = state.mapper
    skipped = bookkeeping(getattr(mapper.persist_selectable, "name", None))
    out = {}
    for attr in mapper.column_attrs:
        key = attr.key
        if key in skipped:
            continue
        if action == "insert":
            value = state.dict.get(key)
            if value is not None:
                out[key] = [None, _value(key, value)]
        elif action == "delete":
            if key in state.dict:
                hist = state.attrs[key].history
                value = hist.deleted[0] if hist.deleted else state.dict.get(key)
                if value is not None:
                    out[key] = [_value(key, value), None]
        else:
            if key in IGNORED:
                continue
            hist = state.attrs[key].history
            if hist.has_changes():
                before = hist.deleted[0] if hist.deleted else None
                after = hist.added[0] if hist.added else None
                if before != after:
                    out[key] = [_value(key, before), _value(key, after)]
    for rel in mapper.relationships:
        if rel.secondary is None:
            continue
        hist = state.attrs[rel.key].history
        if action == "insert":
            current = list(hist.added) + list(hist.unchanged)
            if current:
                out[rel.key] = [None, _ids(current)]
        elif action == "delete":
            before = list(hist.unchanged) + list(hist.deleted)
            if before:
                out[rel.key] = [_ids(before), None]
        elif hist.has_changes():
            before = _ids(list(hist.unchanged) + list(hist.deleted))
            after = _ids(list(hist.unchanged) + list(hist.added))
            if before != after:
                out[rel.key] = [before, after]
    return out


def _after_flush(session, flush_context):
    events = []
    for action, objs in (("insert", session.new), ("update", session.dirty), ("delete", session.deleted)):
        for obj in objs:
            state = inspect(obj)
            table = state.mapper.persist_selectable
            name = getattr(table, "name", None)
            if name is None or not _audited(name):
                continue
            if action == "update" and not session.is_modified(obj, include_collections=True):
                continue
            changes = row_changes(obj, action)
            if action == "update" and not changes:
                continue
            events.append(_event(name, _pk(state), action, changes))
    if events:
        events.sort(key=lambda e: (e["entity"], e["record_id"] or ""))
        chain.append(session.connection(), events)


# --- bulk statements ---------------------------------------------------------------------------

def _table_of(statement):
    table = getattr(statement, "table", None)
    return table if table is not None and hasattr(table, "c") else None


def _pk_columns(table):
    return list(table.primary_key.columns)


def _key(row, pk_cols):
    return ",".join(str(row[c.name]) for c in pk_cols)


def _on_execute(state):
    if not (state.is_insert or state.is_update or state.is_delete):
        return None
    statement = state.statement
    table = _table_of(statement)
    if table is None or not _audited(table.name):
        return None
    session = state.session
    params = state.parameters
    if state.is_insert:
        result = state.invoke_statement()
        rows = params if isinstance(params, list) else ([params] if params else [])
        values = list(statement.compile().params.items()) if not rows else None
        skipped = bookkeeping(table.name)
        rows = [{k: _value(k, v) for k, v in row.items() if k not in skipped} for row in (rows or [dict(values or [])])]
        details = {"rows": len(rows) if params else result.rowcount, "values": rows}
        chain.append(session.connection(), [_event(table.name, None, "bulk_insert", details)])
        return result

    pk_cols = _pk_columns(table)
    if not pk_cols:
        return None
    pk_names = {c.name for c in pk_cols}
    if isinstance(params, list) and params and statement.whereclause is None:
        # executemany by primary key: UPDATE table SET … WHERE pk = :pk, one parameter set per row
        names = sorted({k for p in params for k in p} - pk_names)
        where = pk_cols[0].in_([p.get(pk_cols[0].name) for p in params])
    else:
        where = statement.whereclause
        if state.is_update:
            names = [getattr(k, "name", None) or getattr(k, "key", None) or str(k)
                     for k in (statement._values or {}).keys()]
        else:
            names = [c.name for c in table.c]
    skipped = bookkeeping(table.name)
    names = [n for n in names if n in table.c and n not in pk_names and n not in skipped
             and not (state.is_update and n in IGNORED)]
    if state.is_update and not names:
        return None  # only bookkeeping changes: nothing to record
    columns = [table.c[n] for n in names]
    query = select(*pk_cols, *columns)
    if where is not None:
        query = query.where(where)
    before = {_key(r, pk_cols): dict(r) for r in session.execute(query).mappings()}
    result = state.invoke_statement()
    action = "bulk_update" if state.is_update else "bulk_delete"
    events = []
    if state.is_update and before:
        first = pk_cols[0].name
        after_query = select(*pk_cols, *columns).where(pk_cols[0].in_([r[first] for r in before.values()]))
        after = {_key(r, pk_cols): dict(r) for r in session.execute(after_query).mappings()}
        for key, old in before.items():
            new = after.get(key, {})
            changes = {n: [_value(n, old.get(n)), _value(n, new.get(n))] for n in names if old.get(n) != new.get(n)}
            if changes:
                events.append(_event(table.name, key, action, changes))
    elif state.is_delete:
        for key, old in before.items():
            events.append(_event(table.name, key, action,
                                 {k: [_value(k, v), None] for k, v in old.items() if v is not None}))
    if events:
        chain.append(session.connection(), events)
    return result


def _keep_old_value(target, value, oldvalue, initiator):
    return value


def _track_old_values():
    """Load a column's old value when it is set on an expired row (``active_history``), so the
    trail always knows the before value — also after a commit expired the object."""
    from flask_appbuilder import Model

    for mapper in Model.registry.mappers:
        table = getattr(mapper.persist_selectable, "name", None)
        if table is None or not _audited(table):
            continue
        for prop in mapper.column_attrs:
            attr = getattr(mapper.class_, prop.key)
            if not event.contains(attr, "set", _keep_old_value):
                event.listen(attr, "set", _keep_old_value, active_history=True, retval=True)


def install():
    """Listen on every session (idempotent)."""
    if not event.contains(Session, "after_flush", _after_flush):
        event.listen(Session, "after_flush", _after_flush)
        event.listen(Session, "do_orm_execute", _on_execute)
    _track_old_values()
