"""The exports' fast paths: lists read as plain column values (no records) give exactly the rows the
records give, in batches, whatever the number of rows; the streaming workbook writer makes a
workbook openpyxl reads with the right types."""
import io
from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest
from flask_babel import force_locale
from openpyxl import load_workbook
from sqlalchemy import event as sa_event

from app.core import clock, exports, scope
from app.extensions import db
from tests import factories
from tests.test_complaints_lifecycle import new_complaint


@pytest.fixture
def busy(world):
    """Orders and complaints in both regions, some with the optional related records left empty,
    one with a formula-like name, times on both sides of midnight UTC."""
    for i in range(5):
        factories.service_order(world.outlet_e, world.engineer_e if i % 2 else None, number=f"SO-P-E{i}",
                                created_at=datetime(2026, 3, 1, 15 + i, 30))
        factories.service_order(world.outlet_w, world.engineer_w, number=f"SO-P-W{i}")
    db.session.commit()
    for i in range(3):
        new_complaint(world, received=clock.now() - timedelta(hours=i))
    complaint = new_complaint(world, owner="manager_e")
    complaint.customer_name = "=HYPERLINK(\"x\")"
    complaint.service_order_id = world.order_e.id
    complaint.engineer_id = world.engineer_e.id
    db.session.commit()
    return world


def _views(app):
    from app.core.views import BaseModelView

    return [view for view in app.appbuilder.baseviews if isinstance(view, BaseModelView)]


def _both(view, args=None):
    """(plain rows, record rows) of ``view``'s export for the acting user; ``(None, None)`` when the
    list needs its records."""
    export = exports.ListExport(view, args or {})
    plan = exports.PlainRows.plan(export)
    if plan is None:
        return None, None  # read from its records anyway (the audit trail: the whole run's events)
    records = [row for rows in export.record_row_batches() for row in rows]
    return [row for rows in plan.row_batches() for row in rows], records


@pytest.mark.parametrize("username", ["hq", "manager_e"])
def test_plain_rows_are_the_records_rows_on_every_list(app, busy, username):
    """Every generated list whose columns are plain values or related records: the same rows,
    labels, local times, masked phones and scope as read from the records."""
    plain_lists = []
    with app.test_request_context(), scope.acting_as(factories.user(username)):
        for view in _views(app):
            plain, records = _both(view)
            if plain is None:
                continue
            plain_lists.append(type(view).__name__)
            assert plain == records, type(view).__name__
            # the CSV written from plain values in one step is the CSV of the records' rows
            export = exports.ListExport(view, {})
            fast = "".join(exports.csv_stream(export.header(), export.rows()))
            slow = "".join(exports.csv_stream(export.header(), exports.Rows(records, export.kinds())))
            assert fast == slow, type(view).__name__
    assert {"ComplaintView", "ServiceOrderView", "PartView", "EscalationView"} <= set(plain_lists)


def test_plain_rows_keep_filters_sort_scope_and_masking(app, busy):
    from app.complaints.views import ComplaintView
    from app.orders.views import ServiceOrderView

    orders = next(v for v in _views(app) if isinstance(v, ServiceOrderView))
    complaints = next(v for v in _views(app) if isinstance(v, ComplaintView))
    with app.test_request_context(), scope.acting_as(factories.user("manager_e")):
        args = {"_flt_2_number": ["SO-P-"], "_oc_ServiceOrderView": "number", "_od_ServiceOrderView": "desc"}
        plain, records = _both(orders, args)
        assert plain == records
        assert [row[0] for row in plain] == [f"SO-P-E{i}" for i in range(4, -1, -1)]  # region E only
        phone = exports.ListExport(orders, {}).columns.index("customer_phone")
        assert {row[phone] for row in plain} == {"138****1234"}
        created = exports.ListExport(orders, {}).columns.index("created_at")
        assert plain[-1][created] == datetime(2026, 3, 1, 23, 30)  # 15:30 UTC in Shanghai
        assert plain[-2][created] == datetime(2026, 3, 2, 0, 30)  # the next day there

        rows, records = _both(complaints)
        assert rows == records
        columns = exports.ListExport(complaints, {}).columns
        owner, order = columns.index("owner"), columns.index("service_order")
        assert {row[owner] for row in rows} == {str(factories.user("agent_e")), str(factories.user("manager_e"))}
        assert {row[order] for row in rows} == {None, "SO-E-1"}


