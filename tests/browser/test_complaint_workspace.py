"""The complaint page as the agent's workspace, in a real browser: an agent records a call taken
20 minutes earlier on the add page, then takes it through respond, pause, resume, resolve and close
on its page; on a second complaint the agent requests an escalation. Everything by clicking."""
from datetime import timedelta

from app.complaints.models import Complaint, Escalation
from app.core import clock
from app.extensions import db
from seeds.reference import load_default_calendar
from tests.browser.conftest import login, shot


def _record(page, customer, received=None):
    """Fill the add form (from the list) and save; back on the list."""
    page.goto(page.base + "/complaintview/list/")
    page.goto(page.base + "/complaintview/add")
    page.fill("#customer_name", customer)
    page.fill("#customer_phone", "13800002222")
    if received is not None:
        page.fill("#received_at", clock.to_local(received).strftime("%Y-%m-%dT%H:%M"))
    page.click("#outlet + .select2-container")
    page.fill(".select2-container--open .select2-search__field", "SH00")
    page.click(".select2-results__option:has-text('SH001')")
    page.fill("#description", "空调外机噪音大，夜间无法入睡")
    with page.expect_navigation():
        page.click("#model_form button[type=submit]")
    page.wait_for_load_state("networkidle")
    db.session.expire_all()
    complaint = db.session.query(Complaint).filter_by(customer_name=customer).one()
    with page.expect_navigation():
        page.locator(f"a[href^='/complaintview/show/{complaint.id}']").first.click()
    page.wait_for_selector("#complaint-state")
    return complaint


def _act(page, form_id):
    with page.expect_navigation():
        page.click(f"#{form_id} button[type=submit]")
    page.wait_for_load_state("networkidle")
    assert page.locator(".alert-success").count() == 1, page.locator(".alert").all_inner_texts()


def _status(page):
    return page.locator("#complaint-state").get_attribute("data-status")


def test_agent_works_a_complaint_on_its_page(world, page):
    load_default_calendar(years=[clock.today().year])
    db.session.commit()
    login(page, "agent_e")

    taken = clock.now() - timedelta(minutes=20)
    c = _record(page, "周女士", received=taken)
    assert abs(c.received_at - taken) < timedelta(minutes=1)
    assert c.response_due_at == c.received_at + timedelta(minutes=10)
    # ten minutes to respond from a call taken twenty minutes ago: overdue already
    assert page.locator('.sla-row[data-clock="response"]').get_attribute("data-state") == "overdue"

    page.fill("#respond-note", "已致电客户致歉，约定明早上门检查")
    _act(page, "action-respond")
    assert _status(page) == "responded"
    assert page.locator('.sla-row[data-clock="response"]').get_attribute("data-state") == "late"
    kinds = page.locator("#complaint-timeline .timeline-event").evaluate_all("els => els.map(e => e.dataset.kind)")
    assert kinds[:2] == ["received", "responded"] and "breached" in kinds
    shot(page, "agent-complaint-page")

    page.fill("#pause-reason", "等待客户提供购买发票")
    _act(page, "action-pause")
    assert page.locator("#complaint-paused").is_visible()
    assert page.locator('.sla-row[data-clock="resolution"]').get_attribute("data-state") == "stopped"
    _act(page, "action-resume")
    assert page.locator("#complaint-paused").count() == 0
    page.fill("#resolve-resolution", "更换风扇电机，试机噪音正常")
    _act(page, "action-resolve")
    assert _status(page) == "resolved"
    page.check("#close-satisfied-yes")
    _act(page, "action-close")
    assert _status(page) == "closed" and page.locator("#complaint-actions").count() == 0
    db.session.expire_all()
    c = db.session.get(Complaint, c.id)
    assert (c.status, c.customer_satisfied, c.resolution) == ("closed", True, "更换风扇电机，试机噪音正常")

    second = _record(page, "吴先生")
    page.click("#escalate-details summary")
    page.select_option("#escalate-reason", "compensation")
    page.select_option("#escalate-remedy", "compensation")
    page.fill("#escalate-amount", "500")
    page.fill("#escalate-comment", "客户要求赔偿误工费")
    _act(page, "action-escalate")
    assert page.locator(".pending-escalation").count() == 1
    assert page.locator('.action-held[data-action="escalate"]').is_visible()
    esc = db.session.query(Escalation).filter_by(complaint_id=second.id).one()
    assert (esc.status, esc.reason, str(esc.compensation_amount)) == ("pending", "compensation", "500.00")

    assert page.failed_responses == []
    assert page.console_errors == []
    assert page.outside_requests == []
