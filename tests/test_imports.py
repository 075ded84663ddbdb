"""Excel imports: templates, the check (per-row errors, error workbook, nothing written), the
confirmation (one transaction), idempotent re-imports, scope and permissions, a real worker."""
import io
import uuid
from datetime import date, datetime

import pytest
from flask_babel import force_locale
from openpyxl import Workbook, load_workbook
from rq import Queue

from app.audit_trail.models import AuditEvent
from app.core import clock, queue
from app.engineers.models import Certification, Engineer
from app.extensions import db
from app.orders.models import ServiceOrder
from app.parts.models import Part, Stock
from app.reports import imports
from app.reports.models import UserJob
from tests import factories
from tests.workers import burst

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


def _cell(label, problem):
    """A row message about a column, as the import words it in Chinese."""
    return _zh("%(column)s: %(problem)s", column=label, problem=problem)


def _refused(label, value, problem):
    """A row message of an entity rule refusing a cell, quoting it."""
    return _zh('%(column)s ("%(value)s"): %(problem)s', column=label, value=value, problem=problem)


# --- templates ---------------------------------------------------------------------------------

def test_template_has_chinese_headers_and_dropdowns(app, world, login):
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
    assert ws["A2"].value is None  # no example row to import by mistake
    choices = wb["choices"]
    assert choices.sheet_state == "hidden"
    validations = ws.data_validations.dataValidation
    lists = [v for v in validations if v.type == "list"]
    # the only other check: whole numbers in range (the onboarding record's mentored orders)
    assert lists and [v.type for v in validations if v not in lists] == ["whole"]
    formulas = {str(v.sqref).split(":")[0]: v.formula1 for v in lists}
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

            assert _('There is no outlet with the code "%(value)s".', value="XX999") in by_row[3]
            assert _('"%(value)s" is not one of the choices: %(choices)s.', value="不存在的状态",
                     choices="x")[:10] in by_row[4]
            assert _("Duplicate of row %(row)s in this file.", row=2) in by_row[5]
            assert '"E2001"' in by_row[5] or "“E2001”" in by_row[5]  # the duplicated key, quoted
            assert _("The trainee has not passed onboarding training yet.") in by_row[6]
    assert 2 not in by_row
    assert db.session.query(Engineer).count() == before
    assert not [e for e in _business_events_after(mark) if e.entity != "user_job"]

    page = client.get(f"/import/job/{job.id}").get_data(as_text=True)
    assert "row-errors" in page and "XX999" in page  # each message quotes the cell it refuses
    response = client.get(f"/import/job/{job.id}/errors")
    assert response.status_code == 200 and response.mimetype == XLSX
    ws = load_workbook(io.BytesIO(response.data)).worksheets[0]
    header = [c.value for c in ws[1]]
    assert header[:-1] == _headers("engineer") and header[-1] in ("Errors", "错误")
    rows = list(ws.iter_rows(min_row=2, values_only=True))
    assert len(rows) == 5 and rows[1][4] == "XX999"
    assert rows[0][-1] is None and rows[1][-1] == by_row[3]
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
    assert again.status == "done" and again.result["nothing_to_change"]  # nothing to confirm
    assert (again.result["new"], again.result["changed"], again.result["unchanged"]) == (0, 0, 4)
    page = client.get(f"/import/job/{again.id}").get_data(as_text=True)
    assert "nothing-to-change" in page and "confirm-import" not in page
    assert _business_events_after(mark) == []


def test_cancel_a_checked_import(app, world, login, queued):
    client = login("hq")
    job = _import(client, queued, "engineer", _engineer_rows_fixed())
    client.post(f"/import/job/{job.id}/cancel")
    assert _latest_job().status == "cancelled"
    client.post(f"/import/job/{job.id}/confirm")
    assert _latest_job().status == "cancelled"
    assert db.session.query(Engineer).filter_by(employee_no="E2001").count() == 0


# --- engineers: the status table, the onboarding record, exact numbers ---------------------------

def _onboarding(taken_on=date(2026, 1, 10), theory_hours=30, practical_hours=50, mentored_orders=10,
                theory_score=80, practical_score=90):
    return [taken_on, theory_hours, practical_hours, mentored_orders, theory_score, practical_score]


