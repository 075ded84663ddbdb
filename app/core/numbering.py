"""Readable record numbers that stay unique under concurrent creation.

A number is a prefix (kind and day, e.g. ``TS20261207``) followed by a sequence of at least four
digits: ``TS202612070001``. Each prefix has a counter row in ``number_sequence``; taking a number
increments it with one atomic statement (``INSERT … ON CONFLICT DO UPDATE … RETURNING``, on
PostgreSQL and SQLite alike). The counter row stays locked until the caller's transaction ends, so
concurrent creations queue for a moment instead of computing the same ``max + 1``, and a creation
that fails rolls its number back: numbers have no gaps on the normal path.

The first number of a prefix continues after the highest number already stored with that prefix
(rows imported or written before the counter existed). A number that an import wrote explicitly is
skipped when the counter reaches it.
"""
from sqlalchemy import BigInteger, Column, String, Table, func, select, update
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


def _increment(prefix, column):
    value = db.session.execute(
        update(number_sequence).where(number_sequence.c.prefix == prefix)
        .values(value=number_sequence.c.value + 1).returning(number_sequence.c.value)
    ).scalar()
    if value is not None:
        return value
    start = _highest_stored(prefix, column) + 1
    insert = _dialect_insert()
    stmt = insert(number_sequence).values(prefix=prefix, value=start)
    stmt = stmt.on_conflict_do_update(index_elements=[number_sequence.c.prefix],
                                      set_={"value": number_sequence.c.value + 1})
    return db.session.execute(stmt.returning(number_sequence.c.value)).scalar_one()


def take(prefix, column):
    """The next free number for ``prefix``, unique in ``column`` (a model's number column)."""
    for _ in range(1000):
        number = f"{prefix}{_increment(prefix, column):0{WIDTH}d}"
        taken = db.session.execute(select(column).where(column == number).limit(1)).first()
        if taken is None:
            return number
    raise RuntimeError(f"no free number under {prefix}")
