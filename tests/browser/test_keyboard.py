"""The workflow pages driven with the keyboard only (Tab, Enter, Space, arrows, typing): recording a
complaint (AJAX related fields searched and picked with Enter), deciding escalations on the desk,
opening, answering and submitting an audit on the workbench, and an Excel import. On each form every
visible field has a label, whatever takes the focus shows it, and Tab reaches the submit button.

The top bar: one line at a desk (1280 px) for the Admin and an HQ admin in both languages, and on a
tablet (768 px) a hamburger menu that opens and is walked with the keyboard."""
import uuid
from datetime import date, timedelta

import pytest

from app.complaints import services as complaint_services
from app.complaints.models import Complaint, Escalation
from app.core import clock
from app.engineers.models import Engineer
from app.extensions import db
from app.qualification.models import QualificationAudit
from seeds.reference import load_default_calendar
from tests import factories
from tests.browser.conftest import login, logout, shot, switch_language
from tests.browser.test_import import _file
from tests.qualification_support import qualifying_outlet
from tests.test_complaints_lifecycle import new_complaint
from tests.workers import burst

# Transitions off, so a style read right after a key press is the final one.
NO_MOTION = "*, *::before, *::after { transition: none !important; animation: none !important; }"

FOCUSABLE = ("a[href], button:not([disabled]), input:not([type=hidden]):not([disabled]), select:not([disabled]), "
             "textarea:not([disabled]), summary, [tabindex]:not([tabindex='-1'])")

# What the focused element looks like vs. the same element without the focus.
LOOK = """el => { const s = getComputedStyle(el);
    const outline = s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) > 0
        ? [s.outlineStyle, s.outlineWidth, s.outlineColor].join(' ') : 'none';
    return JSON.stringify([outline, s.boxShadow, s.borderTopColor, s.borderBottomColor, s.backgroundColor]); }"""

SNAPSHOT = """([focusable, look]) => {
    const lookOf = eval(look);
    if (document.activeElement) { document.activeElement.blur(); }
    window.__unfocused = new Map();
    document.querySelectorAll(focusable).forEach(el => window.__unfocused.set(el, lookOf(el)));
}"""

# The element with the focus: a name for it (a select2 box is named after its <select>) and whether
# it looks different from when it had no focus.
ACTIVE = """look => {
    const lookOf = eval(look), el = document.activeElement;
    if (!el || el === document.body) { return {name: 'body', indicated: true}; }
    const box = el.closest('.select2-container');
    const select = box && box.previousElementSibling && box.previousElementSibling.tagName === 'SELECT'
        ? box.previousElementSibling : null;
    const name = select ? '#' + select.id : (el.id ? '#' + el.id : el.tagName.toLowerCase()
        + (el.name ? '[name=' + el.name + ']' : '') + ':' + (el.innerText || el.value || '').trim().slice(0, 20));
    const before = window.__unfocused && window.__unfocused.get(el);
    return {name: name, indicated: before === undefined || before !== lookOf(el), html: el.outerHTML.slice(0, 160)};
}"""

# Visible fields of ``root`` without a label: a <label for> with text, aria-label or
# aria-labelledby naming an element with text; a select2 box must be named by its field's <label>.
UNLABELLED = """root => {
    const scope = document.querySelector(root), missing = [];
    const visible = el => !!(el.offsetWidth || el.offsetHeight || el.getClientRects().length)
        && getComputedStyle(el).visibility !== 'hidden' && !el.classList.contains('select2-hidden-accessible');
    const named = el => (el.id && Array.from(document.querySelectorAll('label[for="' + CSS.escape(el.id) + '"]'))
                                 .some(l => l.textContent.trim()))
        || (el.getAttribute('aria-label') || '').trim()
        || (el.getAttribute('aria-labelledby') || '').split(/\\s+/).some(id => {
               const ref = id && document.getElementById(id); return ref && ref.textContent.trim(); });
    scope.querySelectorAll('input:not([type=hidden]), select, textarea').forEach(el => {
        if (visible(el) && !named(el)) { missing.push(el.outerHTML.slice(0, 120)); }
    });
    scope.querySelectorAll('.select2-selection[role=combobox]').forEach(el => {
        const ids = (el.getAttribute('aria-labelledby') || '').split(/\\s+/);
        if (!ids.some(id => { const ref = id && document.getElementById(id); return ref && ref.tagName === 'LABEL'; })) {
            missing.push('select2 box ' + el.outerHTML.slice(0, 120));
        }
    });
    return missing;
}"""


