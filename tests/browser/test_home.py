"""Each role lands on its own work: the home page of an agent, a regional manager, an HQ admin, an
auditor and the system administrator, each with its own "today" panels above the charts (rows
linking to where the work is done), screenshots saved as home-<role>.png."""
from tests.browser.conftest import login, logout, shot
from tests.browser.test_dashboard import _no_trouble
from tests.test_home_panels import home  # noqa: F401 - the shared data: something in every panel

ROLES = [
    # (screenshot name, username, the panels it must show, a panel it must not)
    ("agent", "agent_e", ["my_complaints", "my_warnings"], "escalations_waiting"),
    ("manager", "manager_e", ["escalations_waiting", "breaches_today"], "my_complaints"),
    ("hq", "hq", ["audits_to_approve", "level2_escalations", "flagged_outlets", "holiday_calendar"],
     "my_audits"),
    ("auditor", "auditor", ["my_audits", "trail_verification"], "audits_to_approve"),
    ("admin", "admin", ["locked_accounts", "users_without_region"], "my_complaints"),
]


def test_each_role_lands_on_its_own_work(home, page):  # noqa: F811
    for role, username, shown, hidden in ROLES:
        login(page, username)
        page.goto(page.base + "/")
        page.wait_for_selector("#today")
        page.wait_for_selector('#chart-regions[data-ready="1"] canvas')
        page.wait_for_load_state("networkidle")
        for key in shown:
            assert page.locator(f"#today-{key}").is_visible(), (role, key)
        assert page.locator(f"#today-{hidden}").count() == 0, (role, hidden)
        # the today section comes before the charts
        assert page.evaluate("document.querySelector('#today').compareDocumentPosition("
                             "document.querySelector('#dashboard-kpis')) & Node.DOCUMENT_POSITION_FOLLOWING")
        if role == "agent":
            rows = page.locator("#today-my_complaints .today-row a")
            assert rows.count() == 3 and rows.first.inner_text().strip() == "TS-H-A2"
        if role == "manager":
            # one bar per outlet of the manager's only region
            labels = page.evaluate("echarts.getInstanceByDom(document.getElementById('chart-regions'))"
                                   ".getOption().xAxis[0].data")
            assert "上海浦东网点" in labels and "华东区" not in labels
            assert page.locator("#today-breaches_today .today-row").count() == 3
        if role == "hq":
            assert page.locator("#today-holiday_calendar .dashboard-calendar-notice").count() >= 1
        if role == "auditor":  # verifying the trail from the panel: the home page then shows the result
            with page.expect_navigation():
                page.locator("#today-verify-now").click()
            page.goto(page.base + "/")
            page.wait_for_selector('#chart-regions[data-ready="1"] canvas')
            page.wait_for_load_state("networkidle")
            assert page.locator('#today-trail_verification .today-verification[data-ok="1"]').is_visible()
        shot(page, f"home-{role}")
        if role == "agent":  # a row opens the complaint's page
            with page.expect_navigation():
                page.locator("#today-my_complaints .today-row a").first.click()
            assert "/complaintview/show/" in page.url
        _no_trouble(page)
        logout(page)
