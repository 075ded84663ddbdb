"""The audit workbench and the approval screen as pages: an auditor opens an audit from the
workbench, reads the drill-down, answers, uploads a photo and submits; another user approves."""
import io
import re
from datetime import date

import pytest

from app.extensions import db
from app.network.models import Outlet
from app.qualification.models import QualificationAudit, QualificationEvidenceFile
from tests import factories
from tests.qualification_support import PNG, answer_and_submit, open_audit, qualifying_outlet


@pytest.fixture
def outlet(app):
    east = factories.region("E", "华东区", users=["manager_e", "agent_e"])
    factories.region("W", "华西区", users=["manager_w"])
    o = qualifying_outlet(east, code="SH900", name="上海静安网点")
    factories.engineer(o, status="trainee", employee_no="T900", name="新学员")
    db.session.commit()
    return o


def _audit():
    db.session.expire_all()
    return db.session.query(QualificationAudit).one()


def test_auditor_runs_an_audit_on_the_workbench_and_hq_approves_it(outlet, login):
    auditor = login("auditor")
    index = auditor.get(f"/workbench/?outlet={outlet.id}").get_data(as_text=True)
    assert f'<option value="{outlet.id}" selected>SH900 上海静安网点</option>' in index  # from the outlet's page
    resp = auditor.post("/workbench/open", data={"outlet": str(outlet.id), "kind": "annual"})
    assert resp.status_code == 302
    audit = _audit()
    assert resp.headers["Location"].endswith(f"/workbench/{audit.id}")
    html = auditor.get(f"/workbench/{audit.id}").get_data(as_text=True)
    # each computed item with its numbers, and the drill-down
    assert 'data-code="certified_engineers" data-met="yes"' in html
    assert 'data-employee="T900" data-counts="no"' in html
    assert html.count('class="drill-part ') == 10
    assert 'id="answers-form"' in html and 'id="submit-form"' in html

    resp = auditor.post(f"/workbench/{audit.id}/save", data={
        "answer-fixed_premises": "yes", "note-fixed_premises": "", "answer-signage": "yes", "answer-tools": "no",
        "note-tools": "检漏仪缺失"})
    assert resp.status_code == 302
    # evidence is still missing: the submission is refused with the reason shown
    resp = auditor.post(f"/workbench/{audit.id}/submit", data={"outcome": "pass"}, follow_redirects=True)
    assert "添加照片或说明作为证据" in resp.get_data(as_text=True) or "photo or a note" in resp.get_data(as_text=True)
    assert _audit().status == "draft"
    resp = auditor.post(f"/workbench/{audit.id}/evidence", data={"item": "fixed_premises",
                                                               "file": (io.BytesIO(PNG), "door.png")},
                        content_type="multipart/form-data")
    assert resp.status_code == 302
    evidence = db.session.query(QualificationEvidenceFile).one()
    html = auditor.get(f"/workbench/{audit.id}").get_data(as_text=True)
    assert f'data-file="{evidence.id}"' in html and "door.png" in html
    resp = auditor.post(f"/workbench/{audit.id}/submit", data={"outcome": "pass", "comment": "合格"})
    assert resp.status_code == 302 and _audit().status == "submitted"
    html = auditor.get(f"/workbench/{audit.id}").get_data(as_text=True)
    assert 'id="submit-form"' not in html and 'id="proposed-outcome"' in html

    hq = login("hq")
    approvals = hq.get("/workbench/approvals/").get_data(as_text=True)
    assert f'data-audit="{audit.id}"' in approvals
    screen = hq.get(f"/workbench/approvals/{audit.id}").get_data(as_text=True)
    assert 'id="approve-form"' in screen and 'id="return-form"' in screen
    resp = hq.post(f"/workbench/approvals/{audit.id}/approve", data={"comment": "同意"})
    assert resp.status_code == 302 and _audit().status == "approved"
    assert db.session.get(Outlet, outlet.id).last_qualified_on is not None
    # the auditor cannot reach the approval screen
    assert auditor.get(f"/workbench/approvals/{audit.id}").status_code in (302, 403)


def test_the_submitter_is_not_offered_the_decision(outlet, login):
    hq = login("hq")
    hq.post("/workbench/open", data={"outlet": str(outlet.id), "kind": "annual"})
    audit = _audit()
    hq.post(f"/workbench/{audit.id}/save", data={"answer-fixed_premises": "yes", "note-fixed_premises": "已核实",
                                                 "answer-signage": "yes", "answer-tools": "yes"})
    hq.post(f"/workbench/{audit.id}/submit", data={"outcome": "pass"})
    assert _audit().status == "submitted"
    screen = hq.get(f"/workbench/approvals/{audit.id}").get_data(as_text=True)
    assert 'id="own-audit"' in screen and 'id="approve-form"' not in screen
    resp = hq.post(f"/workbench/approvals/{audit.id}/approve", data={}, follow_redirects=True)
    assert resp.status_code == 200 and _audit().status == "submitted"