def _engineer_row(number, status, *onboarding, hire_date=date(2025, 3, 1)):
    return [number, "新工", "", "", "SH001", hire_date, _status(status), *onboarding]


def _zh_text(msgid, **kw):
    with force_locale("zh"):
        from flask_babel import gettext as _

        return _(msgid, **kw)


def test_engineer_import_moves_status_only_along_the_table(app, world, login, queued):
    from decimal import Decimal

    from app.core import precision
    from app.engineers.enums import ENGINEER_STATUS
    from app.engineers.models import TrainingRecord

    client = login("hq")
    rows = [
        _engineer_row("E2101", "suspended"),  # a new engineer is never created suspended
        _engineer_row("E2102", "active", *_onboarding()),  # on duty: brings a passed onboarding record
        _engineer_row("E2103", "active", *_onboarding(theory_score=79.95)),  # would be rounded to 80.0
        _engineer_row("E2104", "active", *_onboarding(practical_score=89.9)),  # fails the ≥ 90 mark
        _engineer_row("E2105", "left"),
        ["E1001", "张工", "", "", "SH001", date(2024, 1, 1), _status("trainee")],  # on duty → trainee
        _engineer_row("E2106", "trainee", None, 30),  # an onboarding record without its date
    ]
    job = _import(client, queued, "engineer", rows)
    assert job.status == "invalid", (job.error, job.result)
    by_row = {e["row"]: " ".join(e["messages"]) for e in job.result["errors_list"]}
    assert set(by_row) == {2, 4, 5, 7, 8}, by_row
    with app.test_request_context():
        with force_locale("zh"):
            label = ENGINEER_STATUS.label
            spec = imports.spec_for("engineer")
            theory_score = str(spec.column("onboarding_theory_score").label)
            onboarding_date = str(spec.column("onboarding_taken_on").label)
            rounded = precision.value_problem(Decimal("79.95"), 5, 1)
            never_suspended = _zh_text("This engineer is %(current)s and cannot become %(target)s.",
                                       current=label("trainee"), target=label("suspended"))
            back_to_trainee = _zh_text("This engineer is %(current)s and cannot become %(target)s.",
                                       current=label("active"), target=label("trainee"))
        assert by_row[2].count(never_suspended) == 1  # the refusal once, not again as its headline
        assert _cell(theory_score, _zh('"%(value)s": %(problem)s', value="79.95", problem=rounded)) in by_row[4]
        assert _zh_text("The trainee has not passed onboarding training yet.") in by_row[5]
        assert _zh_text("%(item)s: %(actual)s of %(required)s required", item=_zh_text("Practical score"),
                        actual="89.9", required="90") in by_row[5]
        assert back_to_trainee in by_row[7]
        assert _cell(onboarding_date, _zh_text("This field is required.")) in by_row[8]

    fixed = [_engineer_row("E2101", "trainee"), _engineer_row("E2102", "active", *_onboarding()),
             _engineer_row("E2105", "left")]
    job = _import(client, queued, "engineer", fixed)
    assert job.status == "validated", job.result
    assert _confirm(client, queued, job).status == "done"
    e2102 = db.session.query(Engineer).filter_by(employee_no="E2102").one()
    assert e2102.status == "active"
    (record,) = db.session.query(TrainingRecord).filter_by(engineer_id=e2102.id).all()
    assert (record.kind, record.taken_on, record.passed) == ("onboarding", date(2026, 1, 10), True)
    assert (record.theory_score, record.practical_score, record.mentored_orders) == (Decimal("80"), Decimal("90"), 10)
    assert {e.employee_no: e.status for e in db.session.query(Engineer).filter(
        Engineer.employee_no.in_(["E2101", "E2105"]))} == {"E2101": "trainee", "E2105": "left"}
    again = _import(client, queued, "engineer", fixed)
    assert (again.result["new"], again.result["changed"], again.result["unchanged"]) == (0, 0, 3)

    # an existing trainee goes on duty with the onboarding record the row brings; a leaver never comes back
    job = _import(client, queued, "engineer", [_engineer_row("E2101", "active", *_onboarding()),
                                               _engineer_row("E2105", "active", *_onboarding())])
    assert job.status == "invalid" and [e["row"] for e in job.result["errors_list"]] == [3]
    job = _import(client, queued, "engineer", [_engineer_row("E2101", "active", *_onboarding())])
    assert _confirm(client, queued, job).status == "done"
    db.session.expire_all()
    e2101 = db.session.query(Engineer).filter_by(employee_no="E2101").one()
    assert e2101.status == "active"
    assert [r.passed for r in db.session.query(TrainingRecord).filter_by(engineer_id=e2101.id)] == [True]


