"""Excel imports: templates, the check (per-row errors, error workbook, nothing written), the
confirmation (one transaction), idempotent re-imports, scope and permissions, a real worker."""
import io
import os
import subprocess
import sys
import uuid
from datetime import date

import pytest
from flask_babel import force_locale
from openpyxl import Workbook, load_workbook
from rq import Queue

from app.audit_trail.models import AuditEvent
from app.core import queue
from app.engineers.models import Certification, Engineer
from app.extensions import db
from app.orders.models import ServiceOrder
from app.parts.models import Part, Stock
from app.reports import imports
from app.reports.models import UserJob
from tests import factories

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@pytest.fixture
def queued(app, monkeypatch):
    """Jobs the pages enqueue, recorded instead of sent; ``run()`` performs them here, each in an
    app context of its own (as the worker does)."""

    class Calls(list):
        pass

    calls = Calls()

    class Recorded:
        id = "recorded"

    def fake(func, job_id):
        calls.append((func, job_id))
        return Recorded()

    monkeypatch.setattr(imports, "_enqueue", fake)

    def run():
        while calls:
            func, job_id = calls.pop(0)
            with app.app_context():
                func(job_id)

    calls.run = run
    return calls


def _headers(entity, locale="zh"):
    spec = imports.spec_for(entity)
    with force_locale(locale):
        return [str(c.label) for c in spec.columns]


def _workbook(entity, rows, locale="zh"):
    wb = Workbook()
    ws = wb.active
    ws.append(_headers(entity, locale))
    for row in rows:
        ws.append(list(row))
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def _upload(client, entity, data, name="data.xlsx"):
    return client.post("/import/upload", data={"entity": entity, "file": (io.BytesIO(data), name)},
                       content_type="multipart/form-data")


def _latest_job():
    db.session.expire_all()
    return db.session.query(UserJob).order_by(UserJob.id.desc()).first()


def _import(client, queued, entity, rows, locale="zh"):
    response = _upload(client, entity, _workbook(entity, rows, locale))
    assert response.status_code == 302, response.data[:500]
    job = _latest_job()
    assert response.headers["Location"].endswith(f"/import/job/{job.id}")
    queued.run()
    return _latest_job()


def _confirm(client, queued, job):
    response = client.post(f"/import/job/{job.id}/confirm")
    assert response.status_code == 302
    queued.run()
    return _latest_job()


def _label(enum, code):
    with force_locale("zh"):
        return enum.label(code)


def _status(code):
    from app.engineers.enums import ENGINEER_STATUS

    return _label(ENGINEER_STATUS, code)


def _business_events_after(mark):
    return db.session.query(AuditEvent).filter(AuditEvent.id > mark).all()


def _mark():
    from sqlalchemy import func

    return db.session.query(func.coalesce(func.max(AuditEvent.id), 0)).scalar()


# --- templates ---------------------------------------------------------------------------------

def test_template_has_chinese_headers_dropdowns_and_an_example(app, world, login):
    client = login("hq")
    response = client.get("/import/template/engineer")
    assert response.status_code == 200
    assert response.mimetype == XLSX
    wb = load_workbook(io.BytesIO(response.data))
    ws = wb.worksheets[0]
    headers = [c.value for c in ws[1]]
    assert headers == _headers("engineer", "zh")
    assert any("\u4e00" <= ch <= "\u9fff" for h in headers for ch in h), headers  # Chinese
    assert ws.freeze_panes == "A2"
    assert ws["A2"].value == "E2001"  # the example row
    choices = wb["choices"]
    assert choices.sheet_state == "hidden"
    validations = ws.data_validations.dataValidation
    assert validations and all(v.type == "list" for v in validations)
    formulas = {str(v.sqref).split(":")[0]: v.formula1 for v in validations}
    status_col = "G"  # status: translated labels
    outlet_col = "E"  # outlets by code
    assert "choices!" in formulas[f"{status_col}2"] and "choices!" in formulas[f"{outlet_col}2"]
    values = {c.value for col in choices.iter_cols() for c in col}
    assert _status("trainee") in values and "SH001" in values and "CD001" in values
    assert ws.column_dimensions["A"].width >= 10


