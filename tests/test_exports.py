"""Exports of every generated list: the list's filters, the user's region scope, translated
headers and labels, neutralised formulas in CSV, masked phones; Excel through a real rq worker,
with typed cells (dates, numbers, text that stays text), fitted widths, a frozen and filtered
header."""
import csv
import io
import uuid
from datetime import date, datetime
from decimal import Decimal

import pytest
from openpyxl import load_workbook
from sqlalchemy import event as sa_event

from app.core import queue
from app.extensions import db
from app.reports.models import UserJob
from tests import factories
from tests.test_pages_support import list_body, row_ids
from tests.workers import burst

FULL_PHONE = "13800001234"
MASKED_PHONE = "138****1234"


def _csv(response):
    assert response.status_code == 200, response.status_code
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"  # one charset
    assert "attachment" in response.headers["Content-Disposition"]
    raw = response.get_data()
    assert raw.startswith(b"\xef\xbb\xbf")
    return list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))


@pytest.fixture
def orders(world):
    """Orders in E and W; one completed, one whose customer name looks like a formula."""
    done = factories.service_order(world.outlet_e, world.engineer_e, number="SO-E-DONE", status="completed")
    evil = factories.service_order(world.outlet_e, world.engineer_e, number="SO-E-EVIL")
    evil.customer_name = "=HYPERLINK(\"http://x\")"
    db.session.commit()
    return {"done": done.number, "evil": evil.number}


def _column(rows, label):
    return rows[0].index(label)


def test_list_pages_offer_both_exports_with_the_query_string(world, login):
    body = login("hq").get("/serviceorderview/list/?_flt_0_status=created").get_data(as_text=True)
    assert 'id="list-export-csv"' in body and 'id="list-export-xlsx"' in body
    assert "/serviceorderview/export.csv?_flt_0_status=created" in body
    assert "/serviceorderview/export.xlsx?_flt_0_status=created" in body
    # every generated list has them
    assert 'id="list-export-csv"' in login("hq").get("/outletview/list/").get_data(as_text=True)
    # the audit trail keeps its own export (one line per changed field)
    trail = login("auditor").get("/auditeventview/list/").get_data(as_text=True)
    assert 'id="audit-export-csv"' in trail and 'id="list-export-csv"' not in trail


def test_csv_has_the_filtered_rows_translated_headers_and_no_formulas(orders, login):
    rows = _csv(login("hq").get("/serviceorderview/export.csv?_flt_0_status=created"))
    header, data = rows[0], rows[1:]
    assert header[0] == "工单号" and "客户电话" in header and "状态" in header  # Chinese headers
    numbers = {row[0] for row in data}
    assert numbers == {"SO-E-1", "SO-W-1", orders["evil"]}  # the completed order is filtered out
    status = _column(rows, "状态")
    assert {row[status] for row in data} == {"已创建"}  # translated enumeration labels
    outlet = _column(rows, "服务网点")
    assert "SH001 上海浦东网点" in {row[outlet] for row in data}  # related records by name
    evil = next(row for row in data if row[0] == orders["evil"])
    assert evil[1] == "'=HYPERLINK(\"http://x\")"  # neutralised
    assert not any(cell.startswith(("=", "+", "-", "@")) for row in data for cell in row)
    created = _column(rows, "创建时间")
    assert all(len(row[created]) == 16 for row in data)  # local "YYYY-MM-DD HH:MM"


def test_csv_dates_are_in_shanghai_time(world, login):
    from datetime import datetime

    from app.orders.models import ServiceOrder

    order = db.session.get(ServiceOrder, world.order_e.id)
    order.created_at = datetime(2026, 3, 1, 20, 30)  # UTC
    db.session.commit()
    rows = _csv(login("hq").get("/serviceorderview/export.csv?_flt_0_number=SO-E-1"))
    assert rows[1][_column(rows, "创建时间")] == "2026-03-02 04:30"