def test_part_price_import_is_exact(app, world, login, queued):
    from decimal import Decimal

    client = login("hq")
    job = _import(client, queued, "part", [["P-PRICE-1", "温控器", "空调", 12.345, "否", 90],
                                           ["P-PRICE-2", "温控器", "空调", "12.345", "否", 90],
                                           ["P-PRICE-3", "温控器", "空调", 12.34, "否", 90]])
    assert job.status == "invalid"
    by_row = {e["row"]: " ".join(e["messages"]) for e in job.result["errors_list"]}
    assert set(by_row) == {2, 3}
    with app.test_request_context():
        with force_locale("zh"):
            from app.core import precision

            label = str(imports.spec_for("part").column("unit_price").label)
            problem = precision.value_problem(Decimal("12.345"), 12, 2)
    expected = _cell(label, _zh('"%(value)s": %(problem)s', value="12.345", problem=problem))
    assert by_row[2] == by_row[3] == expected
    job = _import(client, queued, "part", [["P-PRICE-3", "温控器", "空调", 12.34, "否", 90]])
    assert _confirm(client, queued, job).status == "done"
    assert db.session.query(Part).filter_by(sku="P-PRICE-3").one().unit_price == Decimal("12.34")


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


# --- service orders: times, first-time fix, satisfaction -------------------------------------

# The imports run in this thread (``queued``), so the frozen clock is theirs too.
NOW = datetime(2026, 11, 24, 2, 0)  # 10:00 in Beijing


def _order_fields():
    return [c.field for c in imports.spec_for("service_order").columns]


def _order_row(**values):
    """A service-order row in the template's column order; unnamed cells empty."""
    defaults = {"customer_name": "周先生", "customer_phone": "13800000001", "customer_address": "上海",
                "product_category": "空调", "outlet": "SH001", "engineer": "E1001", "kind": _kind("repair")}
    values = {**defaults, **values}
    return [values.get(name, "") for name in _order_fields()]


def _kind(code):
    from app.orders.enums import ORDER_KIND

    return _label(ORDER_KIND, code)


def _order_status(code):
    from app.orders.enums import ORDER_STATUS

    return _label(ORDER_STATUS, code)


def _order_label(name):
    with force_locale("zh"):
        return str(imports.spec_for("service_order").column(name).label)


def _zh(message, **kw):
    from flask import current_app
    from flask_babel import gettext as _

    with current_app.test_request_context(), force_locale("zh"):
        return _(message, **kw)


def _order(number):
    db.session.expire_all()
    return db.session.query(ServiceOrder).filter_by(number=number).one()


def _validation_for(ws, letter):
    for dv in ws.data_validations.dataValidation:
        if str(dv.sqref).split(":")[0] == f"{letter}2":
            return dv
    return None