def test_errors_are_shown_not_raised(outlet, login):
    auditor = login("auditor")
    for data in ({"outlet": "", "kind": "annual"}, {"outlet": "abc", "kind": "annual"},
                 {"outlet": str(outlet.id), "kind": "admission"}, {"outlet": str(outlet.id), "kind": "annual",
                                                                   "due_on": "31/12/2026"}):
        resp = auditor.post("/workbench/open", data=data, follow_redirects=True)
        assert resp.status_code == 200, data
        assert 'class="alert alert-danger' in resp.get_data(as_text=True), data
    assert db.session.query(QualificationAudit).count() == 0
    auditor.post("/workbench/open", data={"outlet": str(outlet.id), "kind": "annual"})
    audit = _audit()
    resp = auditor.post(f"/workbench/{audit.id}/evidence", data={"item": "fixed_premises",
                                                               "file": (io.BytesIO(b"hello"), "x.png")},
                        content_type="multipart/form-data", follow_redirects=True)
    assert resp.status_code == 200 and db.session.query(QualificationEvidenceFile).count() == 0
    assert "PDF" in resp.get_data(as_text=True)
    assert auditor.get("/workbench/999999").status_code == 404


def test_who_sees_what(outlet, login):
    auditor = login("auditor")
    auditor.post("/workbench/open", data={"outlet": str(outlet.id), "kind": "annual"})
    audit = _audit()
    auditor.post(f"/workbench/{audit.id}/evidence", data={"item": "fixed_premises",
                                                        "file": (io.BytesIO(PNG), "door.png")},
                 content_type="multipart/form-data")
    file_url = f"/workbench/{audit.id}/evidence/{db.session.query(QualificationEvidenceFile).one().id}"
    manager = login("manager_e")
    html = manager.get(f"/workbench/{audit.id}").get_data(as_text=True)
    assert 'data-code="certified_engineers"' in html and 'id="answers-form"' not in html  # read-only
    assert manager.get(file_url).data == PNG
    assert manager.get("/workbench/").status_code in (302, 403)  # the workbench itself is for auditors
    assert manager.post("/workbench/open", data={"outlet": str(outlet.id), "kind": "special"}).status_code in (302, 403)
    assert db.session.query(QualificationAudit).count() == 1
    assert login("manager_w").get(f"/workbench/{audit.id}").status_code == 404
    assert login("manager_w").get(file_url).status_code == 404
    agent = login("agent_e")
    assert agent.get(f"/workbench/{audit.id}").status_code in (302, 403)
    assert agent.get(file_url).status_code in (302, 403)
    # generated pages
    assert "QA" in login("hq").get("/qualificationauditview/list/").get_data(as_text=True)
    show = manager.get(f"/qualificationauditview/show/{audit.id}").get_data(as_text=True)
    assert 'id="open-in-workbench"' in show
    assert login("hq").get("/audittemplateitemview/list/").status_code == 200
    outlet_page = manager.get(f"/outletview/show/{outlet.id}").get_data(as_text=True)
    assert 'id="outlet-audits"' in outlet_page and 'id="outlet-open-audit"' not in outlet_page
    assert 'id="outlet-open-audit"' in auditor.get(f"/outletview/show/{outlet.id}").get_data(as_text=True)


def _selected_outcome(html):
    form = html[html.find('id="outcome"'):html.find("</select>", html.find('id="outcome"'))]
    return re.findall(r'<option value="(\w*)" selected>', form)


def test_the_verdict_awaits_the_on_site_check(outlet, login):
    auditor = login("auditor")
    auditor.post("/workbench/open", data={"outlet": str(outlet.id), "kind": "annual"})
    audit = _audit()
    html = auditor.get(f"/workbench/{audit.id}").get_data(as_text=True)
    # both computed criteria hold, the on-site check is still to come: no verdict, no outcome proposed
    assert 'data-code="certified_engineers" data-met="yes"' in html and 'data-code="stock_rate" data-met="yes"' in html
    assert 'id="audit-verdict" data-verdict="awaiting_onsite"' in html and 'id="onsite-pending"' in html
    assert _selected_outcome(html) == [""]

    answers = {"with_answers": "1", "answer-fixed_premises": "yes", "note-fixed_premises": "营业中",
               "answer-signage": "yes", "answer-tools": "yes"}
    auditor.post(f"/workbench/{audit.id}/save", data=answers)
    html = auditor.get(f"/workbench/{audit.id}").get_data(as_text=True)
    assert 'data-verdict="qualifies"' in html and _selected_outcome(html) == ["pass"]
    auditor.post(f"/workbench/{audit.id}/save", data={**answers, "answer-fixed_premises": "no"})
    html = auditor.get(f"/workbench/{audit.id}").get_data(as_text=True)
    assert 'data-verdict="does_not_qualify"' in html and _selected_outcome(html) == ["conditional"]


