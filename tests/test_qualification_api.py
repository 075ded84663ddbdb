"""The qualification audit API: opening with live evidence, answers, evidence files, submission
frozen against later changes, decisions and their effect on the outlet, scope and roles."""
import io
import threading
from datetime import timedelta

import pytest
from dateutil.relativedelta import relativedelta

from app.core import clock
from app.engineers.models import Certification
from app.extensions import db
from app.network.models import Outlet
from app.qualification.models import QualificationAudit, QualificationEvidenceFile
from tests import factories
from tests.qualification_support import (
    ONSITE_OK, PNG, answer_and_submit, items_by_code, open_audit, qualifying_outlet, stock_common,
)


@pytest.fixture
def east(app):
    region = factories.region("E", "华东区", users=["manager_e", "agent_e"])
    factories.region("W", "华西区", users=["manager_w"])
    db.session.commit()
    return region


@pytest.fixture
def outlet(east):
    return qualifying_outlet(east)


def _outlet(oid):
    db.session.expire_all()
    return db.session.get(Outlet, oid)


def test_open_returns_the_checklist_with_live_evidence(outlet, api):
    aid, result = open_audit(api("auditor"), outlet)
    assert result["status"] == "draft" and result["kind"] == "annual" and result["outlet"] == outlet.id
    assert result["number"].startswith("QA")
    items = items_by_code(result)
    assert list(items) == ["fixed_premises", "signage", "tools", "certified_engineers", "stock_rate", "on_time_rate",
                           "first_time_fix_rate", "mean_satisfaction", "complaint_rate"]
    eng = items["certified_engineers"]
    assert (eng["actual"], eng["target"], eng["met"], eng["required"]) == (3, 3, True, True)
    assert len(eng["details"]["engineers"]) == 3 and all(e["counts"] for e in eng["details"]["engineers"])
    stock = items["stock_rate"]
    assert (stock["actual"], stock["target"], stock["met"]) == (100.0, 90.0, True)
    assert items["on_time_rate"]["required"] is False and items["on_time_rate"]["met"] is None  # no orders yet
    assert items["fixed_premises"]["answer"] is None and items["fixed_premises"]["met"] is None
    assert result["evidence"] == {"certified_engineers": 3, "required_engineers": 3, "stock_rate": 100.0,
                                  "required_stock_rate": 90.0, "has_fixed_premises": None, "qualifies": False,
                                  "live": True}


def test_open_refusals(outlet, east, api):
    auditor = api("auditor")
    r = auditor.post("/api/v1/qualification_audit/", json={"outlet": outlet.id, "kind": "yearly"})
    assert r.status_code == 422 and "kind" in r.get_json()["errors"]
    r = auditor.post("/api/v1/qualification_audit/", json={"outlet": 999999, "kind": "annual"})
    assert r.status_code == 422 and "outlet" in r.get_json()["errors"]
    r = auditor.post("/api/v1/qualification_audit/", json={"outlet": outlet.id, "kind": "annual", "x": 1})
    assert r.status_code == 422 and "x" in r.get_json()["errors"]
    r = auditor.post("/api/v1/qualification_audit/", json={"outlet": outlet.id, "kind": "admission"})
    assert r.status_code == 409 and "kind" in r.get_json()["errors"]
    applying = factories.outlet(east, status="applying")
    db.session.commit()
    r = auditor.post("/api/v1/qualification_audit/", json={"outlet": applying.id, "kind": "annual"})
    assert r.status_code == 409
    assert db.session.query(QualificationAudit).count() == 0
    first, _ = open_audit(auditor, outlet)
    r = auditor.post("/api/v1/qualification_audit/", json={"outlet": outlet.id, "kind": "special"})
    assert r.status_code == 409
    number = db.session.get(QualificationAudit, first).number
    assert number in r.get_json()["message"]
    assert db.session.query(QualificationAudit).count() == 1