def test_service_order_template_has_times_first_time_fix_and_satisfaction(app, world, login):
    from openpyxl.utils import get_column_letter

    response = login("hq").get("/import/template/service_order")
    assert response.status_code == 200
    wb = load_workbook(io.BytesIO(response.data))
    ws = wb.worksheets[0]
    fields = _order_fields()
    for name in ("created_at", "dispatched_at", "appointment_at", "arrived_at", "completed_at", "first_time_fix",
                 "satisfaction"):
        assert name in fields, name
    assert [c.value for c in ws[1]] == _headers("service_order")
    letter = {name: get_column_letter(i) for i, name in enumerate(fields, start=1)}
    assert all(ws[f"{letter[name]}2"].value is None for name in fields)  # no example row on the data sheet
    example = _examples(wb, "service_order")[0]  # the instructions sheet's
    # the example row is a coherent completed order (times in Beijing time)
    assert example["status"] == _order_status("completed")
    assert (example["created_at"] <= example["dispatched_at"] <= example["arrived_at"] <= example["completed_at"])
    assert example["appointment_at"] == datetime(2025, 6, 1, 9, 0)
    assert example["first_time_fix"] == _label_yes() and example["satisfaction"] == 5
    for name in ("created_at", "dispatched_at", "appointment_at", "arrived_at", "completed_at"):
        assert ws[f"{letter[name]}2"].number_format == "yyyy-mm-dd hh:mm", name
        assert ws[f"{letter[name]}3"].number_format == "yyyy-mm-dd hh:mm", name
        assert _zh("Local time (Beijing).") in ws[f"{letter[name]}1"].comment.text
    assert ws[f"{letter['satisfaction']}3"].number_format == "0"
    # first-time fix: a yes/no dropdown that refuses anything else
    ftf = _validation_for(ws, letter["first_time_fix"])
    assert ftf.type == "list" and ftf.showErrorMessage
    sheet, cells = ftf.formula1.lstrip("=").split("!")
    first, last = cells.replace("$", "").split(":")
    assert {c.value for row in wb[sheet][first:last] for c in row} == {_label_yes(), _label_no()}
    # satisfaction: a whole number from 1 to 5, the model's own bounds
    satisfaction = _validation_for(ws, letter["satisfaction"])
    assert (satisfaction.type, satisfaction.operator, satisfaction.formula1, satisfaction.formula2) == (
        "whole", "between", "1", "5")
    assert _validation_for(ws, letter["completed_at"]) is None


def _examples(wb, entity):
    """The example rows of a template's instructions sheet (the rows under a copy of the header)."""
    headers, fields = _headers(entity), [c.field for c in imports.spec_for(entity).columns]
    rows = list(wb.worksheets[1].iter_rows(values_only=True))
    start = next(i for i, row in enumerate(rows) if list(row[:len(headers)]) == headers) + 1
    examples = []
    for row in rows[start:]:
        if not any(row):
            break
        examples.append(dict(zip(fields, row)))
    return examples


def _label_yes():
    return _zh("Yes")


def _label_no():
    return _zh("No")


