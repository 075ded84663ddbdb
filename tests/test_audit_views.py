"""What auditors see and use: the audit-event API and page, exports, the history section of every
record's page, and who may read the trail (nobody writes it).

``audit_event`` rows accumulate across tests (append-only, never wiped): every test looks only at
events after the highest id it saw at its start, or at records it created itself.
"""
import csv
import io
import json
import re
from collections import Counter

import pytest
from openpyxl import load_workbook
from sqlalchemy import event as sa_event, func

from app.audit_trail import chain
from app.audit_trail.models import AuditEvent
from app.core import clock
from app.core.people import display_name
from app.extensions import db
from tests import factories
from tests.test_complaints_lifecycle import local, new_complaint


def _max_id():
    db.session.rollback()
    return db.session.query(func.coalesce(func.max(AuditEvent.id), 0)).scalar()


def _rison(filters, **extra):
    parts = ",".join(f"(col:{c},opr:{o},value:{_rison_value(v)})" for c, o, v in filters)
    more = "".join(f",{k}:{_rison_value(v)}" for k, v in extra.items())
    return f"?q=(filters:!({parts}){more})"


def _rison_value(v):
    if isinstance(v, int):
        return str(v)
    return "'" + str(v).replace("!", "!!").replace("'", "!'") + "'"


def _csv_rows(body):
    assert body.startswith("\ufeff")
    return list(csv.reader(io.StringIO(body[1:])))


@pytest.fixture
def status_change(world, api):
    """hq moves the east outlet from active to probation through the API."""
    start = _max_id()
    outlet = world.outlet_e
    before = outlet.status
    r = api("hq").put(f"/api/v1/outlet/{outlet.id}", json={"status": "probation", "contact": "=cmd|' /C calc'!A0"})
    assert r.status_code == 200, r.get_json()
    return {"start": start, "outlet": outlet.id, "before": before}


def test_auditor_finds_who_changed_an_outlets_status_through_the_api(status_change, api):
    auditor = api("auditor")
    oid = status_change["outlet"]
    r = auditor.get("/api/v1/audit_event/" + _rison(
        [("entity", "eq", "outlet"), ("record_id", "eq", str(oid)), ("action", "eq", "update"),
         ("id", "gt", status_change["start"])]))
    assert r.status_code == 200, r.get_json()
    events = r.get_json()["result"]
    assert len(events) == 1
    event = events[0]
    hq = factories.user("hq")
    assert event["actor_name"] == "hq" and event["actor_id"] == hq.id and event["actor_kind"] == "user"
    assert event["changes"]["status"] == [status_change["before"], "probation"]  # a JSON object, not text
    assert event["at"] and event["request_id"] and len(event["hash"]) == 64

    # by the actor, and by time range (UTC)
    by_actor = auditor.get("/api/v1/audit_event/" + _rison(
        [("actor_id", "eq", hq.id), ("id", "gt", status_change["start"])])).get_json()["result"]
    assert event["id"] in [e["id"] for e in by_actor]
    by_name = auditor.get("/api/v1/audit_event/" + _rison(
        [("actor_name", "eq", "hq"), ("id", "gt", status_change["start"])])).get_json()["result"]
    assert event["id"] in [e["id"] for e in by_name]
    at = event["at"]
    window = auditor.get("/api/v1/audit_event/" + _rison(
        [("at", "gt", "2000-01-01T00:00:00"), ("at", "lt", "2999-01-01T00:00:00"),
         ("id", "gt", status_change["start"])])).get_json()["result"]
    assert event["id"] in [e["id"] for e in window]
    future = auditor.get("/api/v1/audit_event/" + _rison(
        [("at", "gt", at.replace(at[:4], "2999")), ("id", "gt", status_change["start"])])).get_json()["result"]
    assert future == []

    shown = auditor.get(f"/api/v1/audit_event/{event['id']}").get_json()["result"]
    assert shown["changes"]["status"] == [status_change["before"], "probation"]


