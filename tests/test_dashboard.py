"""The dashboard: each panel's numbers on a small known dataset, region scope, aggregate-only
queries (a fixed number whatever the rows, no business row loaded) and the click-through links."""
import json
import re
from datetime import datetime, timedelta

import pytest
from sqlalchemy import event
from sqlalchemy.orm import Session

from app.complaints.models import Complaint
from app.core import clock
from app.engineers.models import Certification
from app.extensions import db
from app.network.models import Outlet
from app.orders.models import ServiceOrder
from app.parts.models import Stock
from app.qualification.models import QualificationAudit
from tests import factories
from tests.conftest import PASSWORD

# Wednesday 11 March 2026, 09:00 in Shanghai (01:00 UTC).
NOW_LOCAL = datetime(2026, 3, 11, 9, 0)
PANELS = ["complaints_by_status", "complaints_by_severity", "outlets_by_status", "sla", "targets",
          "attention", "trend", "regions"]


def local(*args):
    return clock.to_utc(datetime(*args))


@pytest.fixture
def frozen():
    with clock.freeze(local(2026, 3, 11, 9, 0)) as now:
        yield now


_n = {"i": 0}


def complaint(outlet, status="new", severity="general", received=None, response_after=None,
              resolved_after=None, response_breached=False, resolution_breached=False, satisfied=None):
    """A complaint written directly (the dashboard only reads): times in hours after receipt."""
    _n["i"] += 1
    received = received or clock.now()
    c = Complaint(number=f"TS-DASH-{_n['i']:05d}", customer_name="王先生", customer_phone="13912345678",
                  outlet=outlet, severity=severity, description="空调不制冷", status=status, received_at=received,
                  first_response_at=None if response_after is None else received + timedelta(hours=response_after),
                  resolved_at=None if resolved_after is None else received + timedelta(hours=resolved_after),
                  response_breached=response_breached, resolution_breached=resolution_breached,
                  customer_satisfied=satisfied)
    db.session.add(c)
    db.session.flush()
    return c


def completed_order(outlet, completed_at, satisfaction):
    order = factories.service_order(outlet, status="completed", created_at=completed_at - timedelta(hours=3),
                                    completed_at=completed_at, satisfaction=satisfaction)
    return order


def audit(outlet, number, status="draft", is_open=True):
    a = QualificationAudit(number=number, outlet=outlet, kind="annual", status=status, due_on=clock.today(),
                           is_open=True)
    db.session.add(a)
    db.session.flush()
    if is_open is None:  # an approved audit is closed (NULL); the column's default fills None on insert
        a.is_open = None
        db.session.flush()
    return a


@pytest.fixture
def data(world, frozen):
    """Region E: SH001 (active) and SH002 (probation); region W: CD001 (active)."""
    now = clock.now()
    today = clock.today()
    w = world
    w.outlet_e2 = factories.outlet(w.east, code="SH002", name="上海闵行网点", status="probation",
                                   next_audit_due_on=today + timedelta(days=10))
    w.outlet_e.next_audit_due_on = today + timedelta(days=60)
    w.outlet_w.next_audit_due_on = today - timedelta(days=5)  # overdue
    # complaints: four in the 90-day window (three in E), one older
    w.c1 = complaint(w.outlet_e, "new", "general", now - timedelta(hours=2), response_breached=True)
    w.c2 = complaint(w.outlet_e, "resolved", "urgent", now - timedelta(days=10), response_after=1, resolved_after=5,
                     satisfied=True)
    w.c3 = complaint(w.outlet_e2, "closed", "major", now - timedelta(days=20), response_after=3, resolved_after=11,
                     resolution_breached=True, satisfied=False)
    w.c4 = complaint(w.outlet_e, "closed", "general", now - timedelta(days=200), response_after=1, resolved_after=2,
                     response_breached=True, satisfied=True)
    w.c5 = complaint(w.outlet_w, "in_progress", "urgent", now - timedelta(days=1), response_after=2,
                     response_breached=True)
    # service orders completed with a satisfaction score
    w.so1 = completed_order(w.outlet_e, now - timedelta(days=3), 5)
    w.so2 = completed_order(w.outlet_e, now - timedelta(days=8), 4)
    w.so3 = completed_order(w.outlet_w, now - timedelta(days=1), 3)
    # qualification audits: one open in E, one approved (closed) in W
    w.audit_open = audit(w.outlet_e, "QA-DASH-1")
    w.audit_done = audit(w.outlet_w, "QA-DASH-2", status="approved", is_open=None)
    # certificates: one expiring in 10 days (E); revoked and expired ones do not count
    w.cert_soon = factories.certification(w.engineer_e, expires_on=today + timedelta(days=10))
    factories.certification(w.engineer_e, expires_on=today + timedelta(days=5), revoked=True)
    factories.certification(w.engineer_w, expires_on=today - timedelta(days=1))
    # stock: two low rows at CD001 (one outlet), a low central warehouse row (not an outlet)
    w.stock_w.quantity = 2
    other_part = factories.part(sku="AC-FAN-01")
    w.stock_w2 = factories.stock(other_part, outlet=w.outlet_w, quantity=0, safety_level=3)
    w.central_e.quantity = 1
    db.session.commit()
    return w


