"""Appending to the hash chain, and verifying it.

``hash = sha256(canonical JSON of the row's fields including prev_hash)``; the first row's
``prev_hash`` is ``GENESIS``. Writers take the chain head row (``audit_chain``) with an
``UPDATE … RETURNING``, which holds a row lock on PostgreSQL (and the write lock on SQLite) until
their transaction ends: concurrent transactions append one after another, so ids are gapless and
the chain never forks. An append runs two statements on PostgreSQL: that ``UPDATE … RETURNING``,
then the INSERT of the events and the UPDATE of the head in one (a data-modifying ``WITH``; more
than ``ONE_STATEMENT_ROWS`` events, and SQLite: the INSERT and the UPDATE one after the other).
``verify()`` walks the rows in id order and reports the first one whose hash, link or id breaks.
"""
import hashlib
import json

from sqlalchemy import insert, select, update

from app.audit_trail.models import AuditChain, AuditEvent
from app.core import clock

GENESIS = "0" * 64
FIELDS = ("id", "at", "actor_kind", "actor_id", "actor_name", "request_id", "client_addr", "entity", "record_id",
          "action", "changes", "prev_hash")


def canonical(row):
    """The exact text hashed for an event (``row``: a mapping or an object with the fields)."""
    get = row.get if isinstance(row, dict) else (lambda k: getattr(row, k))
    data = {k: get(k) for k in FIELDS}
    data["at"] = data["at"].isoformat(timespec="microseconds")
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def digest(row):
    return hashlib.sha256(canonical(row).encode("utf-8")).hexdigest()


ONE_STATEMENT_ROWS = 200
"""Up to this many events, PostgreSQL inserts them and moves the head in one statement."""


def append(connection, events):
    """Append ``events`` (dicts without id, hashes) to the chain on ``connection``, in its
    transaction. Returns the rows written."""
    if not events:
        return []
    head = AuditChain.__table__
    now = clock.now()
    # take the head and read it in one statement: a row lock until this transaction ends (the
    # write lock on SQLite)
    last_id, last_hash = connection.execute(
        update(head).where(head.c.id == 1).values(touched_at=now).returning(head.c.last_id, head.c.last_hash)
    ).one()
    rows = []
    for event in events:
        row = dict(event)
        row["id"] = last_id + 1
        row["at"] = row.get("at") or now
        row["prev_hash"] = last_hash
        row["hash"] = digest(row)
        rows.append(row)
        last_id, last_hash = row["id"], row["hash"]
    move_head = update(head).where(head.c.id == 1).values(last_id=last_id, last_hash=last_hash)
    if connection.dialect.name == "postgresql" and len(rows) <= ONE_STATEMENT_ROWS:
        # the events and the head's move in one statement (a data-modifying WITH)
        connection.execute(move_head.add_cte(insert(AuditEvent.__table__).values(rows).cte("appended")))
    else:
        connection.execute(insert(AuditEvent.__table__), rows)
        connection.execute(move_head)
    return rows


def verify(session, batch=2000):
    """``{"ok", "checked", "first_broken_id"}``: every row's hash recomputed, every link and id
    checked in order (a changed, removed or inserted row breaks the chain at its id)."""
    expected_prev, expected_id, checked = GENESIS, 1, 0
    last = 0
    while True:
        rows = session.execute(
            select(AuditEvent.__table__).where(AuditEvent.id > last).order_by(AuditEvent.id).limit(batch)
        ).mappings().all()
        if not rows:
            break
        for row in rows:
            checked += 1
            if row["id"] != expected_id or row["prev_hash"] != expected_prev or digest(row) != row["hash"]:
                broken = row["id"] if row["id"] <= expected_id else expected_id  # a gap: the missing id
                return {"ok": False, "checked": checked, "first_broken_id": broken}
            expected_prev, expected_id = row["hash"], row["id"] + 1
        last = rows[-1]["id"]
    head = session.execute(select(AuditChain.last_id, AuditChain.last_hash).where(AuditChain.id == 1)).first()
    if head is not None and head.last_id != expected_id - 1:
        # rows were removed from the end: the head still remembers them
        return {"ok": False, "checked": checked, "first_broken_id": expected_id}
    return {"ok": True, "checked": checked, "first_broken_id": None}