def test_auditor_sees_the_change_on_the_outlets_history_and_in_the_list(status_change, login):
    auditor = login("auditor")
    page = auditor.get(f"/outletview/show/{status_change['outlet']}").get_data(as_text=True)
    assert 'id="record-history"' in page
    history = page.split('id="record-history"', 1)[1]
    assert 'data-field="status"' in history
    row = history.split('data-field="status"', 1)[1].split("</tr>", 1)[0]
    # translated status labels (Chinese is the default locale): 合作中 (active) → 整改中 (probation)
    assert '<td class="history-before">合作中</td>' in row and '<td class="history-after">整改中</td>' in row
    # who and when are on the event's first line
    event_block = history.split("<tbody>", 1)[1]
    assert "hq" in event_block

    listing = auditor.get("/auditeventview/list/?_flt_0_entity=outlet"
                          f"&_flt_1_record_id={status_change['outlet']}&_flt_0_action=update")
    assert listing.status_code == 200
    body = listing.get_data(as_text=True)
    assert "→" in body and "hq" in body
    assert "export.csv?" in body and "export.xlsx?" in body  # the exports carry the filters


def test_list_filters(status_change, world, login):
    auditor = login("auditor")
    start = status_change["start"]
    event = db.session.query(AuditEvent).filter(AuditEvent.id > start, AuditEvent.entity == "outlet",
                                                AuditEvent.action == "update").one()

    def ids(query):
        r = auditor.get("/auditeventview/list/?psize_AuditEventView=100&" + query)
        assert r.status_code == 200
        body = r.get_data(as_text=True)
        return f"/auditeventview/show/{event.id}\"" in body

    assert ids(f"_flt_1_record_id={status_change['outlet']}&_flt_0_entity=outlet")
    assert not ids(f"_flt_1_record_id={status_change['outlet']}&_flt_0_entity=engineer")
    assert ids("_flt_1_actor_name=hq&_flt_0_action=update&_flt_0_entity=outlet")
    assert not ids("_flt_1_actor_name=auditor&_flt_0_action=update&_flt_0_entity=outlet")
    # who, by the name people know (exact, or a part of it)
    hq, auditor_user = factories.user("hq"), factories.user("auditor")
    assert ids(f"_flt_1_actor_name={display_name(hq)}&_flt_0_entity=outlet")
    assert not ids(f"_flt_1_actor_name={display_name(auditor_user)}&_flt_0_entity=outlet")
    assert ids(f"_flt_0_actor_name={display_name(hq)[1:]}&_flt_0_entity=outlet")
    # the record by its business number or name, the region it belongs to
    assert ids("_flt_0_record_number=sh001")
    assert ids("_flt_0_record_number=浦东")
    assert not ids("_flt_0_record_number=CD001")
    assert ids(f"_flt_0_region={world.east.id}")
    assert not ids(f"_flt_0_region={world.west.id}")
    picked = auditor.get("/auditeventview/related/region?q=华东").get_json()["results"]  # the region picker
    assert [r["id"] for r in picked] == [world.east.id]
    assert not ids("_flt_0_action=delete&_flt_0_entity=outlet")
    assert ids("_flt_0_at=2000-01-01&_flt_1_at=2999-12-31&_flt_0_entity=outlet&_flt_0_action=update")
    assert not ids("_flt_0_at=2999-01-01&_flt_0_entity=outlet")
    assert not ids("_flt_1_at=2000-01-01&_flt_0_entity=outlet")
    assert not ids("_flt_0_security=1&_flt_0_entity=outlet")

    shown = auditor.get(f"/auditeventview/show/{event.id}").get_data(as_text=True)
    assert 'data-field="status"' in shown and 'data-field="contact"' in shown


def test_security_events_quick_filter(app, api, login):
    start = _max_id()
    assert app.test_client().post("/api/v1/security/login", json={
        "username": "auditor", "password": "wrong", "provider": "db"}).status_code == 401
    auditor = login("auditor")
    body = auditor.get("/auditeventview/list/?_flt_0_security=1&psize_AuditEventView=100").get_data(as_text=True)
    failed = db.session.query(AuditEvent).filter(AuditEvent.id > start, AuditEvent.action == "login_failed").all()
    assert failed
    assert f"/auditeventview/show/{failed[-1].id}\"" in body
    assert "/auditeventview/list/?_flt_0_security=1" in auditor.get("/auditeventview/list/").get_data(as_text=True)