def panel(client, name, **params):
    query = "&".join(f"{k}={v}" for k, v in params.items())
    resp = client.get(f"/api/v1/dashboard/{name}" + (f"?{query}" if query else ""))
    assert resp.status_code == 200, (name, resp.status_code, resp.get_data(as_text=True))
    return resp.get_json()


def by_code(result, field="values"):
    return dict(zip(result["codes"], result[field]))


# --- numbers -------------------------------------------------------------------------------------

def test_complaints_by_status_and_severity(data, api):
    hq = api("hq")
    status = panel(hq, "complaints_by_status")
    assert by_code(status) == {"new": 1, "responded": 0, "in_progress": 1, "resolved": 1, "closed": 2}
    assert status["total"] == 5
    assert len(status["labels"]) == 5 and all(status["labels"])
    severity = panel(hq, "complaints_by_severity")
    assert by_code(severity) == {"general": 2, "major": 1, "urgent": 2}


def test_sla_breach_rate_and_mean_times(data, api):
    result = panel(api("hq"), "sla")
    assert result["received"] == 4 and result["breached"] == 3
    assert result["breach_rate"] == pytest.approx(0.75)
    assert result["mean_response_hours"] == pytest.approx(2.0)  # 1, 3 and 2 hours
    assert result["mean_resolution_hours"] == pytest.approx(8.0)  # 5 and 11 hours
    assert result["breach_rate_display"] == "75.0%"
    assert result["mean_response_hours_display"] == "2.0"
    # a longer window takes in the 200-day-old complaint
    longer = panel(api("hq"), "sla", days=365)
    assert longer["received"] == 5 and longer["breached"] == 4


def test_targets(data, api):
    items = panel(api("hq"), "targets")["items"]
    resolution = items["complaint_resolution"]
    assert resolution["value"] == pytest.approx(0.5) and resolution["target"] == pytest.approx(0.98)
    assert resolution["met"] is False and resolution["count"] == 4
    satisfaction = items["complaint_satisfaction"]
    assert satisfaction["value"] == pytest.approx(0.5) and satisfaction["target"] == pytest.approx(0.97)
    assert satisfaction["count"] == 2
    orders = items["order_satisfaction"]
    assert orders["value"] == pytest.approx(4.0) and orders["target"] == pytest.approx(4.6)
    assert orders["met"] is False and orders["display"] == "4.00"


def test_targets_follow_the_settings(data, api):
    from app.core.models import Setting

    db.session.query(Setting).filter_by(key="kpi.satisfaction_target").update({"value": "3.5"})
    db.session.commit()
    orders = panel(api("hq"), "targets")["items"]["order_satisfaction"]
    assert orders["target"] == pytest.approx(3.5) and orders["met"] is True


