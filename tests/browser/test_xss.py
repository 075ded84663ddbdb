"""Stored markup never runs: markup payloads saved in every free-text field a page or chart shows
(region, outlet, engineer, complaint, escalation, audit, evidence and import file names, imported
cells) are opened by every role on every page that shows them, and every dashboard chart is hovered.

Nothing may open a dialog, log a console error (Content-Security-Policy violations are console
errors), or raise a page error; no element may carry an event-handler attribute or a ``javascript:``
URL, no inline script may lack the page's nonce, and each HTML page carries the
Content-Security-Policy header. The data is seeded once for the module, through the API as the
real users where there is one (the region rename is the reported case:
``PUT /api/v1/region/<id> {"name": "华北区<img src=x onerror=alert(1)>"}``).
"""
import io
import re
from datetime import date

import pytest
from openpyxl import Workbook

from app.extensions import db
from tests import factories
from tests.browser.conftest import login, shot
from tests.conftest import PASSWORD
from tests.qualification_support import ONSITE_OK, PNG, catalogue

# One string holding each way out of an HTML context: attribute, element, <script> block, template.
MARKUP = '"><img src=x onerror=alert(1)><script>alert(2)</script></script><svg onload=alert(3)>{{7*7}}'
URL = "javascript:alert(4)"
# A file name holds no "/" and, as a browser sends it, no '"': the rest of the same.
FILE_MARKUP = "'><img src=x onerror=alert(1)><svg onload=alert(3)>{{7*7}}"
SEEN = "<img src=x onerror=alert(1)>"  # what a page shows, as text, where the payload is displayed

ROLES = ["hq", "manager_e", "agent_e", "auditor", "admin"]

CHARTS = ["complaints_by_status", "complaints_by_severity", "outlets_by_status", "regions", "trend"]



def _shows_payload(path, role, ids):
    """Whether the page, when the role may open it, shows stored markup (which must read as text)."""
    if path in ("/regionview/list/", "/outletview/list/", "/engineerview/list/", "/complaintview/list/", "/desk/",
                f"/workbench/{ids['audit_submitted']}", f"/workbench/approvals/{ids['audit_submitted']}"):
        return True
    return role == "hq" and path in ("/myjobs/", f"/import/job/{ids['import_job']}")

FIND_UNSAFE = """() => {
    const found = [];
    for (const el of document.querySelectorAll("*")) {
        for (const a of el.attributes) {
            if (/^on/i.test(a.name)) {
                found.push(`${el.tagName} ${a.name}="${a.value}"`);
            }
            if (["href", "src", "action", "formaction", "xlink:href"].includes(a.name)
                    && /^\\s*javascript:/i.test(a.value)) {
                found.push(`${el.tagName} ${a.name}="${a.value}"`);
            }
        }
    }
    for (const s of document.querySelectorAll("script")) {
        const type = (s.getAttribute("type") || "").toLowerCase();
        if (type === "application/json") {
            continue;
        }
        if (!s.src && !s.nonce && !s.getAttribute("nonce")) {
            found.push("inline script without nonce: " + s.textContent.trim().slice(0, 80));
        }
        if (/alert\\(/.test(s.textContent)) {
            found.push("script from data: " + s.textContent.trim().slice(0, 80));
        }
    }
    for (const el of document.querySelectorAll("img[src='x'], svg[onload], iframe, object, embed")) {
        found.push("injected element: " + el.outerHTML.slice(0, 80));
    }
    return found;
}"""


class _Api:
    """A JSON client signed in with a bearer token (as the API's own clients are)."""

    def __init__(self, app, username):
        self.client = app.test_client()
        r = self.client.post("/api/v1/security/login",
                             json={"username": username, "password": PASSWORD, "provider": "db"})
        assert r.status_code == 200, r.get_json()
        self.headers = {"Authorization": f"Bearer {r.get_json()['access_token']}"}

    def call(self, method, path, expect=(200, 201), **kw):
        r = getattr(self.client, method)(path, headers=self.headers, **kw)
        assert r.status_code in expect, (method, path, r.status_code, r.get_json())
        return r.get_json()


def _import_job(user, rows, filename):
    """An engineer import of a workbook with markup in its cells and name, checked (not applied)."""
    from app.reports import imports

    spec = imports.spec_for("engineer")
    wb = Workbook()
    ws = wb.active
    ws.append([str(c.label) for c in spec.columns])
    for row in rows:
        ws.append(row)
    out = io.BytesIO()
    wb.save(out)
    job = imports.create_job(user, spec, filename, out.getvalue())
    job.params = dict(job.params or {}, locale="zh")
    db.session.commit()
    imports.validate_import(job.id)
    return job.id