def test_service_order_round_trip_from_the_template_stores_utc(app, world, login, queued):
    """Template → rows filled in (Excel date-time cells, text, a bare serial number) → check →
    confirm → every time stored as naive UTC."""
    client = login("hq")
    wb = load_workbook(io.BytesIO(client.get("/import/template/service_order").data))
    ws = wb.worksheets[0]
    rows = [
        _order_row(number="SO-RT-1", status=_order_status("completed"),
                   created_at=datetime(2026, 11, 23, 9, 5), dispatched_at=datetime(2026, 11, 23, 9, 40),
                   appointment_at=datetime(2026, 11, 23, 14, 0), arrived_at=datetime(2026, 11, 23, 13, 55),
                   completed_at=datetime(2026, 11, 23, 15, 20), first_time_fix=_label_yes(), satisfaction=4),
        _order_row(number="SO-RT-2", status=_order_status("in_service"), kind=_kind("install"),
                   created_at="2026-11-23 08:00", dispatched_at="2026/11/23 9:15",
                   appointment_at="2026-11-23T14:00", arrived_at="2026-11-23 14:30"),
        # the world's order SO-E-1, now completed: received and times given, not fixed the first time
        _order_row(number="SO-E-1", customer_name="李女士", customer_phone="13800001234", customer_address="上海市",
                   status="completed", created_at="2026-11-22 08:00", dispatched_at="2026-11-22 08:30",
                   arrived_at=46348.4375,  # 2026-11-22 10:30 as Excel's serial number (a cell without format)
                   completed_at="2026-11-22 11:45:30", first_time_fix="否", satisfaction="3"),
    ]
    for r, row in enumerate(rows, start=3):
        for c, value in enumerate(row, start=1):
            if value != "":
                ws.cell(row=r, column=c, value=value)
    out = io.BytesIO()
    wb.save(out)
    mark = _mark()
    with clock.freeze(NOW):
        response = _upload(client, "service_order", out.getvalue())
        assert response.status_code == 302
        queued.run()
        job = _latest_job()
        assert job.status == "validated", (job.error, job.result)
        assert (job.result["new"], job.result["changed"], job.result["errors"]) == (2, 1, 0)
        assert db.session.query(ServiceOrder).filter(ServiceOrder.number.like("SO-RT-%")).count() == 0
        job = _confirm(client, queued, job)
    assert job.status == "done", job.error

    rt1 = _order("SO-RT-1")
    assert (rt1.status, rt1.first_time_fix, rt1.satisfaction) == ("completed", True, 4)
    assert rt1.created_at == datetime(2026, 11, 23, 1, 5)  # 09:05 in Beijing
    assert rt1.dispatched_at == datetime(2026, 11, 23, 1, 40)
    assert rt1.appointment_at == datetime(2026, 11, 23, 6, 0)
    assert rt1.arrived_at == datetime(2026, 11, 23, 5, 55) and rt1.on_time is True
    assert rt1.completed_at == datetime(2026, 11, 23, 7, 20)
    rt2 = _order("SO-RT-2")
    assert (rt2.status, rt2.kind, rt2.first_time_fix, rt2.satisfaction, rt2.completed_at) == (
        "in_service", "install", None, None, None)
    assert rt2.created_at == datetime(2026, 11, 23, 0, 0)
    assert rt2.dispatched_at == datetime(2026, 11, 23, 1, 15)
    assert rt2.arrived_at == datetime(2026, 11, 23, 6, 30) and rt2.on_time is False
    e1 = _order("SO-E-1")
    assert (e1.status, e1.first_time_fix, e1.satisfaction) == ("completed", False, 3)
    assert e1.created_at == datetime(2026, 11, 22, 0, 0)
    assert e1.arrived_at == datetime(2026, 11, 22, 2, 30)
    assert e1.completed_at == datetime(2026, 11, 22, 3, 45, 30)
    assert not db.session.query(ServiceOrder).filter_by(number="SO20250001").count()  # the example: not imported
    events = [e for e in _business_events_after(mark) if e.entity == "service_order"]
    assert len(events) == 3 and {e.actor_name for e in events} == {"hq"}


