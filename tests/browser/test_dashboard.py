"""The dashboard (home page) in a real browser: every chart drawn with the locally served ECharts,
no console error, no failed response, nothing fetched from outside the machine; a click on a bar
opens the matching filtered list; the layout follows a tablet-sized window."""
from datetime import timedelta

from app.complaints.models import Complaint
from app.core import clock
from app.extensions import db
from tests import factories
from tests.browser.conftest import login, shot

CHARTS = ["complaints_by_status", "complaints_by_severity", "outlets_by_status", "regions", "trend"]


def _no_trouble(page):
    assert page.failed_responses == []
    assert page.console_errors == []
    assert page.outside_requests == []


def _complaint(outlet, number, status="new", severity="general", days_ago=0, **kw):
    c = Complaint(number=number, customer_name="王先生", customer_phone="13912345678", outlet=outlet,
                  severity=severity, description="空调不制冷", status=status,
                  received_at=clock.now() - timedelta(days=days_ago, hours=1), **kw)
    db.session.add(c)
    return c


def _data(world):
    now = clock.now()
    _complaint(world.outlet_e, "TS-B-1", response_breached=True)
    _complaint(world.outlet_e, "TS-B-2", days_ago=3)
    _complaint(world.outlet_e, "TS-B-3", "closed", "urgent", days_ago=9,
               first_response_at=now - timedelta(days=9), resolved_at=now - timedelta(days=8), customer_satisfied=True)
    _complaint(world.outlet_w, "TS-B-4", "in_progress", "major", days_ago=15, resolution_breached=True)
    factories.outlet(world.east, code="SH009", status="probation")
    factories.service_order(world.outlet_e, status="completed", created_at=now - timedelta(days=5, hours=3),
                            completed_at=now - timedelta(days=5), satisfaction=5)
    db.session.commit()


def _wait_for_charts(page):
    page.wait_for_selector("#dashboard")
    for name in CHARTS:
        page.wait_for_selector(f'#chart-{name}[data-ready="1"] canvas')
    page.wait_for_function("document.querySelector('#kpi-breach_rate .kpi-value').textContent !== '…'")
    page.wait_for_load_state("networkidle")


def _bar_point(page, chart, index, value):
    """Viewport coordinates of the middle of bar ``index`` (half its height), scrolled into view."""
    page.locator(f"#chart-{chart}").scroll_into_view_if_needed()
    return page.evaluate(
        """([id, index, value]) => {
            const el = document.getElementById(id);
            const c = echarts.getInstanceByDom(el);
            const top = c.convertToPixel({seriesIndex: 0}, [index, value]);
            const bottom = c.convertToPixel({seriesIndex: 0}, [index, 0]);
            const box = el.getBoundingClientRect();
            return [box.left + top[0], box.top + (top[1] + bottom[1]) / 2];
        }""", [f"chart-{chart}", index, value])


def test_hq_dashboard_renders_and_a_bar_opens_the_list(world, page):
    _data(world)
    login(page, "hq")
    page.goto(page.base + "/")
    _wait_for_charts(page)
    for name in CHARTS:
        assert page.locator(f"#chart-{name} canvas").count() >= 1, name
    assert page.locator("#kpi-breach_rate .kpi-value").inner_text().strip() == "50.0%"
    assert page.locator("#attention-low_stock_outlets .kpi-value").inner_text().strip() == "0"
    labels = page.evaluate("echarts.getInstanceByDom(document.getElementById('chart-regions'))"
                           ".getOption().xAxis[0].data")
    assert labels == ["华东区", "华西区"]
    shot(page, "dashboard-hq-1280")

    page.set_viewport_size({"width": 768, "height": 1024})
    page.wait_for_timeout(400)
    width = page.evaluate("echarts.getInstanceByDom(document.getElementById('chart-trend')).getWidth()")
    assert width <= 768
    shot(page, "dashboard-hq-768")
    page.set_viewport_size({"width": 1280, "height": 800})
    page.wait_for_timeout(300)

    # the "new" bar (first status) holds two complaints: a click opens the list of new complaints
    x, y = _bar_point(page, "complaints_by_status", 0, 2)
    page.mouse.move(x, y)
    with page.expect_navigation():
        page.mouse.click(x, y)
    page.wait_for_load_state("networkidle")
    assert "/complaintview/list/" in page.url and "_flt_0_status=new" in page.url
    body = page.content()
    assert "TS-B-1" in body and "TS-B-2" in body and "TS-B-3" not in body and "TS-B-4" not in body
    _no_trouble(page)


def test_manager_sees_their_region_only(world, page):
    _data(world)
    login(page, "manager_e")
    page.goto(page.base + "/")
    _wait_for_charts(page)
    # a single region: its outlets, one bar each (SH001, then SH009 on probation)
    labels = page.evaluate("echarts.getInstanceByDom(document.getElementById('chart-regions'))"
                           ".getOption().xAxis[0].data")
    assert labels == ["上海浦东网点", "测试网点"]
    values = page.evaluate("echarts.getInstanceByDom(document.getElementById('chart-complaints_by_status'))"
                           ".getOption().series[0].data")
    assert values == [2, 0, 0, 0, 1]  # TS-B-4 is in region W
    assert page.locator("#kpi-breach_rate .kpi-value").inner_text().strip() == "33.3%"
    shot(page, "dashboard-manager-1280")
    page.set_viewport_size({"width": 768, "height": 1024})
    page.wait_for_timeout(400)
    shot(page, "dashboard-manager-768")

    # the severity bars open the severity-filtered list within the region
    x, y = _bar_point(page, "complaints_by_severity", 0, 2)
    with page.expect_navigation():
        page.mouse.click(x, y)
    page.wait_for_load_state("networkidle")
    assert "_flt_0_severity=general" in page.url
    body = page.content()
    assert "TS-B-1" in body and "TS-B-2" in body and "TS-B-4" not in body
    _no_trouble(page)
