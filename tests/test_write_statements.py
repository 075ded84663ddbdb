"""Recording a complaint costs a fixed, small number of statements, and so does appending to the
audit chain whatever the number of events.

Counted with a listener on the app's engine (every statement sent to the database).
"""
import pytest
from sqlalchemy import event, select

from app.audit_trail import capture, chain
from app.audit_trail.models import AuditChain
from app.complaints.models import Complaint
from app.core import clock, numbering
from app.extensions import db
from seeds.reference import load_default_calendar
from tests.test_complaints_api import _create

MAX_STATEMENTS = 12


@pytest.fixture
def cal(app):
    year = clock.today().year
    load_default_calendar(years=[year, year + 1])
    db.session.commit()


class Statements:
    def __init__(self):
        self.seen = []

    def _before(self, conn, cursor, statement, parameters, context, executemany):
        self.seen.append(" ".join(statement.split()))

    def __enter__(self):
        event.listen(db.engine, "before_cursor_execute", self._before)
        return self

    def __exit__(self, *exc):
        event.remove(db.engine, "before_cursor_execute", self._before)

    def starting(self, text):
        return [s for s in self.seen if s.startswith(text)]


def _chain_statements():
    """What an append costs: two statements on PostgreSQL, three on SQLite (see ``chain``)."""
    return 2 if db.engine.dialect.name == "postgresql" else 3


def test_recording_a_complaint_runs_at_most_twelve_statements(world, cal, api):
    agent = api("agent_e")
    assert _create(agent, world).status_code == 201  # the first one reads what stays cached
    with Statements() as counted:
        response = _create(agent, world)
    assert response.status_code == 201, response.get_json()
    assert len(counted.seen) <= MAX_STATEMENTS, "\n".join(counted.seen)
    # the writes: one number, the complaint, its first timeline row, the trail
    assert len(counted.starting("UPDATE number_sequence")) == 1
    assert len(counted.starting("INSERT INTO complaint ")) == 1
    assert len(counted.starting("INSERT INTO complaint_event ")) == 1
    trail = [s for s in counted.seen if "audit_chain" in s or "audit_event" in s]
    assert len(trail) == _chain_statements(), trail
    # nothing read back after the commit: the answer is built from the rows just written
    assert not [s for s in counted.seen[counted.seen.index(trail[-1]) + 1:] if s.startswith("SELECT complaint.")]
    body = response.get_json()["result"]
    assert body["number"] and body["status"] == "new" and body["response_due_at"]


def test_the_recorded_complaint_is_what_the_database_holds(world, cal, api):
    """The answer built without reading the row back equals a fresh read of it."""
    agent = api("agent_e")
    created = _create(agent, world).get_json()
    fresh = agent.get(f"/api/v1/complaint/{created['id']}").get_json()["result"]
    for key in ("number", "status", "severity", "outlet", "owner", "received_at", "response_due_at",
                "resolution_due_at"):
        assert created["result"][key] == fresh[key], key


@pytest.mark.parametrize("events", [1, 40])
def test_a_chain_append_costs_the_same_statements_for_one_event_or_many(app, events):
    rows = [capture._event("complaint", str(i), "insert", {"n": [None, i]}) for i in range(events)]
    with Statements() as counted:
        chain.append(db.session.connection(), rows)
    assert len(counted.seen) == _chain_statements(), counted.seen
    assert counted.seen[0].startswith("UPDATE audit_chain SET touched_at")  # takes the head and reads it
    assert "RETURNING" in counted.seen[0]
    head = db.session.execute(select(AuditChain.last_id)).scalar_one()
    assert chain.verify(db.session)["ok"]
    assert chain.verify(db.session)["checked"] == head
    db.session.rollback()


