"""An outlet's whole qualification life — application, admission, annual review, a conditional
outcome and its follow-up — run entirely through the API, then entirely through the pages."""
import io
from datetime import timedelta

import pytest
from dateutil.relativedelta import relativedelta

from app import jobs
from app.core import clock
from app.extensions import db
from app.network.models import Outlet
from app.qualification.models import QualificationAudit
from tests import factories
from tests.qualification_support import PNG
from tests.test_pages_support import assert_saved, fresh

ONBOARDING = {"kind": "onboarding", "theory_hours": 32, "practical_hours": 52, "mentored_orders": 12,
              "theory_score": 86, "practical_score": 93}


@pytest.fixture
def east(app):
    region = factories.region("E", "华东区", users=["manager_e"])
    db.session.commit()
    return region


class Api:
    """The steps an HQ admin and an auditor take, each one request, each checked."""

    def __init__(self, api):
        self.hq, self.hq2, self.auditor = api("hq"), api("hq2"), api("auditor")

    @staticmethod
    def ok(resp, status=200):
        assert resp.status_code == status, resp.get_json()
        return resp.get_json()

    def engineer(self, outlet_id, no):
        eid = self.ok(self.hq.post("/api/v1/engineer/", json={
            "employee_no": no, "name": f"工程师{no}", "outlet": outlet_id, "hire_date": str(clock.today()),
            "status": "trainee"}), 201)["id"]
        refused = self.hq.post(f"/api/v1/engineer/{eid}/activate", json={})
        assert refused.status_code == 409 and "onboarding" in refused.get_json()["errors"]
        self.ok(self.hq.post("/api/v1/training_record/", json={**ONBOARDING, "engineer": eid,
                                                              "taken_on": str(clock.today())}), 201)
        assert self.ok(self.hq.post(f"/api/v1/engineer/{eid}/activate", json={}))["result"]["status"] == "active"
        ctype = factories.cert_type().id
        cert = self.ok(self.hq.post("/api/v1/certification/", json={
            "engineer": eid, "certification_type": ctype, "number": f"C-{no}", "issuer": "应急管理局",
            "issued_on": str(clock.today() - timedelta(days=30)),
            "expires_on": str(clock.today() + timedelta(days=2000))}), 201)["id"]
        return eid, cert

    def audit(self, outlet_id, kind=None, outcome="pass", comment="", days=None, aid=None):
        if aid is None:
            aid = self.ok(self.auditor.post("/api/v1/qualification_audit/", json={"outlet": outlet_id,
                                                                                  "kind": kind}), 201)["id"]
        self.ok(self.auditor.post(f"/api/v1/qualification_audit/{aid}/evidence",
                                  data={"item": "fixed_premises", "file": (io.BytesIO(PNG), "门头.png")},
                                  content_type="multipart/form-data"), 201)
        self.ok(self.auditor.put(f"/api/v1/qualification_audit/{aid}", json={"items": [
            {"code": "fixed_premises", "answer": "yes"}, {"code": "signage", "answer": "yes"},
            {"code": "tools", "answer": "yes"}]}))
        body = {"outcome": outcome, "comment": comment}
        if days:
            body["rectification_days"] = days
        self.ok(self.auditor.post(f"/api/v1/qualification_audit/{aid}/submit", json=body))
        approved = self.ok(self.hq.post(f"/api/v1/qualification_audit/{aid}/approve", json={"comment": "同意"}))
        assert approved["result"]["status"] == "approved"
        return aid

    def outlet(self, oid):
        return self.ok(self.hq.get(f"/api/v1/outlet/{oid}"))["result"]

    def drafts(self, oid):
        q = f"(filters:!((col:outlet,opr:rel_o_m,value:{oid}),(col:status,opr:eq,value:draft)))"
        return self.ok(self.hq.get(f"/api/v1/qualification_audit/?q={q}"))["result"]


def test_the_whole_life_through_the_api(east, api):
    a = Api(api)
    ac = factories.category("air_conditioner").id
    # application: the outlet, its engineers (onboarded, certified), its common parts in stock
    oid = a.ok(a.hq.post("/api/v1/outlet/", json={
        "code": "SH500", "name": "上海长宁网点", "region": east.id, "product_categories": [ac],
        "status": "applying", "has_fixed_premises": False, "email": "sh500@example.com"}), 201)["id"]
    certs = [a.engineer(oid, f"E50{i}")[1] for i in range(3)]
    for i in range(5):
        part = a.ok(a.hq.post("/api/v1/part/", json={"sku": f"AC-50{i}", "name": f"常用配件{i}",
                                                    "product_category": ac, "unit_price": "50.00",
                                                    "is_common": True}), 201)["id"]
        a.ok(a.hq.post("/api/v1/stock/", json={"outlet": oid, "part": part, "quantity": 8, "safety_level": 5}), 201)
    live = a.ok(a.hq.get(f"/api/v1/outlet/{oid}/qualification"))["result"]
    assert (live["certified_engineers"], live["stock_rate"], live["has_fixed_premises"]) == (3, 100.0, False)

    # admission: passes, the outlet joins the network for a year
    a.audit(oid, "admission")
    outlet = a.outlet(oid)
    today = clock.today()
    assert (outlet["status"], outlet["has_fixed_premises"]) == ("active", True)
    assert outlet["next_audit_due_on"] == str(today + relativedelta(months=12))

    # annual review: opened by the nightly job 30 days ahead; one engineer's certificate was revoked
    a.ok(a.hq.put(f"/api/v1/certification/{certs[0]}", json={"revoked": True}))
    due = today + relativedelta(months=12)
    with clock.freeze(due - timedelta(days=30)):
        assert jobs.open_annual_audits() == 1
        [annual] = a.drafts(oid)
        assert annual["kind"] == "annual" and annual["due_on"] == str(due)
        a.audit(oid, outcome="conditional", comment="持证工程师不足3人，限期30天补足", days=30, aid=annual["id"])
        outlet = a.outlet(oid)
        deadline = due - timedelta(days=30) + timedelta(days=30)
        assert (outlet["status"], outlet["next_audit_due_on"]) == ("probation", str(deadline))
        [follow_up] = a.drafts(oid)
        assert (follow_up["kind"], follow_up["origin"], follow_up["parent_id"]) == ("special", "follow_up",
                                                                                  annual["id"])
        # rectified: a fourth engineer is onboarded and certified, and the follow-up passes
        a.engineer(oid, "E504")
        a.audit(oid, aid=follow_up["id"])
        outlet = a.outlet(oid)
        assert (outlet["status"], outlet["last_qualified_on"]) == ("active", str(clock.today()))
        assert outlet["next_audit_due_on"] == str(clock.today() + relativedelta(months=12))
    history = a.ok(a.hq.get(f"/api/v1/qualification_audit/?q=(filters:!((col:outlet,opr:rel_o_m,value:{oid})))"))
    assert sorted((r["kind"], r["outcome"]) for r in history["result"]) == [
        ("admission", "pass"), ("annual", "conditional"), ("special", "pass")]