def test_csv_keeps_the_users_region_scope(orders, login):
    rows = _csv(login("manager_e").get("/serviceorderview/export.csv"))
    numbers = {row[0] for row in rows[1:]}
    assert "SO-W-1" not in numbers and "SO-E-1" in numbers and orders["done"] in numbers
    rows = _csv(login("manager_w").get("/serviceorderview/export.csv"))
    assert {row[0] for row in rows[1:]} == {"SO-W-1"}
    # a filter cannot widen the scope
    rows = _csv(login("manager_e").get("/serviceorderview/export.csv?_flt_0_number=SO-W-1"))
    assert rows[1:] == []


def test_csv_masks_phones_for_users_who_may_not_see_them(world, login):
    manager = login("manager_e").get("/serviceorderview/export.csv?_flt_0_number=SO-E-1")
    rows = _csv(manager)
    assert rows[1][_column(rows, "客户电话")] == MASKED_PHONE
    assert FULL_PHONE.encode() not in manager.get_data()
    rows = _csv(login("agent_e").get("/serviceorderview/export.csv?_flt_0_number=SO-E-1"))
    assert rows[1][_column(rows, "客户电话")] == FULL_PHONE


def test_export_needs_read_permission_on_the_list(world, login):
    page = login("manager_e")
    assert page.get("/settingview/export.csv").status_code == 403
    assert page.post("/settingview/export.xlsx").status_code == 403
    assert login("auditor").get("/settingview/export.csv").status_code == 200


def test_csv_reads_in_batches(world, login, monkeypatch):
    from app.core import exports

    for i in range(7):
        factories.part(sku=f"EXP-{i:02d}")
    db.session.commit()
    monkeypatch.setattr(exports, "BATCH", 2)
    rows = _csv(login("hq").get("/partview/export.csv?_flt_2_sku=EXP-"))
    assert sorted(row[0] for row in rows[1:]) == [f"EXP-{i:02d}" for i in range(7)]


@pytest.fixture
def stars(world):
    """Nine engineers in E with star levels that tie, and two never rated (NULL)."""
    levels = [3, None, 5, 3, 1, None, 4, 3, 2]
    for i, level in enumerate(levels):
        factories.engineer(world.outlet_e, employee_no=f"ST{9 - i:02d}", star_level=level)
    db.session.commit()
    return {f"ST{9 - i:02d}": level for i, level in enumerate(levels)}


def _listed(client, query):
    """Employee numbers in the order the engineer list page shows them."""
    from app.engineers.models import Engineer

    ids = row_ids(list_body(client.get(f"/engineerview/list/?_flt_2_employee_no=ST&{query}").get_data(as_text=True)))
    numbers = dict(db.session.query(Engineer.id, Engineer.employee_no).filter(Engineer.id.in_(ids)))
    return [numbers[i] for i in ids]


def _exported(client, query):
    rows = _csv(client.get(f"/engineerview/export.csv?_flt_2_employee_no=ST&{query}"))
    column = next(i for i, cell in enumerate(rows[1]) if cell.startswith("ST"))
    return [row[column] for row in rows[1:]]


@pytest.mark.parametrize("query", [
    "",  # the view's own order (employee number)
    "_oc_EngineerView=employee_no&_od_EngineerView=desc",
    "_oc_EngineerView=star_level&_od_EngineerView=asc",  # ties and NULLs across batch boundaries
    "_oc_EngineerView=star_level&_od_EngineerView=desc",
])
def test_csv_follows_the_lists_sort_order(stars, login, monkeypatch, query):
    from app.core import exports

    monkeypatch.setattr(exports, "BATCH", 2)
    client = login("hq")
    listed, exported = _listed(client, query), _exported(client, query)
    assert sorted(exported) == sorted(stars) and len(exported) == len(stars)  # each row once
    if "star_level" in query:
        # rows of the same level may come in any order on the page; the levels (NULLs where the
        # database puts them) come in the page's order
        assert [stars[n] for n in exported] == [stars[n] for n in listed], (listed, exported)
    else:
        assert exported == listed
    if "desc" in query and "employee_no" in query:
        assert exported == sorted(stars, reverse=True)


