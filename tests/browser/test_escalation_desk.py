"""The escalation desk in a real browser: a regional manager approves one escalation, rejects
another with a comment, and sees the decisions on the complaint's timeline."""
from app.complaints import services
from app.complaints.models import Escalation
from app.core import clock
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
    countdown = page.locator(f"#escalation-{e1.id} .sla-countdown").inner_text()
    page.wait_for_timeout(1200)
    assert page.locator(f"#escalation-{e1.id} .sla-countdown").inner_text() != countdown  # live
    shot(page, "desk-before")

    page.fill(f"#approve-comment-{e1.id}", "同意派高级工程师")
    page.click(f"#escalation-{e1.id} .decide-approve button")
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
