"""The audit trail's own exports hold every event the filters select, however many.

The CSV is streamed in the response: it is read here through a real HTTP server (a streamed body
outlives the request that started it, which the test client hides). The workbook is written by
the background export job and downloaded under My jobs. Events are appended in bulk through the
trail's writer (``chain.append``), so the hash chain stays intact.
"""
import csv
import io
import re
import threading
import uuid
from contextlib import contextmanager
from datetime import datetime

import pytest
import requests
from openpyxl import load_workbook
from sqlalchemy import event as sa_event
from werkzeug.serving import make_server

from app.audit_trail import chain
from app.audit_trail.models import AuditEvent
from app.core import queue
from app.extensions import db
from app.reports.models import UserJob
from tests.conftest import PASSWORD

EVENTS = 3000
OLD = 1000  # events dated 2020, left out by a "from 2021-01-01" filter


@pytest.fixture
def bulk_events(app):
    """``EVENTS`` update events by one made-up actor, two changed fields each; the first ``OLD``
    dated 2020-01-01. Returns the actor name."""
    actor = f"bulk-{uuid.uuid4().hex[:8]}"
    rows = []
    for i in range(EVENTS):
        rows.append({"actor_kind": "system", "actor_id": None, "actor_name": actor, "request_id": f"r{i}",
                     "client_addr": "", "entity": "part", "record_id": str(i + 1), "action": "update",
                     "changes": '{"name":["旧名%d","=新名%d"],"unit_price":["1.00","2.00"]}' % (i, i),
                     "at": datetime(2020, 1, 1, 8, 0) if i < OLD else None})
    chain.append(db.session.connection(), rows[:OLD])
    chain.append(db.session.connection(), rows[OLD:])
    db.session.commit()
    assert chain.verify(db.session)["ok"]
    return actor


@contextmanager
def served(app):
    """The app behind a real threaded HTTP server; yields its base URL."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(10)


def _csrf(html):
    found = re.search(r'name="csrf_token"[^>]*value="([^"]*)"', html)
    return found.group(1) if found else ""


def _signed_in(base, username):
    session = requests.Session()
    token = _csrf(session.get(f"{base}/login/", timeout=30).text)
    r = session.post(f"{base}/login/", data={"username": username, "password": PASSWORD, "csrf_token": token},
                     allow_redirects=False, timeout=30)
    assert r.status_code in (302, 303), r.status_code
    return session


def _event_ids(rows, column=0):
    return [int(row[column]) for row in rows]


def test_csv_export_streams_every_selected_event(app, bulk_events):
    with served(app) as base:
        auditor = _signed_in(base, "auditor")
        r = auditor.get(f"{base}/auditeventview/export.csv?_flt_1_actor_name={bulk_events}", timeout=300)
        assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/csv")
        assert r.headers.get("Transfer-Encoding") == "chunked" or "Content-Length" not in r.headers  # streamed
        raw = r.content  # a truncated chunked body raises here
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    header, data = rows[0], rows[1:]
    assert len(header) == 12
    ids = _event_ids(data)
    assert len(data) == 2 * EVENTS  # one line per changed field
    assert len(set(ids)) == EVENTS and ids == sorted(ids)
    assert all(row[2] == bulk_events for row in data)
    names = [row for row in data if row[8].startswith("'=新名")]
    assert len(names) == EVENTS  # formulas neutralised on every line


def test_csv_export_applies_the_time_filter(app, bulk_events):
    with served(app) as base:
        auditor = _signed_in(base, "auditor")
        r = auditor.get(f"{base}/auditeventview/export.csv?_flt_1_actor_name={bulk_events}&_flt_0_at=2021-01-01",
                        timeout=300)
        rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))[1:]
    assert len(set(_event_ids(rows))) == EVENTS - OLD


def test_xlsx_export_is_a_background_job_with_every_selected_event(app, bulk_events, monkeypatch):
    from app.reports import exports

    monkeypatch.setattr(queue, "enqueue", lambda *a, **k: type("J", (), {"id": "fake"})())
    query = f"_flt_1_actor_name={bulk_events}&_flt_0_at=2021-01-01"
    with served(app) as base:
        auditor = _signed_in(base, "auditor")
        page = auditor.get(f"{base}/auditeventview/list/?{query}", timeout=60).text
        form = re.search(r'<form method="post" action="([^"]*)" class="audit-export-xlsx"', page)
        assert form, "the list offers the workbook export as a form"
        action = form.group(1).replace("&amp;", "&")
        assert action.endswith(query)
        assert auditor.get(f"{base}{action}", timeout=60).status_code == 405  # a GET starts nothing
        r = auditor.post(f"{base}{action}", data={"csrf_token": _csrf(page)}, allow_redirects=False, timeout=60)
        assert r.status_code == 302 and r.headers["Location"].endswith("/myjobs/")

        db.session.rollback()
        job = db.session.query(UserJob).order_by(UserJob.id.desc()).first()
        assert job.kind == "export" and job.entity == "audit_event" and job.params["view"] == "AuditEventView"
        exports.export_list(job.id)
        db.session.expire_all()
        job = db.session.get(UserJob, job.id)
        assert job.status == "done", job.error
        assert job.progress == job.total == 2 * (EVENTS - OLD)  # every line written
        download = auditor.get(f"{base}/myjobs/{job.id}/download", timeout=60)
        assert download.status_code == 200
    sheet = load_workbook(io.BytesIO(download.content), read_only=True).active
    rows = [list(row) for row in sheet.iter_rows(values_only=True)]
    assert len(rows[0]) == 12
    data = rows[1:]
    ids = [row[0] for row in data]
    assert len(data) == 2 * (EVENTS - OLD) and len(set(ids)) == EVENTS - OLD and ids == sorted(ids)
    assert all(row[2] == bulk_events for row in data)
    assert job.result == {"rows": len(data)}
    # typed cells: the time a real date, a formula-like value a string without an apostrophe
    assert all(isinstance(row[1], datetime) for row in data)
    assert len([row for row in data if row[8].startswith("=新名")]) == EVENTS - OLD
    first = next(sheet.iter_rows(min_row=2, max_row=2))
    assert first[8].value.startswith("=新名") and first[8].data_type == "s"


def test_the_export_never_loads_orm_events(app, bulk_events, monkeypatch):
    """Rows are read as plain rows, batch by batch: no ``AuditEvent`` object piles up in a session."""
    from app.audit_trail import views
    from app.core.views import BaseModelView

    monkeypatch.setattr(views, "EXPORT_BATCH", 200)
    view = next(v for v in app.appbuilder.baseviews
                if isinstance(v, BaseModelView) and type(v).__name__ == "AuditEventView")
    loaded = []

    def on_load(target, context):
        loaded.append(target.id)

    sa_event.listen(AuditEvent, "load", on_load)
    batches = 0
    try:
        export = views.AuditExport(view, {"_flt_1_actor_name": [bulk_events]})
        assert export.count() == EVENTS
        for batch in export.row_batches():
            batches += 1
            assert export.progress_of(batch) == 200 and len(batch) == 400
    finally:
        sa_event.remove(AuditEvent, "load", on_load)
    assert batches == EVENTS // 200
    assert loaded == []
    assert not [obj for obj in db.session.identity_map.values() if isinstance(obj, AuditEvent)]