def test_templates_follow_permissions_and_scope(app, world, login):
    agent = login("agent_e")
    assert agent.get("/import/template/engineer").status_code == 404
    response = agent.get("/import/template/service_order")
    assert response.status_code == 200
    wb = load_workbook(io.BytesIO(response.data))
    values = {c.value for col in wb["choices"].iter_cols() for c in col}
    assert "SH001" in values and "CD001" not in values  # outlets of the agent's regions only
    assert login("manager_e").get("/import/").status_code in (302, 403)
    for entity in ("engineer", "certification", "part", "stock", "service_order"):
        assert login("hq").get(f"/import/template/{entity}").status_code == 200, entity


def test_header_row_maps_back_in_english(app, world, login, queued):
    job = _import(login("hq"), queued, "part", [["AC-FAN-02", "Fan motor", "空调", 260, "Yes", 90]], locale="en")
    assert job.status == "validated", (job.error, job.result)
    assert job.result["new"] == 1


# --- upload checks -----------------------------------------------------------------------------

def test_only_real_workbooks_are_accepted(app, world, login, queued):
    client = login("hq")
    before = db.session.query(UserJob).count()
    for name, data in [("a.csv", b"a,b\n"), ("a.xlsx", b"not a zip at all"), ("a.xlsx", _zip_without_workbook())]:
        response = _upload(client, "engineer", data, name)
        assert response.status_code == 302 and "/import/" in response.headers["Location"]
        assert "/job/" not in response.headers["Location"]
    assert db.session.query(UserJob).count() == before
    page = client.get("/import/").get_data(as_text=True)
    assert "xlsx" in page


def _zip_without_workbook():
    import zipfile

    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("hello.txt", "hi")
    return out.getvalue()


def test_agent_cannot_import_engineers(app, world, login, queued):
    response = _upload(login("agent_e"), "engineer", _workbook("engineer", [["E9", "x", "", "", "SH001", "2025-01-01"]]))
    assert "/job/" not in response.headers["Location"]
    assert db.session.query(UserJob).count() == 0


# --- engineers: errors, fix, confirm, re-import ------------------------------------------------

def _engineer_rows_with_errors():
    return [
        ["E2001", "王工", "13900001111", "", "SH001", date(2025, 3, 1), _status("trainee")],
        ["E2002", "赵工", "", "", "XX999", date(2025, 3, 1), _status("trainee")],  # unknown outlet
        ["E2003", "钱工", "", "", "SH001", date(2025, 3, 1), "不存在的状态"],  # bad enum
        ["E2001", "王工", "", "", "SH001", date(2025, 3, 1), _status("trainee")],  # duplicate key
        ["E2004", "孙工", "", "", "CD001", date(2025, 3, 1), _status("active")],  # no onboarding
    ]


def _engineer_rows_fixed():
    return [
        ["E2001", "王工", "13900001111", "", "SH001", date(2025, 3, 1), _status("trainee")],
        ["E2002", "赵工", "", "", "CD001", date(2025, 3, 1), _status("trainee")],
        ["E2003", "钱工", "", "", "SH001", date(2025, 3, 1), _status("trainee")],
        ["E1001", "张工（改名）", "", "", "SH001", date(2024, 1, 1), _status("active")],  # existing: renamed
    ]