def test_csv_ignores_a_sort_the_list_does_not_offer(stars, login):
    client = login("hq")
    exported = _exported(client, "_oc_EngineerView=password&_od_EngineerView=desc")
    assert exported == sorted(stars)  # the view's base order, not an arbitrary column


def test_xlsx_job_keeps_the_lists_sort(world, login, monkeypatch):
    monkeypatch.setattr(queue, "enqueue", lambda *a, **k: type("J", (), {"id": "fake"})())
    job = _start_xlsx(login("hq"), "_flt_0_status=created&_oc_ServiceOrderView=number&_od_ServiceOrderView=asc")
    assert job.params["args"] == {"_flt_0_status": ["created"], "_oc_ServiceOrderView": "number",
                                  "_od_ServiceOrderView": "asc"}


def _start_xlsx(client, query):
    response = client.post(f"/serviceorderview/export.xlsx?{query}")
    assert response.status_code == 302 and response.headers["Location"].endswith("/myjobs/")
    return db.session.query(UserJob).order_by(UserJob.id.desc()).first()


def test_progress_is_committed_in_steps(world, login, monkeypatch):
    """The job itself (in process), small batches: progress rises to the total."""
    from app.core import exports as core_exports
    from app.reports import exports

    for i in range(5):
        factories.service_order(world.outlet_e, world.engineer_e, number=f"SO-STEP-{i}")
    db.session.commit()
    monkeypatch.setattr(core_exports, "BATCH", 2)
    monkeypatch.setattr(exports, "PROGRESS_EVERY", 2)
    monkeypatch.setattr(queue, "enqueue", lambda *a, **k: type("J", (), {"id": "fake"})())
    job = _start_xlsx(login("manager_e"), "_flt_2_number=SO-STEP-")
    assert job.status == "queued" and job.params["view"] == "ServiceOrderView"
    assert job.params["args"] == {"_flt_2_number": ["SO-STEP-"]}
    seen = []

    def spy(conn, cursor, statement, parameters, context, executemany):
        if statement.startswith("UPDATE user_job SET progress"):
            seen.append(parameters)

    sa_event.listen(db.engine, "before_cursor_execute", spy)
    try:
        assert exports.export_list(job.id) == 5
    finally:
        sa_event.remove(db.engine, "before_cursor_execute", spy)
    db.session.expire_all()
    job = db.session.get(UserJob, job.id)
    assert len(seen) == 2  # after rows 2 and 4
    assert job.status == "done" and job.progress == job.total == 5
    assert exports.export_list(job.id) is None  # a finished job is left alone


def test_xlsx_export_through_a_real_worker(app, orders, login, monkeypatch):
    name = f"test-export-{uuid.uuid4().hex[:8]}"
    monkeypatch.setitem(app.config, "RQ_QUEUE", name)
    manager = login("manager_e")
    job = _start_xlsx(manager, "_flt_0_status=created")
    assert job.kind == "export" and job.status == "queued" and job.rq_job_id
    assert job.user_id == factories.user("manager_e").id

    result = burst(app, name, timeout=180)
    db.session.expire_all()
    job = db.session.get(UserJob, job.id)
    assert job.status == "done", (job.error, result.stderr[-3000:])
    assert job.progress == job.total == 2  # manager_e: the two created orders of region E
    assert job.output_name.endswith(".xlsx") and job.result == {"rows": 2}

    listing = manager.get("/myjobs/").get_data(as_text=True)
    assert f"/myjobs/{job.id}/download" in listing
    download = manager.get(f"/myjobs/{job.id}/download")
    assert download.status_code == 200 and "attachment" in download.headers["Content-Disposition"]
    rows = [list(r) for r in load_workbook(io.BytesIO(download.get_data()), read_only=True).active
            .iter_rows(values_only=True)]
    assert rows[0][0] == "工单号"
    assert {r[0] for r in rows[1:]} == {"SO-E-1", orders["evil"]}  # filtered, in scope (no W rows)
    phone = rows[0].index("客户电话")
    assert {r[phone] for r in rows[1:]} == {MASKED_PHONE}
    evil = next(r for r in rows[1:] if r[0] == orders["evil"])
    assert evil[1] == "=HYPERLINK(\"http://x\")"  # text, no apostrophe (typed cells: test_xlsx_cells_…)

    for other in ("manager_w", "hq", "admin"):
        assert login(other).get(f"/myjobs/{job.id}/download").status_code == 404, other
    queue.get_queue(name).delete(delete_jobs=True)