def _ready(page, path):
    page.goto(page.base + path)
    page.wait_for_load_state("networkidle")
    page.add_style_tag(content=NO_MOTION)
    page.evaluate(SNAPSHOT, [FOCUSABLE, LOOK])


def _active(page):
    return page.evaluate(ACTIVE, LOOK)


def tab_to(page, name, limit=120):
    """Press Tab until the element called ``name`` (see ACTIVE) has the focus; every stop on the way
    must show its focus. Returns the names of the stops."""
    stops = []
    for _ in range(limit):
        page.keyboard.press("Tab")
        now = _active(page)
        assert now["indicated"], f"no visible focus on {now['html']}"
        stops.append(now["name"])
        if now["name"] == name:
            return stops
    raise AssertionError(f"Tab never reached {name}: {stops}")


def assert_in_order(stops, names):
    positions = [stops.index(n) for n in names]
    assert positions == sorted(positions), (names, stops)


def assert_labelled(page, root):
    assert page.evaluate(UNLABELLED, root) == [], root


def choose_with_arrows(page, select_id, value, limit=10):
    """Move a focused native <select> to ``value`` with the arrow keys."""
    for _ in range(limit):
        if page.evaluate(f"document.getElementById('{select_id}').value") == value:
            return
        page.keyboard.press("ArrowDown")
    raise AssertionError(f"#{select_id} never reached {value}")


def pick_with_select2(page, text, option):
    """The select2 box has the focus: open it with Enter, type, wait for the AJAX answer, pick with Enter."""
    page.keyboard.press("Enter")
    page.wait_for_selector(".select2-container--open .select2-search__field")
    search = page.locator(".select2-container--open .select2-search__field")
    assert search.get_attribute("aria-label"), "the select2 search box has no name"
    page.keyboard.type(text)
    page.wait_for_selector(f".select2-results__option--highlighted:has-text('{option}')")
    page.keyboard.press("Enter")
    page.wait_for_selector(".select2-container--open", state="detached")


def _clean(page):
    assert page.failed_responses == [], page.failed_responses
    assert page.console_errors == [], page.console_errors
    assert page.outside_requests == [], page.outside_requests


# --- the top bar -----------------------------------------------------------------------------------

@pytest.mark.parametrize("username", ["admin", "hq"])
@pytest.mark.parametrize("lang", ["zh", "en"])
def test_the_top_bar_is_one_line_at_a_desk(username, lang, world, page):
    login(page, username)
    switch_language(page, lang)
    page.goto(page.base + "/outletview/list/")
    bar = page.evaluate("""() => {
        const nav = document.querySelector('.app-navbar');
        const items = Array.from(nav.querySelectorAll('.navbar-brand, .navbar-nav > li'));
        return {height: nav.getBoundingClientRect().height,
                item: items[1].getBoundingClientRect().height,
                tops: items.map(el => Math.round(el.getBoundingClientRect().top)),
                labels: items.map(el => el.innerText.trim()),
                overflow: document.documentElement.scrollWidth - window.innerWidth};
    }""")
    # one line: every entry on the same row, the bar as tall as one entry (plus its borders)
    assert len(set(bar["tops"])) == 1, bar
    assert bar["height"] <= bar["item"] + 2, bar
    assert bar["overflow"] <= 0, bar
    labels = " ".join(bar["labels"])
    assert ("服务网络" if lang == "zh" else "Service network") in labels
    assert ("系统设置" if lang == "zh" else "System settings") in labels
    shot(page, f"navbar-{username}-{lang}-1280")
    if username == "admin":  # the users and roles are one click away, under System settings
        page.click(".app-navbar .dropdown-toggle:has-text('%s')" % ("系统设置" if lang == "zh" else "System settings"))
        assert page.locator(".app-navbar .open a[href='/users/list/']").is_visible()
    # the account menu holds the other language
    page.click(".app-account-menu > a")
    other = "en" if lang == "zh" else "zh"
    assert page.locator(f".app-account-menu form.app-menu-form button[lang='{other}']").is_visible()
    _clean(page)