def test_the_whole_life_through_the_pages(east, login):
    hq, auditor = login("hq"), login("auditor")
    ac = factories.category("air_conditioner")
    assert_saved(hq.post("/outletview/add", data={
        "code": "SH600", "name": "上海普陀网点", "region": str(east.id), "status": "applying", "address": "上海市普陀区",
        "contact": "赵经理", "phone": "021-6666", "email": "", "licence_no": "", "has_fixed_premises": "",
        "product_categories": [str(ac.id)], "notes": ""}))
    outlet = db.session.query(Outlet).filter_by(code="SH600").one()
    for i in range(3):
        assert_saved(hq.post("/engineerview/add", data={
            "employee_no": f"E60{i}", "name": f"工程师{i}", "phone": "", "email": "", "outlet": str(outlet.id),
            "hire_date": str(clock.today()), "status": "trainee"}))
        from app.engineers.models import Engineer

        eng = db.session.query(Engineer).filter_by(employee_no=f"E60{i}").one()
        assert_saved(hq.post("/trainingrecordview/add", data={
            **{k: str(v) for k, v in ONBOARDING.items()}, "engineer": str(eng.id), "taken_on": str(clock.today())}))
        assert hq.post(f"/engineerview/action/activate/{eng.id}").status_code in (302, 303)
        assert fresh(Engineer, eng.id).status == "active"
        assert_saved(hq.post("/certificationview/add", data={
            "engineer": str(eng.id), "certification_type": str(factories.cert_type().id), "number": f"C-60{i}",
            "issuer": "应急管理局", "issued_on": str(clock.today() - timedelta(days=10)),
            "expires_on": str(clock.today() + timedelta(days=1000)), "revoked": ""}))
    from app.parts.models import Part

    for i in range(4):
        assert_saved(hq.post("/partview/add", data={
            "sku": f"AC-60{i}", "name": f"常用配件{i}", "product_category": str(ac.id), "unit_price": "20",
            "is_common": "y", "warranty_days": "90"}))
        part = db.session.query(Part).filter_by(sku=f"AC-60{i}").one()
        assert_saved(hq.post("/stockview/add", data={"outlet": str(outlet.id), "part": str(part.id),
                                                     "quantity": "9", "safety_level": "5"}))

    def run(kind, outcome, comment="", days="30"):
        if kind:
            assert auditor.post("/workbench/open", data={"outlet": str(outlet.id), "kind": kind}).status_code == 302
        audit = db.session.query(QualificationAudit).filter_by(outlet_id=outlet.id, is_open=True).one()
        auditor.post(f"/workbench/{audit.id}/evidence", data={"item": "fixed_premises",
                                                            "file": (io.BytesIO(PNG), "door.png")},
                     content_type="multipart/form-data")
        auditor.post(f"/workbench/{audit.id}/save", data={"answer-fixed_premises": "yes", "answer-signage": "yes",
                                                          "answer-tools": "yes"})
        auditor.post(f"/workbench/{audit.id}/submit", data={"outcome": outcome, "comment": comment,
                                                            "rectification_days": days})
        assert fresh(QualificationAudit, audit.id).status == "submitted"
        hq.post(f"/workbench/approvals/{audit.id}/approve", data={"comment": "同意"})
        assert fresh(QualificationAudit, audit.id).status == "approved"
        return audit.id

    run("admission", "pass")
    o = fresh(Outlet, outlet.id)
    assert (o.status, o.has_fixed_premises, o.last_qualified_on) == ("active", True, clock.today())
    annual = run("annual", "conditional", "备件库房需整改", "15")
    o = fresh(Outlet, outlet.id)
    assert (o.status, o.next_audit_due_on) == ("probation", clock.today() + timedelta(days=15))
    follow_up = db.session.query(QualificationAudit).filter_by(parent_id=annual).one()
    html = auditor.get("/workbench/").get_data(as_text=True)
    assert f'data-audit="{follow_up.id}"' in html  # the follow-up waits on the workbench
    run(None, "pass")
    assert fresh(Outlet, outlet.id).status == "active"
    outlet_page = hq.get(f"/outletview/show/{outlet.id}").get_data(as_text=True)
    assert f'href="/qualificationauditview/list/?_flt_0_outlet={outlet.id}"' in outlet_page
    assert f'href="/workbench/?outlet={outlet.id}"' in outlet_page
    audits = hq.get(f"/qualificationauditview/list/?_flt_0_outlet={outlet.id}").get_data(as_text=True)
    assert audits.count("QA") >= 3