def test_answers_are_validated_and_all_or_nothing(outlet, api):
    auditor = api("auditor")
    aid, _ = open_audit(auditor, outlet)
    r = auditor.put(f"/api/v1/qualification_audit/{aid}", json={"items": [
        {"code": "signage", "answer": "yes"}, {"code": "fixed_premises", "answer": "maybe"}]})
    assert r.status_code == 422 and "fixed_premises" in r.get_json()["errors"]
    for bad, field in ([{"code": "stock_rate", "answer": "yes"}], "stock_rate"), ([{"code": "nope"}], "items"):
        r = auditor.put(f"/api/v1/qualification_audit/{aid}", json={"items": bad})
        assert r.status_code == 422 and field in r.get_json()["errors"], r.get_json()
    r = auditor.put(f"/api/v1/qualification_audit/{aid}", json={"items": "yes"})
    assert r.status_code == 422
    items = items_by_code(auditor.get(f"/api/v1/qualification_audit/{aid}").get_json()["result"])
    assert items["signage"]["answer"] is None  # nothing of the refused request was written
    r = auditor.put(f"/api/v1/qualification_audit/{aid}", json={"items": ONSITE_OK})
    items = items_by_code(r.get_json()["result"])
    assert items["fixed_premises"]["answer"] == "yes" and items["fixed_premises"]["note"].startswith("现场核实")
    assert r.get_json()["result"]["evidence"]["qualifies"] is True


def test_submission_rules(outlet, east, api):
    auditor = api("auditor")
    aid, _ = open_audit(auditor, outlet)
    r = auditor.post(f"/api/v1/qualification_audit/{aid}/submit", json={"outcome": "pass"})
    assert r.status_code == 422 and "fixed_premises" in r.get_json()["errors"]  # not answered
    auditor.put(f"/api/v1/qualification_audit/{aid}", json={"items": [{"code": "fixed_premises", "answer": "yes"}]})
    r = auditor.post(f"/api/v1/qualification_audit/{aid}/submit", json={"outcome": "pass"})
    assert r.status_code == 422 and "fixed_premises" in r.get_json()["errors"]  # evidence: photo or note
    for body, field in (({"outcome": "excellent"}, "outcome"), ({"outcome": "fail"}, "comment"),
                        ({"outcome": "conditional", "comment": "x", "rectification_days": 0}, "rectification_days"),
                        ({"outcome": "conditional", "comment": "x", "rectification_days": "ten"},
                         "rectification_days")):
        r = auditor.post(f"/api/v1/qualification_audit/{aid}/submit", json=body)
        assert r.status_code == 422 and field in r.get_json()["errors"], (body, r.get_json())
    # an outlet that misses a criterion cannot pass, and the refusal names the item
    weak = factories.outlet(east)
    stock_common(weak)
    db.session.commit()
    wid, _ = open_audit(auditor, weak)
    auditor.put(f"/api/v1/qualification_audit/{wid}", json={"items": ONSITE_OK})
    r = auditor.post(f"/api/v1/qualification_audit/{wid}/submit", json={"outcome": "pass"})
    assert r.status_code == 422 and "持证工程师人数" in r.get_json()["errors"]["outcome"][0]
    assert db.session.get(QualificationAudit, wid).status == "draft"


def test_a_submitted_audit_is_not_altered_by_later_data(outlet, api):
    auditor = api("auditor")
    aid, _ = open_audit(auditor, outlet)
    submitted = answer_and_submit(auditor, aid)
    assert submitted["status"] == "submitted" and submitted["evidence"]["live"] is False
    frozen = items_by_code(submitted)
    # later: a certificate is revoked and a common part runs short
    cert = db.session.query(Certification).first()
    cert.revoked = True
    stock_common(outlet, n=1, short=1)
    db.session.commit()
    live = api("hq").get(f"/api/v1/outlet/{outlet.id}/qualification").get_json()["result"]
    assert (live["certified_engineers"], live["qualifies"]) == (2, False)
    assert live["stock_rate"] == pytest.approx(90.91)
    again = auditor.get(f"/api/v1/qualification_audit/{aid}").get_json()["result"]
    assert items_by_code(again)["certified_engineers"] == frozen["certified_engineers"]
    assert items_by_code(again)["certified_engineers"]["actual"] == 3
    assert items_by_code(again)["stock_rate"]["actual"] == 100.0
    assert again["evidence"]["qualifies"] is True and again["evidence"]["certified_engineers"] == 3
    assert auditor.put(f"/api/v1/qualification_audit/{aid}", json={"items": ONSITE_OK}).status_code == 409


