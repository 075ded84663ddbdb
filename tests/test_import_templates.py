"""Import templates and messages: text columns typed as text, no example row to import by mistake
(the examples live on the instructions sheet), the date and number forms a Chinese Excel user types,
every error of a row quoting its cell, duplicates told apart from unknown codes, and a re-import that
changes nothing needing no confirmation."""
import io
from datetime import date, datetime
from decimal import Decimal

from flask_babel import force_locale
from openpyxl import load_workbook
from openpyxl.utils import get_column_letter

from app.engineers.models import Engineer
from app.extensions import db
from app.parts.models import Part
from app.reports import imports
from tests.test_imports import (  # noqa: F401  (queued: the fixture, shared)
    _cell, _examples, _headers, _latest_job, _status, _upload, _workbook, _zh, queued,
)

ENTITIES = ("engineer", "certification", "part", "stock", "service_order")


def _letters(entity):
    return {c.field: get_column_letter(i) for i, c in enumerate(imports.spec_for(entity).columns, start=1)}


def _filled(client, entity, rows):
    """The entity's downloaded template with ``rows`` typed in from row 2 (cell by cell, as Excel does)."""
    wb = load_workbook(io.BytesIO(client.get(f"/import/template/{entity}").data))
    ws = wb.worksheets[0]
    for r, row in enumerate(rows, start=2):
        for c, value in enumerate(row, start=1):
            if value is not None:
                ws.cell(row=r, column=c, value=value)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def _run(client, queued, entity, data):
    assert _upload(client, entity, data).status_code == 302
    queued.run()
    return _latest_job()


def _confirm(client, queued, job):
    client.post(f"/import/job/{job.id}/confirm")
    queued.run()
    return _latest_job()


def test_each_template_types_its_text_columns_and_keeps_examples_off_the_data_sheet(app, world, login):
    client = login("hq")
    for entity in ENTITIES:
        wb = load_workbook(io.BytesIO(client.get(f"/import/template/{entity}").data))
        ws = wb.worksheets[0]
        spec = imports.spec_for(entity)
        assert [c.value for c in ws[1]] == _headers(entity)
        assert all(v is None for row in ws.iter_rows(min_row=2, values_only=True) for v in row), entity
        for col, letter in zip(spec.columns, _letters(entity).values()):
            typed = {ws.column_dimensions[letter].number_format, ws[f"{letter}2"].number_format,
                     ws[f"{letter}1001"].number_format}
            assert (typed == {"@"}) == col.is_text, (entity, col.field, typed)
        assert wb.sheetnames[1] == _zh("Instructions")
        described = {row[0] for row in wb.worksheets[1].iter_rows(values_only=True)}
        assert set(_headers(entity)) <= described, entity  # a line for every column
        assert _examples(wb, entity), entity
    codes = [c for c in imports.spec_for("engineer").columns if c.is_text]
    assert {"employee_no", "phone", "outlet"} <= {c.field for c in codes}
    example = _examples(load_workbook(io.BytesIO(client.get("/import/template/engineer").data)), "engineer")[0]
    assert example["employee_no"] == "007001"  # shown as text, its zeros kept


def test_cells_read_the_way_chinese_excel_users_type_them(app):
    from app.reports.imports.parsing import local_datetime, number, parse_date, text, whole_number

    for typed in ("2026/12/2", "2026-12-2", "2026.12.2", "2026年12月2日", "2026-12-02", " ２０２６／１２／２ ",
                  datetime(2026, 12, 2), date(2026, 12, 2), 46358, "2026/12/2 00:00"):
        assert parse_date(typed) == date(2026, 12, 2), typed
    for typed in ("2026/12/2 14:30", "2026-12-2 14:30:00", "2026.12.2 14:30", "2026年12月2日 14:30",
                  "2026年12月2日14时30分", "2026-12-02T14:30", "2026-12-02T06:30Z", datetime(2026, 12, 2, 14, 30),
                  46358.604166666664):
        assert local_datetime(typed) == datetime(2026, 12, 2, 6, 30), typed  # Beijing → UTC
    assert local_datetime("2026/12/2") == datetime(2026, 12, 1, 16, 0)
    for typed, value in (("1,234.50", Decimal("1234.50")), ("１，２３４．５０", Decimal("1234.50")),
                         (1234.5, Decimal("1234.5")), ("-12", Decimal("-12")), ("1,234,567", Decimal("1234567"))):
        assert number(typed) == value, typed
    assert whole_number("1,200") == 1200 and whole_number(7.0) == 7
    for bad in ("2026-13-01", "2026/2/30", "12/2/2026", "明天", "2026/12/2 14:30"):
        try:
            parse_date(bad)
        except ValueError:
            continue
        raise AssertionError(f"{bad!r} read as a date")
    for bad in ("1,23.4", "12,5", "1.2.3", "一百", "1e3", "NaN"):
        try:
            number(bad)
        except ValueError:
            continue
        raise AssertionError(f"{bad!r} read as a number")
    assert (text(7001.0), text(7001), text(" 007001 "), text(13.5)) == ("7001", "7001", "007001", "13.5")


