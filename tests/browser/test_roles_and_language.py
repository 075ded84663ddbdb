"""Every role signs in and finds its way in a real browser; the language switch; the forms at a
desk (keyboard, labels) and on a tablet (nothing spills over the screen's width)."""
import pytest

from app.extensions import db
from tests.browser.conftest import login, logout, shot, switch_language

# role → pages it works with every day (all must render for it)
DAILY = {
    "hq": ["/outletview/list/", "/engineerview/list/", "/workbench/", "/workbench/approvals/", "/settingview/list/"],
    "manager_e": ["/desk/", "/outletview/list/", "/complaintview/list/", "/qualificationauditview/list/"],
    "agent_e": ["/complaintview/list/", "/serviceorderview/list/", "/complaintview/add"],
    "auditor": ["/auditeventview/list/", "/workbench/", "/certificationview/list/"],
    "admin": ["/users/list/", "/roles/list/", "/outletview/list/"],
}


def _clean(page):
    assert page.failed_responses == [], page.failed_responses
    assert page.console_errors == [], page.console_errors
    assert page.outside_requests == [], page.outside_requests


@pytest.mark.parametrize("role", list(DAILY))
def test_each_role_signs_in_and_opens_its_daily_pages(role, world, page):
    login(page, role)
    assert "/login" not in page.url
    nav = page.locator(".navbar").inner_text()
    assert "服务网络" in nav and "Service network" not in nav  # Chinese by default
    for path in DAILY[role]:
        response = page.goto(page.base + path)
        assert response.status == 200, (role, path, response.status)
        assert page.locator(".alert-danger").count() == 0, (role, path, page.locator(".alert-danger").inner_text())
    shot(page, f"role-{role}")
    _clean(page)


def test_the_language_switch(world, page):
    login(page, "hq")
    page.goto(page.base + "/outletview/list/")
    assert "服务网点" in page.content()
    switch_language(page, "en")
    page.goto(page.base + "/outletview/list/")
    assert "Service outlets" in page.content() and "服务网点列表" not in page.content()
    shot(page, "language-en")
    switch_language(page, "zh")
    page.goto(page.base + "/outletview/list/")
    assert "Service outlets" not in page.content()
    _clean(page)


def test_a_form_from_the_keyboard_with_a_label_on_every_field(world, page):
    login(page, "hq")
    page.goto(page.base + "/regionview/add")
    fields = page.locator("form input:not([type=hidden]):not([type=submit]), form select, form textarea")
    for i in range(fields.count()):
        field = fields.nth(i)
        fid = field.get_attribute("id")
        if not field.is_visible() or not fid:
            continue
        assert page.locator(f'label[for="{fid}"]').count() == 1, f"no label for #{fid}"
    page.focus("#code")
    page.keyboard.type("KB")
    page.keyboard.press("Tab")
    page.keyboard.type("键盘区")
    page.keyboard.press("Enter")
    page.wait_for_load_state("networkidle")
    from app.network.models import Region

    db.session.expire_all()
    assert db.session.query(Region).filter_by(code="KB", name="键盘区").count() == 1
    _clean(page)


@pytest.mark.parametrize("width,height", [(1280, 800), (768, 1024)])
def test_nothing_spills_over_at_desk_and_tablet_width(width, height, world, browser, live_server):
    context = browser.new_context(viewport={"width": width, "height": height}, locale="zh-CN")
    page = context.new_page()
    page.base = live_server
    try:
        login(page, "hq")
        for path in ("/outletview/list/", "/outletview/add", f"/outletview/show/{world.outlet_e.id}",
                     "/workbench/", "/complaintview/list/"):
            page.goto(page.base + path)
            overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
            assert overflow <= 0, (path, width, overflow)
        shot(page, f"outlet-list-{width}")
    finally:
        context.close()