def test_engineer_import_with_errors_writes_nothing_and_explains_each_row(app, world, login, queued):
    client = login("hq")
    before = db.session.query(Engineer).count()
    mark = _mark()
    job = _import(client, queued, "engineer", _engineer_rows_with_errors())
    assert job.status == "invalid", (job.error, job.result)
    assert job.result["errors"] == 4 and job.result["new"] == 1
    by_row = {e["row"]: " ".join(e["messages"]) for e in job.result["errors_list"]}
    with app.test_request_context():
        with force_locale("zh"):
            from flask_babel import gettext as _

            assert _("Unknown outlet code.") in by_row[3]
            assert _("Not a valid choice. Choose one of: %(codes)s.", codes="x")[:4] in by_row[4]
            assert _("Duplicate of row %(row)s in this file.", row=2) in by_row[5]
            assert _("The trainee has not passed onboarding training yet.") in by_row[6]
    assert 2 not in by_row
    assert db.session.query(Engineer).count() == before
    assert not [e for e in _business_events_after(mark) if e.entity != "user_job"]

    page = client.get(f"/import/job/{job.id}").get_data(as_text=True)
    assert "row-errors" in page and "XX999" not in page  # messages, not raw data
    response = client.get(f"/import/job/{job.id}/errors")
    assert response.status_code == 200 and response.mimetype == XLSX
    ws = load_workbook(io.BytesIO(response.data)).worksheets[0]
    header = [c.value for c in ws[1]]
    assert header[:-1] == _headers("engineer") and header[-1] in ("Errors", "错误")
    rows = list(ws.iter_rows(min_row=2, values_only=True))
    assert len(rows) == 5 and rows[1][4] == "XX999"
    assert rows[0][-1] is None and by_row[3].split(": ")[-1] in rows[1][-1]
    assert ws["A3"].fill.fgColor.rgb.endswith(imports.ERROR_FILL)
    assert not ws["A2"].fill.fgColor.rgb.endswith(imports.ERROR_FILL)
    # only the owner may read the job and its error workbook
    other = login("hq2")
    assert other.get(f"/import/job/{job.id}").status_code == 404
    assert other.get(f"/import/job/{job.id}/errors").status_code == 404
    assert other.get(f"/import/job/{job.id}/status").status_code == 404
    # an invalid import cannot be confirmed
    client.post(f"/import/job/{job.id}/confirm")
    assert _latest_job().status == "invalid"


def test_fixed_file_is_validated_confirmed_and_written_then_reimport_changes_nothing(app, world, login, queued):
    client = login("hq")
    job = _import(client, queued, "engineer", _engineer_rows_fixed())
    assert job.status == "validated", job.result
    assert (job.result["new"], job.result["changed"], job.result["unchanged"], job.result["errors"]) == (3, 1, 0, 0)
    assert db.session.query(Engineer).filter(Engineer.employee_no.in_(["E2001", "E2002", "E2003"])).count() == 0
    status = client.get(f"/import/job/{job.id}/status").get_json()
    assert status["status"] == "validated" and status["finished"] and status["percent"] == 100
    page = client.get(f"/import/job/{job.id}").get_data(as_text=True)
    assert "confirm-import" in page and 'id="count-new">3<' in page

    mark = _mark()
    job = _confirm(client, queued, job)
    assert job.status == "done", job.error
    assert (job.result["new"], job.result["changed"]) == (3, 1)
    e2002 = db.session.query(Engineer).filter_by(employee_no="E2002").one()
    assert e2002.outlet.code == "CD001" and e2002.status == "trainee" and e2002.hire_date == date(2025, 3, 1)
    assert db.session.query(Engineer).filter_by(employee_no="E1001").one().name == "张工（改名）"
    events = [e for e in _business_events_after(mark) if e.entity == "engineer"]
    assert len(events) == 4 and {e.actor_name for e in events} == {"hq"}
    assert "done" in client.get(f"/import/job/{job.id}").get_data(as_text=True)

    mark = _mark()
    again = _import(client, queued, "engineer", _engineer_rows_fixed())
    assert again.status == "validated"
    assert (again.result["new"], again.result["changed"], again.result["unchanged"]) == (0, 0, 4)
    again = _confirm(client, queued, again)
    assert again.status == "done" and again.result["changed"] == 0
    assert _business_events_after(mark) == []


def test_cancel_a_checked_import(app, world, login, queued):
    client = login("hq")
    job = _import(client, queued, "engineer", _engineer_rows_fixed())
    client.post(f"/import/job/{job.id}/cancel")
    assert _latest_job().status == "cancelled"
    client.post(f"/import/job/{job.id}/confirm")
    assert _latest_job().status == "cancelled"
    assert db.session.query(Engineer).filter_by(employee_no="E2001").count() == 0


