"""The dashboard: each figure's number on small datasets with known answers (the traps included:
outlets that do not serve, complaints not yet due, engineers who left, the period selector, the
partial current week), its written definition on the page, region scope, aggregate-only queries
(a fixed number whatever the rows, no business row loaded), the click-through links and the HQ
warning about an unconfirmed holiday calendar."""
import json
import re
from datetime import date, datetime, timedelta

import pytest
from markupsafe import escape
from sqlalchemy import event
from sqlalchemy.orm import Session

from app.complaints.models import Complaint
from app.core import clock
from app.core.models import BusinessCalendar, CalendarDay, Setting
from app.engineers.models import Certification
from app.extensions import db
from app.network.models import Outlet
from app.orders.models import ServiceOrder
from app.parts.models import Stock
from app.qualification.models import QualificationAudit
from app.reports import dashboard
from tests import factories
from tests.conftest import PASSWORD

# Wednesday 11 March 2026, 09:00 in Shanghai (01:00 UTC); the 90-day period starts on 11 December
# 2025 at midnight in Shanghai.
PANELS = ["complaints_by_status", "complaints_by_severity", "outlets_by_status", "sla", "targets",
          "attention", "trend", "regions"]
KPI_TILES = ["breach_rate", "mean_response_minutes", "mean_resolution_hours", "complaint_resolution",
             "complaint_satisfaction", "order_satisfaction"]
ATTENTION_TILES = ["open_audits", "audits_due", "certificates_expiring", "low_stock_outlets"]
CHARTS = ["complaints_by_status", "complaints_by_severity", "outlets_by_status", "regions", "trend"]
OUTLET_STATUSES = ["applying", "active", "probation", "suspended", "terminated"]


def local(*args):
    return clock.to_utc(datetime(*args))


@pytest.fixture
def frozen():
    with clock.freeze(local(2026, 3, 11, 9, 0)) as now:
        yield now


_n = {"i": 0}


