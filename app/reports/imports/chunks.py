"""Rows checked and applied a chunk at a time (``CHUNK_ROWS``), with the same rules and messages as
one by one but a number of statements that does not grow with the rows of a chunk:

* before the chunk's rows: every code its reference columns name, one query per kind of
  reference (``References.prefetch``); the stored records its rows' keys name, one query; which of
  those the acting user may touch, one query; what the entity's rules would otherwise ask per row
  (``Spec.prepare``: e.g. the certificates the orders' engineers miss), one query;
* each row read, matched and judged by ``rows.process_row`` (nothing flushed meanwhile);
* after them: ONE flush of the chunk's new and changed records (one multi-row INSERT per table,
  and one append of all their events to the audit trail), then one query for the region scope of
  the records written.

A database refusal of the chunk's flush (a unique key the rules did not see) cannot say which row
it was: ``Replay`` is raised, the caller rolls back and goes through every row one by one, as
before, to report each row's own error.
"""
from contextlib import nullcontext

from sqlalchemy import inspect, select

from app.core import scope
from app.extensions import db
from app.reports.imports.parsing import text

CHUNK_ROWS = 1000
"""Rows judged together: their look-ups, flush and audit events go in one statement each."""

_UNKNOWN = object()


class Replay(Exception):
    """The chunk's flush was refused: judge the rows one by one to tell which."""


def chunked(rows, size=None):
    """``[(index, (number, values)), …]`` lists of at most ``size`` rows (index from 1)."""
    chunk = []
    for index, row in enumerate(rows, start=1):
        chunk.append((index, row))
        if len(chunk) >= (size or CHUNK_ROWS):
            yield chunk
            chunk = []
    if chunk:
        yield chunk