@pytest.mark.parametrize("outcome", ["pass", "conditional", "fail"])
def test_each_outcome_carries_to_the_outlet(outcome, outlet, api):
    auditor, hq = api("auditor"), api("hq")
    outlet.status, outlet.has_fixed_premises = "probation", False
    db.session.commit()
    aid, _ = open_audit(auditor, outlet)
    answer_and_submit(auditor, aid, outcome, comment="整改意见" if outcome != "pass" else "", days=20)
    r = hq.post(f"/api/v1/qualification_audit/{aid}/approve", json={"comment": "同意"})
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["result"]["status"] == "approved"
    o = _outlet(outlet.id)
    today = clock.today()
    assert o.has_fixed_premises is True  # confirmed on site
    audit = db.session.get(QualificationAudit, aid)
    assert audit.is_open is None and audit.decided_by.username == "hq"
    follow_ups = db.session.query(QualificationAudit).filter_by(parent_id=aid).all()
    if outcome == "pass":
        assert (o.status, o.last_qualified_on, o.next_audit_due_on) == ("active", today, today + relativedelta(months=12))
        assert follow_ups == []
    elif outcome == "conditional":
        deadline = today + timedelta(days=20)
        assert (o.status, o.next_audit_due_on, audit.rectification_deadline) == ("probation", deadline, deadline)
        assert o.last_qualified_on is None
        [f] = follow_ups
        assert (f.kind, f.status, f.origin, f.due_on, f.is_open) == ("special", "draft", "follow_up", deadline, True)
        assert audit.number in f.trigger_note
    else:
        assert (o.status, o.next_audit_due_on) == ("terminated", None)
        assert follow_ups == []


def test_who_decides(outlet, api):
    hq, hq2, auditor = api("hq"), api("hq2"), api("auditor")
    aid, _ = open_audit(hq, outlet)
    answer_and_submit(hq, aid)
    r = hq.post(f"/api/v1/qualification_audit/{aid}/approve", json={})
    assert r.status_code == 403 and "audit" in r.get_json()["errors"]  # submitted it herself
    assert auditor.post(f"/api/v1/qualification_audit/{aid}/approve", json={}).status_code == 403
    assert api("manager_e").post(f"/api/v1/qualification_audit/{aid}/approve", json={}).status_code == 403
    assert db.session.get(QualificationAudit, aid).status == "submitted"
    assert hq2.post(f"/api/v1/qualification_audit/{aid}/approve", json={}).status_code == 200


def test_wrong_steps_are_409_and_return_needs_a_reason(outlet, api):
    auditor, hq = api("auditor"), api("hq")
    aid, _ = open_audit(auditor, outlet)
    r = hq.post(f"/api/v1/qualification_audit/{aid}/approve", json={})
    assert r.status_code == 409 and r.get_json()["errors"]["status"] == ["draft"]
    answer_and_submit(auditor, aid)
    r = auditor.post(f"/api/v1/qualification_audit/{aid}/submit", json={"outcome": "pass"})
    assert r.status_code == 409 and r.get_json()["errors"]["status"] == ["submitted"]
    r = hq.post(f"/api/v1/qualification_audit/{aid}/return", json={"comment": "  "})
    assert r.status_code == 422 and "comment" in r.get_json()["errors"]
    r = hq.post(f"/api/v1/qualification_audit/{aid}/return", json={"comment": "请补充门头照片"})
    assert r.status_code == 200 and r.get_json()["result"]["status"] == "returned"
    assert r.get_json()["result"]["evidence"]["live"] is True
    # returned: answers can change again and it can be resubmitted, then approved
    resubmitted = answer_and_submit(auditor, aid)
    assert resubmitted["status"] == "submitted"
    assert hq.post(f"/api/v1/qualification_audit/{aid}/approve", json={}).status_code == 200
    r = hq.post(f"/api/v1/qualification_audit/{aid}/return", json={"comment": "x"})
    assert r.status_code == 409 and r.get_json()["errors"]["status"] == ["approved"]
    assert hq.delete(f"/api/v1/qualification_audit/{aid}").status_code == 409  # only drafts


