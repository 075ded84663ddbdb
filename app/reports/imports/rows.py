"""One row of an import: its cells read, its record found by the natural key (or made), the values
set where they differ, the entity's own rules run (``services.run_validators``, the same as every
other write path), the change flushed and its region scope checked. The caller commits or rolls back.

A row reports every error it has, each message naming its column and quoting the cell as typed
(“出厂日期”：“2026-13-01” 不是有效日期…): every cell that cannot be read and — while checking, when
the row's key could be read — the entity rules' refusals of the cells that could.

Rows are upserts on natural keys; an attribute is only set when its value differs, so re-importing
the same file changes nothing and writes no audit event. An empty cell leaves the stored value alone.
"""
import logging
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation

from flask_babel import gettext as _
from sqlalchemy import inspect

from app.core import scope
from app.core.errors import DomainError
from app.extensions import db
from app.reports.imports.columns import RowError
from app.reports.imports.parsing import listing, parse_cell, shown

log = logging.getLogger(__name__)


# --- messages -------------------------------------------------------------------------------------

def column_message(label, problem):
    """``“出厂日期”：…`` — a problem of a column (the problem quotes the cell when it has one)."""
    if not label:
        return str(problem)
    return _("%(column)s: %(problem)s", column=label, problem=problem)


def value_message(label, value, problem):
    """``“上门时间”（“2026-11-23 09:00”）：…`` — an entity rule's refusal of a cell, quoting it."""
    if not label:
        return str(problem)
    if not value:
        return column_message(label, problem)
    return _('%(column)s ("%(value)s"): %(problem)s', column=label, value=value, problem=problem)


# --- the row's cells ------------------------------------------------------------------------------

@dataclass
class Cells:
    values: dict = field(default_factory=dict)  # field → value, for the row's record
    attached: dict = field(default_factory=dict)  # attribute → value, for the attached record
    raw: dict = field(default_factory=dict)  # field → the cell as read from the sheet
    failed: set = field(default_factory=set)  # fields whose cell could not be read, or is required and empty
    messages: list = field(default_factory=list)

    def shown(self, name):
        """The cell of column ``name`` as a message quotes it."""
        return shown(self.raw.get(name))


def read_cells(spec, refs, sheet, values):
    """Every cell of the row read; each one that cannot be read is a message."""
    cells = Cells()

    def refuse(col, problem):
        cells.messages.append(column_message(str(col.label), problem))
        cells.failed.add(col.field)

    for col, raw in zip(sheet.fields, values):
        if col is None:
            continue
        cells.raw[col.field] = raw
        try:
            value = parse_cell(col, raw, refs, spec.model_column(col))
        except RowError as exc:
            refuse(col, exc)
            continue
        if value is None:
            if col.required:
                refuse(col, _("This field is required."))
            continue
        if col.attached:
            cells.attached[col.attached] = value
        else:
            cells.values[col.field] = value
    if cells.attached:  # an attached record needs its key
        for name in spec.attached.key:
            col = next(c for c in spec.columns if c.attached == name)
            if name not in cells.attached and col.field not in cells.failed:
                refuse(col, _("This field is required."))
    return cells


class RowKey(tuple):
    """A row's natural key as read (references by id): equal keys are the same record. ``spec``
    and ``cells`` name it in a message (the key columns and their cells as typed)."""
    spec = None
    cells = None


def row_key(spec, cells):
    """The natural key as read, or None when a key cell could not be read (that row's error says
    so: two different unknown codes are two errors, not duplicates) or every key cell is empty."""
    if any(name in cells.failed for name in spec.key):
        return None
    parts = tuple(_identity(cells.values.get(name)) for name in spec.key)
    if all(part is None for part in parts):
        return None
    key = RowKey(parts)
    key.spec, key.cells = spec, cells
    return key


def duplicate_message(key, row):
    """The key columns and their cells (“工号”（“E2001”）：…), then the row this one repeats."""
    filled = [name for name in key.spec.key if key.cells.shown(name)]
    label = listing(str(key.spec.column(name).label) for name in filled)
    value = ", ".join(key.cells.shown(name) for name in filled)
    return value_message(label, value, _("Duplicate of row %(row)s in this file.", row=row))


def _identity(value):
    return value.id if hasattr(value, "_sa_instance_state") else value


# --- the entity rules' refusals -------------------------------------------------------------------