def test_service_order_rows_with_bad_times_or_scores_name_the_column(app, world, login, queued):
    completed = _order_status("completed")
    rows = [
        _order_row(number="SO-X-1", arrived_at="明天上午"),
        _order_row(number="SO-X-2", status=_order_status("in_service"), dispatched_at="2026-11-23 10:00",
                   arrived_at="2026-11-23 09:00"),
        _order_row(number="SO-X-3", status=completed, created_at="2026-11-23 08:00", dispatched_at="2026-11-23 08:30",
                   arrived_at="2026-11-23 10:00", completed_at="2026-11-23 09:30"),
        _order_row(number="SO-X-4", status=completed, created_at="2026-11-23 08:00", completed_at="2026-11-23 09:30",
                   satisfaction=6),
        _order_row(number="SO-X-5", status=completed, created_at="2026-11-23 08:00", completed_at="2026-11-23 09:30",
                   satisfaction=0),
        _order_row(number="SO-X-6", status=completed, satisfaction=4.5),
        _order_row(number="SO-X-7", satisfaction=5),  # status created (the default)
        _order_row(number="SO-X-8", first_time_fix="也许"),
        _order_row(number="SO-X-9", status=completed, created_at="2026-11-23 08:00", dispatched_at="2026-11-23 10:00",
                   completed_at="2026-11-23 09:00"),
        _order_row(number="SO-X-10", status=completed, completed_at="2026-11-23 09:30"),  # received: now
        _order_row(number="SO-X-11", created_at="2026-11-25 08:00"),
        _order_row(number="SO-X-12", status=completed, created_at="2026-11-23 08:00", completed_at="2026-02-30 10:00"),
        _order_row(number="SO-X-13", status=completed, created_at="2026-11-23 08:00", dispatched_at="2026-11-23 08:30",
                   arrived_at="2026-11-23 09:00", completed_at="2026-11-23 10:00", first_time_fix="是",
                   satisfaction=5),  # fine
    ]
    client = login("hq")
    before = db.session.query(ServiceOrder).count()
    mark = _mark()
    with clock.freeze(NOW):
        job = _import(client, queued, "service_order", rows)
    assert job.status == "invalid", job.result
    assert (job.result["errors"], job.result["new"]) == (12, 1)
    by_row = {e["row"]: e["messages"] for e in job.result["errors_list"]}
    L = _order_label

    def bad_time(value):
        return _zh('"%(value)s" is not a valid date and time; write it as 2026-12-02 14:30.', value=value)

    expected = {  # each message quotes the cell
        2: _cell(L("arrived_at"), bad_time("明天上午")),
        3: _refused(L("arrived_at"), "2026-11-23 09:00", _zh("Arrival cannot be before dispatch.")),
        4: _refused(L("completed_at"), "2026-11-23 09:30", _zh("Completion cannot be before arrival.")),
        5: _refused(L("satisfaction"), "6", _zh("Must be at most %(n)s.", n=5)),
        6: _refused(L("satisfaction"), "0", _zh("Must be at least %(n)s.", n=1)),
        7: _cell(L("satisfaction"), _zh('"%(value)s" is not a whole number.', value="4.5")),
        8: _refused(L("satisfaction"), "5", _zh("Satisfaction is recorded once the order is completed.")),
        9: _cell(L("first_time_fix"), _zh('"%(value)s" is neither %(yes)s nor %(no)s.', value="也许",
                                          yes=_label_yes(), no=_label_no())),
        10: _refused(L("completed_at"), "2026-11-23 09:00", _zh("Completion cannot be before dispatch.")),
        11: _refused(L("completed_at"), "2026-11-23 09:30",
                     _zh("Completion cannot be before the order was received.")),
        12: _refused(L("created_at"), "2026-11-25 08:00", _zh("The time received cannot be in the future.")),
        13: _cell(L("completed_at"), bad_time("2026-02-30 10:00")),
    }
    assert set(by_row) == set(expected)
    for row, message in expected.items():
        assert message in by_row[row], (row, by_row[row])
    assert L("arrived_at") == "上门时间" and L("satisfaction") == "满意度"  # named in Chinese
    assert db.session.query(ServiceOrder).count() == before
    assert not [e for e in _business_events_after(mark) if e.entity != "user_job"]
    # the error workbook keeps the cells as typed and explains each row
    ws = load_workbook(io.BytesIO(client.get(f"/import/job/{job.id}/errors").data)).worksheets[0]
    values = list(ws.iter_rows(min_row=2, values_only=True))
    assert values[0][_order_fields().index("arrived_at")] == "明天上午"
    assert expected[2] in values[0][-1] and values[-1][-1] is None