def test_outlets_by_status(data, api):
    result = panel(api("hq"), "outlets_by_status")
    assert by_code(result) == {"applying": 0, "active": 2, "probation": 1, "suspended": 0, "terminated": 0}


def test_attention(data, api):
    items = panel(api("hq"), "attention")["items"]
    assert items["open_audits"]["value"] == 1
    assert items["audits_due"]["value"] == 2
    assert (items["audits_due"]["overdue"], items["audits_due"]["due_soon"]) == (1, 1)
    assert items["certificates_expiring"]["value"] == 1
    assert items["low_stock_outlets"]["value"] == 1


def test_trend_buckets_by_local_week(data, api):
    result = panel(api("hq"), "trend")
    assert result["weeks"][-1] == "2026-03-09" and result["weeks"][0] == "2025-12-22"
    assert len(result["labels"]) == 12
    series = {s["key"]: s["values"] for s in result["series"]}
    assert series["complaints_received"] == [0] * 8 + [1, 1, 0, 2]  # 19 Feb, 1 Mar (Sunday), 10-11 Mar
    assert series["orders_completed"] == [0] * 10 + [2, 1]


def test_trend_week_starts_at_local_midnight_on_monday(world, frozen, api):
    complaint(world.outlet_e, received=local(2026, 3, 9, 0, 30))  # Monday 00:30 in Shanghai = Sunday UTC
    complaint(world.outlet_e, received=local(2026, 3, 8, 23, 30))  # Sunday night
    db.session.commit()
    series = {s["key"]: s["values"] for s in panel(api("hq"), "trend")["series"]}
    assert series["complaints_received"][-2:] == [1, 1]


def test_regions(data, api):
    result = panel(api("hq"), "regions")
    assert result["codes"] == ["E", "W"]
    assert result["outlets"] == [2, 1]
    assert result["open_complaints"] == [1, 1]
    assert result["received"] == [3, 1]
    assert result["breach_rate"][0] == pytest.approx(0.6667) and result["breach_rate"][1] == pytest.approx(1.0)
    assert result["breach_rate_display"][1] == "100.0%"


def test_no_data_at_all(app, api, frozen):
    hq = api("hq")
    assert panel(hq, "complaints_by_status")["values"] == [0] * 5
    assert panel(hq, "outlets_by_status")["total"] == 0
    sla = panel(hq, "sla")
    assert sla["received"] == 0 and sla["breach_rate"] is None and sla["mean_response_hours"] is None
    assert sla["breach_rate_display"] == "–"
    targets = panel(hq, "targets")["items"]
    assert all(item["value"] is None and item["met"] is None for item in targets.values())
    attention = panel(hq, "attention")["items"]
    assert all(item["value"] == 0 for item in attention.values())
    trend = panel(hq, "trend")
    assert all(s["values"] == [0] * 12 for s in trend["series"])
    assert panel(hq, "regions")["labels"] == []


def test_english_labels_and_numbers(data, login):
    client = login("hq")
    client.post("/language/", data={"locale": "en"})
    sla = client.get("/api/v1/dashboard/sla").get_json()
    assert sla["labels"]["breach_rate"] == "SLA breach rate"
    status = client.get("/api/v1/dashboard/complaints_by_status").get_json()
    assert status["labels"][0] == "New"
    assert client.get("/api/v1/dashboard/trend").get_json()["labels"][-1] == "Mar 9"


def test_unknown_panel_and_bad_window(data, api):
    hq = api("hq")
    assert hq.get("/api/v1/dashboard/nope").status_code == 404
    for bad in ("0", "abc", "400"):
        resp = hq.get(f"/api/v1/dashboard/sla?days={bad}")
        assert resp.status_code == 400 and "days" in resp.get_json()["errors"]


# --- scope and permissions ------------------------------------------------------------------------

