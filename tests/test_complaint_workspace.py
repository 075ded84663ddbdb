"""The complaint page as the agent's workspace: the actions its state allows as forms on the page
(posted with the page's own CSRF token), errors under the fields, who gets the forms, the time
received on the add form and in the API, and the agent's list filters."""
import re
from datetime import datetime, timedelta
from html import unescape

from app.complaints.models import Complaint, Escalation
from app.core import clock
from app.extensions import db
from seeds.reference import load_default_calendar
from tests import factories
from tests.auth_support import zh
from tests.test_complaints_lifecycle import new_complaint
from tests.test_pages_support import assert_saved, field_errors, text


def _calendar():
    load_default_calendar(years=[clock.today().year])
    db.session.commit()


def _page(client, complaint_id):
    resp = client.get(f"/complaintview/show/{complaint_id}")
    assert resp.status_code == 200
    return resp.get_data(as_text=True)


def _form(html, form_id):
    m = re.search(rf'<form method="post" action="([^"]+)" class="complaint-action" id="{form_id}">(.*?)</form>',
                  html, re.S)
    assert m, f"no form {form_id} on the page"
    return unescape(m.group(1)), m.group(2)


def _forms(html):
    return re.findall(r'class="complaint-action" id="action-(\w+)"', html)


def _submit(client, html, form_id, **fields):
    """Post the page's form as the browser does: to its action, with the token printed in it."""
    action, body = _form(html, form_id)
    token = re.search(r'name="csrf_token" value="([^"]+)"', body).group(1)
    return client.post(action, data={"csrf_token": token, **fields}, csrf=False)


def _errors(html, form_id, field):
    _action, body = _form(html, form_id)
    return [text(m) for m in re.findall(
        rf'<span class="help-block field-error" data-field="{field}">(.*?)</span>', body, re.S)]


def _fresh(pk):
    db.session.expire_all()
    return db.session.get(Complaint, pk)


def _local_input(moment):
    """A naive UTC moment as the add form's datetime-local input writes it."""
    return clock.to_local(moment).strftime("%Y-%m-%dT%H:%M")


def test_agent_takes_a_complaint_through_its_life_on_the_page(world, login):
    _calendar()
    c = new_complaint(world)
    agent = login("agent_e")
    html = _page(agent, c.id)
    assert _forms(html) == ["respond", "escalate"]
    assert 'id="complaint-timeline"' in html and 'data-clock="response" data-state="soon"' in html

    # an empty response: the page again, the error under the note, nothing written
    resp = _submit(agent, html, "action-respond", note="  ")
    assert resp.status_code == 422
    page = resp.get_data(as_text=True)
    assert _errors(page, "action-respond", "note") == [
        zh(agent.application, "Write the response given to the customer.")]
    assert _fresh(c.id).status == "new"

    resp = _submit(agent, page, "action-respond", note="已致电客户，致歉并约定上门")
    assert resp.status_code == 302 and resp.headers["Location"].endswith(f"/complaintview/show/{c.id}")
    html = _page(agent, c.id)
    assert _fresh(c.id).status == "responded" and 'alert-success' in html
    assert _forms(html) == ["resolve", "pause", "escalate"]

    resp = _submit(agent, html, "action-pause", reason="")
    assert resp.status_code == 422 and _errors(resp.get_data(as_text=True), "action-pause", "reason")
    assert _submit(agent, html, "action-pause", reason="等待客户提供购买发票").status_code == 302
    html = _page(agent, c.id)
    assert _fresh(c.id).paused and _forms(html) == ["resume", "escalate"]
    assert 'data-clock="resolution" data-state="stopped"' in html

    assert _submit(agent, html, "action-resume").status_code == 302
    html = _page(agent, c.id)
    assert not _fresh(c.id).paused

    resp = _submit(agent, html, "action-resolve", resolution="")
    assert resp.status_code == 422 and _errors(resp.get_data(as_text=True), "action-resolve", "resolution")
    assert _submit(agent, html, "action-resolve", resolution="更换压缩机，试机正常").status_code == 302
    html = _page(agent, c.id)
    assert _fresh(c.id).status == "resolved" and _forms(html) == ["close"]
    assert 'data-clock="resolution" data-state="met"' in html

    resp = _submit(agent, html, "action-close")  # neither yes nor no
    assert resp.status_code == 422 and _errors(resp.get_data(as_text=True), "action-close", "customer_satisfied")
    assert _submit(agent, html, "action-close", customer_satisfied="no").status_code == 302
    c = _fresh(c.id)
    assert (c.status, c.customer_satisfied, c.customer_notified) == ("closed", False, True)
    kinds = [e.kind for e in sorted(c.events, key=lambda e: (e.at, e.id))]
    assert kinds == ["received", "responded", "paused", "resumed", "resolved", "notified", "closed"]

    # a page left open from before: the service refuses, the page says why and writes nothing
    resp = _submit(agent, html, "action-close", customer_satisfied="yes")
    assert resp.status_code == 409
    page = resp.get_data(as_text=True)
    assert "action-error" in page and _forms(page) == []
    assert _fresh(c.id).customer_satisfied is False