def test_service_order_reimport_changes_nothing(app, world, login, queued):
    """Times typed to the minute (as exports and the template show them) match what is stored, even
    a time stored with seconds; Excel date-time cells round-trip through the UTC conversion."""
    with clock.freeze(datetime(2026, 11, 23, 1, 5, 42, 123456)):  # 09:05:42 in Beijing
        factories.service_order(world.outlet_e, world.engineer_e, number="SO-E-2", status="dispatched",
                                dispatched_at=clock.now())
        db.session.commit()
    rows = [
        _order_row(number="SO-RI-1", status=_order_status("completed"), created_at=datetime(2026, 11, 23, 9, 5),
                   dispatched_at=datetime(2026, 11, 23, 9, 40), appointment_at=datetime(2026, 11, 23, 14, 0),
                   arrived_at=datetime(2026, 11, 23, 13, 55, 30), completed_at=46349.604166666664,  # 14:30
                   first_time_fix=_label_yes(), satisfaction=5),
        _order_row(number="SO-RI-2", status=_order_status("completed"), created_at="2026-11-23 08:00",
                   completed_at="2026-11-23 12:00", first_time_fix=_label_no(), satisfaction=2),
        # the order stored above, exported to the minute: 09:05 local
        _order_row(number="SO-E-2", customer_name="李女士", customer_phone="13800001234", customer_address="上海市",
                   status=_order_status("dispatched"), created_at="2026-11-23 09:05",
                   dispatched_at="2026-11-23 09:05"),
    ]
    client = login("hq")
    with clock.freeze(NOW):
        job = _import(client, queued, "service_order", rows)
        assert job.status == "validated", job.result
        assert (job.result["new"], job.result["changed"], job.result["unchanged"]) == (2, 0, 1)
        assert _confirm(client, queued, job).status == "done"
        assert _order("SO-RI-1").completed_at == datetime(2026, 11, 23, 6, 30)
        assert _order("SO-RI-1").arrived_at == datetime(2026, 11, 23, 5, 55, 30)
        assert _order("SO-E-2").created_at == datetime(2026, 11, 23, 1, 5, 42, 123456)

        mark = _mark()
        again = _import(client, queued, "service_order", rows)
        assert again.status == "done" and again.result["nothing_to_change"], again.result
        assert (again.result["new"], again.result["changed"], again.result["unchanged"]) == (0, 0, 3)
        assert _business_events_after(mark) == []

        # one real change is one change
        rows[1][_order_fields().index("satisfaction")] = 3
        job = _import(client, queued, "service_order", rows)
        assert (job.result["changed"], job.result["unchanged"]) == (1, 2)
        assert _confirm(client, queued, job).status == "done"
    assert _order("SO-RI-2").satisfaction == 3
    assert [e.entity for e in _business_events_after(mark) if e.entity != "user_job"] == ["service_order"]


def test_the_order_time_rules_are_the_services_rules(app, world, api):
    """The rules the import reports are the entity's: the API refuses the same orders."""
    hq = api("hq")
    base = {"number": "SO-API-1", "customer_name": "刘先生", "customer_phone": "13600000000",
            "product_category": factories.category("air_conditioner").id, "outlet": world.outlet_e.id,
            "kind": "repair", "status": "completed"}
    with clock.freeze(NOW):
        r = hq.post("/api/v1/service_order/", json={**base, "dispatched_at": "2026-11-24T01:00:00",
                                                    "completed_at": "2026-11-24T00:30:00"})
        assert r.status_code == 422 and set(r.get_json()["errors"]) == {"completed_at"}, r.get_json()
        r = hq.post("/api/v1/service_order/", json={**base, "completed_at": "2026-11-23T00:30:00"})
        assert r.status_code == 422, r.get_json()
        assert r.get_json()["errors"]["completed_at"] == [
            _zh("Completion cannot be before the order was received.")]
        r = hq.post("/api/v1/service_order/", json={**base, "completed_at": "2026-11-24T02:00:00",
                                                    "satisfaction": 5})
        assert r.status_code == 201, r.get_json()


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

def test_real_worker_checks_and_applies(app, world, login, monkeypatch):
    name = f"test-import-{uuid.uuid4().hex[:8]}"
    monkeypatch.setitem(app.config, "RQ_QUEUE", name)
    client = login("hq")
    mark = _mark()
    response = _upload(client, "part", _workbook("part", [["RW-1", "甲", "空调", 1, "否", 90]]))
    job = _latest_job()
    assert response.headers["Location"].endswith(f"/import/job/{job.id}") and job.rq_job_id
    assert job.status == "queued"
    burst(app, name)
    job = _latest_job()
    assert job.status == "validated", (job.error, job.result)
    client.post(f"/import/job/{job.id}/confirm")
    burst(app, name)
    job = _latest_job()
    assert job.status == "done", job.error
    part = db.session.query(Part).filter_by(sku="RW-1").one()
    event = db.session.query(AuditEvent).filter(AuditEvent.id > mark).filter_by(
        entity="part", record_id=str(part.id)).one()
    assert event.actor_name == "hq"
    Queue(name, connection=queue.connection(app)).delete(delete_jobs=True)
