"""The escalation desk in a real browser: a regional manager opens a complaint from its number,
approves one escalation through the confirmation page (with the keyboard), rejects another with a
comment, and sees the decisions on the complaint's timeline."""
from app.complaints import services
from app.complaints.models import Escalation
from app.core import clock
from app.core.people import display_name
from app.extensions import db
from seeds.reference import load_default_calendar
from tests import factories
from tests.browser.conftest import login, shot
from tests.test_complaints_lifecycle import new_complaint


def test_manager_decides_on_the_desk(world, page):
    load_default_calendar(years=[clock.today().year])
    db.session.commit()
    agent = factories.user("agent_e")
    first, second = new_complaint(world, severity="urgent"), new_complaint(world)
    e1 = services.escalate(first.id, "severity", "repair", None, "需要高级工程师", agent)
    e2 = services.escalate(second.id, "compensation", "compensation", "300", "客户要求补偿", agent)

    login(page, "manager_e")
    page.goto(page.base + "/desk/")
    page.wait_for_selector(f"#escalation-{e1.id}")
    assert page.locator(".desk-item").count() == 2
    number = page.locator(f"#escalation-{e1.id} a.complaint-link")
    assert number.inner_text() == first.number
    assert number.get_attribute("href") == f"/complaintview/show/{first.id}"
    assert page.locator(f"#escalation-{e1.id} .requested-by").inner_text() == display_name(agent)
    shot(page, "escalation-desk")
    # the number opens the complaint's page
    with page.expect_navigation():
        page.click(f"#escalation-{e2.id} a.complaint-link")
    assert page.url == page.base + f"/complaintview/show/{second.id}"
    page.wait_for_selector("#complaint-timeline")
    page.goto(page.base + "/desk/")
    countdown = page.locator(f"#escalation-{e1.id} .sla-countdown").inner_text()
    page.wait_for_timeout(1200)
    assert page.locator(f"#escalation-{e1.id} .sla-countdown").inner_text() != countdown  # live

    # Approve… only opens the confirmation page, which keeps the comment
    page.fill(f"#approve-comment-{e1.id}", "同意派高级工程师")
    page.click(f"#escalation-{e1.id} .decide-approve button")
    page.wait_for_selector("#confirm-approval")
    assert page.input_value("#confirm-comment") == "同意派高级工程师"
    assert first.number in page.locator("#confirm-approval h2").inner_text()
    db.session.expire_all()
    assert db.session.get(Escalation, e1.id).status == "pending"
    shot(page, "escalation-desk-confirm")
    # Cancel goes back to the desk, nothing decided
    page.click("#confirm-approval-cancel")
    page.wait_for_selector(f"#escalation-{e1.id}")
    # again, and confirm with the keyboard
    page.fill(f"#approve-comment-{e1.id}", "同意派高级工程师")
    page.focus(f"#approve-comment-{e1.id}")
    page.keyboard.press("Enter")
    page.wait_for_selector("#confirm-approval")
    page.focus("#confirm-approval-submit")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    page.wait_for_load_state("networkidle")
    assert page.locator(f"#escalation-{e1.id}").count() == 0

    # rejecting needs a comment: the browser refuses the empty field
    page.click(f"#escalation-{e2.id} .decide-reject button")
    assert page.locator(f"#escalation-{e2.id}").count() == 1
    page.fill(f"#reject-comment-{e2.id}", "补偿理由不足，请再与客户沟通")
    page.click(f"#escalation-{e2.id} .decide-reject button")
    page.wait_for_load_state("networkidle")
    assert page.locator(".desk-item").count() == 0
    shot(page, "desk-after")

    db.session.expire_all()
    assert db.session.get(Escalation, e1.id).status == "approved"
    rejected = db.session.get(Escalation, e2.id)
    assert rejected.status == "rejected" and rejected.comment == "补偿理由不足，请再与客户沟通"

    page.goto(page.base + f"/complaintview/show/{second.id}")
    events = page.locator("#complaint-timeline .timeline-event")
    kinds = [events.nth(i).get_attribute("data-kind") for i in range(events.count())]
    assert kinds == ["received", "escalated", "rejected"]
    assert "补偿理由不足" in page.locator("#complaint-timeline").inner_text()
    shot(page, "complaint-timeline")
    assert page.failed_responses == []
    assert page.console_errors == []
    assert page.outside_requests == []