# --- service orders by an agent: certificates and region scope --------------------------------

def test_agent_service_orders_certificate_gate_and_region(app, world, login, queued):
    from app.orders.enums import ORDER_KIND

    uncertified = factories.engineer(world.outlet_e, employee_no="E1999", status="active")
    db.session.commit()
    repair = _label(ORDER_KIND, "repair")
    rows = [
        ["SO-IMP-1", "周先生", "13800000001", "上海", "空调", "SH001", "E1001", repair, "", ""],
        ["SO-IMP-2", "吴女士", "13800000002", "上海", "空调", "SH001", "E1999", repair, "", ""],  # no certificate
        ["SO-IMP-3", "郑先生", "13800000003", "成都", "空调", "CD001", "", repair, "", ""],  # outside the region
        ["SO-W-1", "李女士", "13800001234", "成都", "空调", "CD001", "W1001", repair, "", ""],  # existing, outside
    ]
    client = login("agent_e")
    job = _import(client, queued, "service_order", rows)
    assert job.status == "invalid", job.result
    by_row = {e["row"]: " ".join(e["messages"]) for e in job.result["errors_list"]}
    assert set(by_row) == {3, 4, 5}
    with app.test_request_context(), force_locale("zh"):
        from flask_babel import gettext as _

        assert _("Missing a valid certificate: %(type)s", type="高处作业证") in by_row[3]
        assert _("This record belongs to a region outside your scope.") in by_row[4]
        assert _("This record belongs to a region outside your scope.") in by_row[5]
    assert db.session.query(ServiceOrder).filter(ServiceOrder.number.like("SO-IMP-%")).count() == 0
    assert uncertified.id

    job = _import(client, queued, "service_order", rows[:1])
    assert job.status == "validated", job.result
    job = _confirm(client, queued, job)
    assert job.status == "done", job.error
    order = db.session.query(ServiceOrder).filter_by(number="SO-IMP-1").one()
    assert order.engineer.employee_no == "E1001" and order.kind == "repair" and order.status == "created"


# --- parts, stock, certifications -------------------------------------------------------------

def test_parts_stock_and_certifications(app, world, login, queued):
    client = login("hq")
    job = _import(client, queued, "part", [
        ["AC-FAN-02", "室外风扇电机", "空调", 260, "是", 90],
        ["AC-COMP-01", "压缩机", "air_conditioner", "100.00", "是", 90],  # existing, unchanged
    ])
    assert job.status == "validated", job.result
    assert (job.result["new"], job.result["unchanged"]) == (1, 1)
    assert _confirm(client, queued, job).status == "done"
    assert db.session.query(Part).filter_by(sku="AC-FAN-02").one().is_common is True

    job = _import(client, queued, "stock", [
        ["SH001", "", "AC-FAN-02", 12, 5],
        ["", "E", "AC-FAN-02", 100, 20],
        ["SH001", "", "AC-COMP-01", 10, 5],  # existing, unchanged
        ["SH001", "E", "AC-COMP-01", 1, 1],  # two warehouses
        ["SH001", "", "AC-FAN-02", -1, 5],  # duplicate, negative
    ])
    assert job.status == "invalid"
    assert {e["row"] for e in job.result["errors_list"]} == {5, 6}
    job = _import(client, queued, "stock", [["SH001", "", "AC-FAN-02", 12, 5], ["", "E", "AC-FAN-02", 100, 20],
                                            ["SH001", "", "AC-COMP-01", 10, 5]])
    assert (job.result["new"], job.result["unchanged"]) == (2, 1)
    assert _confirm(client, queued, job).status == "done"
    assert db.session.query(Stock).join(Part).filter(Part.sku == "AC-FAN-02").count() == 2

    job = _import(client, queued, "certification", [
        ["T-2025-1", "E1001", "品牌认证工程师", "品牌方", date(2025, 1, 1), date(2027, 1, 1), "否"],
        ["T-2025-2", "E1001", "品牌认证工程师", "品牌方", date(2025, 1, 1), date(2024, 1, 1), "否"],  # expiry
        ["T-2025-3", "NOBODY", "品牌认证工程师", "品牌方", date(2025, 1, 1), date(2027, 1, 1), "否"],
    ])
    assert job.status == "invalid"
    assert {e["row"] for e in job.result["errors_list"]} == {3, 4}
    job = _import(client, queued, "certification", [
        ["T-2025-1", "E1001", "品牌认证工程师", "品牌方", date(2025, 1, 1), date(2027, 1, 1), "否"]])
    assert _confirm(client, queued, job).status == "done"
    assert db.session.query(Certification).filter_by(number="T-2025-1").one().engineer.employee_no == "E1001"