def _seed(app):
    from app.audit_trail.models import AuditEvent
    from app.core import clock
    from app.parts.models import Stock
    from seeds.reference import load_default_calendar

    load_default_calendar(years=[clock.today().year, clock.today().year + 1])
    w = factories.build_world()
    for outlet in (w.outlet_e, w.outlet_w):  # outlets that qualify: staff and the common parts stocked
        stocked = {s.part_id for s in db.session.query(Stock).filter_by(outlet_id=outlet.id)}
        for part in catalogue():
            if part.id not in stocked:
                factories.stock(part, outlet=outlet, quantity=5, safety_level=5)
        for _ in range(3):
            factories.certification(factories.engineer(outlet))
    db.session.commit()
    ids = {"east": w.east.id, "west": w.west.id, "outlet_e": w.outlet_e.id, "outlet_w": w.outlet_w.id,
           "engineer": w.engineer_e.id}

    hq, agent, manager, auditor = (_Api(app, u) for u in ("hq", "agent_e", "manager_e", "auditor"))
    # the reported case, and the other region's name too
    hq.call("put", f"/api/v1/region/{w.east.id}", json={"name": "华东区" + MARKUP})
    hq.call("put", f"/api/v1/region/{w.west.id}", json={"name": "华西区" + MARKUP})
    hq.call("put", f"/api/v1/outlet/{w.outlet_e.id}",
            json={"name": "上海浦东网点" + MARKUP, "address": "浦东新区" + MARKUP + URL,
                  "contact": URL + "<img src=x onerror=alert(1)>"})
    hq.call("put", f"/api/v1/engineer/{w.engineer_e.id}", json={"name": "张工" + MARKUP})

    def complaint(**extra):
        body = {"customer_name": "王先生" + MARKUP, "customer_phone": "13912345678", "channel": "phone",
                "outlet": w.outlet_e.id, "severity": "urgent", "description": "空调不制冷" + MARKUP + URL}
        body.update(extra)
        return agent.call("post", "/api/v1/complaint/", json=body)["id"]

    pending = complaint()
    agent.call("post", f"/api/v1/complaint/{pending}/respond", json={"note": "已联系" + MARKUP})
    agent.call("post", f"/api/v1/complaint/{pending}/pause", json={"reason": "等客户" + MARKUP})
    agent.call("post", f"/api/v1/complaint/{pending}/resume", json={})
    ids["esc_pending"] = agent.call("post", f"/api/v1/complaint/{pending}/escalate", json={
        "reason": "customer_request", "remedy": "repair", "compensation_amount": None,
        "comment": "客户要求" + MARKUP})["id"]
    decided = complaint(severity="major")
    agent.call("post", f"/api/v1/complaint/{decided}/respond", json={"note": "已上门" + MARKUP})
    ids["esc_decided"] = agent.call("post", f"/api/v1/complaint/{decided}/escalate", json={
        "reason": "customer_request", "remedy": "repair", "compensation_amount": None,
        "comment": "再次上门" + MARKUP})["id"]
    manager.call("post", f"/api/v1/escalation/{ids['esc_decided']}/reject", json={"comment": "证据不足" + MARKUP})
    agent.call("post", f"/api/v1/complaint/{decided}/resolve", json={"resolution": "已修复" + MARKUP + URL})
    ids["complaint"], ids["complaint_resolved"] = pending, decided

    # audits: one submitted (waiting on the approval screen), one approved with a decision comment
    answers = [dict(a, note=(a.get("note") or "现场") + MARKUP) for a in ONSITE_OK]

    def audit(outlet_id):
        aid = auditor.call("post", "/api/v1/qualification_audit/", json={"outlet": outlet_id, "kind": "annual"})["id"]
        auditor.call("put", f"/api/v1/qualification_audit/{aid}", json={"items": answers})
        auditor.call("post", f"/api/v1/qualification_audit/{aid}/evidence",
                     data={"item": "fixed_premises", "file": (io.BytesIO(PNG), FILE_MARKUP + ".png")},
                     content_type="multipart/form-data")
        auditor.call("post", f"/api/v1/qualification_audit/{aid}/submit",
                     json={"outcome": "pass", "comment": "提交" + MARKUP})
        return aid

    ids["audit_submitted"] = audit(w.outlet_e.id)
    ids["audit_approved"] = audit(w.outlet_w.id)
    hq.call("post", f"/api/v1/qualification_audit/{ids['audit_approved']}/approve",
            json={"comment": "同意" + MARKUP})

    # an import whose file name and cells carry markup (the checked rows echo the bad cells)
    rows = [["E9001", "李工" + MARKUP, "", "", "SH001", date(2025, 3, 1), "<svg onload=alert(3)>"],
            ["E9002", "赵工", "", "", "<img src=x onerror=alert(1)>", date(2025, 3, 1), "在岗"]]
    ids["import_job"] = _import_job(factories.user("hq"), rows, FILE_MARKUP + ".xlsx")

    db.session.expire_all()
    region_event = (db.session.query(AuditEvent).filter_by(entity="region", record_id=str(w.east.id))
                    .order_by(AuditEvent.id.desc()).first())
    ids["event_region"] = region_event.id if region_event else None
    return ids


