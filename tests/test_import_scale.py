"""Imports at scale: a chunk of rows is checked and applied with a number of statements that does
not depend on its number of rows (references, stored records, certificates, scope, the flush and
the audit trail batched), every created row still has its audit event, chunk boundaries and the
one-by-one replay give the same messages, and the row cap (200,000) refuses a larger file with
the usual message."""
import io
from contextlib import contextmanager

import pytest
from flask_babel import force_locale
from openpyxl import Workbook
from sqlalchemy import event, func

from app.audit_trail.models import AuditEvent
from app.extensions import db
from app.orders.models import ServiceOrder
from app.reports import imports
from app.reports import job_control
from app.reports.imports import chunks
from app.reports.models import UserJob
from tests.test_imports import queued  # noqa: F401  (the fixture, shared)


@pytest.fixture
def jobs(queued, monkeypatch):  # noqa: F811
    """The import tests' recorded jobs (``jobs()`` performs them), progress ticking by rows only so
    the counts stay exact."""
    monkeypatch.setattr(job_control, "TICK_SECONDS", 10 ** 6)
    return queued.run


@contextmanager
def statements():
    """Statements run meanwhile. On SQLite the ORM inserts new rows one statement each (its
    RETURNING does not keep the rows' order, so no multi-row INSERT; in-process, no round trip):
    those INSERTs are left out there, every statement is counted on PostgreSQL."""
    counter = {"n": 0}
    sqlite = db.engine.dialect.name == "sqlite"

    def count(_conn, _cursor, statement, *_args):
        if sqlite and statement.startswith("INSERT INTO service_order "):
            return
        counter["n"] += 1

    engine = db.engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        yield counter
    finally:
        event.remove(engine, "before_cursor_execute", count)


def _headers():
    with force_locale("zh"):
        return [str(c.label) for c in imports.spec_for("service_order").columns]


def _workbook(rows):
    wb = Workbook()
    ws = wb.active
    ws.append(_headers())
    for row in rows:
        ws.append(list(row))
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def _orders(prefix, n, engineer="E1001"):
    with force_locale("zh"):
        from app.orders.enums import ORDER_KIND

        repair = ORDER_KIND.label("repair")
    return [[f"{prefix}-{i:04d}", "周先生", f"1380000{i:04d}", "上海", "空调", "SH001", engineer, repair]
            for i in range(n)]


def _latest_job():
    db.session.expire_all()
    return db.session.query(UserJob).order_by(UserJob.id.desc()).first()


def _check(client, jobs, rows):
    response = client.post("/import/upload", data={"entity": "service_order",
                                                   "file": (io.BytesIO(_workbook(rows)), "orders.xlsx")},
                           content_type="multipart/form-data")
    assert response.status_code == 302, response.data[:500]
    with statements() as counted:
        jobs()
    return _latest_job(), counted["n"]


def _commit(client, jobs, job):
    assert client.post(f"/import/job/{job.id}/confirm").status_code == 302
    with statements() as counted:
        jobs()
    return _latest_job(), counted["n"]


def test_check_and_commit_run_as_many_statements_for_40_rows_as_for_3(app, world, login, jobs):
    client = login("hq")
    small, small_check = _check(client, jobs, _orders("SC-A", 3))
    large, large_check = _check(client, jobs, _orders("SC-B", 40))
    assert small.status == large.status == "validated", (small.result, large.result)
    assert large.result["new"] == 40
    assert large_check == small_check, (small_check, large_check)
    small, small_commit = _commit(client, jobs, small)
    large, large_commit = _commit(client, jobs, large)
    assert small.status == large.status == "done", (small.error, large.error)
    assert large_commit == small_commit, (small_commit, large_commit)
    assert db.session.query(ServiceOrder).filter(ServiceOrder.number.like("SC-B-%")).count() == 40


def test_a_restricted_users_check_is_batched_too(app, world, login, jobs):
    client = login("agent_e")
    small, small_check = _check(client, jobs, _orders("SR-A", 2))
    large, large_check = _check(client, jobs, _orders("SR-B", 30))
    assert small.status == large.status == "validated", (small.result, large.result)
    assert large_check == small_check


def test_every_created_order_has_its_audit_event(app, world, login, jobs):
    client = login("hq")
    mark = db.session.query(func.coalesce(func.max(AuditEvent.id), 0)).scalar()
    job, _n = _check(client, jobs, _orders("SA", 25))
    job, _n = _commit(client, jobs, job)
    assert job.status == "done", job.error
    ids = {str(o.id) for o in db.session.query(ServiceOrder).filter(ServiceOrder.number.like("SA-%"))}
    events = db.session.query(AuditEvent).filter(AuditEvent.id > mark, AuditEvent.entity == "service_order").all()
    assert len(ids) == 25 and {e.record_id for e in events if e.action == "insert"} == ids
    assert all(e.actor_name == "hq" for e in events)


def _errors(job):
    return {e["row"]: e["messages"] for e in job.result["errors_list"]}


def _mixed_rows():
    rows = _orders("SM", 7)
    rows[1][5] = "NOPE"  # an unknown outlet
    rows[3][0] = rows[0][0]  # a duplicate of row 2
    rows[4][6] = "NOBODY"  # an unknown engineer
    rows[6][0] = rows[5][0]  # a duplicate across a chunk boundary of 2
    return rows


def test_chunk_boundaries_and_the_replay_give_the_same_messages(app, world, login, jobs, monkeypatch):
    client = login("hq")
    whole, _n = _check(client, jobs, _mixed_rows())
    assert whole.status == "invalid"
    assert set(_errors(whole)) == {3, 5, 6, 8}
    monkeypatch.setattr(chunks, "CHUNK_ROWS", 2)
    small, _n = _check(client, jobs, _mixed_rows())
    assert _errors(small) == _errors(whole)

    def refused(self, rows_module):
        raise chunks.Replay()

    monkeypatch.setattr(chunks.Batch, "flush", refused)  # as if the database refused a chunk
    replayed, _n = _check(client, jobs, _mixed_rows())
    assert _errors(replayed) == _errors(whole)
    assert (replayed.result["new"], replayed.result["errors"]) == (whole.result["new"], whole.result["errors"])


def test_the_cap_is_200000_rows_and_a_larger_file_is_refused(app, world, login, jobs, monkeypatch):
    assert imports.MAX_ROWS == 200000
    monkeypatch.setattr(imports, "MAX_ROWS", 3)
    client = login("hq")
    job, _n = _check(client, jobs, _orders("SX", 4))
    assert job.status == "invalid"
    with app.test_request_context(), force_locale(job.locale):
        from flask_babel import gettext as _

        assert job.error == _("At most %(n)s rows can be imported at once.", n=3)
    assert db.session.query(ServiceOrder).filter(ServiceOrder.number.like("SX-%")).count() == 0
    job, _n = _check(client, jobs, _orders("SY", 3))
    assert job.status == "validated", job.error