def test_the_top_bar_on_a_tablet_opens_with_the_keyboard(world, browser, live_server):
    context = browser.new_context(viewport={"width": 768, "height": 1024}, locale="zh-CN")
    page = context.new_page()
    page.base = live_server
    page.console_errors, page.failed_responses, page.outside_requests = [], [], []
    page.on("console", lambda m: m.type == "error" and page.console_errors.append(m.text))
    page.on("response", lambda r: r.status >= 400 and page.failed_responses.append(f"{r.status} {r.url}"))
    page.on("request", lambda r: not r.url.startswith((live_server, "data:")) and page.outside_requests.append(r.url))
    try:
        login(page, "admin")
        page.goto(page.base + "/outletview/list/")
        page.add_style_tag(content=NO_MOTION)
        toggle = page.locator(".app-navbar .navbar-toggle")
        assert toggle.is_visible() and toggle.get_attribute("aria-label")
        assert not page.locator("#app-navbar-collapse").is_visible()
        assert page.evaluate("document.querySelector('.app-navbar').getBoundingClientRect().height") <= 52

        stops = []
        for _ in range(5):
            page.keyboard.press("Tab")
            stops.append(_active(page)["html"])
            if "navbar-toggle" in stops[-1]:
                break
        assert "navbar-toggle" in stops[-1], stops
        page.keyboard.press("Enter")
        page.wait_for_selector("#app-navbar-collapse.in")
        assert toggle.get_attribute("aria-expanded") == "true"
        shot(page, "navbar-768-open")
        # Tab to the network menu, open it with Enter, walk into it with Tab and follow a link
        tab_to(page, "a:服务网络")
        page.keyboard.press("Enter")
        assert page.locator(".app-navbar .open .dropdown-menu a[href='/regionview/list/']").is_visible()
        tab_to(page, "a:区域")
        shot(page, "navbar-768-menu")
        page.keyboard.press("Enter")
        page.wait_for_url("**/regionview/list/")
        assert page.evaluate("document.documentElement.scrollWidth - window.innerWidth") <= 0
        _clean(page)
    finally:
        context.close()


# --- complaint form --------------------------------------------------------------------------------

def test_recording_a_complaint_from_the_keyboard(world, page):
    load_default_calendar(years=[clock.today().year])
    db.session.commit()
    login(page, "agent_e")
    _ready(page, "/complaintview/add")
    assert_labelled(page, "form")
    # the first Tab stop skips the top bar
    page.keyboard.press("Tab")
    assert "app-skip-link" in _active(page)["html"] and page.locator(".app-skip-link").is_visible()
    page.keyboard.press("Enter")

    tab_to(page, "#customer_name")
    page.keyboard.type("键盘客户")
    page.keyboard.press("Tab")
    page.keyboard.type("13800001111")
    stops = tab_to(page, "#outlet")  # passes the channel box (phone by default)
    pick_with_select2(page, "SH00", "SH001")
    assert _active(page)["name"] == "#outlet"  # the focus comes back to the box
    stops += tab_to(page, "#engineer")  # passes the (optional) service order
    pick_with_select2(page, "E10", "E1001")
    stops += tab_to(page, "#description")
    page.keyboard.type("空调不制冷，键盘录入")
    stops += tab_to(page, "button:保存")
    assert_in_order(stops, ["#channel", "#outlet", "#service_order", "#engineer", "#severity", "#description"])
    shot(page, "keyboard-complaint")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    page.wait_for_load_state("networkidle")
    assert page.locator(".alert-success").count() == 1

    db.session.expire_all()
    complaint = db.session.query(Complaint).filter_by(customer_name="键盘客户").one()
    assert (complaint.outlet_id, complaint.engineer_id, complaint.channel) == (
        world.outlet_e.id, world.engineer_e.id, "phone")
    _clean(page)