def test_escalation_request_keeps_typed_values_on_an_error(world, login):
    _calendar()
    c = new_complaint(world)
    agent = login("agent_e")
    html = _page(agent, c.id)
    resp = _submit(agent, html, "action-escalate", reason="compensation", remedy="compensation",
                   compensation_amount="十块", comment="客户要求赔偿误工费")
    assert resp.status_code == 422
    page = resp.get_data(as_text=True)
    assert _errors(page, "action-escalate", "compensation_amount") == [
        zh(agent.application, "Enter an amount in yuan.")]
    _action, body = _form(page, "action-escalate")
    assert 'value="compensation" selected' in body and "客户要求赔偿误工费" in body and 'value="十块"' in body
    assert "<details" in page and 'id="escalate-details" open' in page
    assert db.session.query(Escalation).count() == 0

    assert _submit(agent, html, "action-escalate", reason="compensation", remedy="compensation",
                   compensation_amount="800.50", comment="客户要求赔偿误工费").status_code == 302
    esc = db.session.query(Escalation).one()
    assert (esc.status, esc.level, str(esc.compensation_amount), esc.requested_by.username) == (
        "pending", 1, "800.50", "agent_e")
    html = _page(agent, c.id)
    # waiting for a decision: no second request
    assert f'data-escalation="{esc.id}"' in html and "escalate" not in _forms(html)
    assert 'class="text-muted action-held" data-action="escalate"' in html


def test_read_only_users_see_no_forms_and_cannot_post(world, login):
    _calendar()
    c = new_complaint(world)
    west = _row("WS-WEST", world.outlet_w, "hq")
    db.session.commit()
    for username in ("auditor", "manager_e"):
        reader = login(username)
        html = _page(reader, c.id)
        assert _forms(html) == [] and 'id="complaint-actions"' not in html and 'id="complaint-state"' in html
        resp = reader.post(f"/complaintview/respond/{c.id}", data={"note": "越权响应"})
        assert resp.status_code == 403, username
    agent = login("agent_e")
    # another region's complaint: not found; a forged post without the page's token: refused
    assert agent.post(f"/complaintview/respond/{west.id}", data={"note": "x"}).status_code == 404
    assert agent.post(f"/complaintview/respond/{c.id}", data={"note": "x"}, csrf=False).status_code in (400, 403)
    assert _fresh(c.id).status == "new" and _fresh(west.id).status == "new"


def test_time_received_on_the_add_page(world, login):
    _calendar()
    agent = login("agent_e")
    form = agent.get("/complaintview/add").get_data(as_text=True)
    shown = re.search(r'<input[^>]*id="received_at"[^>]*>', form).group(0)
    value = re.search(r'value="([^"]*)"', shown).group(1)
    assert 'type="datetime-local"' in shown
    assert abs(datetime.strptime(value, "%Y-%m-%dT%H:%M") - clock.to_local(clock.now()).replace(tzinfo=None)) \
        < timedelta(minutes=2)  # now, in local time
    base = {"customer_name": "钱先生", "customer_phone": "13500000000", "channel": "phone",
            "outlet": str(world.outlet_e.id), "severity": "general", "description": "冰箱噪音大"}

    for moment, message in ((clock.now() + timedelta(hours=1), "The time received cannot be in the future."),
                            (clock.now() - timedelta(hours=80), "The time received may lie at most %(hours)s "
                                                                "hours in the past.")):
        resp = agent.post("/complaintview/add", data={**base, "received_at": _local_input(moment)})
        assert resp.status_code == 200
        html = resp.get_data(as_text=True)
        assert field_errors(html, "received_at") == [zh(agent.application, message, hours=72)]
        assert f'value="{_local_input(moment)}"' in html  # the typed time stays
    assert db.session.query(Complaint).count() == 0

    taken = clock.now() - timedelta(minutes=20)
    assert_saved(agent.post("/complaintview/add", data={**base, "received_at": _local_input(taken)}))
    c = db.session.query(Complaint).one()
    received = clock.to_utc(datetime.strptime(_local_input(taken), "%Y-%m-%dT%H:%M"))
    assert c.received_at == received and c.number.startswith(f"TS{clock.to_local(received):%Y%m%d}")
    assert c.response_due_at == received + timedelta(minutes=10)
    assert c.resolution_due_at == received + timedelta(hours=24)
    assert [(e.kind, e.at) for e in c.events] == [("received", received)]
    # the page says the first response is overdue (due 10 minutes after a call taken 20 minutes ago)
    assert 'data-clock="response" data-state="overdue"' in _page(agent, c.id)


