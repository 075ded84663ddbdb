"""The complaint and escalation API contract."""
import threading

import pytest

from app.complaints.models import Complaint, Escalation
from app.core import clock
from app.extensions import db
from seeds.reference import load_default_calendar
from tests import factories


@pytest.fixture
def cal(app):
    load_default_calendar(years=[clock.today().year, clock.today().year + 1])
    db.session.commit()


def _create(client, world, **extra):
    payload = {"customer_name": "王先生", "customer_phone": "13912345678", "channel": "phone",
               "outlet": world.outlet_e.id, "severity": "general", "description": "空调不制冷"}
    payload.update(extra)
    return client.post("/api/v1/complaint/", json=payload)


def test_record_and_walk_the_lifecycle(world, cal, api):
    agent = api("agent_e")
    r = _create(agent, world)
    assert r.status_code == 201, r.get_json()
    body = r.get_json()
    cid = body["id"]
    result = body["result"]
    for key in ("status", "severity", "outlet", "response_due_at", "resolution_due_at", "response_breached",
                "resolution_breached", "paused"):
        assert key in result
    assert result["status"] == "new" and result["outlet"] == world.outlet_e.id
    assert result["owner"] == factories.user("agent_e").id

    steps = [("respond", {"note": "已联系"}, "responded"), ("pause", {"reason": "等客户"}, "responded"),
             ("resume", {}, "responded"), ("resolve", {"resolution": "已修复"}, "resolved"),
             ("close", {"customer_satisfied": True}, "closed")]
    for action, payload, status in steps:
        r = agent.post(f"/api/v1/complaint/{cid}/{action}", json=payload)
        assert r.status_code == 200, (action, r.get_json())
        assert r.get_json()["result"]["status"] == status
    r = agent.get(f"/api/v1/complaint/{cid}/timeline")
    assert [e["kind"] for e in r.get_json()["result"]] == [
        "received", "responded", "paused", "resumed", "resolved", "notified", "closed"]


def test_wrong_state_is_409_naming_it(world, cal, api):
    agent = api("agent_e")
    cid = _create(agent, world).get_json()["id"]
    r = agent.post(f"/api/v1/complaint/{cid}/resolve", json={"resolution": "x"})
    assert r.status_code == 409
    assert r.get_json()["errors"]["status"] == ["new"]


@pytest.mark.parametrize("payload,field", [
    ({"customer_satisfied": "yes"}, "customer_satisfied"),
    ({}, "customer_satisfied"),
])
def test_bad_payload_is_422(world, cal, api, payload, field):
    agent = api("agent_e")
    cid = _create(agent, world).get_json()["id"]
    for action, body in [("respond", {"note": "x"}), ("resolve", {"resolution": "y"})]:
        agent.post(f"/api/v1/complaint/{cid}/{action}", json=body)
    r = agent.post(f"/api/v1/complaint/{cid}/close", json=payload)
    assert r.status_code == 422 and field in r.get_json()["errors"]


