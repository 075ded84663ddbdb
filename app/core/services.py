"""Transactions at the service boundary: the generic save and delete every write path uses.

Pages, the API, imports and jobs all call ``save``/``delete``. Each runs the entity's rules
(validators registered with ``@validates_entity``), checks region scope after the flush, and
commits once — or rolls everything back and raises a ``DomainError`` naming the field.
"""
import logging
import re
from contextlib import contextmanager

from flask_babel import gettext
from sqlalchemy import inspect
from sqlalchemy.exc import IntegrityError

from app.core import scope
from app.core.errors import Conflict, DomainError, Invalid
from app.extensions import db

log = logging.getLogger(__name__)

_validators = {}
_delete_guards = {}


def validates_entity(model):
    """Register ``fn(item, collector)`` to run before ``model`` rows are saved."""

    def decorator(fn):
        _validators.setdefault(model, []).append(fn)
        return fn

    return decorator


def guards_delete(model):
    """Register ``fn(item)`` that raises when ``model`` rows must not be deleted."""

    def decorator(fn):
        _delete_guards.setdefault(model, []).append(fn)
        return fn

    return decorator


def region_from_loaded(model):
    """Register ``fn(item)`` returning the region id a ``model`` row lies in as far as the rows
    already loaded in the session tell (e.g. a complaint: its outlet's region), or ``None`` when
    they do not: ``save`` then checks the row's scope without asking the database again."""

    def decorator(fn):
        _region_readers[model] = fn
        return fn

    return decorator


_region_readers = {}


def _in_scope_loaded(item):
    """True when the loaded rows show ``item`` inside the actor's regions; False when unknown."""
    reader = _region_readers.get(type(item))
    if reader is None:
        return False
    ids = scope.current_region_ids()
    if ids is None:
        return True
    region_id = reader(item)
    return region_id is not None and region_id in ids


def run_validators(item):
    from app.core.errors import ErrorCollector

    errors = ErrorCollector()
    for model in type(item).__mro__:
        for fn in _validators.get(model, ()):
            fn(item, errors)
    errors.raise_if_any()


@contextmanager
def transaction(translate=None):
    """One unit of work: commit on success, roll back and translate errors on failure.

    ``translate(exc)`` turns a database refusal into a ``DomainError`` (default: ``integrity_error``).
    """
    session = db.session
    try:
        yield session
        session.commit()
    except DomainError:
        session.rollback()
        raise
    except IntegrityError as exc:
        session.rollback()
        raise (translate or integrity_error)(exc) from exc
    except Exception:
        session.rollback()
        raise


@contextmanager
def savepoint():
    """A SAVEPOINT inside the caller's transaction (``session.begin_nested()``), on SQLite too.

    A failure inside rolls back to the savepoint only (e.g. a unique key already taken) and the
    caller's transaction goes on. pysqlite opens its transaction lazily, at the first INSERT,
    UPDATE or DELETE: a SAVEPOINT issued before that opens a transaction of its own, which its
    RELEASE commits, out of the caller's reach. On SQLite the caller's transaction is opened first.
    """
    session = db.session
    connection = session.connection()
    if connection.dialect.name == "sqlite":
        raw = connection.connection.dbapi_connection
        if not raw.in_transaction:
            raw.execute("BEGIN")
    with session.begin_nested() as nested:
        yield nested


def load(model, pk, lock=False, clause=None):
    """One row of ``model`` the actor may see (404 otherwise), row-locked on PostgreSQL when
    ``lock``. ``clause`` replaces the region scope (e.g. escalations a delegate may see)."""
    from app.core.errors import NotFound

    query = db.session.query(model).filter(model.id == pk)
    clause = scope.clause_for(model) if clause is None else clause
    if clause is not None:
        query = query.filter(clause)
    if lock:
        query = query.with_for_update(of=model)
    row = query.one_or_none()
    if row is None:
        raise NotFound()
    return row


def save(item):
    """Validate, scope-check and commit one new or changed row.

    The session's rows stay loaded after this commit (they hold what was just written), so the
    caller answers with the saved row without reading it back."""
    real = db.session()
    keep = real.expire_on_commit
    real.expire_on_commit = False
    try:
        with transaction() as session:
            # The rules may query (settings, related rows): nothing half-built is flushed meanwhile.
            with session.no_autoflush:
                run_validators(item)
            session.add(item)
            session.flush()
            if not _in_scope_loaded(item):
                scope.ensure_in_scope(item)
    finally:
        real.expire_on_commit = keep
    return item


def in_use_error(exc):
    """Any database refusal of a delete means other rows still need this one (a restricting
    foreign key, or a child whose required reference would be cleared)."""
    log.info("delete refused by the database: %s", getattr(exc, "orig", exc))
    return Conflict(gettext("This record is still in use by other records."))


def delete(item):
    with transaction(in_use_error) as session:
        scope.ensure_in_scope(item)
        for model in type(item).__mro__:
            for fn in _delete_guards.get(model, ()):
                fn(item)
        session.delete(item)
        session.flush()