@pytest.fixture(autouse=True)
def _clean(app):
    """The seeded data stays from the first role to the last; ``seeded`` wipes it once, at the end."""
    with app.app_context():
        yield


@pytest.fixture(scope="module")
def seeded(app):
    with app.app_context():
        try:
            ids = _seed(app)
        finally:
            db.session.remove()
    yield ids
    with app.app_context():
        db.session.rollback()
        factories.wipe_business_data()
        db.session.remove()


def _pages(ids, role):
    """Each kind of page once: FAB's list, show and edit widgets, the custom templates (outlet show,
    desk, workbench, approvals, audit trail, import job, my jobs) and the dashboard."""
    pages = [
        "/",
        "/regionview/list/",
        "/outletview/list/", f"/outletview/show/{ids['outlet_e']}", f"/outletview/edit/{ids['outlet_e']}",
        "/engineerview/list/", f"/engineerview/show/{ids['engineer']}", f"/engineerview/edit/{ids['engineer']}",
        "/certificationview/list/",
        "/complaintview/list/", f"/complaintview/show/{ids['complaint']}", f"/complaintview/edit/{ids['complaint']}",
        f"/complaintview/show/{ids['complaint_resolved']}", "/complaintview/add",
        "/escalationview/list/", f"/escalationview/show/{ids['esc_decided']}", "/desk/",
        "/qualificationauditview/list/",
        "/workbench/", f"/workbench/{ids['audit_submitted']}", f"/workbench/{ids['audit_approved']}",
        "/workbench/approvals/", f"/workbench/approvals/{ids['audit_submitted']}",
        "/auditeventview/list/", "/myjobs/", "/import/",
    ]
    if ids.get("event_region"):
        pages.append(f"/auditeventview/show/{ids['event_region']}")
    if role == "hq":  # an import job is its uploader's only; Swagger UI shows no data: once is enough
        pages += [f"/import/job/{ids['import_job']}", "/swagger/v1"]
    return pages


_STATIC = {}


def _serve_static_once(page):
    """Static files (the same for every page and role) come from the server once per module: this
    keeps the test's time on the pages themselves."""

    def handle(route):
        url = route.request.url
        if url not in _STATIC:
            r = route.fetch()
            if r.status != 200:
                return route.fulfill(response=r)
            _STATIC[url] = (r.headers, r.body())
        headers, body = _STATIC[url]
        route.fulfill(status=200, headers=headers, body=body)

    page.route("**/static/**", handle)


def _open_allowed_pages_only(page):
    """A page the role may not open answers a redirect (to the dashboard), 403 or 404: the browser
    gets a bare 403 instead (a redirect is not followed), so each page costs one request."""

    def handle(route):
        if route.request.resource_type != "document" or route.request.method != "GET":
            return route.fallback()
        r = route.fetch(max_redirects=0)
        if r.status == 200:
            return route.fulfill(response=r)
        route.fulfill(status=r.status if r.status >= 400 else 403, body="not for this role",
                      headers={"content-type": "text/plain"})

    page.route("**/*", handle)


def _watch(page):
    page.dialogs, page.page_errors = [], []

    def on_dialog(dialog):
        page.dialogs.append(f"{dialog.type}: {dialog.message} on {page.url}")
        dialog.dismiss()

    page.on("dialog", on_dialog)
    page.on("pageerror", lambda exc: page.page_errors.append(f"{exc} on {page.url}"))