def test_a_large_append_inserts_then_moves_the_head(app):
    rows = [capture._event("complaint", str(i), "insert", {}) for i in range(chain.ONE_STATEMENT_ROWS + 1)]
    with Statements() as counted:
        written = chain.append(db.session.connection(), rows)
    assert len(counted.seen) == 3
    head = db.session.execute(select(AuditChain.last_id, AuditChain.last_hash)).one()
    assert (head.last_id, head.last_hash) == (written[-1]["id"], written[-1]["hash"])
    assert chain.verify(db.session)["ok"]
    db.session.rollback()


def test_taking_a_number_is_one_statement_and_skips_a_stored_one(world, cal, api):
    agent = api("agent_e")
    first = _create(agent, world).get_json()["result"]["number"]
    prefix = first[:-4]
    # a number further on, as an import may have written it
    row = db.session.query(Complaint).filter_by(number=first).one()
    row.number = f"{prefix}0002"
    db.session.commit()
    with Statements() as counted:
        number = numbering.take(prefix, Complaint.number)
    assert number == f"{prefix}0003"  # 0002 is stored: skipped
    assert len(counted.seen) == 2  # one per number looked at
    with Statements() as counted:
        assert numbering.take(prefix, Complaint.number) == f"{prefix}0004"
    assert len(counted.seen) == 1
    db.session.rollback()


def test_concurrent_appends_keep_one_gapless_chain(app):
    """Writers appending at once (truly at once on PostgreSQL) queue on the head: one chain."""
    import threading

    writers, per_writer = 8, 3
    concurrent = db.engine.dialect.name == "postgresql"
    barrier = threading.Barrier(writers if concurrent else 1)
    failures = []

    def write(i):
        with app.app_context():
            try:
                barrier.wait()
                for n in range(per_writer):
                    chain.append(db.session.connection(),
                                 [capture._event("complaint", f"{i}-{n}-{k}", "insert", {}) for k in range(1 + i % 3)])
                    db.session.commit()
            except Exception as exc:  # reported below
                failures.append(exc)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=write, args=(i,)) for i in range(writers)]
    for t in threads:
        t.start()
        if not concurrent:
            t.join()
    for t in threads:
        t.join()
    assert not failures, failures[:2]
    result = chain.verify(db.session)
    expected = sum((1 + i % 3) * per_writer for i in range(writers))
    assert result["ok"] and result["checked"] >= expected


def test_a_number_stored_while_waiting_for_the_counter_is_skipped(app, world, cal, api):
    """The counter's ``RETURNING`` reads with its statement's snapshot: a number an import stored
    while this creator waited for another one's counter row is still seen, and skipped."""
    import threading
    import time

    from sqlalchemy import text

    from app.core.numbering import number_sequence

    if db.engine.dialect.name != "postgresql":
        pytest.skip("SQLite lets one writer in at a time: nobody waits for the counter")
    first = _create(api("agent_e"), world).get_json()["result"]["number"]
    prefix = first[:-4]
    template = db.session.query(Complaint).filter_by(number=first).one()
    fields = {k: getattr(template, k) for k in ("customer_name", "customer_phone", "channel", "outlet_id", "severity",
                                                "description", "received_at", "owner_id")}
    db.session.commit()
    holder = db.engine.connect()
    held = holder.begin()  # another creator holds the counter row (its number: 0002)
    holder.execute(number_sequence.update().where(number_sequence.c.prefix == prefix)
                   .values(value=number_sequence.c.value + 1))
    taken = {}

    def take():
        with app.app_context():
            try:
                taken["number"] = numbering.take(prefix, Complaint.number)
            finally:
                db.session.rollback()
                db.session.remove()

    waiter = threading.Thread(target=take)
    waiter.start()
    with db.engine.connect() as probe:  # until the creator waits for the counter row
        for _ in range(200):
            waiting = probe.execute(text("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                                         "AND wait_event_type = 'Lock'")).scalar()
            probe.rollback()
            if waiting:
                break
            time.sleep(0.05)
    db.session.add(Complaint(**fields, number=f"{prefix}0003"))  # an import stores 0003 meanwhile
    db.session.commit()
    held.commit()
    holder.close()
    waiter.join(30)
    assert taken["number"] == f"{prefix}0004"