def test_manager_sees_only_their_region(data, api):
    east = api("manager_e")
    assert by_code(panel(east, "complaints_by_status")) == {
        "new": 1, "responded": 0, "in_progress": 0, "resolved": 1, "closed": 2}
    sla = panel(east, "sla")
    assert (sla["received"], sla["breached"]) == (3, 2)
    assert sla["mean_response_hours"] == pytest.approx(2.0)
    assert panel(east, "targets")["items"]["order_satisfaction"]["value"] == pytest.approx(4.5)
    assert by_code(panel(east, "outlets_by_status"))["active"] == 1
    items = panel(east, "attention")["items"]
    assert {k: v["value"] for k, v in items.items()} == {
        "open_audits": 1, "audits_due": 1, "certificates_expiring": 1, "low_stock_outlets": 0}
    regions = panel(east, "regions")
    assert regions["codes"] == ["E"] and regions["outlets"] == [2]
    series = {s["key"]: s["values"] for s in panel(east, "trend")["series"]}
    assert sum(series["complaints_received"]) == 3 and sum(series["orders_completed"]) == 2

    west = api("manager_w")
    items = panel(west, "attention")["items"]
    assert {k: v["value"] for k, v in items.items()} == {
        "open_audits": 0, "audits_due": 1, "certificates_expiring": 0, "low_stock_outlets": 1}
    assert panel(west, "regions")["codes"] == ["W"]


def test_agent_and_unassigned_manager(data, api):
    assert panel(api("agent_e"), "complaints_by_status")["total"] == 4
    nobody = api("nobody")
    assert panel(nobody, "complaints_by_status")["total"] == 0
    assert panel(nobody, "regions")["codes"] == []


@pytest.mark.parametrize("username", ["hq", "manager_e", "agent_e", "auditor", "admin"])
def test_every_business_role_reads_the_dashboard(data, api, login, username):
    assert api(username).get("/api/v1/dashboard/sla").status_code == 200
    page = login(username).get("/")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'id="dashboard"' in html and "vendor/echarts/echarts.min.js" in html


def test_dashboard_needs_its_permission(app, login):
    sm = app.appbuilder.sm
    role = sm.find_role("Test Dashboard None") or sm.add_role("Test Dashboard None")
    if not sm.find_user(username="dash_none"):
        sm.add_user("dash_none", "Dash", "None", "dash_none@example.com", [role], password=PASSWORD)
    client = login("dash_none")
    assert client.get("/api/v1/dashboard/sla").status_code == 403
    home = client.get("/")
    assert home.status_code == 200 and 'id="dashboard"' not in home.get_data(as_text=True)
    anonymous = app.test_client()
    assert anonymous.get("/api/v1/dashboard/sla").status_code == 401
    assert "/login/" in anonymous.get("/").headers["Location"]


def test_page_is_a_shell_without_external_resources(data, login):
    html = login("hq").get("/").get_data(as_text=True)
    assert not re.search(r"""(src|href)=["']https?://""", html)
    assert "TS-DASH" not in html  # numbers come from the API


# --- aggregate queries only -----------------------------------------------------------------------

BUSINESS_MODELS = (Complaint, Outlet, ServiceOrder, Stock, Certification, QualificationAudit)


class QueryCounter:
    def __init__(self):
        self.statements = 0
        self.loaded = 0

    def _statement(self, *args):
        self.statements += 1

    def _loaded(self, session, instance):
        if isinstance(instance, BUSINESS_MODELS):
            self.loaded += 1

    def __enter__(self):
        event.listen(db.engine, "before_cursor_execute", self._statement)
        event.listen(Session, "loaded_as_persistent", self._loaded)
        return self

    def __exit__(self, *exc):
        event.remove(db.engine, "before_cursor_execute", self._statement)
        event.remove(Session, "loaded_as_persistent", self._loaded)


def _measure(client):
    result = {}
    for name in PANELS:
        with QueryCounter() as counter:
            resp = client.get(f"/api/v1/dashboard/{name}")
        assert resp.status_code == 200
        body = resp.get_json()
        assert counter.loaded == 0, f"{name} loaded rows into Python"
        result[name] = (counter.statements, len(json.dumps(body, ensure_ascii=False)))
    return result