def test_xlsx_export_says_so_when_the_queue_is_down(world, login, monkeypatch):
    def down(*args, **kwargs):
        raise ConnectionError("redis is down")

    monkeypatch.setattr(queue, "enqueue", down)
    client = login("hq")
    job = _start_xlsx(client, "")
    assert job.status == "failed" and job.error
    assert client.get("/myjobs/").status_code == 200


def test_every_generated_list_exports_as_csv(app, world, login):
    from app.core.views import BaseModelView

    admin = login("admin")
    for view in app.appbuilder.baseviews:
        if not isinstance(view, BaseModelView):
            continue
        # the trail holds every event of the whole run: one record's events are enough here
        query = f"?_flt_0_entity=outlet&_flt_1_record_id={world.outlet_e.id}" if view.route_base == "/auditeventview" else ""
        rows = _csv(admin.get(f"/{view.route_base.strip('/')}/export.csv{query}"))
        assert rows and len(rows[0]) >= len(view.list_columns), view.__class__.__name__
        assert all(len(row) == len(rows[0]) for row in rows), view.__class__.__name__


def test_dates_export_as_iso_without_the_pages_badges(world, login):
    """The page writes 2026年…日 with "(12 days left)"; the spreadsheet gets a sortable ISO date."""
    cert = world.engineer_e.certifications[0] if world.engineer_e.certifications else factories.certification(
        world.engineer_e)
    db.session.commit()
    rows = _csv(login("hq").get(f"/certificationview/export.csv?_flt_0_number={cert.number}"))
    expires = rows[0].index("到期日期")
    assert [row[expires] for row in rows[1:]] == [cert.expires_on.isoformat()]


@pytest.fixture
def outlet_facts(world):
    """The east outlet with a phone and a note a spreadsheet would read as formulas, audit dates
    and a creation time late in the UTC evening (the next morning in Shanghai)."""
    from app.network.models import Outlet

    outlet = db.session.get(Outlet, world.outlet_e.id)
    outlet.phone, outlet.notes = "+86 138 0013 8000", "=1+1"
    outlet.last_qualified_on, outlet.next_audit_due_on = date(2026, 5, 1), date(2027, 4, 30)
    outlet.created_at = datetime(2026, 3, 1, 20, 30)  # UTC: 2026-03-02 04:30 in Shanghai
    db.session.commit()
    return outlet


def test_csv_writes_each_value_in_its_own_column_and_neutralises_formulas(outlet_facts, login):
    """The synchronous page export: formulas neutralised, ISO dates, local times, the outlet's
    engineers and stock rate each beside its threshold."""
    from app.qualification import evidence

    facts = evidence.for_outlet(outlet_facts.id)
    rows = _csv(login("hq").get("/outletview/export.csv?_flt_0_code=SH001"))
    header, row = rows[0], rows[1]
    assert len(rows) == 2
    cell = dict(zip(header, row))
    assert cell["备注"] == "'=1+1" and cell["电话"] == "'+86 138 0013 8000"
    assert cell["最近资质审核日期"] == "2026-05-01" and cell["创建时间"] == "2026-03-02 04:30"
    assert cell["合作状态"] == "合作中" and cell["固定经营场所"] == "是"
    engineers, rate = header.index("持证工程师"), header.index("常用配件库存达标率")
    # each fact, then its threshold: not "1 / 3"
    assert row[engineers:engineers + 2] == [str(facts.certified_engineers), str(facts.required_engineers)]
    assert row[rate:rate + 2] == [f"{facts.stock_rate:.1f}%", f"{facts.required_stock_rate:.1f}%"]
    assert cell["资质达标"] == ("是" if facts.qualifies else "否")
    assert not any(" / " in value for value in row)


