"""The audit workbench and the approval screen as pages: an auditor opens an audit from the
workbench, reads the drill-down, answers, uploads a photo and submits; another user approves."""
import io

import pytest

from app.extensions import db
from app.network.models import Outlet
from app.qualification.models import QualificationAudit, QualificationEvidenceFile
from tests import factories
from tests.qualification_support import PNG, qualifying_outlet


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