def test_csv_export_has_a_bom_the_chinese_values_and_no_formulas(status_change, api, login):
    world_name = "导出测试网点"
    r = api("hq").put(f"/api/v1/outlet/{status_change['outlet']}", json={"name": world_name})
    assert r.status_code == 200
    auditor = login("auditor")
    r = auditor.get(f"/auditeventview/export.csv?_flt_0_entity=outlet&_flt_1_record_id={status_change['outlet']}")
    assert r.status_code == 200
    assert r.mimetype == "text/csv" and "attachment" in r.headers["Content-Disposition"]
    raw = r.get_data()
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = _csv_rows(raw.decode("utf-8"))
    header, data = rows[0], rows[1:]
    assert len(header) == 12
    assert any(world_name in row for row in data)  # Chinese value intact
    contact = [row for row in data if row[8].startswith("'=cmd")]
    assert contact, data  # the formula neutralised
    assert not any(cell.startswith(("=", "+", "@")) for row in data for cell in row)
    ids = [int(row[0]) for row in data]
    assert ids == sorted(ids)  # oldest first, by id
    status_rows = [row for row in data if row[7] == "合作中" and row[8] == "整改中"]
    assert status_rows and status_rows[0][2] == display_name(factories.user("hq"))  # the actor by name
    assert all(row[5] == f"SH001 {world_name}" for row in data)  # the record by its code and name
    assert [row for row in data if int(row[0]) > status_change["start"]]


def test_xlsx_export_opens_and_has_the_rows(status_change, login, monkeypatch):
    """The workbook is written by the background export job and downloaded under My jobs."""
    from app.core import queue
    from app.reports import exports
    from app.reports.models import UserJob

    monkeypatch.setattr(queue, "enqueue", lambda *a, **k: type("J", (), {"id": "fake"})())
    auditor = login("auditor")
    r = auditor.post(f"/auditeventview/export.xlsx?_flt_0_entity=outlet&_flt_1_record_id={status_change['outlet']}"
                     "&_flt_0_action=update", data={"csrf_token": auditor.csrf_token()})
    assert r.status_code == 302 and r.headers["Location"].endswith("/myjobs/")
    db.session.expire_all()
    job = db.session.query(UserJob).order_by(UserJob.id.desc()).first()
    assert job.params["view"] == "AuditEventView"
    exports.export_list(job.id)
    r = auditor.get(f"/myjobs/{job.id}/download")
    assert r.status_code == 200 and "attachment" in r.headers["Content-Disposition"]
    sheet = load_workbook(io.BytesIO(r.get_data()), read_only=True).active
    rows = [list(row) for row in sheet.iter_rows(values_only=True)]
    assert len(rows[0]) == 12
    data = [row for row in rows[1:] if row[0] > status_change["start"]]  # ids are numbers
    event_ids = {row[0] for row in data}
    assert len(event_ids) == 1
    fields = {row[6] for row in data}
    assert len(fields) == 2  # status and contact: one line per changed field
    contact = [row for row in data if str(row[8]).startswith("=")]  # text, no apostrophe in a workbook
    assert contact and contact[0][7] in (None, "")
    assert all(row[2] == display_name(factories.user("hq")) for row in data)


def test_exports_cover_many_batches_in_id_order(app, world, login):
    from app.audit_trail import views

    start = _max_id()
    for i in range(12):
        factories.part(sku=f"BATCH-{i:03d}")
    db.session.commit()
    original, views.EXPORT_BATCH = views.EXPORT_BATCH, 5
    try:
        auditor = login("auditor")
        rows = _csv_rows(auditor.get("/auditeventview/export.csv?_flt_0_entity=part&_flt_0_action=insert")
                         .get_data(as_text=True))[1:]
    finally:
        views.EXPORT_BATCH = original
    event_ids = [int(r[0]) for r in rows if int(r[0]) > start]
    assert len(set(event_ids)) == 12 and event_ids == sorted(event_ids)


def test_auditors_read_and_nobody_writes_the_trail(status_change, api):
    event_id = db.session.query(func.max(AuditEvent.id)).scalar()
    for username in ("auditor", "hq", "admin"):
        client = api(username)
        assert client.get("/api/v1/audit_event/").status_code == 200, username
        assert client.get(f"/api/v1/audit_event/{event_id}").status_code == 200, username
        assert client.get("/api/v1/audit_event/_info").status_code == 200, username
        verified = client.get("/api/v1/audit_event/verify")
        assert verified.status_code == 200
        assert client.post("/api/v1/audit_event/verify").get_json()["ok"] is True  # recorded, see the home panel
        result = verified.get_json()
        assert set(result) >= {"ok", "checked", "first_broken_id"}
        assert result["ok"] is True and result["first_broken_id"] is None and result["checked"] >= event_id
        assert client.post("/api/v1/audit_event/", json={"entity": "x", "action": "insert"}).status_code in (404, 405)
        assert client.put(f"/api/v1/audit_event/{event_id}", json={"actor_name": "x"}).status_code in (404, 405)
        assert client.delete(f"/api/v1/audit_event/{event_id}").status_code in (404, 405)
    assert db.session.get(AuditEvent, event_id).actor_name != "x"