# --- escalation desk -------------------------------------------------------------------------------

def test_deciding_escalations_from_the_keyboard(world, page):
    load_default_calendar(years=[clock.today().year])
    db.session.commit()
    agent = factories.user("agent_e")
    first, second = new_complaint(world, severity="urgent"), new_complaint(world)
    e1 = complaint_services.escalate(first.id, "severity", "repair", None, "需要高级工程师", agent)
    e2 = complaint_services.escalate(second.id, "compensation", "compensation", "300", "客户要求补偿", agent)

    login(page, "manager_e")
    _ready(page, "/desk/")
    assert_labelled(page, "#escalation-desk")
    stops = tab_to(page, f"#approve-comment-{e1.id}")
    page.keyboard.type("同意派高级工程师")
    stops += tab_to(page, "button:批准")
    assert page.evaluate("document.activeElement.closest('form').action").endswith(f"/{e1.id}/approve")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    # the confirmation page: its button approves
    page.wait_for_selector("#confirm-approval")
    page.add_style_tag(content=NO_MOTION)
    page.evaluate(SNAPSHOT, [FOCUSABLE, LOOK])
    tab_to(page, "#confirm-approval-submit")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    page.wait_for_selector(f"#escalation-{e2.id}")
    assert page.locator(f"#escalation-{e1.id}").count() == 0

    # rejecting without a reason: the browser keeps the form and puts the focus on the reason
    page.add_style_tag(content=NO_MOTION)
    page.evaluate(SNAPSHOT, [FOCUSABLE, LOOK])
    tab_to(page, "button:驳回")
    page.keyboard.press("Enter")
    assert _active(page)["name"] == f"#reject-comment-{e2.id}"
    assert page.locator(f"#escalation-{e2.id}").count() == 1
    page.keyboard.type("补偿理由不足，请再与客户沟通")
    page.keyboard.press("Tab")
    assert _active(page)["name"].startswith("button:驳回")
    shot(page, "keyboard-desk")
    page.keyboard.press("Enter")
    page.wait_for_selector("#desk-empty")

    db.session.expire_all()
    assert db.session.get(Escalation, e1.id).status == "approved"
    assert db.session.get(Escalation, e1.id).comment == "同意派高级工程师"
    rejected = db.session.get(Escalation, e2.id)
    assert (rejected.status, rejected.comment) == ("rejected", "补偿理由不足，请再与客户沟通")
    _clean(page)


# --- audit workbench -------------------------------------------------------------------------------

