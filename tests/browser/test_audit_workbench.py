"""The audit workbench and the approval screen in a real browser: an auditor picks an outlet,
reads the drill-down, answers the on-site items, uploads photos before saving (the answers stay),
removes one (after confirming) and submits a conditional outcome; an HQ admin approves it on the
approval screen, which puts the outlet on probation with a follow-up audit."""
from datetime import timedelta

from app.core import clock
from app.extensions import db
from app.network.models import Outlet
from app.qualification.models import QualificationAudit, QualificationEvidenceFile
from tests import factories
from tests.browser.conftest import login, logout, shot
from tests.qualification_support import PNG, qualifying_outlet


def _no_trouble(page):
    assert page.failed_responses == []
    assert page.console_errors == []
    assert page.outside_requests == []


def test_audit_from_workbench_to_approval(page, tmp_path):
    east = factories.region("E", "华东区", users=["manager_e"])
    outlet = qualifying_outlet(east, code="SH777", name="上海徐汇网点",
                               next_audit_due_on=clock.today() + timedelta(days=20))
    factories.engineer(outlet, status="suspended", employee_no="S777", name="停岗工程师")
    db.session.commit()

    login(page, "auditor")
    page.goto(page.base + "/workbench/")
    page.wait_for_selector("#open-audit")
    assert page.locator(f'.due-outlet[data-outlet="{outlet.id}"]').count() == 1
    # pick the outlet by typing part of its code (AJAX search)
    page.click("#open-audit .select2-container")
    page.fill(".select2-search__field", "SH777")
    page.wait_for_selector(".select2-results__option:has-text('SH777')")
    page.click(".select2-results__option:has-text('SH777')")
    page.select_option("#open-kind", "annual")
    shot(page, "workbench-open")
    page.click("#open-audit button[type=submit]")
    page.wait_for_selector("#audit-page")
    audit = db.session.query(QualificationAudit).one()
    assert page.locator("#audit-status").inner_text() == "草稿"

    # the drill-down says who counts and why not
    assert page.locator('.checklist-item[data-code="certified_engineers"]').get_attribute("data-met") == "yes"
    page.click("#drill-engineers summary")
    row = page.locator('.drill-engineer[data-employee="S777"]')
    assert row.is_visible() and row.get_attribute("data-counts") == "no"
    assert "不在岗" in row.inner_text() or "Not on duty" in row.inner_text()

    # nothing proposed before the on-site check
    assert page.locator("#audit-verdict").get_attribute("data-verdict") == "awaiting_onsite"
    assert page.input_value("#outcome") == ""

    # on-site answers typed, then photos uploaded before saving: the answers are kept (saved first)
    page.check("#answer-fixed_premises-yes")
    page.check("#answer-signage-yes")
    page.check("#answer-tools-no")
    page.fill("#note-tools", "检漏仪缺失，限期补齐")
    page.fill("#submit-comment", "工具不全，20天内整改")
    for name in ("门头照片.png", "多余照片.png"):
        (tmp_path / name).write_bytes(PNG)
        page.select_option("#upload-item", "fixed_premises")
        page.set_input_files("#upload-file", str(tmp_path / name))
        page.click("#upload-button")
        page.wait_for_selector(f".evidence-file:has-text('{name}')")
    assert page.is_checked("#answer-fixed_premises-yes") and page.is_checked("#answer-tools-no")
    assert page.input_value("#note-tools") == "检漏仪缺失，限期补齐"
    assert page.input_value("#submit-comment") == "工具不全，20天内整改"
    assert page.locator('.onsite-item[data-code="tools"]').get_attribute("data-answer") == "no"
    assert page.locator("#audit-verdict").get_attribute("data-verdict") == "qualifies"  # tools: not required
    assert page.input_value("#outcome") == "pass"
    shot(page, "audit-workbench")

    # removing a photo asks first; nothing is removed before the confirmation
    extra = page.locator(".evidence-file", has_text="多余照片.png")
    extra.locator(".evidence-remove").click()
    page.wait_for_selector("#confirm-action")
    assert db.session.query(QualificationEvidenceFile).count() == 2
    page.click("#confirm-action-submit")
    page.wait_for_selector("#audit-page")
    assert page.locator(".evidence-file").count() == 1
    assert "门头照片.png" in page.locator('.onsite-item[data-code="fixed_premises"]').inner_text()
    assert page.input_value("#submit-comment") == "工具不全，20天内整改"
    assert page.locator('.onsite-item[data-code="tools"]').get_attribute("data-answer") == "no"
    page.select_option("#outcome", "conditional")
    page.fill("#rectification_days", "20")
    shot(page, "workbench-audit")
    page.click("#submit-button")
    page.wait_for_selector("#proposed-outcome")
    assert page.locator("#audit-page").get_attribute("data-status") == "submitted"
    _no_trouble(page)

    logout(page)
    login(page, "hq")
    page.goto(page.base + "/workbench/approvals/")
    page.click(f'.approval-row[data-audit="{audit.id}"] a')
    page.wait_for_selector("#decision-panel")
    # the evidence photo opens for the approver
    with page.expect_popup() as popup:
        page.click(".evidence-file a")
    evidence = db.session.query(QualificationEvidenceFile).one()
    assert popup.value.url.endswith(f"/workbench/{audit.id}/evidence/{evidence.id}")
    popup.value.close()
    shot(page, "approval-screen")
    page.fill("#approve-comment", "同意限期整改")
    page.click("#approve-button")
    page.wait_for_selector("#decision-note")
    assert page.locator("#audit-page").get_attribute("data-status") == "approved"
    shot(page, "approval-done")
    _no_trouble(page)

    db.session.expire_all()
    o = db.session.get(Outlet, outlet.id)
    assert o.status == "probation" and o.next_audit_due_on == clock.today() + timedelta(days=20)
    follow_up = db.session.query(QualificationAudit).filter_by(parent_id=audit.id).one()
    assert (follow_up.kind, follow_up.status) == ("special", "draft")