def test_a_filled_template_imports_exactly_then_a_second_import_has_nothing_to_change(app, world, login, queued):
    client = login("hq")
    trainee = _status("trainee")
    engineers = _filled(client, "engineer", [
        ["007001", "王工", "02168881234", None, "SH001", "2026/12/2", trainee],
        ["007002", "李工", 13900002222, None, "SH001", "2026年12月2日", trainee],
        [7003.0, "赵工", None, None, "SH001", "2026.12.2", trainee],  # a code Excel stored as a number
    ])
    job = _run(client, queued, "engineer", engineers)
    assert job.status == "validated", (job.error, job.result)
    assert _confirm(client, queued, job).status == "done"
    stored = {e.employee_no: e for e in db.session.query(Engineer).filter(Engineer.name.in_(["王工", "李工", "赵工"]))}
    assert set(stored) == {"007001", "007002", "7003"}
    assert stored["007001"].phone == "02168881234" and stored["007002"].phone == "13900002222"
    assert {e.hire_date for e in stored.values()} == {date(2026, 12, 2)}

    parts = _filled(client, "part", [["TPL-1", "风扇电机", "空调", "1,234.50", "是", "1,000"],
                                     ["TPL-2", "温控器", "空调", "１，２３４．５", "否", 90]])
    job = _run(client, queued, "part", parts)
    assert job.status == "validated", (job.error, job.result)
    assert _confirm(client, queued, job).status == "done"
    prices = {p.sku: (p.unit_price, p.warranty_days) for p in db.session.query(Part).filter(Part.sku.like("TPL-%"))}
    assert prices == {"TPL-1": (Decimal("1234.50"), 1000), "TPL-2": (Decimal("1234.50"), 90)}

    again = _run(client, queued, "engineer", engineers)  # the same file once more
    assert again.status == "done" and again.result["nothing_to_change"], (again.error, again.result)
    assert (again.result["new"], again.result["changed"], again.result["unchanged"]) == (0, 0, 3)
    page = client.get(f"/import/job/{again.id}").get_data(as_text=True)
    assert 'id="nothing-to-change"' in page and "confirm-import" not in page
    assert _zh("Nothing to change: every row of the file matches what is stored. Nothing was written, and there "
               "is nothing to confirm.") in page
    assert client.post(f"/import/job/{again.id}/confirm").status_code == 302
    assert _latest_job().status == "done" and not queued


def test_every_error_of_a_row_is_reported_quoting_its_cell(app, world, login, queued):
    client = login("hq")
    job = _run(client, queued, "engineer", _workbook("engineer", [
        ["E3001", "王工", "", "", "XX999", "2026-13-01", "不存在"],  # three cells refused
        ["E3002", "钱工", "", "", "SH001", date(2025, 3, 1), _status("trainee")],
    ]))
    assert job.status == "invalid"
    (errors,) = job.result["errors_list"]
    assert errors["row"] == 2 and len(errors["messages"]) == 3, errors
    spec = imports.spec_for("engineer")
    with force_locale("zh"):
        label = {name: str(spec.column(name).label) for name in ("outlet", "hire_date", "status")}
    assert errors["messages"][0] == _cell(label["outlet"], _zh('There is no outlet with the code "%(value)s".',
                                                               value="XX999"))
    assert errors["messages"][1] == _cell(label["hire_date"], _zh(
        '"%(value)s" is not a valid date; write it as 2026-12-02 or 2026/12/2.', value="2026-13-01"))
    assert errors["messages"][2].startswith(_cell(label["status"], _zh(
        '"%(value)s" is not one of the choices: %(choices)s.', value="不存在", choices="@")).split("@")[0])

    # two different unknown SKUs are two unknown SKUs, not duplicates of each other
    job = _run(client, queued, "stock", _workbook("stock", [["SH001", "", "NO-SUCH-1", 1, 1],
                                                            ["SH001", "", "NO-SUCH-2", 1, 1]]))
    by_row = {e["row"]: e["messages"] for e in job.result["errors_list"]}
    with force_locale("zh"):
        sku = str(imports.spec_for("stock").column("part").label)
    assert by_row == {row: [_cell(sku, _zh('There is no part with the SKU "%(value)s".', value=value))]
                      for row, value in ((2, "NO-SUCH-1"), (3, "NO-SUCH-2"))}