def test_an_audit_from_the_keyboard(page):
    east = factories.region("E", "华东区", users=["manager_e"])
    outlet = qualifying_outlet(east, code="SH778", name="上海静安网点",
                               next_audit_due_on=clock.today() + timedelta(days=20))
    db.session.commit()

    login(page, "auditor")
    _ready(page, "/workbench/")
    assert_labelled(page, "#open-audit")
    tab_to(page, "#open-outlet")
    pick_with_select2(page, "SH778", "SH778")
    page.keyboard.press("Tab")
    assert _active(page)["name"] == "#open-kind"
    choose_with_arrows(page, "open-kind", "annual")
    stops = tab_to(page, "button:发起审核")  # (a date field takes one Tab per part of the date)
    assert stops[0] == "#open-due"
    page.keyboard.press("Enter")
    page.wait_for_selector("#audit-page")
    audit = db.session.query(QualificationAudit).one()
    assert (audit.outlet_id, audit.kind) == (outlet.id, "annual")

    page.add_style_tag(content=NO_MOTION)
    page.evaluate(SNAPSHOT, [FOCUSABLE, LOOK])
    assert_labelled(page, "#answers-form")
    assert_labelled(page, "#upload-form")
    assert_labelled(page, "#submit-form")
    # radio groups: Tab enters a group, Space checks, the arrows move the choice
    for code, moves, note in (("fixed_premises", 0, "现场核实：门店正常营业"), ("signage", 0, ""),
                              ("tools", 1, "检漏仪缺失，限期补齐")):
        tab_to(page, f"#answer-{code}-yes")
        page.keyboard.press("Space")
        for _ in range(moves):
            page.keyboard.press("ArrowRight")
        page.keyboard.press("Tab")
        assert _active(page)["name"] == f"#note-{code}"
        page.keyboard.type(note)
    tab_to(page, "#save-answers")
    page.keyboard.press("Enter")
    page.wait_for_selector('.onsite-item[data-code="tools"][data-answer="no"]')

    page.add_style_tag(content=NO_MOTION)
    page.evaluate(SNAPSHOT, [FOCUSABLE, LOOK])
    stops = tab_to(page, "#outcome")
    assert "#upload-file" in stops and "#upload-button" in stops  # the evidence upload is on the way
    choose_with_arrows(page, "outcome", "conditional")
    page.keyboard.press("Tab")
    assert _active(page)["name"] == "#rectification_days"
    page.keyboard.press("Control+A")
    page.keyboard.type("20")
    page.keyboard.press("Tab")
    page.keyboard.type("工具不全，20天内整改")
    page.keyboard.press("Tab")
    assert _active(page)["name"] == "#submit-button"
    shot(page, "keyboard-audit")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.locator(".alert-danger").count() == 0, page.locator(".alert-danger").all_inner_texts()
    page.wait_for_selector("#proposed-outcome")

    db.session.expire_all()
    audit = db.session.get(QualificationAudit, audit.id)
    assert (audit.status, audit.outcome, audit.rectification_days) == ("submitted", "conditional", 20)
    answers = {i.code: i.answer for i in audit.items if i.code in ("fixed_premises", "signage", "tools")}
    assert answers == {"fixed_premises": "yes", "signage": "yes", "tools": "no"}
    _clean(page)


# --- Excel import ----------------------------------------------------------------------------------

def test_an_import_from_the_keyboard(app, page, tmp_path, monkeypatch):
    east = factories.region("E", "华东区")
    factories.outlet(east, code="SH001", name="上海浦东网点")
    db.session.commit()
    queue_name = f"browser-kb-import-{uuid.uuid4().hex[:8]}"
    monkeypatch.setitem(app.config, "RQ_QUEUE", queue_name)
    workbook = _file(tmp_path, "工程师-键盘.xlsx",
                     [["E4001", "键盘工", "13900004444", "", "SH001", date(2025, 3, 1), "trainee"]])

    login(page, "hq")
    _ready(page, "/import/")
    assert_labelled(page, "#import-form")
    tab_to(page, "#import-entity")
    choose_with_arrows(page, "import-entity", "engineer")
    page.keyboard.press("Tab")
    assert _active(page)["name"] == "#import-file"  # the file input is a Tab stop, with a visible focus
    with page.expect_file_chooser() as chooser:
        page.keyboard.press("Space")
    chooser.value.set_files(workbook)
    page.keyboard.press("Tab")
    assert _active(page)["name"] == "#import-submit"
    shot(page, "keyboard-import")
    page.keyboard.press("Enter")
    page.wait_for_selector("#import-job")

    burst(app, queue_name)  # the check
    page.wait_for_selector("#confirm-import", timeout=30000)  # the page follows the job
    page.add_style_tag(content=NO_MOTION)
    page.evaluate(SNAPSHOT, [FOCUSABLE, LOOK])
    tab_to(page, "#confirm-import")
    page.keyboard.press("Enter")
    page.wait_for_selector("#import-job")
    burst(app, queue_name)  # the commit
    page.wait_for_selector("#done", timeout=30000)
    db.session.expire_all()
    assert db.session.query(Engineer).filter_by(employee_no="E4001").count() == 1
    _clean(page)