def _no_script_ran(page, where):
    assert page.dialogs == [], (where, page.dialogs)
    assert page.page_errors == [], (where, page.page_errors)
    # a page the role may not open answers 403/404, which the browser logs: not a script's error
    errors = [m for m in page.console_errors
              if not re.match(r"Failed to load resource: the server responded with a status of 40[34]", m)]
    assert errors == [], (where, errors)
    page.console_errors.clear()
    unsafe = page.evaluate(FIND_UNSAFE)
    assert unsafe == [], (where, unsafe)


def _open_ajax_selects(page, where):
    """Open each AJAX related-field box (select2): its options are names from the data, drawn by
    select2 as the user types. Returns the options' texts."""
    texts = []
    boxes = page.locator("select.app-ajax-select + .select2-container")
    for i in range(min(boxes.count(), 3)):
        box = boxes.nth(i)
        if not box.is_visible():
            continue
        box.click()
        page.wait_for_selector(".select2-results__option:not(.loading-results)", timeout=5000)
        texts += page.locator(".select2-results__option").all_inner_texts()
        unsafe = page.evaluate(FIND_UNSAFE)
        assert unsafe == [], (where, unsafe)
        page.keyboard.press("Escape")
    return texts


def _hover_charts(page, role):
    page.wait_for_selector("#dashboard")
    for name in CHARTS:
        page.wait_for_selector(f'#chart-{name}[data-ready="1"] canvas')
    page.wait_for_load_state("networkidle")
    for name in CHARTS:
        chart = page.locator(f"#chart-{name}")
        chart.scroll_into_view_if_needed()
        box = chart.bounding_box()
        for fx in (0.25, 0.5, 0.75):
            page.mouse.move(box["x"] + box["width"] * fx, box["y"] + box["height"] * 0.5)
    # the regions chart: hover each region's bar, whose tooltip names the region
    labels = page.evaluate("echarts.getInstanceByDom(document.getElementById('chart-regions'))"
                           ".getOption().xAxis[0].data")
    chart = page.locator("#chart-regions")
    chart.scroll_into_view_if_needed()
    for i, label in enumerate(labels):
        x, y = page.evaluate(
            """([index]) => {
                const el = document.getElementById("chart-regions");
                const c = echarts.getInstanceByDom(el);
                const p = c.convertToPixel({xAxisIndex: 0, yAxisIndex: 0}, [index, 0]);
                const box = el.getBoundingClientRect();
                return [box.left + p[0], box.top + p[1] - 10];
            }""", [i])
        page.mouse.move(x, y)
        name = label.split('"')[0]  # the region's name before the markup: "华东区"
        page.wait_for_function(
            "t => document.getElementById('chart-regions').innerText.includes(t)", arg=name, timeout=5000)
        injected = page.locator("#chart-regions img, #chart-regions svg, #chart-regions script")
        assert injected.count() == 0, (role, injected.first.evaluate("e => e.outerHTML"))
        tip = page.locator("#chart-regions").inner_text()
        assert label in tip, (role, label, tip)  # the whole name, shown as text
    shot(page, f"xss-dashboard-{role}")


@pytest.mark.parametrize("role", ROLES)
def test_stored_markup_never_runs(role, seeded, page):
    _watch(page)
    _serve_static_once(page)
    login(page, role)
    assert "/login" not in page.url, (role, page.locator(".alert").all_inner_texts())
    _no_script_ran(page, (role, "home"))
    _open_allowed_pages_only(page)
    for path in _pages(seeded, role):
        response = page.goto(page.base + path)
        where = (role, path)
        assert response is not None and response.status < 500, (where, response and response.status)
        if response.status != 200:
            continue
        if "text/html" in (response.headers.get("content-type") or ""):
            csp = response.headers.get("content-security-policy") or ""
            assert "script-src" in csp and "'unsafe-inline'" not in csp.split("script-src", 1)[1].split(";")[0], \
                (where, csp)
        if path == "/":
            _hover_charts(page, role)
        elif path.startswith("/swagger/"):  # Swagger UI draws the API's operations with its bundle
            page.wait_for_selector(".swagger-ui .opblock", timeout=15000)
        elif path.endswith(("/add", f"/edit/{seeded['complaint']}")):
            options = _open_ajax_selects(page, where)
            for text in options:  # the outlet's and the engineer's names, as text
                if text.startswith(("上海浦东网点", "张工")):
                    assert SEEN in text, (where, text)
        if _shows_payload(path, role, seeded):
            text = page.locator("body").inner_text()
            assert SEEN in text and "{{7*7}}" in text, where
        _no_script_ran(page, where)
    bad = [r for r in page.failed_responses if r.startswith("5")]
    assert bad == [], (role, bad)