def test_no_write_pages_or_routes(app, login):
    rules = {r.rule: r.methods for r in app.url_map.iter_rules() if "audit_event" in r.rule or "auditeventview" in r.rule}
    for rule, methods in rules.items():
        if rule in ("/auditeventview/export.xlsx",  # starts a background export: reads the trail
                    "/auditeventview/verify", "/api/v1/audit_event/verify"):  # verifies; records the run
            assert methods & {"PUT", "DELETE", "PATCH"} == set(), rule
            continue
        assert not methods & {"POST", "PUT", "DELETE", "PATCH"}, rule
    admin = login("admin")
    for path in ("/auditeventview/add", "/auditeventview/edit/1", "/auditeventview/delete/1"):
        assert admin.get(path).status_code == 404
        assert admin.post(path).status_code in (404, 405)


def test_managers_and_agents_cannot_read_the_trail(status_change, api, login):
    for username in ("manager_e", "agent_e"):
        client = api(username)
        for path in ("/api/v1/audit_event/", "/api/v1/audit_event/1", "/api/v1/audit_event/verify"):
            assert client.get(path).status_code == 403, (username, path)
        page = login(username)
        assert page.get("/auditeventview/list/").status_code == 403
        assert page.get("/auditeventview/export.csv").status_code == 403
        assert page.post("/auditeventview/export.xlsx", data={"csrf_token": page.csrf_token()}).status_code == 403
        shown = page.get(f"/outletview/show/{status_change['outlet']}")
        assert shown.status_code == 200
        body = shown.get_data(as_text=True)
        assert 'id="record-history"' not in body and "auditeventview" not in body


def test_history_follows_each_users_rights_per_request(status_change, login):
    """The same page, rendered for a manager after an auditor, has no history (and vice versa)."""
    url = f"/outletview/show/{status_change['outlet']}"
    assert 'id="record-history"' in login("hq").get(url).get_data(as_text=True)
    assert 'id="record-history"' not in login("manager_e").get(url).get_data(as_text=True)
    assert 'id="record-history"' in login("auditor").get(url).get_data(as_text=True)


def test_history_is_newest_first_and_one_query(status_change, api, login):
    from sqlalchemy import event as sa_event

    api("hq").put(f"/api/v1/outlet/{status_change['outlet']}", json={"status": "active"})
    auditor = login("auditor")
    statements = []

    def count(conn, cursor, statement, *args):
        if "audit_event" in statement and statement.lstrip().upper().startswith("SELECT"):
            statements.append(statement)

    sa_event.listen(db.engine, "before_cursor_execute", count)
    try:
        body = auditor.get(f"/outletview/show/{status_change['outlet']}").get_data(as_text=True)
    finally:
        sa_event.remove(db.engine, "before_cursor_execute", count)
    assert len(statements) == 1
    history = body.split('id="record-history"', 1)[1]
    rows = history.split('data-field="status"')
    assert len(rows) >= 3
    assert '<td class="history-after">合作中</td>' in rows[1]  # newest first: back to active
    assert '<td class="history-after">整改中</td>' in rows[2]


def test_cli_verify(app, monkeypatch):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["audit", "verify"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output.strip().splitlines()[-1])["ok"] is True

    from app.audit_trail import chain

    monkeypatch.setattr(chain, "verify", lambda session: {"ok": False, "checked": 3, "first_broken_id": 3})
    broken = runner.invoke(args=["audit", "verify"])
    assert broken.exit_code == 1
    assert json.loads(broken.output.strip().splitlines()[-1]) == {"ok": False, "checked": 3, "first_broken_id": 3}