def complaint(outlet, status="new", severity="general", received=None, response_after=None,
              resolved_after=None, response_breached=False, resolution_breached=False, satisfied=None,
              due_after=None, response_minutes=None):
    """A complaint written directly (the dashboard only reads): times in hours after receipt
    (``response_minutes`` in minutes), ``due_after`` the resolution due time."""
    _n["i"] += 1
    received = received or clock.now()
    if response_minutes is not None:
        response_after = response_minutes / 60
    c = Complaint(number=f"TS-DASH-{_n['i']:05d}", customer_name="王先生", customer_phone="13912345678",
                  outlet=outlet, severity=severity, description="空调不制冷", status=status, received_at=received,
                  first_response_at=None if response_after is None else received + timedelta(hours=response_after),
                  resolved_at=None if resolved_after is None else received + timedelta(hours=resolved_after),
                  resolution_due_at=None if due_after is None else received + timedelta(hours=due_after),
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


def set_setting(key, value):
    db.session.query(Setting).filter_by(key=key).update({"value": str(value)})
    db.session.commit()


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
    # complaints: four received in the 90-day period (three in E), one older
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


def values(items):
    return {k: v["value"] for k, v in items.items()}


def _ids(html, view):
    return {int(i) for i in re.findall(rf"/{view}/show/(\d+)", html)}


def _list(client, link, view):
    resp = client.get(link)
    assert resp.status_code == 200, (link, resp.status_code)
    return _ids(resp.get_data(as_text=True), view)


# --- numbers on the shared dataset ----------------------------------------------------------------

def test_complaints_by_status_and_severity(data, api):
    hq = api("hq")
    status = panel(hq, "complaints_by_status")
    # received in the last 90 days: c4 (200 days ago) is not counted
    assert by_code(status) == {"new": 1, "responded": 0, "in_progress": 1, "resolved": 1, "closed": 1}
    assert status["total"] == 4
    assert len(status["labels"]) == 5 and all(status["labels"])
    severity = panel(hq, "complaints_by_severity")
    assert by_code(severity) == {"general": 1, "major": 1, "urgent": 2}


def test_status_and_severity_follow_the_period(data, api):
    hq = api("hq")
    week = panel(hq, "complaints_by_status", days=7)  # c1 (2 hours ago) and c5 (yesterday)
    assert by_code(week) == {"new": 1, "responded": 0, "in_progress": 1, "resolved": 0, "closed": 0}
    assert by_code(panel(hq, "complaints_by_severity", days=7)) == {"general": 1, "major": 0, "urgent": 1}
    year = panel(hq, "complaints_by_status", days=365)
    assert by_code(year) == {"new": 1, "responded": 0, "in_progress": 1, "resolved": 1, "closed": 2}
    assert by_code(panel(hq, "complaints_by_severity", days=365)) == {"general": 2, "major": 1, "urgent": 2}
    assert "7" in week["title"] and "365" in year["title"]


def test_sla_breach_rate_and_mean_times(data, api):
    result = panel(api("hq"), "sla")
    assert result["received"] == 4 and result["breached"] == 3
    assert result["breach_rate"] == pytest.approx(0.75)
    # first responses given in the period: c2 (60 min), c3 (180 min), c5 (120 min)
    assert result["responded"] == 3
    assert result["mean_response_minutes"] == pytest.approx(120.0)
    assert result["mean_response_minutes_display"] == "120.0"
    # resolved in the period: c2 (5 h) and c3 (11 h)
    assert result["resolved"] == 2
    assert result["mean_resolution_hours"] == pytest.approx(8.0)
    assert result["breach_rate_display"] == "75.0%"
    # a longer period takes in the 200-day-old complaint
    longer = panel(api("hq"), "sla", days=365)
    assert longer["received"] == 5 and longer["breached"] == 4
    assert longer["mean_response_minutes"] == pytest.approx(105.0)  # 60, 180, 120 and 60
    assert longer["mean_resolution_hours"] == pytest.approx(6.0)  # 5, 11 and 2


def test_targets(data, api):
    items = panel(api("hq"), "targets")["items"]
    # resolved in the period (no due times in this dataset): c2 on time, c3 breached
    resolution = items["complaint_resolution"]
    assert resolution["value"] == pytest.approx(0.5) and resolution["target"] == pytest.approx(0.98)
    assert resolution["met"] is False and resolution["count"] == 2
    # answers of the complaints resolved in the period: c2 satisfied, c3 not
    satisfaction = items["complaint_satisfaction"]
    assert satisfaction["value"] == pytest.approx(0.5) and satisfaction["target"] == pytest.approx(0.97)
    assert satisfaction["count"] == 2
    orders = items["order_satisfaction"]
    assert orders["value"] == pytest.approx(4.0) and orders["target"] == pytest.approx(4.6)
    assert orders["met"] is False and orders["display"] == "4.00"


def test_targets_follow_the_settings(data, api):
    set_setting("kpi.satisfaction_target", "3.5")
    orders = panel(api("hq"), "targets")["items"]["order_satisfaction"]
    assert orders["target"] == pytest.approx(3.5) and orders["met"] is True


def test_outlets_by_status(data, api):
    result = panel(api("hq"), "outlets_by_status")
    assert by_code(result) == {"applying": 0, "active": 2, "probation": 1, "suspended": 0, "terminated": 0}


def test_attention(data, api):
    items = panel(api("hq"), "attention")["items"]
    assert values(items) == {"open_audits": 1, "audits_due": 2, "certificates_expiring": 1, "low_stock_outlets": 1}
    assert (items["audits_due"]["overdue"], items["audits_due"]["due_soon"]) == (1, 1)


def test_trend_buckets_by_local_week_over_the_period(data, api):
    result = panel(api("hq"), "trend")
    # the 90 days from Thursday 11 December 2025 touch the weeks from Monday 8 December
    assert result["weeks"][0] == "2025-12-08" and result["weeks"][-1] == "2026-03-09"
    assert len(result["weeks"]) == len(result["labels"]) == 14
    series = {s["key"]: s["values"] for s in result["series"]}
    assert series["complaints_received"] == [0] * 10 + [1, 1, 0, 2]  # 19 Feb, 1 Mar (Sunday), 10-11 Mar
    assert series["orders_completed"] == [0] * 12 + [2, 1]
    month = panel(api("hq"), "trend", days=30)  # from Tuesday 10 February
    assert month["weeks"] == ["2026-02-09", "2026-02-16", "2026-02-23", "2026-03-02", "2026-03-09"]
    assert {s["key"]: s["values"] for s in month["series"]}["complaints_received"] == [0, 1, 1, 0, 2]
    year = panel(api("hq"), "trend", days=365)
    assert year["weeks"][0] == "2025-03-10" and len(year["weeks"]) == 53


def test_trend_week_starts_at_local_midnight_on_monday(world, frozen, api):
    complaint(world.outlet_e, received=local(2026, 3, 9, 0, 30))  # Monday 00:30 in Shanghai = Sunday UTC
    complaint(world.outlet_e, received=local(2026, 3, 8, 23, 30))  # Sunday night
    db.session.commit()
    series = {s["key"]: s["values"] for s in panel(api("hq"), "trend")["series"]}
    assert series["complaints_received"][-2:] == [1, 1]


def test_the_current_week_is_marked_partial(data, api, login):
    result = panel(api("hq"), "trend")
    last = len(result["weeks"]) - 1
    assert result["partial_index"] == last
    assert result["labels"][last] == result["partial_label"] != result["labels"][last - 1]
    assert result["partial_note"]
    client = login("hq")
    client.post("/language/", data={"locale": "en"})
    english = client.get("/api/v1/dashboard/trend").get_json()
    assert english["labels"][-1] == "This week (to date)"
    assert english["labels"][-2] == "Mar 2"  # full weeks keep their Monday's date


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
    assert sla["received"] == 0 and sla["breach_rate"] is None and sla["mean_response_minutes"] is None
    assert sla["breach_rate_display"] == "–" and sla["mean_response_minutes_display"] == "–"
    assert sla["response_met"] is None
    targets = panel(hq, "targets")["items"]
    assert all(item["value"] is None and item["met"] is None for item in targets.values())
    attention = panel(hq, "attention")["items"]
    assert all(item["value"] == 0 for item in attention.values())
    trend = panel(hq, "trend")
    assert all(s["values"] == [0] * 14 for s in trend["series"])
    assert panel(hq, "regions")["labels"] == []


def test_english_labels_and_numbers(data, login):
    client = login("hq")
    client.post("/language/", data={"locale": "en"})
    sla = client.get("/api/v1/dashboard/sla").get_json()
    assert sla["labels"]["breach_rate"] == "SLA breach rate"
    assert sla["labels"]["mean_response_minutes"] == "Mean first response (minutes)"
    assert sla["response_target_display"] == "10 min"
    status = client.get("/api/v1/dashboard/complaints_by_status").get_json()
    assert status["labels"][0] == "New"


def test_unknown_panel_and_bad_window(data, api):
    hq = api("hq")
    assert hq.get("/api/v1/dashboard/nope").status_code == 404
    for bad in ("0", "abc", "400"):
        resp = hq.get(f"/api/v1/dashboard/sla?days={bad}")
        assert resp.status_code == 400 and "days" in resp.get_json()["errors"]


# --- the traps: each figure counts only what a manager would count ----------------------------------

def test_first_response_is_shown_in_minutes_against_the_sla(world, frozen, api):
    now = clock.now()
    complaint(world.outlet_e, received=now - timedelta(hours=3), response_minutes=6)
    complaint(world.outlet_e, received=now - timedelta(hours=2), response_minutes=14)
    complaint(world.outlet_e, received=now - timedelta(hours=1))  # not responded yet: no time to count
    db.session.commit()
    sla = panel(api("hq"), "sla")
    assert sla["mean_response_minutes"] == pytest.approx(10.0)
    assert sla["mean_response_minutes_display"] == "10.0"  # not "0.2" hours
    assert sla["response_target_minutes"] == 10 and sla["response_met"] is True

    complaint(world.outlet_e, received=now - timedelta(hours=4), response_minutes=31)
    # a response given before the period does not count in it
    complaint(world.outlet_e, received=now - timedelta(days=100), response_minutes=603)
    db.session.commit()
    sla = panel(api("hq"), "sla")
    assert sla["mean_response_minutes"] == pytest.approx(17.0) and sla["response_met"] is False
    assert sla["responded"] == 3
    year = panel(api("hq"), "sla", days=365)
    assert year["mean_response_minutes"] == pytest.approx(163.5)  # (6 + 14 + 31 + 603) / 4
    assert year["mean_response_minutes_display"] == "163.5"


def test_resolution_rate_counts_complaints_due_or_resolved_in_the_period(world, frozen, api):
    now = clock.now()
    o = world.outlet_e
    on_time = [
        complaint(o, "resolved", received=now - timedelta(days=3), due_after=24, resolved_after=10),
        # resolved early, due only tomorrow: counted, on time
        complaint(o, "resolved", received=now - timedelta(hours=2), due_after=24, resolved_after=1),
        # no due time (no SLA): counted because resolved in the period
        complaint(o, "closed", received=now - timedelta(days=4), resolved_after=5),
    ]
    late = [
        complaint(o, "resolved", received=now - timedelta(days=5), due_after=24, resolved_after=30,
                  resolution_breached=True),
        # due two hours ago, still open (flagged by the SLA clock, or not yet): counted, not on time
        complaint(o, "in_progress", received=now - timedelta(hours=26), due_after=24, resolution_breached=True),
        complaint(o, "in_progress", received=now - timedelta(hours=30), due_after=24),
        # due before the period, resolved (late) inside it
        complaint(o, "resolved", received=now - timedelta(days=100), due_after=24, resolved_after=20 * 24,
                  resolution_breached=True),
    ]
    # not yet due and not resolved: not counted at all
    for hours in (1, 2, 3, 5, 8):
        complaint(o, "new", received=now - timedelta(hours=hours), due_after=24)
    # due and resolved before the period
    complaint(o, "closed", received=now - timedelta(days=200), due_after=24, resolved_after=2)
    db.session.commit()
    assert len(on_time) + len(late) == 7
    item = panel(api("hq"), "targets")["items"]["complaint_resolution"]
    assert item["count"] == 7 and item["value"] == pytest.approx(0.4286) and item["display"] == "42.9%"
    # 30 days: the complaint due and resolved long ago drops out
    month = panel(api("hq"), "targets", days=30)
    assert month["items"]["complaint_resolution"]["count"] == 6 and month["on_time"] == 3
    assert month["items"]["complaint_resolution"]["value"] == pytest.approx(0.5)


def test_resolution_rate_meets_the_target_when_every_due_complaint_is_on_time(world, frozen, api):
    now = clock.now()
    for i in range(50):
        complaint(world.outlet_e, "closed", received=now - timedelta(days=i + 2), due_after=24, resolved_after=3)
    for hours in range(1, 13):  # twelve complaints received today, none due yet
        complaint(world.outlet_e, "new", received=now - timedelta(hours=hours), due_after=24)
    db.session.commit()
    item = panel(api("hq"), "targets")["items"]["complaint_resolution"]
    assert item["count"] == 50 and item["value"] == pytest.approx(1.0) and item["met"] is True


def test_audits_due_count_only_outlets_active_or_on_probation(world, frozen, api, login):
    today = clock.today()
    counted = set()
    for status in OUTLET_STATUSES:
        for days in (-3, 5):  # overdue, due soon
            o = factories.outlet(world.east, status=status, next_audit_due_on=today + timedelta(days=days))
            if status in ("active", "probation"):
                counted.add(o.id)
    later = factories.outlet(world.east, status="active", next_audit_due_on=today + timedelta(days=45))
    factories.outlet(world.east, status="active")  # never audited: no due date
    db.session.commit()
    item = panel(api("hq"), "attention")["items"]["audits_due"]
    assert (item["value"], item["overdue"], item["due_soon"]) == (4, 2, 2)
    assert _list(login("hq"), item["link"], "outletview") == counted
    assert panel(api("manager_w"), "attention")["items"]["audits_due"]["value"] == 0

    # the horizon is the setting that opens annual audits ahead of their due date
    set_setting("qualification.annual_open_days_before", 60)
    item = panel(api("hq"), "attention")["items"]["audits_due"]
    assert (item["value"], item["due_soon"]) == (5, 3) and "60" in item["label"]
    assert _list(login("hq"), item["link"], "outletview") == counted | {later.id}


def test_expiring_certificates_leave_out_engineers_who_left(world, frozen, api):
    today = clock.today()
    e = world.outlet_e
    suspended = factories.engineer(e, status="suspended")
    trainee = factories.engineer(e, status="trainee")
    left = factories.engineer(e, status="left")
    factories.certification(world.engineer_e, expires_on=today)  # expires today: counted
    factories.certification(world.engineer_e, expires_on=today + timedelta(days=10))
    factories.certification(suspended, expires_on=today + timedelta(days=20))
    factories.certification(trainee, expires_on=today + timedelta(days=30))  # the window's last day
    factories.certification(left, expires_on=today + timedelta(days=5))  # left: not counted
    factories.certification(left, expires_on=today + timedelta(days=25))
    factories.certification(world.engineer_e, expires_on=today + timedelta(days=31))
    factories.certification(world.engineer_e, expires_on=today + timedelta(days=3), revoked=True)
    factories.certification(world.engineer_e, expires_on=today - timedelta(days=1))  # already expired
    db.session.commit()
    assert panel(api("hq"), "attention")["items"]["certificates_expiring"]["value"] == 4
    assert panel(api("manager_e"), "attention")["items"]["certificates_expiring"]["value"] == 4
    assert panel(api("manager_w"), "attention")["items"]["certificates_expiring"]["value"] == 0
    set_setting("certification.expiring_days", 7)
    item = panel(api("hq"), "attention")["items"]["certificates_expiring"]
    assert item["value"] == 1 and "7" in item["label"]


def test_low_stock_outlets_leave_out_outlets_that_do_not_serve(world, frozen, api):
    w = world
    fan = factories.part(sku="AC-FAN-09")
    w.stock_e.quantity = 1  # SH001 (active): two low parts, one outlet
    factories.stock(fan, outlet=w.outlet_e, quantity=0, safety_level=2)
    for status in OUTLET_STATUSES:
        o = factories.outlet(w.east, status=status)
        factories.stock(w.part, outlet=o, quantity=0, safety_level=1)
    exact = factories.outlet(w.east, status="active")
    factories.stock(w.part, outlet=exact, quantity=5, safety_level=5)  # at the safety level: not low
    w.central_e.quantity = 0  # a central warehouse is not an outlet
    db.session.commit()
    assert panel(api("hq"), "attention")["items"]["low_stock_outlets"]["value"] == 3  # SH001, active, probation
    assert panel(api("manager_e"), "attention")["items"]["low_stock_outlets"]["value"] == 3
    assert panel(api("manager_w"), "attention")["items"]["low_stock_outlets"]["value"] == 0


def test_regions_count_outlets_that_serve(data, api, login):
    for status in ("applying", "suspended", "terminated"):
        factories.outlet(data.east, status=status)
    db.session.commit()
    result = panel(api("hq"), "regions")
    assert result["outlets"] == [2, 1]
    assert _list(login("hq"), result["links"][0], "outletview") == {data.outlet_e.id, data.outlet_e2.id}
    # outlets by status still shows every outlet
    assert panel(api("hq"), "outlets_by_status")["total"] == 6


# --- definitions on the page ----------------------------------------------------------------------

def _page(client):
    resp = client.get("/")
    assert resp.status_code == 200
    return resp.get_data(as_text=True)


def _expected_definitions(app):
    with app.test_request_context():
        return dashboard.definitions()


def test_every_figure_has_one_written_definition_shown_as_its_tooltip(data, app, login):
    html = _page(login("hq"))
    texts = _expected_definitions(app)
    assert set(KPI_TILES + ATTENTION_TILES + CHARTS + ["period"]) <= set(texts) == set(dashboard.DEFINITIONS)
    for key in KPI_TILES:
        assert re.search(rf'id="kpi-{key}" title="{re.escape(str(escape(texts[key])))}"', html), key
    for key in ATTENTION_TILES:
        assert re.search(rf'id="attention-{key}" href="#" title="{re.escape(str(escape(texts[key])))}"', html), key
    for key, text in texts.items():
        assert f'<li id="definition-{key}" data-key="{key}">{escape(text)}</li>' in html, key
    for key in CHARTS + ["period"]:
        assert f'title="{escape(texts[key])}"' in html, key


def test_definitions_carry_the_live_settings(data, app, login):
    set_setting("certification.expiring_days", 14)
    set_setting("kpi.complaint_resolution_target", 95)
    set_setting("qualification.annual_open_days_before", 45)
    texts = _expected_definitions(app)
    assert "14" in texts["certificates_expiring"] and "45" in texts["audits_due"]
    assert "95.0%" in texts["complaint_resolution"]
    html = _page(login("manager_e"))
    assert str(escape(texts["certificates_expiring"])) in html


def test_definitions_read_in_english(data, login):
    client = login("hq")
    client.post("/language/", data={"locale": "en"})
    html = _page(client)
    assert "the share resolved by their due time" in html
    assert "A complaint neither due yet nor resolved is not counted" in html
    assert "held by engineers who have not left" in html
    assert "in minutes" in html


# --- the HQ warning about the holiday calendar ------------------------------------------------------

def _calendar_days(year, provisional):
    cal = db.session.query(BusinessCalendar).filter(BusinessCalendar.region_id.is_(None)).first()
    if cal is None:
        cal = BusinessCalendar(name="中国大陆")
        db.session.add(cal)
        db.session.flush()
    db.session.query(CalendarDay).filter(CalendarDay.calendar_id == cal.id, CalendarDay.day >= date(year, 1, 1),
                                         CalendarDay.day <= date(year, 12, 31)).delete()
    for day, kind, name in ((date(year, 1, 1), "holiday", "元旦"), (date(year, 10, 1), "holiday", "国庆节")):
        db.session.add(CalendarDay(calendar=cal, day=day, kind=kind, name=name, provisional=provisional))
    db.session.commit()


NOTICE = re.compile(r'<div class="alert alert-warning dashboard-calendar-notice" role="alert" data-year="(\d+)">'
                    r'\s*<span[^>]*></span>\s*<a href="([^"]+)" class="alert-link">([^<]+)</a>')


def _notices(html):
    return [(int(year), link, text) for year, link, text in NOTICE.findall(html)]


def test_hq_admins_are_warned_of_an_unconfirmed_holiday_calendar(world, frozen, login):
    _calendar_days(2026, provisional=False)
    _calendar_days(2027, provisional=True)
    notices = _notices(_page(login("hq")))
    assert [n[0] for n in notices] == [2027]
    year, link, text = notices[0]
    assert link == "/calendardayview/list/" and "2027" in text
    assert login("hq").get(link).status_code == 200
    for username in ("manager_e", "agent_e", "auditor", "admin"):
        assert _notices(_page(login(username))) == [], username

    # confirmed: no warning; a year without any day row is not confirmed either
    _calendar_days(2027, provisional=False)
    assert _notices(_page(login("hq"))) == []
    db.session.query(CalendarDay).filter(CalendarDay.day >= date(2026, 1, 1),
                                         CalendarDay.day <= date(2026, 12, 31)).delete()
    db.session.commit()
    assert [n[0] for n in _notices(_page(login("hq")))] == [2026]


def test_the_warning_names_the_year_in_english(world, frozen, login):
    _calendar_days(2026, provisional=False)
    _calendar_days(2027, provisional=True)
    client = login("hq")
    client.post("/language/", data={"locale": "en"})
    assert [n[2] for n in _notices(_page(client))] == ["The 2027 holiday arrangement is not confirmed yet"]


# --- scope and permissions ------------------------------------------------------------------------

def test_manager_sees_only_their_region(data, api):
    east = api("manager_e")
    assert by_code(panel(east, "complaints_by_status")) == {
        "new": 1, "responded": 0, "in_progress": 0, "resolved": 1, "closed": 1}
    sla = panel(east, "sla")
    assert (sla["received"], sla["breached"]) == (3, 2)
    assert sla["mean_response_minutes"] == pytest.approx(120.0)  # c2 60 min, c3 180 min
    targets = panel(east, "targets")["items"]
    assert targets["order_satisfaction"]["value"] == pytest.approx(4.5)
    assert targets["complaint_resolution"]["count"] == 2
    assert by_code(panel(east, "outlets_by_status"))["active"] == 1
    assert values(panel(east, "attention")["items"]) == {
        "open_audits": 1, "audits_due": 1, "certificates_expiring": 1, "low_stock_outlets": 0}
    # a single-region manager's regions chart shows the region's outlets, one bar each
    regions = panel(east, "regions")
    assert regions["per_outlet"] and regions["codes"] == ["SH001", "SH002"]
    assert regions["received"] == [2, 1] and regions["open_complaints"] == [1, 0]
    series = {s["key"]: s["values"] for s in panel(east, "trend")["series"]}
    assert sum(series["complaints_received"]) == 3 and sum(series["orders_completed"]) == 2

    west = api("manager_w")
    assert values(panel(west, "attention")["items"]) == {
        "open_audits": 0, "audits_due": 1, "certificates_expiring": 0, "low_stock_outlets": 1}
    assert panel(west, "regions")["codes"] == ["CD001"]
    assert by_code(panel(west, "complaints_by_status", days=7)) == {
        "new": 0, "responded": 0, "in_progress": 1, "resolved": 0, "closed": 0}


def test_agent_and_unassigned_manager(data, api):
    assert panel(api("agent_e"), "complaints_by_status")["total"] == 3
    assert panel(api("agent_e"), "complaints_by_status", days=365)["total"] == 4
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
                  response_breached=bool(i % 2), satisfied=bool(i % 2) if i % 3 == 2 else None,
                  due_after=24 if i % 4 else None, resolution_breached=i % 7 == 0)
        completed_order(o, now - timedelta(days=i * 2 + 1), (i % 5) + 1)
        factories.stock(w.part, outlet=o, quantity=i % 3, safety_level=1)
    db.session.commit()


