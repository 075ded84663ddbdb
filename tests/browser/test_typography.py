"""Chinese in narrow table columns: a short value (a name, a status, a region, a kind, a date) never
breaks across lines — not "赵先/生", "已响/应", "华北/区", "年度复/核" — on the complaint list, the
outlet list and the audit workbench, in a 1280 px and a 1024 px wide window. Long text may wrap;
a table too wide for the window scrolls sideways in its frame."""
from datetime import timedelta

from app.complaints.models import Complaint
from app.core import clock
from app.extensions import db
from app.qualification.models import QualificationAudit
from tests import factories
from tests.browser.conftest import login, shot

# Cells whose text is one short Chinese value (no space, 1–6 Chinese characters, at most 12 in all)
# and how many lines each takes: the text's height over the cell's line height.
WRAPPED_SHORT_CELLS = """() => {
    const cjk = /[\\u3400-\\u9fff]/g;
    const found = [];
    for (const cell of document.querySelectorAll("table td, table th")) {
        const text = cell.innerText.trim();
        const chinese = (text.match(cjk) || []).length;
        if (!chinese || chinese > 6 || text.length > 12 || /\\s/.test(text)) continue;
        const walker = document.createTreeWalker(cell, NodeFilter.SHOW_TEXT);
        let top = Infinity, bottom = -Infinity, height = 0;
        for (let node = walker.nextNode(); node; node = walker.nextNode()) {
            if (!node.textContent.trim()) continue;
            const range = document.createRange();
            range.selectNodeContents(node);
            for (const r of range.getClientRects()) {
                if (!r.width) continue;
                top = Math.min(top, r.top); bottom = Math.max(bottom, r.bottom); height = Math.max(height, r.height);
            }
        }
        if (height && (bottom - top) > height * 1.5) found.push(text + " (" + Math.round(bottom - top) + "px)");
    }
    return found;
}"""


def _data():
    north = factories.region("N", "华北区", users=[])
    east = factories.region("E", "华东区", users=[])
    outlets = [factories.outlet(region, code=f"{region.code}{i:03d}", name=name)
               for i, (region, name) in enumerate([(north, "北京朝阳网点"), (north, "天津和平网点"),
                                                  (east, "上海浦东网点"), (east, "南京鼓楼网点")])]
    now = clock.now()
    for i, (status, customer) in enumerate([("new", "赵先生"), ("responded", "钱女士"), ("closed", "孙先生"),
                                            ("in_progress", "李女士"), ("responded", "周先生")]):
        db.session.add(Complaint(number=f"TS2026{i:06d}", customer_name=customer, customer_phone="13912345678",
                                 outlet=outlets[i % len(outlets)], severity="general", status=status,
                                 description="空调不制冷，师傅上门两次仍未修好，客户要求更换整机并赔偿误工费用",
                                 received_at=now - timedelta(hours=i + 1),
                                 resolution_due_at=now + timedelta(hours=24 - i)))
    for i, outlet in enumerate(outlets):
        db.session.add(QualificationAudit(number=f"QA2026{i:04d}", outlet=outlet, kind="annual", status="draft",
                                          due_on=clock.today() + timedelta(days=i), is_open=True,
                                          trigger_note="年度复核到期，网点上次审核发现的问题需现场复查，"
                                                       "并核对持证工程师与常用配件库存"))
    db.session.commit()


def test_short_chinese_values_stay_on_one_line(page):
    _data()
    login(page, "hq")
    wrapped = {}
    for width in (1280, 1024):
        page.set_viewport_size({"width": width, "height": 900})
        for name, path in (("complaint-list", "/complaintview/list/"), ("outlet-list", "/outletview/list/"),
                           ("workbench", "/workbench/")):
            page.goto(page.base + path)
            page.wait_for_load_state("networkidle")
            assert page.locator("table td").count() > 0, path
            found = page.evaluate(WRAPPED_SHORT_CELLS)
            if found:
                wrapped[f"{path} at {width} px"] = found
            if (name, width) == ("complaint-list", 1024):
                shot(page, "complaint-list-1024")
            # the page itself never scrolls sideways: a wide table scrolls in its own frame
            assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1"), f"{path} at {width}"
    assert wrapped == {}
    assert page.failed_responses == [] and page.console_errors == [] and page.outside_requests == []