def test_the_trail_masks_customers_phones_for_users_who_may_not_see_them(world, api, login):
    """Auditors see customers' numbers masked (core.personal) in the history, the API and exports."""
    start = _max_id()
    order = world.order_e
    r = api("agent_e").put(f"/api/v1/service_order/{order.id}", json={"customer_phone": "13912345678"})
    assert r.status_code == 200, r.get_json()
    auditor = login("auditor")
    page = auditor.get(f"/serviceorderview/show/{order.id}").get_data(as_text=True)
    assert 'id="record-history"' in page and "139****5678" in page and "13912345678" not in page
    events = api("auditor").get("/api/v1/audit_event/" + _rison(
        [("entity", "eq", "service_order"), ("record_id", "eq", str(order.id)), ("id", "gt", start)])).get_json()
    assert events["result"][0]["changes"]["customer_phone"][1] == "139****5678"
    export = auditor.get(f"/auditeventview/export.csv?_flt_0_entity=service_order&_flt_1_record_id={order.id}")
    assert b"13912345678" not in export.get_data() and "139****5678" in export.get_data(as_text=True)
    # the trail never holds the full number (it is never erased): HQ sees it on the record only
    record, history = login("hq").get(f"/serviceorderview/show/{order.id}").get_data(as_text=True).split(
        'id="record-history"', 1)
    assert "13912345678" in record and "13912345678" not in history and "139****5678" in history


# --- the trail as auditors read it: plain words, local times, records by number, people by name ----

def _table(body):
    """The list's rows (the page around it has menus and scripts)."""
    return body.split('<table class="table', 2)[-1].split("</table>", 1)[0]


def _text(html):
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


DEVELOPER_WORDS = re.compile(r"can_\w+|\w+View\b|\w+Api\b|\bGET\b|\bPOST\b|\bView\b|\bsystem\b|next_check_at")
ISO_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}")


def test_a_complaint_reads_by_its_number_people_by_name_times_local(world, api, login):
    start = _max_id()
    with clock.freeze(local(2026, 3, 10, 10, 0)):
        complaint = new_complaint(world)
    with clock.freeze(local(2026, 3, 10, 10, 5)):
        r = api("agent_e").post(f"/api/v1/complaint/{complaint.id}/respond", json={"note": "已联系客户"})
        assert r.status_code == 200, r.get_json()
    with clock.freeze(local(2026, 3, 11, 9, 50)):  # the SLA sweep: a warning written by the system
        from app.complaints import services

        assert services.sweep()["warned"] >= 1
    agent = factories.user("agent_e")
    auditor = login("auditor")
    number = complaint.number
    statements = []

    def count(conn, cursor, statement, *args):
        if statement.lstrip().upper().startswith("SELECT") and "audit_event" not in statement:
            statements.append(re.search(r"FROM (\w+)", statement).group(1))

    sa_event.listen(db.engine, "before_cursor_execute", count)
    try:
        listing = auditor.get(f"/auditeventview/list/?_flt_0_record_number={number}"
                              "&psize_AuditEventView=100").get_data(as_text=True)
    finally:
        sa_event.remove(db.engine, "before_cursor_execute", count)
    # the records the events name are looked up once per table for the page, not once per event
    assert listing.count(f'href="/complaintview/show/{complaint.id}"') >= 6
    assert all(statements.count(table) <= 2 for table in ("complaint", "complaint_event", "escalation")), Counter(statements)
    rows = _table(listing)
    link = f'<a href="/complaintview/show/{complaint.id}">{complaint.number}</a>'
    assert link in rows  # the timeline entries name their complaint by number, linked
    assert not re.search(rf"投诉: (— → )?{complaint.id}\b", _text(rows))  # never its database id
    cells = [_text(cell).strip() for cell in re.findall(r"<td[^>]*>(.*?)</td>", rows, flags=re.S)]
    assert display_name(agent) in cells and "agent_e" not in cells  # who: by name, not the account
    assert "2026年3月10日 10:05" in rows and not ISO_TIME.search(rows)
    assert not DEVELOPER_WORDS.search(_text(rows)), DEVELOPER_WORDS.search(_text(rows))
    assert "系统" in rows  # the sweep's entries: by the system, not "— → system"
    # only this complaint's events (its own and its timeline's), nothing of the outlet
    shown = {int(pk) for pk in re.findall(r"/auditeventview/show/(\d+)\"", listing)}
    about = db.session.query(AuditEvent).filter(AuditEvent.id.in_(shown)).all()
    assert about and {e.entity for e in about} <= {"complaint", "complaint_event", "escalation"}

    # the response's event: local times on its page, no field codes
    responded = db.session.query(AuditEvent).filter(
        AuditEvent.id > start, AuditEvent.entity == "complaint", AuditEvent.action == "update",
        AuditEvent.actor_name == "agent_e").one()
    page = auditor.get(f"/auditeventview/show/{responded.id}").get_data(as_text=True)
    changes = page.split("audit-event-changes", 1)[1].split("</table>", 1)[0]
    row = changes.split('data-field="first_response_at"', 1)[1].split("</tr>", 1)[0]
    assert '<td class="change-after">2026年3月10日 10:05</td>' in row
    assert "first_response_at" not in _text(changes) and not ISO_TIME.search(changes)
    assert link in page and display_name(agent) in page  # the record and who, on the event's page

    # the date range is read in local time
    def listed(query):
        body = auditor.get(f"/auditeventview/list/?_flt_0_record_number={complaint.number}&{query}")
        return f"/auditeventview/show/{responded.id}\"" in body.get_data(as_text=True)

    assert listed("_flt_0_at=2026-03-10&_flt_1_at=2026-03-10")
    assert not listed("_flt_0_at=2026-03-11")
    assert not listed("_flt_1_at=2026-03-10 10:04")