@pytest.mark.parametrize("username", ["hq", "manager_e"])
def test_fixed_number_of_aggregate_queries_whatever_the_rows(data, api, username, monkeypatch):
    client = api(username)
    _measure(client)  # warm caches (permissions, settings)
    before = _measure(client)
    _more_rows(data, 40)
    after = _measure(client)
    for name in PANELS:
        assert after[name][0] == before[name][0], (name, before[name], after[name])
        if name == "regions" and username == "manager_e":
            continue  # one bar per outlet of the manager's region: bounded below
        # the answer's size does not grow with the rows (a few more digits at most)
        assert after[name][1] <= before[name][1] + 40, (name, before[name], after[name])
    if username == "manager_e":  # 16 outlets of region E serve or have open complaints: 10 bars kept
        monkeypatch.setattr(dashboard, "OUTLET_BARS", 10)
        regions = panel(client, "regions")
        assert len(regions["labels"]) == 10 and regions["total_outlets"] == 16
        assert regions["codes"] == sorted(regions["codes"]) and min(regions["open_complaints"]) >= 1


def test_the_page_runs_a_fixed_number_of_queries_whatever_the_rows(data, login):
    client = login("hq")

    def measure():
        with QueryCounter() as counter:
            assert client.get("/").status_code == 200
        assert counter.loaded == 0
        return counter.statements

    measure()
    before = measure()
    _more_rows(data, 40)
    assert measure() == before


