"""Readable record numbers that stay unique under concurrent creation.

A number is a prefix (kind and day, e.g. ``TS20261207``) followed by a sequence of at least four
digits: ``TS202612070001``. Each prefix has a counter row in ``number_sequence``; taking a number
increments it with one atomic statement (``UPDATE … RETURNING``, or ``INSERT … ON CONFLICT DO
UPDATE … RETURNING`` for a new prefix, on PostgreSQL and SQLite alike) whose ``RETURNING`` also
says whether that number is already stored. The counter row stays locked until the caller's
transaction ends, so concurrent creations queue for a moment instead of computing the same
``max + 1``, and a creation that fails rolls its number back: numbers have no gaps on the normal
path. Callers take the number as late as they can in their transaction.

The first number of a prefix continues after the highest number already stored with that prefix
(rows imported or written before the counter existed). A number that an import wrote explicitly is
skipped when the counter reaches it.
"""
from sqlalchemy import BigInteger, Column, String, Table, case, cast, exists, func, literal, select, update
from sqlalchemy.dialects import postgresql, sqlite

from app.core.db import Model
from app.extensions import db

number_sequence = Table(
    "number_sequence", Model.metadata,
    Column("prefix", String(40), primary_key=True),
    Column("value", BigInteger, nullable=False),
)

WIDTH = 4


def _dialect_insert():
    return postgresql.insert if db.engine.dialect.name == "postgresql" else sqlite.insert


def _highest_stored(prefix, column):
    """The highest numeric sequence already stored under ``prefix`` in ``column`` (0 when none)."""
    rows = db.session.execute(
        select(column).where(column.like(prefix + "%"), func.length(column) >= len(prefix) + WIDTH)
        .order_by(func.length(column).desc(), column.desc()).limit(1)
    ).scalar()
    tail = (rows or "")[len(prefix):]
    return int(tail) if tail.isdigit() else 0


def _formatted(value):
    """The number's sequence part in SQL, as ``take`` writes it: at least ``WIDTH`` digits."""
    if db.engine.dialect.name == "postgresql":
        text = cast(value, String)
        return case((value < 10 ** WIDTH, func.lpad(text, WIDTH, "0")), else_=text)
    return func.printf(f"%0{WIDTH}d", value)


def _number(prefix, value):
    return f"{prefix}{value:0{WIDTH}d}"


def _taken(prefix, column):
    """Whether the number the counter now holds is already stored (read in the same statement)."""
    return exists().where(column == literal(prefix) + _formatted(number_sequence.c.value))


def _increment(prefix, column):
    """``(value, taken)``: the counter moved on by one, and whether that number is already stored
    (a number an import wrote explicitly) — one statement when nobody else was taking a number.

    The ``RETURNING`` reads with the statement's snapshot. On PostgreSQL a statement that had to
    wait for another creator's counter row may have started before a number was stored during the
    wait; it also returns the counter as its snapshot saw it, and when that is not the value just
    replaced (someone moved it meanwhile) whether the number is stored is asked again, fresh: under
    contention a number costs two statements, as it did before."""
    postgres = db.engine.dialect.name == "postgresql"
    seen = number_sequence.alias("seen")
    before = (select(seen.c.value).where(seen.c.prefix == prefix).scalar_subquery() if postgres
              else literal(None))
    row = db.session.execute(
        update(number_sequence).where(number_sequence.c.prefix == prefix)
        .values(value=number_sequence.c.value + 1)
        .returning(number_sequence.c.value, _taken(prefix, column), before)
    ).first()
    if row is not None:
        value, taken, seen_value = row
        if postgres and seen_value != value - 1:  # waited for another creator: its snapshot is old
            taken = _stored(prefix, value, column)
        return value, bool(taken)
    start = _highest_stored(prefix, column) + 1
    insert = _dialect_insert()
    stmt = insert(number_sequence).values(prefix=prefix, value=start)
    stmt = stmt.on_conflict_do_update(index_elements=[number_sequence.c.prefix],
                                      set_={"value": number_sequence.c.value + 1})
    value, taken = db.session.execute(stmt.returning(number_sequence.c.value, _taken(prefix, column))).one()
    if postgres:  # the first of a prefix, maybe after a wait: asked fresh
        taken = _stored(prefix, value, column)
    return value, bool(taken)


def _stored(prefix, value, column):
    """Whether that number is stored, read now (a statement of its own, with a fresh snapshot)."""
    return db.session.execute(select(column).where(column == _number(prefix, value)).limit(1)).first() is not None


def take(prefix, column):
    """The next free number for ``prefix``, unique in ``column`` (a model's number column): one
    statement on the normal path (the counter's increment also tells whether its number is free)."""
    for _ in range(1000):
        value, taken = _increment(prefix, column)
        if not taken:
            return _number(prefix, value)
    raise RuntimeError(f"no free number under {prefix}")