def test_an_export_reads_in_batches_with_the_same_statements_whatever_the_rows(app, world, monkeypatch):
    """Batches of ``BATCH`` rows, taken one at a time (nothing more is read before the next is asked
    for on SQLite; one streamed query on PostgreSQL), and no statement per row or related record."""
    from app.orders.views import ServiceOrderView

    view = next(v for v in _views(app) if isinstance(v, ServiceOrderView))
    monkeypatch.setattr(exports, "BATCH", 3)

    def run():
        statements = []

        def spy(conn, cursor, statement, parameters, context, executemany):
            if "ab_" not in statement:  # the rows and anything read for them (not the user's rights)
                statements.append(statement)

        user = factories.user("hq")
        sa_event.listen(db.engine, "before_cursor_execute", spy)
        try:
            with app.test_request_context(), scope.acting_as(user):
                export = exports.ListExport(view, {"_flt_2_number": ["SO-B-"]})
                assert exports.PlainRows.plan(export) is not None
                batches = export.row_batches()
                first = next(batches)
                read_first = len(statements)
                sizes = [len(first)] + [len(batch) for batch in batches]
        finally:
            sa_event.remove(db.engine, "before_cursor_execute", spy)
        return sizes, read_first, len(statements)

    for i in range(6):
        factories.service_order(world.outlet_e, world.engineer_e, number=f"SO-B-{i}")
    db.session.commit()
    sizes, first_six, all_six = run()
    assert sizes == [3, 3]
    for i in range(6, 12):
        factories.service_order(world.outlet_w, world.engineer_w, number=f"SO-B-{i}")
    db.session.commit()
    sizes, first_twelve, all_twelve = run()
    assert sizes == [3, 3, 3, 3]
    assert first_twelve == first_six  # the first batch costs the same whatever follows
    if db.engine.dialect.name == "postgresql":
        assert all_twelve == all_six  # one streamed query
    else:
        assert all_twelve - all_six == 2  # one query per batch, nothing per row


def test_the_streamed_csv_is_the_list(busy, login):
    """The CSV of the plain path: the header, then exactly the rows of the records, as text."""
    import csv

    client = login("manager_e")
    response = client.get("/complaintview/export.csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff"))))
    phone, name = rows[0].index("客户电话"), rows[0].index("客户")
    assert len(rows) == 1 + 4
    assert "'=HYPERLINK(\"x\")" in {row[name] for row in rows[1:]}  # neutralised
    assert {row[phone] for row in rows[1:]} == {"139****5678"}  # masked for the manager


def test_streaming_workbook_opens_with_typed_cells(app):
    buffer = io.BytesIO()
    rows = [["a<b & c>", 12, Decimal("1234.5"), Decimal("92.5"), 0.25, date(2026, 5, 1),
             datetime(2026, 5, 1, 14, 30, 15), True, None, "  padded\nline  "],
            ["bell\x07gone", -3, Decimal("0"), 7, None, None, None, False, "", "x" * 40000]]
    kinds = [None, exports.INTEGER, exports.MONEY, exports.PERCENT, None, None, exports.DATETIME_SECONDS]
    with force_locale("zh"):
        count = exports.write_xlsx(buffer, "Bad/Title:[x]", [f"H{i}" for i in range(10)], rows, kinds=kinds)
    assert count == 2
    book = load_workbook(io.BytesIO(buffer.getvalue()))
    sheet = book.active
    assert sheet.title == "Bad_Title__x_"
    first, second = [c for c in sheet[2]], [c for c in sheet[3]]
    assert [c.value for c in sheet[1]] == [f"H{i}" for i in range(10)] and sheet["A1"].font.b
    assert first[0].value == "a<b & c>" and first[0].data_type == "s"
    assert first[1].value == 12 and first[1].number_format == "0"
    assert first[2].value == 1234.5 and first[2].number_format == "#,##0.00"
    assert first[3].value == pytest.approx(0.925) and first[3].number_format == "0.0%"
    assert second[3].value == pytest.approx(0.07)
    assert first[4].value == 0.25 and first[4].number_format == "General"
    assert first[5].value == datetime(2026, 5, 1) and first[5].number_format == 'yyyy"年"m"月"d"日"'
    assert first[6].value == datetime(2026, 5, 1, 14, 30, 15) and first[6].is_date
    assert first[6].number_format == 'yyyy"年"m"月"d"日" hh:mm:ss'
    assert (first[7].value, second[7].value) == ("是", "否")
    assert first[8].value is None and second[8].value is None
    assert first[9].value == "  padded\nline  "
    assert second[0].value == "bellgone"
    assert len(second[9].value) == exports.XLSX_MAX_TEXT
    assert sheet.freeze_panes == "A2" and sheet.auto_filter.ref == "A1:J3"
    assert sheet.column_dimensions["J"].width == exports.MAX_WIDTH
    assert sheet.column_dimensions["A"].width >= len("a<b & c>")
    # read-only (streaming) readers see the same rows
    values = list(load_workbook(io.BytesIO(buffer.getvalue()), read_only=True).active.values)
    assert len(values) == 3 and values[1][1] == 12


def test_streaming_workbook_of_no_rows(app):
    buffer = io.BytesIO()
    assert exports.write_xlsx(buffer, "Empty", ["A", "B"], []) == 0
    sheet = load_workbook(buffer).active
    assert [c.value for c in sheet[1]] == ["A", "B"] and sheet.max_row == 1