def test_xlsx_cells_are_typed_and_the_sheet_is_ready_to_filter(outlet_facts, login, monkeypatch):
    """The background export (in process): real dates in a Chinese format, numbers, text without
    apostrophes that stays text, fitted widths, the header frozen and filtered."""
    from app.reports import exports

    monkeypatch.setattr(queue, "enqueue", lambda *a, **k: type("J", (), {"id": "fake"})())
    client = login("hq")
    response = client.post("/outletview/export.xlsx?_flt_0_code=SH001")
    assert response.status_code == 302
    job = db.session.query(UserJob).order_by(UserJob.id.desc()).first()
    assert exports.export_list(job.id) == 1
    sheet = load_workbook(io.BytesIO(client.get(f"/myjobs/{job.id}/download").get_data())).active
    from app.qualification import evidence

    facts = evidence.for_outlet(outlet_facts.id)
    header = [c.value for c in sheet[1]]
    cells = dict(zip(header, sheet[2]))
    engineers, rate = header.index("持证工程师"), header.index("常用配件库存达标率")

    assert sheet.freeze_panes == "A2"
    assert sheet.auto_filter.ref == f"A1:{sheet.cell(1, len(header)).column_letter}2"
    for name in ("备注", "电话", "编码", "名称"):
        assert cells[name].data_type == "s", name
    assert cells["备注"].value == "=1+1"  # a string, not a formula
    assert cells["电话"].value == "+86 138 0013 8000"
    assert not any(isinstance(c.value, str) and c.value.startswith("'") for c in sheet[2])
    assert cells["最近资质审核日期"].value == datetime(2026, 5, 1)
    assert cells["最近资质审核日期"].number_format == 'yyyy"年"m"月"d"日"'
    assert cells["创建时间"].value == datetime(2026, 3, 2, 4, 30)  # local time
    assert cells["创建时间"].is_date and "hh:mm" in cells["创建时间"].number_format
    assert [c.value for c in sheet[2][engineers:engineers + 2]] == [facts.certified_engineers,
                                                                     facts.required_engineers]
    required_rate = sheet[2][rate + 1]
    assert required_rate.value == pytest.approx(float(facts.required_stock_rate) / 100)
    assert required_rate.data_type == "n" and required_rate.number_format == "0.0%"
    assert (cells["合作状态"].value, cells["固定经营场所"].value) == ("合作中", "是")
    assert cells["资质达标"].value == ("是" if facts.qualifies else "否")

    width = {name: sheet.column_dimensions[cell.column_letter].width for name, cell in cells.items()}
    assert width["名称"] > width["编码"]  # "上海浦东网点": CJK counts double
    assert width["电话"] > width["编码"] and width["创建时间"] > width["最近资质审核日期"]
    assert len(set(width.values())) > 3


def test_xlsx_writer_keeps_money_and_formula_like_text(app):
    """The writer alone, in English: money with 2 places, text that Excel would read as a formula
    or an error stays text, flags as Yes/No, ISO dates, widths capped."""
    from flask_babel import force_locale
    from openpyxl.cell.cell import ERROR_CODES

    from app.core import exports

    buffer = io.BytesIO()
    rows = [["=SUM(A1:A9)", Decimal("1234.5"), 7, True, date(2026, 5, 1)],
            ["#N/A", Decimal("0.00"), -3, False, "长" * 80]]
    with force_locale("en"):
        assert exports.write_xlsx(buffer, "t", list("ABCDE"), rows, kinds=[None, exports.MONEY]) == 2
    sheet = load_workbook(buffer).active
    first, second = sheet[2], sheet[3]
    assert first[0].value == "=SUM(A1:A9)" and first[0].data_type == "s"
    assert second[0].value == "#N/A" in ERROR_CODES and second[0].data_type == "s"
    assert first[1].value == 1234.5 and first[1].number_format == "#,##0.00"
    assert second[2].value == -3 and (first[3].value, second[3].value) == ("Yes", "No")
    assert first[4].value == datetime(2026, 5, 1) and first[4].number_format == "yyyy-mm-dd"
    assert sheet.column_dimensions["E"].width == exports.MAX_WIDTH