def test_a_refused_request_reads_plainly(world, api, login):
    start = _max_id()
    login("manager_e").get("/settingview/list/")
    assert api("manager_e").get("/api/v1/setting/").status_code == 403
    auditor = login("auditor")
    rows = _table(auditor.get("/auditeventview/list/?_flt_0_action=permission_denied").get_data(as_text=True))
    denied = db.session.query(AuditEvent).filter(AuditEvent.id > start, AuditEvent.action == "permission_denied").all()
    assert len(denied) == 2 and all(f"/auditeventview/show/{e.id}\"" in rows for e in denied)
    assert "参数设置" in rows and "读取" in rows  # the page and the permission, as the role pages name them
    assert not DEVELOPER_WORDS.search(_text(rows)), DEVELOPER_WORDS.search(_text(rows))
    page = auditor.get(f"/auditeventview/show/{denied[0].id}").get_data(as_text=True)
    details = page.split("audit-event-changes", 1)[1].split("</table>", 1)[0]
    assert "参数设置" in details and "(method)" not in details
    assert not DEVELOPER_WORDS.search(_text(details)), DEVELOPER_WORDS.search(_text(details))


def test_bookkeeping_in_old_events_is_out_of_sight(world, login):
    """Events recorded before the SLA sweep's next-check time was left out of the trail: one with
    nothing else is not listed, one with a real change shows only that change."""
    with clock.freeze(local(2026, 3, 10, 10, 0)):
        complaint = new_complaint(world)
    rid = str(complaint.id)
    old = [{"actor_kind": "job", "actor_id": None, "actor_name": "job:sla_sweep", "request_id": "", "client_addr": "",
            "entity": "complaint", "record_id": rid, "action": "update", "changes": changes}
           for changes in ('{"next_check_at":["2026-03-10T02:07:30","2026-03-10T02:10:00"]}',
                           '{"next_check_at":["2026-03-10T02:10:00",null],"response_breached":[false,true]}')]
    only, mixed = chain.append(db.session.connection(), old)
    db.session.commit()
    auditor = login("auditor")
    body = auditor.get(f"/auditeventview/list/?_flt_0_entity=complaint&_flt_1_record_id={rid}").get_data(as_text=True)
    assert f"/auditeventview/show/{mixed['id']}\"" in body and f"/auditeventview/show/{only['id']}\"" not in body
    history = auditor.get(f"/complaintview/show/{rid}").get_data(as_text=True).split('id="record-history"', 1)[1]
    assert f'data-event="{mixed["id"]}"' in history and f'data-event="{only["id"]}"' not in history
    assert 'data-field="next_check_at"' not in history and 'data-field="response_breached"' in history
    page = auditor.get(f"/auditeventview/show/{mixed['id']}").get_data(as_text=True)
    assert 'data-field="response_breached"' in page and 'data-field="next_check_at"' not in page
    assert chain.verify(db.session)["ok"]  # what was stored is untouched