def delete_many(items):
    with transaction(in_use_error) as session:
        for item in items:
            scope.ensure_in_scope(item)
            for model in type(item).__mro__:
                for fn in _delete_guards.get(model, ()):
                    fn(item)
            session.delete(item)
        session.flush()


# --- database refusals → field errors --------------------------------------------------------

_SQLITE_UNIQUE = re.compile(r"UNIQUE constraint failed: ([\w., ]+)")
_SQLITE_CHECK = re.compile(r"CHECK constraint failed: (\w+)")


def _constraint_columns(name):
    from flask_appbuilder import Model

    for table in Model.metadata.tables.values():
        for constraint in table.constraints:
            if constraint.name == name:
                return table.name, [c.name for c in getattr(constraint, "columns", [])], constraint
        for index in table.indexes:
            if index.name == name:
                return table.name, [c.name for c in index.columns], index
    return None, [], None


def _field_for_column(table_name, column):
    """FK columns are written by relation name in the API (``outlet_id`` → ``outlet``)."""
    return column[:-3] if column.endswith("_id") else column


def integrity_error(exc):
    """Translate an IntegrityError into a 409/422 naming the field, never echoing SQL."""
    orig = getattr(exc, "orig", None)
    diag = getattr(orig, "diag", None)
    sqlstate = getattr(orig, "sqlstate", None)
    text = str(orig)
    constraint = getattr(diag, "constraint_name", None) if diag is not None else None

    if sqlstate == "23505" or "UNIQUE constraint failed" in text:
        fields = []
        if constraint:
            table, columns, _ = _constraint_columns(constraint)
            fields = [_field_for_column(table, c) for c in columns]
        else:
            m = _SQLITE_UNIQUE.search(text)
            if m:
                fields = [_field_for_column(*p.strip().split(".", 1)) for p in m.group(1).split(",")]
        fields = [f for f in fields if f not in ("outlet", "region")] or fields or ["id"]
        field = fields[-1]
        return Conflict(
            gettext("A record with this %(field)s already exists.", field=field),
            {field: [gettext("Already exists.")]},
        )
    if sqlstate == "23514" or "CHECK constraint failed" in text:
        if not constraint:
            m = _SQLITE_CHECK.search(text)
            constraint = m.group(1) if m else None
        table, columns, ck = _constraint_columns(constraint) if constraint else (None, [], None)
        field = (ck.info.get("field") if ck is not None and ck.info.get("field") else None) or (
            constraint.split("_", 2)[-1] if constraint else "id"
        )
        if table and constraint and constraint.startswith(f"ck_{table}_"):
            field = ck.info.get("field") or constraint[len(f"ck_{table}_"):]
        return Invalid({field: [gettext("Value not allowed.")]})
    if sqlstate == "23503" or "FOREIGN KEY constraint failed" in text:
        if "delete" in text.lower() or "still referenced" in text:
            return Conflict(gettext("This record is still in use by other records."))
        return Conflict(gettext("This record is still in use by other records, or refers to a missing one."))
    if sqlstate == "23502" or "NOT NULL constraint failed" in text:
        column = getattr(diag, "column_name", None) if diag is not None else None
        if not column:
            m = re.search(r"NOT NULL constraint failed: \w+\.(\w+)", text)
            column = m.group(1) if m else "id"
        field = _field_for_column(None, column)
        return Invalid({field: [gettext("This field is required.")]})
    log.warning("unmapped integrity error: %s", text)
    return Conflict(gettext("The change conflicts with existing data."))


def changed_fields(item):
    """Names of attributes changed on ``item`` in this session (before flush)."""
    state = inspect(item)
    return {attr.key for attr in state.attrs if attr.history.has_changes()}


# --- the column rules every entity shares ------------------------------------------------------

def _check_columns(item, errors):
    """Enumerations, numeric ranges and required relations declared on the columns' ``info``."""
    from flask_babel import gettext as _

    mapper = inspect(type(item))
    for column in mapper.columns:
        info = column.info or {}
        key = mapper.get_property_by_column(column).key
        value = getattr(item, key, None)
        if value is None:
            continue
        enum = info.get("enum")
        if enum is not None and value not in enum:
            errors.add(key, _("Not a valid choice. Choose one of: %(codes)s.", codes=", ".join(enum.codes)))
        if "min" in info and value < info["min"]:
            errors.add(key, _("Must be at least %(n)s.", n=info["min"]))
        if "max" in info and value > info["max"]:
            errors.add(key, _("Must be at most %(n)s.", n=info["max"]))
    for rel in mapper.relationships:
        if rel.direction.name != "MANYTOONE":
            continue
        local = list(rel.local_columns)
        if all(not c.nullable for c in local):
            if getattr(item, rel.key) is None and all(getattr(item, c.key, None) is None for c in local):
                errors.add(rel.key, _("This field is required."))


def _register_generic():
    from flask_appbuilder import Model

    validates_entity(Model)(_check_columns)


_register_generic()