def test_time_received_rule_in_the_api(world, api):
    _calendar()
    agent = api("agent_e")
    body = {"customer_name": "孙女士", "customer_phone": "13600000000", "channel": "app",
            "outlet": world.outlet_e.id, "severity": "urgent", "description": "洗衣机漏水"}
    for moment in (clock.now() + timedelta(minutes=30), clock.now() - timedelta(hours=73)):
        resp = agent.post("/api/v1/complaint/", json={**body, "received_at": moment.isoformat()})
        assert resp.status_code == 422, resp.get_json()
        assert list(resp.get_json()["errors"]) == ["received_at"]
    # a slightly fast client clock is taken as now
    ahead = clock.now() + timedelta(seconds=30)
    resp = agent.post("/api/v1/complaint/", json={**body, "received_at": ahead.isoformat()})
    assert resp.status_code == 201, resp.get_json()
    taken = (clock.now() - timedelta(minutes=20)).replace(microsecond=0)
    resp = agent.post("/api/v1/complaint/", json={**body, "received_at": taken.isoformat()})
    assert resp.status_code == 201, resp.get_json()
    c = db.session.get(Complaint, resp.get_json()["id"])
    assert c.received_at == taken and c.response_due_at == taken + timedelta(minutes=10)
    assert c.resolution_due_at == taken + timedelta(hours=2)


def _row(number, outlet, owner=None, **kw):
    now = clock.now()
    values = dict(status="new", received_at=now - timedelta(minutes=30), response_due_at=now + timedelta(hours=5),
                  resolution_due_at=now + timedelta(hours=20))
    values.update(kw)
    c = Complaint(number=number, customer_name="王先生", customer_phone="13912345678", outlet=outlet,
                  description="空调不制冷", owner=factories.user(owner) if owner else None, **values)
    db.session.add(c)
    return c


def test_list_filters_an_agent_works_from(world, login):
    now = clock.now()
    east = world.outlet_e
    _row("WS-MINE-SOON", east, "agent_e", response_due_at=now + timedelta(minutes=30))
    _row("WS-OTHERS", east, "hq", status="responded", first_response_at=now,
         resolution_due_at=now + timedelta(hours=3))
    _row("WS-RES-SOON", east, "hq", status="in_progress", first_response_at=now,
         resolution_due_at=now + timedelta(minutes=50))
    _row("WS-FLAGGED", east, "agent_e", status="in_progress", first_response_at=now, response_breached=True)
    _row("WS-LATE", east, None, response_due_at=now - timedelta(minutes=5))  # due passed, not yet swept
    _row("WS-PAUSED", east, "hq", status="responded", first_response_at=now, paused=True, paused_at=now,
         resolution_due_at=now + timedelta(minutes=20))  # stopped clock: not "due soon"
    _row("WS-CLOSED", east, "agent_e", status="closed", first_response_at=now, resolved_at=now, closed_at=now,
         resolution_breached=True, resolution_due_at=now - timedelta(hours=1))
    waiting = _row("WS-WAITING", east, "hq", status="responded", first_response_at=now)
    _row("WS-WEST", world.outlet_w, "agent_e", response_due_at=now + timedelta(minutes=10))  # not in E's scope
    db.session.flush()
    db.session.add(Escalation(complaint=waiting, level=1, reason="customer_request", status="pending",
                              requested_at=now))
    db.session.commit()

    agent = login("agent_e")
    everything = agent.get("/complaintview/list/").get_data(as_text=True)

    def numbers(query):
        html = agent.get(f"/complaintview/list/?{query}").get_data(as_text=True)
        return {n for n in re.findall(r"WS-[A-Z-]+", html)}

    expected = {
        "_flt_0_open=1": {"WS-MINE-SOON", "WS-OTHERS", "WS-RES-SOON", "WS-FLAGGED", "WS-LATE", "WS-PAUSED",
                          "WS-WAITING"},
        "_flt_0_mine=1": {"WS-MINE-SOON", "WS-FLAGGED", "WS-CLOSED"},
        "_flt_0_due_soon=1": {"WS-MINE-SOON", "WS-RES-SOON"},
        "_flt_0_breached=1": {"WS-FLAGGED", "WS-LATE", "WS-CLOSED"},
        "_flt_0_breached=1&_flt_0_open=1": {"WS-FLAGGED", "WS-LATE"},
        "_flt_0_paused=1": {"WS-PAUSED"},
        "_flt_0_awaiting_decision=1": {"WS-WAITING"},
        "_flt_0_due_soon=0&_flt_0_open=1": {"WS-OTHERS", "WS-FLAGGED", "WS-LATE", "WS-PAUSED", "WS-WAITING"},
    }
    for query, rows in expected.items():
        assert numbers(query) == rows, query
    # the quick filters above the list are these addresses (bookmarkable)
    quick = {unescape(q) for q in re.findall(r'href="/complaintview/list/\?([^"]+)"', everything)}
    assert quick >= {"_flt_0_open=1", "_flt_0_mine=1", "_flt_0_due_soon=1", "_flt_0_breached=1&_flt_0_open=1",
                     "_flt_0_paused=1", "_flt_0_awaiting_decision=1"}