def _refusal(spec, exc, attached=False):
    """``[(col or None, text)]`` of a refusal, each field's message with its column. ``attached``:
    the refusal is the attached record's (its fields are the columns' ``attached`` attributes)."""
    if attached:
        columns = {c.attached: c for c in spec.columns if c.attached}
    else:
        columns = {c.field: c for c in spec.columns if not c.attached}
    problems = []
    texts = set()
    for name, msgs in (exc.errors or {}).items():
        for m in msgs:
            problems.append((columns.get(name), str(m)))
            texts.add(str(m))
    if not problems or not exc.errors:
        problems.insert(0, (None, str(exc.message)))
    elif str(exc.message) and exc.status == 409 and str(exc.message) not in texts:
        problems.insert(0, (None, str(exc.message)))
    return problems


def _messages(problems, cells):
    """The refusals as messages: once per text (a rule naming two columns is one problem), none
    about a cell that could not be read (its own message says why, the rule saw it empty)."""
    dropped = {text for col, text in problems if col is not None and col.field in cells.failed}
    messages, seen = [], set()
    for col, text in problems:
        if text in dropped or text in seen:
            continue
        seen.add(text)
        messages.append(value_message(str(col.label), cells.shown(col.field), text) if col else text)
    return messages


# --- one row --------------------------------------------------------------------------------------

def process_row(spec, refs, sheet, values, thorough=True, batch=None):
    """Build or update the row's object and run the rules. Returns ``(outcome, key, messages)``
    where outcome is new / changed / unchanged / error. Leaves the change flushed in the session
    (the caller commits or rolls back). ``thorough``: when a cell cannot be read, still run the
    entity rules on the others (checking: the row is rolled back; applying stops short of that).

    ``batch`` (``chunks.Batch``): the row is one of a chunk — its stored record and the scope
    were looked up with the chunk's, and its change is flushed and scope-checked with the
    chunk's (``Batch.flush`` may still turn a new or changed row into an error)."""
    from app.core.services import run_validators

    cells = read_cells(spec, refs, sheet, values)
    key = row_key(spec, cells)
    if cells.messages and not (thorough and _judged(spec, cells)):
        return "error", key, cells.messages

    existing = batch.find(cells.values) if batch is not None else _find_existing(spec, cells.values)
    if existing is not None and not (batch.in_scope(existing) if batch is not None else scope.in_scope(existing)):
        return "error", key, cells.messages + [scope.outside_message()]
    item = existing if existing is not None else spec.model()
    changed = existing is None
    if existing is None:
        for name, value in spec.defaults.items():
            if name not in cells.values:
                setattr(item, name, value)
    for name, value in cells.values.items():
        if existing is not None and _same(getattr(item, name), value):
            continue
        setattr(item, name, value)
        changed = True
    session = db.session
    record = None
    if cells.attached:
        with session.no_autoflush:
            record, record_changed = _attach(spec.attached, item, existing, cells.attached)
        if not record_changed:
            record = None  # stored as the row says: left alone
        changed = changed or record_changed
    if not changed:
        return ("error", key, cells.messages) if cells.messages else ("unchanged", key, [])
    if batch is not None:
        batch.consider(item, existing, record)  # left out of the chunk's flush unless added below

    problems = []
    with session.no_autoflush:
        try:
            if record is not None:
                try:
                    run_validators(record)
                except DomainError as exc:
                    problems += _refusal(spec, exc, attached=True)
            try:
                run_validators(item)
            except DomainError as exc:
                problems += _refusal(spec, exc)
        except Exception:
            if not cells.messages:
                raise
            # a rule that cannot judge a record missing the cells it needs: the cells' errors say why
            log.debug("import row: rules skipped on an incomplete record", exc_info=True)
    if cells.messages or problems:
        return "error", key, cells.messages + _messages(problems, cells)
    if batch is not None:
        batch.add(item, existing, record, cells)
        return ("new" if existing is None else "changed"), key, []
    try:
        session.add(item)
        if record is not None:
            session.add(record)
        session.flush()
        scope.ensure_in_scope(item)
    except DomainError as exc:
        return "error", key, _messages(_refusal(spec, exc), cells)
    except Exception as exc:  # a database refusal (unique key, check)
        from sqlalchemy.exc import IntegrityError

        from app.core.services import integrity_error

        if isinstance(exc, IntegrityError):
            return "error", key, _messages(_refusal(spec, integrity_error(exc)), cells)
        raise
    return ("new" if existing is None else "changed"), key, []


def _judged(spec, cells):
    """Whether the rules can judge a row with unreadable cells: its key and its attached record
    (the record the row describes) could be read."""
    return not any(c.field in cells.failed for c in spec.columns if c.field in spec.key or c.attached)


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