# --- click-through --------------------------------------------------------------------------------

def test_chart_links_open_the_matching_lists(data, login, api):
    hq_api, client = api("hq"), login("hq")
    w = data
    status = panel(hq_api, "complaints_by_status")
    links = by_code(status, "links")
    assert links["new"].startswith("/complaintview/list/?_flt_0_status=new&_flt_1_received_at=")
    assert _list(client, links["new"], "complaintview") == {w.c1.id}
    assert _list(client, links["closed"], "complaintview") == {w.c3.id}  # c4 is older than the period
    assert _list(client, links["responded"], "complaintview") == set()
    severity = by_code(panel(hq_api, "complaints_by_severity"), "links")
    assert _list(client, severity["urgent"], "complaintview") == {w.c2.id, w.c5.id}
    # the period's links follow the period
    week = by_code(panel(hq_api, "complaints_by_severity", days=7), "links")
    assert _list(client, week["urgent"], "complaintview") == {w.c5.id}
    year = by_code(panel(hq_api, "complaints_by_status", days=365), "links")
    assert _list(client, year["closed"], "complaintview") == {w.c3.id, w.c4.id}

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
    links = by_code(panel(api("manager_e"), "complaints_by_status", days=365), "links")
    assert _list(login("manager_e"), links["closed"], "complaintview") == {data.c3.id, data.c4.id}
    urgent = by_code(panel(api("manager_e"), "complaints_by_severity"), "links")["urgent"]
    assert _list(login("manager_e"), urgent, "complaintview") == {data.c2.id}