def test_concurrent_approvals_exactly_one_wins(outlet, api):
    auditor = api("auditor")
    aid, _ = open_audit(auditor, outlet)
    answer_and_submit(auditor, aid, "conditional", comment="限期整改", days=30)
    clients = [api("hq") for _ in range(3)] + [api("hq2") for _ in range(3)]
    codes = []
    postgres = db.engine.dialect.name == "postgresql"
    barrier = threading.Barrier(len(clients) if postgres else 1)

    def decide(i, client):
        barrier.wait()
        if i % 2:
            codes.append(client.post(f"/api/v1/qualification_audit/{aid}/approve", json={}).status_code)
        else:
            codes.append(client.post(f"/api/v1/qualification_audit/{aid}/return", json={"comment": f"退回{i}"})
                         .status_code)

    threads = [threading.Thread(target=decide, args=(i, c)) for i, c in enumerate(clients)]
    for t in threads:
        t.start()
        if not postgres:  # SQLite serialises writers: one request after another
            t.join()
    for t in threads:
        t.join()
    assert sorted(codes) == [200] + [409] * (len(clients) - 1)
    db.session.expire_all()
    audit = db.session.get(QualificationAudit, aid)
    follow_ups = db.session.query(QualificationAudit).filter_by(parent_id=aid).count()
    assert (audit.status, follow_ups) in (("approved", 1), ("returned", 0))


def test_region_scope_and_roles(outlet, api):
    aid, _ = open_audit(api("auditor"), outlet)
    assert api("manager_e").get(f"/api/v1/qualification_audit/{aid}").status_code == 200
    assert api("manager_e").get("/api/v1/qualification_audit/").get_json()["ids"] == [aid]
    assert api("manager_w").get(f"/api/v1/qualification_audit/{aid}").status_code == 404
    assert api("manager_w").get("/api/v1/qualification_audit/").get_json()["ids"] == []
    assert api("manager_w").get(f"/api/v1/outlet/{outlet.id}/qualification").status_code == 404
    assert api("agent_e").get(f"/api/v1/qualification_audit/{aid}").status_code == 403
    r = api("manager_e").put(f"/api/v1/qualification_audit/{aid}", json={"items": ONSITE_OK})
    assert r.status_code == 403
    assert api("manager_e").post("/api/v1/qualification_audit/", json={"outlet": outlet.id, "kind": "annual"}
                                 ).status_code == 403
    assert api("auditor").delete(f"/api/v1/qualification_audit/{aid}").status_code == 403
    assert api("hq").delete(f"/api/v1/qualification_audit/{aid}").status_code == 200
    assert db.session.query(QualificationAudit).count() == 0


def _upload(client, aid, data, filename, item="fixed_premises"):
    return client.post(f"/api/v1/qualification_audit/{aid}/evidence",
                       data={"item": item, "file": (io.BytesIO(data), filename)},
                       content_type="multipart/form-data")


def test_evidence_files_checked_stored_and_served_to_those_who_may_see_the_audit(outlet, api, app):
    auditor = api("auditor")
    aid, _ = open_audit(auditor, outlet)
    r = _upload(auditor, aid, PNG, "门头.png")
    assert r.status_code == 201, r.get_json()
    url = r.get_json()["result"]["url"]
    assert r.get_json()["result"]["content_type"] == "image/png" and r.get_json()["result"]["size"] == len(PNG)
    pdf = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
    assert _upload(auditor, aid, pdf, "营业执照.pdf").status_code == 201
    refused = [
        (b"MZ\x90\x00 not an image", "photo.png"),        # content is not an image
        (PNG, "photo.exe"),                              # name does not match
        (b"", "empty.png"),                              # nothing uploaded
        (pdf.replace(b"%PDF", b"%PDX"), "x.pdf"),
    ]
    for data, name in refused:
        r = _upload(auditor, aid, data, name)
        assert r.status_code == 422 and "file" in r.get_json()["errors"], name
    from app.core.models import Setting

    db.session.query(Setting).filter_by(key="qualification.evidence_max_mb").one().value = "1"
    db.session.commit()
    r = _upload(auditor, aid, PNG + b"\0" * (1024 * 1024), "big.png")
    assert r.status_code == 422 and "1 MB" in r.get_json()["errors"]["file"][0]
    r = _upload(auditor, aid, PNG, "x.png", item="stock_rate")
    assert r.status_code == 422 and "item" in r.get_json()["errors"]
    assert db.session.query(QualificationEvidenceFile).count() == 2
    import os

    assert len(os.listdir(os.path.join(app.config["UPLOAD_FOLDER"], "evidence"))) >= 2

    got = api("manager_e").get(url)
    assert got.status_code == 200 and got.data == PNG and got.headers["Content-Type"] == "image/png"
    assert got.headers["X-Content-Type-Options"] == "nosniff"
    assert api("manager_w").get(url).status_code == 404
    assert api("agent_e").get(url).status_code == 403
    assert api("hq").get(f"/api/v1/qualification_audit/{aid}/evidence/999999").status_code == 404
    result = auditor.get(f"/api/v1/qualification_audit/{aid}").get_json()["result"]
    assert [f["filename"] for f in items_by_code(result)["fixed_premises"]["files"]] == ["门头.png", "营业执照.pdf"]

    # a photo is evidence enough for the fixed-premises item
    auditor.put(f"/api/v1/qualification_audit/{aid}", json={"items": [
        {"code": "fixed_premises", "answer": "yes"}, {"code": "signage", "answer": "no"},
        {"code": "tools", "answer": "yes"}]})
    assert auditor.delete(url).status_code == 200
    assert api("auditor").post(f"/api/v1/qualification_audit/{aid}/submit", json={"outcome": "pass"}).status_code == 200
    assert _upload(auditor, aid, PNG, "late.png").status_code == 409  # submitted: no more evidence
    assert api("manager_e").get(url).status_code == 404  # removed before submission