def test_create_validation_and_malformed_json(world, cal, api):
    agent = api("agent_e")
    r = _create(agent, world, severity="catastrophic", channel="pigeon")
    assert r.status_code == 422
    assert {"severity", "channel"} <= set(r.get_json()["errors"])
    r = agent.post("/api/v1/complaint/", data="{not json", headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and "message" in r.get_json()
    assert db.session.query(Complaint).count() == 0


def test_escalate_and_decide(world, cal, api):
    agent, manager = api("agent_e"), api("manager_e")
    cid = _create(agent, world).get_json()["id"]
    r = agent.post(f"/api/v1/complaint/{cid}/escalate",
                   json={"reason": "customer_request", "remedy": "repair", "compensation_amount": None,
                         "comment": "客户要求"})
    assert r.status_code == 201, r.get_json()
    eid = r.get_json()["id"]
    r = manager.get(f"/api/v1/escalation/{eid}")
    esc = r.get_json()["result"]
    assert (esc["complaint"], esc["level"], esc["status"]) == (cid, 1, "pending")
    assert esc["requested_by"] == factories.user("agent_e").id
    r = manager.post(f"/api/v1/escalation/{eid}/reject", json={"comment": ""})
    assert r.status_code == 422 and "comment" in r.get_json()["errors"], r.get_json()
    r = manager.post(f"/api/v1/escalation/{eid}/reject", json={"comment": "证据不足"})
    assert r.status_code == 200
    got = manager.get(f"/api/v1/escalation/{eid}").get_json()["result"]
    assert got["status"] == "rejected" and got["comment"] == "证据不足"
    assert got["decided_by"] == factories.user("manager_e").id and got["decided_at"]
    r = manager.post(f"/api/v1/escalation/{eid}/approve", json={"comment": "改主意"})
    assert r.status_code == 409


def test_agents_cannot_decide_and_outsiders_cannot_see(world, cal, api):
    agent = api("agent_e")
    cid = _create(agent, world).get_json()["id"]
    eid = agent.post(f"/api/v1/complaint/{cid}/escalate", json={"reason": "severity", "remedy": "repair"}
                     ).get_json()["id"]
    assert agent.post(f"/api/v1/escalation/{eid}/approve", json={}).status_code == 403
    west = api("manager_w")
    assert west.get(f"/api/v1/complaint/{cid}").status_code == 404
    assert west.post(f"/api/v1/complaint/{cid}/respond", json={"note": "x"}).status_code in (403, 404)
    assert west.post(f"/api/v1/escalation/{eid}/approve", json={}).status_code == 404
    assert west.get("/api/v1/complaint/").get_json()["count"] == 0
    # creating a complaint at another region's outlet is refused and leaves nothing
    r = _create(api("agent_e"), world, outlet=world.outlet_w.id)
    assert r.status_code in (403, 404)
    assert db.session.query(Complaint).count() == 1


def test_auditor_reads_but_cannot_act(world, cal, api):
    agent = api("agent_e")
    cid = _create(agent, world).get_json()["id"]
    auditor = api("auditor")
    assert auditor.get(f"/api/v1/complaint/{cid}").status_code == 200
    assert auditor.post(f"/api/v1/complaint/{cid}/respond", json={"note": "x"}).status_code == 403


def test_concurrent_decisions_exactly_one_wins(world, cal, api, app):
    agent = api("agent_e")
    cid = _create(agent, world).get_json()["id"]
    eid = agent.post(f"/api/v1/complaint/{cid}/escalate", json={"reason": "severity", "remedy": "repair"}
                     ).get_json()["id"]
    # two deciders: the manager and a delegate
    from datetime import timedelta

    from app.complaints.models import EscalationDelegation

    db.session.add(EscalationDelegation(manager=factories.user("manager_e"), delegate=factories.user("hq2"),
                                        starts_on=clock.today() - timedelta(days=1),
                                        ends_on=clock.today() + timedelta(days=1)))
    db.session.commit()
    clients = [api("manager_e") for _ in range(4)] + [api("hq2") for _ in range(4)]
    barrier = threading.Barrier(len(clients))
    codes = []

    def decide(i, client):
        barrier.wait()
        action = "approve" if i % 2 else "reject"
        codes.append(client.post(f"/api/v1/escalation/{eid}/{action}", json={"comment": f"决定{i}"}).status_code)

    if db.engine.dialect.name == "postgresql":
        threads = [threading.Thread(target=decide, args=(i, c)) for i, c in enumerate(clients)]
    else:  # SQLite serialises writers: the requests run one after another
        barrier = threading.Barrier(1)
        threads = [threading.Thread(target=decide, args=(i, c)) for i, c in enumerate(clients)]
    for t in threads:
        t.start()
        if db.engine.dialect.name != "postgresql":
            t.join()
    for t in threads:
        t.join()
    assert sorted(codes) == [200] + [409] * (len(clients) - 1)
    db.session.expire_all()
    esc = db.session.get(Escalation, eid)
    assert esc.status in ("approved", "rejected") and esc.decided_by_id is not None


def test_severity_change_through_put_recomputes_and_is_on_the_timeline(world, cal, api):
    agent = api("agent_e")
    body = _create(agent, world).get_json()
    cid, due = body["id"], body["result"]["resolution_due_at"]
    r = agent.put(f"/api/v1/complaint/{cid}", json={"severity": "urgent"})
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["result"]["resolution_due_at"] < due  # 2 h instead of 24 h from receipt
    kinds = [e["kind"] for e in agent.get(f"/api/v1/complaint/{cid}/timeline").get_json()["result"]]
    assert kinds == ["received", "severity_changed"]
    r = agent.put(f"/api/v1/complaint/{cid}", json={"status": "closed"})
    assert r.status_code == 422 and "status" in r.get_json()["errors"]