def test_no_action_loses_typed_input_and_removal_is_confirmed(outlet, login):
    auditor = login("auditor")
    auditor.post("/workbench/open", data={"outlet": str(outlet.id), "kind": "annual"})
    audit = _audit()
    typed = {"with_answers": "1", "suggested_outcome": "", "answer-fixed_premises": "yes",
             "note-fixed_premises": "门头照片见附件", "answer-tools": "no", "note-tools": "检漏仪缺失",
             "outcome": "", "rectification_days": "30", "comment": "工具不全，限期补齐"}
    # uploading before saving: the answers are saved first, the comment typed below is shown again
    resp = auditor.post(f"/workbench/{audit.id}/evidence", data={**typed, "item": "fixed_premises",
                                                               "file": (io.BytesIO(PNG), "door.png")},
                        content_type="multipart/form-data")
    assert resp.status_code == 200
    html = resp.get_data(as_text=True)
    assert ">工具不全，限期补齐</textarea>" in html and ">检漏仪缺失</textarea>" in html
    answers = {i.code: (i.answer, i.note) for i in _audit().items if i.kind == "onsite"}
    assert answers == {"fixed_premises": ("yes", "门头照片见附件"), "signage": (None, ""), "tools": ("no", "检漏仪缺失")}
    evidence = db.session.query(QualificationEvidenceFile).one()
    # the page removes a file through its confirmation, never at once
    assert f'formaction="/workbench/{audit.id}/evidence/{evidence.id}/delete"' in html
    confirm = auditor.get(f"/workbench/{audit.id}/evidence/{evidence.id}/delete")
    assert confirm.status_code == 200 and 'id="confirm-action-submit"' in confirm.get_data(as_text=True)
    resp = auditor.post(f"/workbench/{audit.id}/evidence/{evidence.id}/delete",
                        data={**typed, "answer-signage": "yes"})
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200 and 'id="confirm-action"' in html and "door.png" in html
    assert 'name="comment" value="工具不全，限期补齐"' in html  # carried through the confirmation
    assert db.session.query(QualificationEvidenceFile).count() == 1 and _audit().item("signage").answer == "yes"
    resp = auditor.post(f"/workbench/{audit.id}/evidence/{evidence.id}/delete",
                        data={"cancelled": "1", "comment": "工具不全，限期补齐", "outcome": "", "suggested_outcome": ""})
    assert ">工具不全，限期补齐</textarea>" in resp.get_data(as_text=True)
    assert db.session.query(QualificationEvidenceFile).count() == 1
    resp = auditor.post(f"/workbench/{audit.id}/evidence/{evidence.id}/delete", data={"confirmed": "1"})
    assert resp.status_code == 302 and db.session.query(QualificationEvidenceFile).count() == 0

    # a refused submission shows the form again as it was filled in
    resp = auditor.post(f"/workbench/{audit.id}/submit", data={**typed, "outcome": "fail", "comment": ""})
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200 and _audit().status == "draft" and 'class="alert alert-danger' in html
    assert _selected_outcome(html) == ["fail"]
    # and so does a refused "open an audit"
    resp = auditor.post("/workbench/open", data={"outlet": str(outlet.id), "kind": "special", "due_on": "2026-12-31"})
    html = resp.get_data(as_text=True)
    assert 'value="2026-12-31"' in html and '<option value="special" selected>' in html
    assert f'<option value="{outlet.id}" selected>' in html


def test_outlets_to_audit_say_why_and_dates_read_locally(outlet, login, api):
    east = outlet.region
    applying = factories.outlet(east, status="applying", code="SH901", premises=False)
    flagged = factories.outlet(east, code="SH902")
    flagged.flagged_on, flagged.flag_reasons = date(2026, 11, 30), "engineers"
    db.session.commit()
    auditor = login("auditor")
    auditor.post("/language/", data={"locale": "en"})
    html = auditor.get("/workbench/").get_data(as_text=True)

    def warnings(o):
        return re.search(rf'data-outlet="{o.id}">.*?data-warnings="([^"]*)"', html, re.S).group(1).split()

    assert warnings(applying) == ["engineers", "stock", "premises"]
    assert warnings(flagged) == ["engineers", "stock", "flagged"]
    assert "Certified engineers: 0 of 3 required" in html and "Flagged on Nov 30, 2026" in html

    audit_id, _result = open_audit(api("auditor"), outlet)
    answer_and_submit(api("auditor"), audit_id, comment="合格")
    person = factories.user("auditor")
    names = person.first_name, person.last_name
    person.first_name, person.last_name = "芳", "王"  # people are shown by name, not by user name
    db.session.commit()
    try:
        assert "王芳" in login("hq").get("/workbench/approvals/").get_data(as_text=True)
        api("hq").post(f"/api/v1/qualification_audit/{audit_id}/approve", json={"comment": "同意"})
        page = auditor.get(f"/workbench/{audit_id}").get_data(as_text=True)
    finally:
        person.first_name, person.last_name = names
        db.session.commit()
    body = page[page.find('id="audit-page"'):]
    assert "evidence frozen at submission on " in body and "Submitted by 王芳 on " in body
    assert re.search(r"Approved by hq Test on [A-Z][a-z]{2} \d+, 2026, [^.]+\.\s+Outcome: ", body)
    assert not re.search(r"\d{4}-\d{2}-\d{2}", re.sub(r"<[^>]+>", " ", body))  # no ISO date in the text