def _more_rows(w, n):
    now = clock.now()
    for i in range(n):
        o = factories.outlet(w.east if i % 2 else w.west, status=("active", "probation", "suspended")[i % 3],
                             next_audit_due_on=clock.today() + timedelta(days=i))
        complaint(o, ("new", "responded", "closed")[i % 3], ("general", "urgent")[i % 2],
                  now - timedelta(days=i * 3), response_after=i % 4, resolved_after=(i % 5) + 1 if i % 3 == 2 else None,
                  response_breached=bool(i % 2), satisfied=bool(i % 2) if i % 3 == 2 else None)
        completed_order(o, now - timedelta(days=i * 2 + 1), (i % 5) + 1)
        factories.stock(w.part, outlet=o, quantity=i % 3, safety_level=1)
    db.session.commit()


@pytest.mark.parametrize("username", ["hq", "manager_e"])
def test_fixed_number_of_aggregate_queries_whatever_the_rows(data, api, username):
    client = api(username)
    _measure(client)  # warm caches (permissions, settings)
    before = _measure(client)
    _more_rows(data, 40)
    after = _measure(client)
    for name in PANELS:
        assert after[name][0] == before[name][0], (name, before[name], after[name])
        # the answer's size does not grow with the rows (a few more digits at most)
        assert after[name][1] <= before[name][1] + 40, (name, before[name], after[name])


# --- click-through --------------------------------------------------------------------------------

def _ids(html, view):
    return {int(i) for i in re.findall(rf"/{view}/show/(\d+)", html)}


def _list(client, link, view):
    resp = client.get(link)
    assert resp.status_code == 200, (link, resp.status_code)
    return _ids(resp.get_data(as_text=True), view)


def test_chart_links_open_the_matching_lists(data, login, api):
    hq_api, client = api("hq"), login("hq")
    w = data
    status = panel(hq_api, "complaints_by_status")
    links = by_code(status, "links")
    assert links["new"] == "/complaintview/list/?_flt_0_status=new"
    assert _list(client, links["new"], "complaintview") == {w.c1.id}
    assert _list(client, links["closed"], "complaintview") == {w.c3.id, w.c4.id}
    assert _list(client, links["responded"], "complaintview") == set()
    severity = by_code(panel(hq_api, "complaints_by_severity"), "links")
    assert _list(client, severity["urgent"], "complaintview") == {w.c2.id, w.c5.id}

    outlets = by_code(panel(hq_api, "outlets_by_status"), "links")
    assert outlets["probation"] == "/outletview/list/?_flt_0_status=probation"
    assert _list(client, outlets["probation"], "outletview") == {w.outlet_e2.id}
    assert _list(client, outlets["active"], "outletview") == {w.outlet_e.id, w.outlet_w.id}

    items = panel(hq_api, "attention")["items"]
    assert _list(client, items["open_audits"]["link"], "qualificationauditview") == {w.audit_open.id}
    assert _list(client, items["audits_due"]["link"], "outletview") == {w.outlet_e2.id, w.outlet_w.id}
    assert items["certificates_expiring"]["link"] == "/certificationview/list/?_flt_0_expires_within=30"
    assert _list(client, items["certificates_expiring"]["link"], "certificationview") == {w.cert_soon.id}
    assert items["low_stock_outlets"]["link"] == "/stockview/list/?_flt_0_low=1"
    assert _list(client, items["low_stock_outlets"]["link"], "stockview") == {
        w.stock_w.id, w.stock_w2.id, w.central_e.id}

    regions = panel(hq_api, "regions")
    assert _list(client, regions["links"][0], "outletview") == {w.outlet_e.id, w.outlet_e2.id}


def test_links_of_a_manager_show_only_their_rows(data, login, api):
    links = by_code(panel(api("manager_e"), "complaints_by_status"), "links")
    assert _list(login("manager_e"), links["closed"], "complaintview") == {data.c3.id, data.c4.id}
    urgent = by_code(panel(api("manager_e"), "complaints_by_severity"), "links")["urgent"]
    assert _list(login("manager_e"), urgent, "complaintview") == {data.c2.id}