class Batch:
    """One chunk of rows: what was looked up for them, and their records waiting for the flush."""

    def __init__(self, spec, refs):
        self.spec, self.refs = spec, refs
        self._existing = {}  # key value → stored record (None: not stored), for the keys looked up
        self._outside = set()  # ids of stored records outside the acting user's scope
        self._stored = set()  # id() of the stored records looked up
        self._last = None  # the row being judged: (item, existing, record, cells or None)
        self.pending = []  # (position, item, existing, record, cells) to flush

    # --- before the rows ---------------------------------------------------------------------

    def prepare(self, sheet, chunk):
        """Look up at once what the chunk's rows name: references, stored records, their scope."""
        from app.reports.imports.parsing import parse_cell
        from app.reports.imports.columns import RowError

        self.refs.forget_chunk()
        positions = [i for i, col in enumerate(sheet.fields) if col is not None]
        codes = {}
        for i in positions:
            col = sheet.fields[i]
            if col.kind == "ref":
                found = codes.setdefault(col.ref, set())
                for _index, (_number, values) in chunk:
                    if i < len(values):
                        found.add(text(values[i]))
        for kind, found in codes.items():
            self.refs.prefetch(kind, found)
        key_column = self._key_column()
        if key_column is not None:
            col, column = key_column
            at = next((i for i in positions if sheet.fields[i] is col), None)
            wanted = set()
            if at is not None:
                for _index, (_number, values) in chunk:
                    try:
                        value = parse_cell(col, values[at] if at < len(values) else None, self.refs,
                                           self.spec.model_column(col))
                    except RowError:
                        continue
                    if value is not None:
                        wanted.add(value)
            self._look_up(column, wanted)

    def _key_column(self):
        """``(Col, model column)`` of a natural key of one plain column, else None (looked up per row)."""
        if len(self.spec.key) != 1:
            return None
        name = self.spec.key[0]
        prop = inspect(self.spec.model).attrs.get(name)
        if prop is None or hasattr(prop, "direction"):
            return None
        col = next((c for c in self.spec.columns if c.field == name and not c.attached), None)
        if col is None or col.kind != "str":
            return None
        return col, getattr(self.spec.model, name)

    def _look_up(self, column, values):
        model = self.spec.model
        values = sorted(values)
        for start in range(0, len(values), 2000):
            part = values[start:start + 2000]
            found = {getattr(item, column.key): item for item in db.session.query(model).filter(column.in_(part))}
            for value in part:
                self._existing[value] = found.get(value)
        stored = [item for item in self._existing.values() if item is not None]
        self._stored = {id(item) for item in stored}
        pk = model.__mapper__.primary_key[0]
        ids = [getattr(item, pk.key) for item in stored]
        self._outside = set(ids) - _inside(model, ids)

    # --- each row --------------------------------------------------------------------------------

    def find(self, values):
        """The stored record of the row's key (looked up with the chunk's, else now)."""
        from app.reports.imports.rows import _find_existing

        if len(self.spec.key) == 1:
            value = values.get(self.spec.key[0])
            if value is not None and value in self._existing:
                return self._existing[value]
        return _find_existing(self.spec, values)

    def in_scope(self, item):
        model = type(item)
        if scope.clause_for(model) is None:
            return True
        if id(item) in self._stored:
            return getattr(item, model.__mapper__.primary_key[0].key) not in self._outside
        return scope.in_scope(item)

    def records(self, kind):
        """The records of kind ``kind`` the chunk's rows name (looked up by ``prepare``)."""
        return self.refs.chunk_records(kind)

    def rules(self):
        """A context in which the entity's rules answer from what was looked up for the chunk."""
        prepare = getattr(self.spec, "prepare", None)
        return prepare(self) if prepare is not None else nullcontext()

    def consider(self, item, existing, record):
        """The row's record changed (or is new): it waits for the row's outcome."""
        self._last = (item, existing, record, None)

    def add(self, item, existing, record, cells):
        """The row passed the rules: its records join the chunk's flush."""
        session = db.session
        session.add(item)
        if record is not None:
            session.add(record)
        self._last = (item, existing, record, cells)

    def settle(self, position, error):
        """The row's outcome is known (``error``: also a duplicate of an earlier row): its records
        go to the flush, or its changes are undone (a new record never reaches the database)."""
        last, self._last = self._last, None
        if last is None:
            return
        item, existing, record, cells = last
        session = db.session
        if not error and cells is not None:
            self.pending.append((position, item, existing, record, cells))
            return
        for obj in (record, item):
            if obj is None:
                continue
            state = inspect(obj)
            if state.pending:
                session.expunge(obj)
            elif state.persistent:
                session.expire(obj)  # the row's changes undone: it is stored as it was
                continue
            # a new record never written: out of its parents' collections too (backrefs)
            for rel in state.mapper.relationships:
                if rel.direction.name == "MANYTOONE" and (rel.back_populates or rel.backref):
                    setattr(obj, rel.key, None)

    # --- after the rows ----------------------------------------------------------------------------

    def flush(self, rows_module):
        """Flush the chunk's records; returns ``{position: messages}`` of the rows whose record
        lands outside the acting user's regions. Raises ``Replay`` when the database refuses."""
        from sqlalchemy.exc import IntegrityError

        from app.core.errors import DomainError, Forbidden

        if not self.pending:
            return {}
        try:
            db.session.flush()
        except (IntegrityError, DomainError) as exc:
            raise Replay() from exc
        model = self.spec.model
        if scope.clause_for(model) is None:
            return {}
        pk = model.__mapper__.primary_key[0]
        inside = _inside(model, [getattr(item, pk.key) for _p, item, _e, _r, _c in self.pending])
        failures = {}
        for position, item, _existing, _record, cells in self.pending:
            if getattr(item, pk.key) not in inside:
                exc = Forbidden(errors={"region": [scope.outside_message()]})
                failures[position] = rows_module._messages(rows_module._refusal(self.spec, exc), cells)
        return failures


def _inside(model, ids):
    """Those of ``ids`` (rows of ``model``) the acting user may touch, one query per 2,000."""
    clause = scope.clause_for(model)
    if clause is None:
        return set(ids)
    pk = model.__mapper__.primary_key[0]
    inside = set()
    for start in range(0, len(ids), 2000):
        part = ids[start:start + 2000]
        inside.update(db.session.scalars(select(pk).where(pk.in_(part), clause)))
    return inside
