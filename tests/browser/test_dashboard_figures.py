"""The dashboard's figures in a real browser: each tile carries its written definition as its
tooltip, the period selector redraws the status and severity charts, the trend's current week is
drawn apart (dashed, labelled as partial), the first response reads in minutes, and an HQ admin is
warned of an unconfirmed holiday calendar with a link to the calendar page."""
from datetime import date, timedelta

from app.core import clock
from app.core.models import BusinessCalendar, CalendarDay
from app.extensions import db
from tests.browser.conftest import login, shot
from tests.browser.test_dashboard import _complaint, _no_trouble


def _data(world):
    received = clock.now() - timedelta(hours=1)
    _complaint(world.outlet_e, "TS-F-1", first_response_at=received + timedelta(minutes=6))
    _complaint(world.outlet_e, "TS-F-2", "responded", "urgent", first_response_at=received + timedelta(minutes=14))
    _complaint(world.outlet_e, "TS-F-3", "closed", "major", days_ago=45)  # in 90 days, not in 30
    db.session.commit()


def _unconfirmed_next_year():
    year = clock.today().year
    cal = db.session.query(BusinessCalendar).filter(BusinessCalendar.region_id.is_(None)).first()
    if cal is None:
        cal = BusinessCalendar(name="中国大陆")
        db.session.add(cal)
        db.session.flush()
    db.session.query(CalendarDay).filter(CalendarDay.calendar_id == cal.id,
                                         CalendarDay.day >= date(year, 1, 1)).delete()
    db.session.add(CalendarDay(calendar=cal, day=date(year, 10, 1), kind="holiday", name="国庆节"))
    db.session.add(CalendarDay(calendar=cal, day=date(year + 1, 10, 1), kind="holiday", name="国庆节",
                               provisional=True))
    db.session.commit()
    return year + 1


def _option(page, chart):
    return page.evaluate(f"echarts.getInstanceByDom(document.getElementById('chart-{chart}')).getOption()")


def _ready(page):
    page.wait_for_selector("#dashboard")
    for name in ("complaints_by_status", "complaints_by_severity", "trend"):
        page.wait_for_selector(f'#chart-{name}[data-ready="1"] canvas')
    page.wait_for_function("document.querySelector('#kpi-mean_response_minutes .kpi-value').textContent !== '…'")
    page.wait_for_load_state("networkidle")


def test_tooltips_period_partial_week_and_minutes(world, page):
    _data(world)
    year = _unconfirmed_next_year()
    login(page, "hq")
    page.goto(page.base + "/")
    _ready(page)

    # every tile's tooltip is its written definition, as listed at the bottom of the page (links
    # get Bootstrap's tooltip from the theme, which keeps the text in data-original-title)
    for card in page.locator(".kpi-card, .attention-card").all():
        key = card.get_attribute("id").split("-", 1)[1]
        definition = page.locator(f"#definition-{key}").text_content().strip()
        title = card.get_attribute("title") or card.get_attribute("data-original-title")
        assert definition and title == definition, key
    page.locator("#attention-audits_due").hover()
    page.wait_for_selector(".tooltip-inner")
    assert page.locator(".tooltip-inner").first.inner_text().strip() == page.locator(
        "#definition-audits_due").text_content().strip()

    # first response in minutes: (6 + 14) / 2
    assert page.locator("#kpi-mean_response_minutes .kpi-value").inner_text().strip() == "10.0"

    # the current week: its own dashed series, its label, the note beside the title
    option = _option(page, "trend")
    labels = option["xAxis"][0]["data"]
    partial = page.evaluate("fetch('/api/v1/dashboard/trend').then(r => r.json())")
    assert labels[-1] == partial["partial_label"]
    dashed = [s for s in option["series"] if s["lineStyle"].get("type") == "dashed"]
    solid = [s for s in option["series"] if s["lineStyle"].get("type") != "dashed"]
    assert len(dashed) == len(solid) == 2
    assert all(s["data"][-1] is None for s in solid)
    assert all(v is None for s in dashed for v in s["data"][:-2])
    shown = page.evaluate(
        """() => {
            const c = echarts.getInstanceByDom(document.getElementById('chart-trend'));
            const axis = c.getModel().getComponent('xAxis', 0).axis;
            return axis.getViewLabels().map(l => l.tickValue);
        }""")
    assert shown[-1] == len(labels) - 1  # the partial week's label is never hidden
    assert page.locator("#trend-partial").is_visible()
    assert page.locator("#trend-partial").inner_text().strip() == partial["partial_note"]

    # the period selector redraws the status chart: the complaint of 45 days ago leaves it
    status = _option(page, "complaints_by_status")["series"][0]["data"]
    assert status == [1, 1, 0, 0, 1]
    page.select_option("#dashboard-days", "30")
    for _ in range(50):  # the page's CSP forbids wait_for_function's eval: poll
        if _option(page, "complaints_by_status")["series"][0]["data"][4] == 0:
            break
        page.wait_for_timeout(100)
    assert _option(page, "complaints_by_status")["series"][0]["data"] == [1, 1, 0, 0, 0]
    assert _option(page, "complaints_by_severity")["series"][0]["data"] == [1, 0, 1]
    shot(page, "dashboard-figures-hq")

    # the unconfirmed calendar: one warning naming the year, linking to the calendar page
    notice = page.locator(".dashboard-calendar-notice")
    assert notice.count() == 1 and str(year) in notice.inner_text()
    with page.expect_navigation():
        notice.locator("a").click()
    assert "/calendardayview/list/" in page.url
    _no_trouble(page)


def test_managers_see_no_calendar_warning(world, page):
    _data(world)
    _unconfirmed_next_year()
    login(page, "manager_e")
    page.goto(page.base + "/")
    _ready(page)
    assert page.locator(".dashboard-calendar-notice").count() == 0
    _no_trouble(page)
