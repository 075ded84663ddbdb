"""The audit trail in a real browser, as an auditor reads it: a complaint's events found by its
number, each naming the complaint by number (linked), people by name and times in local time; then
one event's page."""
import re

from sqlalchemy import func

from app.audit_trail.models import AuditEvent
from app.core import clock
from app.core.people import display_name
from app.extensions import db
from tests import factories
from tests.browser.conftest import login, shot
from tests.test_complaints_lifecycle import local, new_complaint

DEVELOPER_WORDS = re.compile(r"can_\w+|\w+View\b|\bGET\b|\bsystem\b|next_check_at|\d{4}-\d{2}-\d{2}T\d{2}")


def test_auditor_reads_the_trail_and_one_event(world, page, api):
    start = db.session.query(func.coalesce(func.max(AuditEvent.id), 0)).scalar()
    with clock.freeze(local(2026, 3, 10, 10, 0)):
        complaint = new_complaint(world)
    with clock.freeze(local(2026, 3, 10, 10, 5)):
        assert api("agent_e").post(f"/api/v1/complaint/{complaint.id}/respond",
                                   json={"note": "已电话联系客户"}).status_code == 200
    responded = db.session.query(AuditEvent).filter(AuditEvent.id > start).filter_by(
        entity="complaint", record_id=str(complaint.id), action="update").one()
    agent = factories.user("agent_e")

    login(page, "auditor")
    page.goto(page.base + f"/auditeventview/list/?_flt_0_record_number={complaint.number}")
    table = page.locator(".app-list table")
    table.wait_for()
    text = table.inner_text()
    assert display_name(agent) in text and "2026年3月10日 10:05" in text
    assert not DEVELOPER_WORDS.search(text), DEVELOPER_WORDS.search(text)
    links = table.locator(f'a[href="/complaintview/show/{complaint.id}"]')
    assert links.count() >= 3 and links.first.inner_text() == complaint.number
    shot(page, "auditor-trail")

    with page.expect_navigation():
        page.click(f'a[href="/auditeventview/show/{responded.id}"]')
    changes = page.locator(".audit-event-changes")
    after = changes.locator('tr[data-field="first_response_at"] .change-after')
    assert after.inner_text() == "2026年3月10日 10:05"
    assert not DEVELOPER_WORDS.search(changes.inner_text())
    record = page.locator(f'a[href="/complaintview/show/{complaint.id}"]').first
    assert record.inner_text() == complaint.number
    shot(page, "auditor-trail-event")
    assert page.failed_responses == [] and page.console_errors == [] and page.outside_requests == []