def test_outlet_qualification_endpoint(east, api):
    outlet = factories.outlet(east, categories=("air_conditioner", "refrigerator"))
    certified = factories.engineer(outlet, employee_no="E1")
    factories.certification(certified)
    trainee = factories.engineer(outlet, status="trainee", employee_no="E2")
    factories.certification(trainee)
    expired = factories.engineer(outlet, employee_no="E3")
    factories.certification(expired, expires_on=clock.today() - timedelta(days=1))
    parts = stock_common(outlet, n=2, short=1)
    factories.part("refrigerator")  # common, no stock row: short
    factories.part("washing_machine")  # a category the outlet does not serve: ignored
    db.session.commit()
    body = api("manager_e").get(f"/api/v1/outlet/{outlet.id}/qualification").get_json()["result"]
    assert {k: body[k] for k in ("certified_engineers", "required_engineers", "stock_rate", "required_stock_rate",
                                 "has_fixed_premises", "qualifies")} == {
        "certified_engineers": 1, "required_engineers": 3, "stock_rate": pytest.approx(33.33),
        "required_stock_rate": 90.0, "has_fixed_premises": True, "qualifies": False}
    items = items_by_code(body)
    why = {e["employee_no"]: e["reason"] for e in items["certified_engineers"]["details"]["engineers"]}
    assert why == {"E1": "certified", "E2": "not_on_duty", "E3": "no_valid_certificate"}
    shortages = {p["sku"]: (p["quantity"], p["shortfall"], p["missing"], p["ok"])
                 for p in items["stock_rate"]["details"]["parts"]}
    assert len(shortages) == 3
    assert shortages[parts[0].sku] == (4, 1, False, False) and shortages[parts[1].sku] == (5, 0, False, True)
    assert [v for k, v in shortages.items() if k not in (parts[0].sku, parts[1].sku)] == [(None, None, True, False)]
    assert items["fixed_premises"]["met"] is True


def test_template_is_data_hq_edits(app, api):
    hq = api("hq")
    r = hq.post("/api/v1/audit_template_item/", json={"code": "fire", "label": "消防器材在有效期内", "kind": "onsite",
                                                     "required": True, "position": 35})
    assert r.status_code == 201, r.get_json()
    for bad, field in (({"code": "k1", "label": "x", "kind": "kpi", "metric": "on_time_rate", "required": True},
                        "required"),
                       ({"code": "k2", "label": "x", "kind": "computed", "metric": "on_time_rate"}, "metric"),
                       ({"code": "k3", "label": "x", "kind": "onsite", "metric": "licence"}, "metric")):
        r = hq.post("/api/v1/audit_template_item/", json=bad)
        assert r.status_code == 422 and field in r.get_json()["errors"], r.get_json()
    assert api("auditor").post("/api/v1/audit_template_item/", json={"code": "z", "label": "z", "kind": "onsite"}
                               ).status_code == 403
    east = factories.region("E", "华东区")
    outlet = qualifying_outlet(east)
    aid, result = open_audit(api("auditor"), outlet)
    assert "fire" in items_by_code(result)
    r = api("auditor").put(f"/api/v1/qualification_audit/{aid}", json={"items": ONSITE_OK})
    assert r.get_json()["result"]["evidence"]["qualifies"] is False  # the new required item is unanswered