# --- all or nothing ----------------------------------------------------------------------------

def test_a_failure_while_applying_leaves_nothing_written(app, world, login, queued, monkeypatch):
    client = login("hq")
    rows = [["P-A", "甲", "空调", 1, "否", 90], ["P-B", "乙", "空调", 2, "否", 90], ["P-C", "丙", "空调", 3, "否", 90]]
    job = _import(client, queued, "part", rows)
    assert job.status == "validated"
    original = imports.process_row
    calls = {"n": 0}

    def breaking(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("disk on fire")
        return original(*args, **kwargs)

    monkeypatch.setattr(imports, "process_row", breaking)
    job = _confirm(client, queued, job)
    assert job.status == "failed" and "RuntimeError" in job.error
    assert db.session.query(Part).filter(Part.sku.in_(["P-A", "P-B", "P-C"])).count() == 0
    assert "job-error" in client.get(f"/import/job/{job.id}").get_data(as_text=True)


def test_permission_is_checked_again_when_applying(app, world, login, queued, monkeypatch):
    client = login("hq")
    job = _import(client, queued, "part", [["P-X", "甲", "空调", 1, "否", 90]])
    assert job.status == "validated"
    client.post(f"/import/job/{job.id}/confirm")
    monkeypatch.setattr(imports, "can_import", lambda user, spec: False)
    queued.run()
    job = _latest_job()
    assert job.status == "failed"
    assert db.session.query(Part).filter_by(sku="P-X").count() == 0


# --- a real worker -----------------------------------------------------------------------------

def _run_worker(app, name):
    redis_url = queue.redis_url(app)
    env = dict(os.environ, APP_ENV="testing", DATABASE_URL=app.config["SQLALCHEMY_DATABASE_URI"],
               REDIS_URL=redis_url, UPLOAD_FOLDER=app.config["UPLOAD_FOLDER"])
    rq_bin = os.path.join(os.path.dirname(sys.executable), "rq")
    result = subprocess.run(
        [rq_bin, "worker", "--burst", "--worker-class", "app.core.queue.AppWorker", "--url", redis_url, name],
        env=env, capture_output=True, text=True, timeout=120,
        cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    assert result.returncode == 0, result.stderr[-2000:]


def test_real_worker_checks_and_applies(app, world, login, monkeypatch):
    name = f"test-import-{uuid.uuid4().hex[:8]}"
    monkeypatch.setitem(app.config, "RQ_QUEUE", name)
    client = login("hq")
    mark = _mark()
    response = _upload(client, "part", _workbook("part", [["RW-1", "甲", "空调", 1, "否", 90]]))
    job = _latest_job()
    assert response.headers["Location"].endswith(f"/import/job/{job.id}") and job.rq_job_id
    assert job.status == "queued"
    _run_worker(app, name)
    job = _latest_job()
    assert job.status == "validated", (job.error, job.result)
    client.post(f"/import/job/{job.id}/confirm")
    _run_worker(app, name)
    job = _latest_job()
    assert job.status == "done", job.error
    part = db.session.query(Part).filter_by(sku="RW-1").one()
    event = db.session.query(AuditEvent).filter(AuditEvent.id > mark).filter_by(
        entity="part", record_id=str(part.id)).one()
    assert event.actor_name == "hq"
    Queue(name, connection=queue.connection(app)).delete(delete_jobs=True)
