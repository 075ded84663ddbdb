"""The home page's "today" section: each role sees its own panels with exactly the rows it must act
on (another agent's complaint, another region's escalation or breach, one's own request or audit,
yesterday's breach and closed work stay out), counts link to the matching lists, empty panels say
so, and the audit trail's last verification is on record."""
import re
from datetime import timedelta

import pytest

from app.complaints.models import Complaint, Escalation, EscalationDelegation
from app.core import clock
from app.extensions import db
from app.qualification.models import QualificationAudit
from app.security.models import UserCredential
from tests import factories
from tests.test_dashboard import _list, local, panel

# Wednesday 11 March 2026, 09:00 in Shanghai: "today" began at 00:00 local (16:00 UTC the day before).
NOW = local(2026, 3, 11, 9, 0)


def _complaint(number, outlet, owner=None, status="new", **fields):
    c = Complaint(number=number, customer_name="王先生", customer_phone="13912345678", outlet=outlet,
                  severity=fields.pop("severity", "general"), description="空调不制冷", status=status,
                  owner=factories.user(owner) if owner else None,
                  received_at=fields.pop("received_at", NOW - timedelta(hours=1)), **fields)
    db.session.add(c)
    db.session.flush()
    return c


def _escalation(complaint, level=1, requested_by=None, status="pending"):
    e = Escalation(complaint=complaint, level=level, reason="customer_request", remedy="repair",
                   requested_by_id=factories.user(requested_by).id if requested_by else None,
                   requested_at=NOW - timedelta(minutes=20), status=status)
    db.session.add(e)
    db.session.flush()
    return e


def _audit(number, outlet, status, auditor=None, opened_by=None, due_in=10):
    a = QualificationAudit(number=number, outlet=outlet, kind="annual", status=status, is_open=True,
                           due_on=clock.today() + timedelta(days=due_in),
                           auditor_id=factories.user(auditor).id if auditor else None,
                           opened_by_id=factories.user(opened_by).id if opened_by else None,
                           outcome="pass" if status == "submitted" else None,
                           submitted_at=NOW - timedelta(days=1) if status == "submitted" else None)
    db.session.add(a)
    db.session.flush()
    return a


@pytest.fixture
def home(world):
    """Kept frozen at NOW for the whole test."""
    with clock.freeze(NOW):
        w = world
        e, west = w.outlet_e, w.outlet_w
        h = lambda n: timedelta(hours=n)  # noqa: E731
        m = lambda n: timedelta(minutes=n)  # noqa: E731
        # the agent's complaints (region E)
        w.a1 = _complaint("TS-H-A1", e, "agent_e", received_at=NOW - m(8), response_due_at=NOW + m(2),
                          resolution_due_at=NOW + h(24), response_warned=True)            # warning
        w.a2 = _complaint("TS-H-A2", e, "agent_e", "in_progress", received_at=NOW - h(30),
                          first_response_at=NOW - h(30) + m(5), response_due_at=NOW - h(30) + m(10),
                          resolution_due_at=NOW - h(6), resolution_breached=True)          # breached 03:00 today
        w.a3 = _complaint("TS-H-A3", e, "agent_e", "responded", received_at=NOW - h(4),
                          first_response_at=NOW - h(4) + m(5), resolution_due_at=NOW + h(20))
        w.a4 = _complaint("TS-H-A4", e, "agent_e", "closed", response_breached=True)      # closed
        w.a5 = _complaint("TS-H-A5", e, "manager_e", response_due_at=NOW - m(30),
                          response_breached=True)                                          # another person's
        # other breaches: yesterday's (E), another region's (W), one the sweep has not marked yet (E)
        w.b1 = _complaint("TS-H-B1", e, None, "in_progress", received_at=NOW - h(48),
                          first_response_at=NOW - h(40), resolution_due_at=NOW - h(20), resolution_breached=True)
        w.b2 = _complaint("TS-H-B2", west, None, response_due_at=NOW - m(10), response_breached=True)
        w.b3 = _complaint("TS-H-B3", e, None, response_due_at=NOW - m(5))
        # escalations
        w.e1 = _escalation(w.a5, requested_by="agent_e")                 # the manager's to decide
        w.e2 = _escalation(w.b2)                                         # region W (automatic)
        w.e3 = _escalation(w.b1, requested_by="manager_e")               # the manager's own request
        w.e4 = _escalation(w.a2, level=2, requested_by="agent_e")        # level 2: HQ's
        w.e5 = _escalation(w.b3, level=2, requested_by="hq")             # HQ's own request
        _escalation(w.a1, status="approved")
        # outlets and audits
        x = [factories.outlet(w.east, code=f"SH10{i}") for i in range(4)]
        w.q1 = _audit("QA-H-1", e, "submitted", auditor="auditor")       # HQ approves it
        w.q2 = _audit("QA-H-2", west, "submitted", auditor="hq")         # HQ's own: another HQ admin
        w.q4 = _audit("QA-H-4", x[0], "returned", auditor="auditor", due_in=40)  # back to the auditor
        w.q5 = _audit("QA-H-5", x[1], "draft", due_in=10)                # nobody's yet, due soon
        w.q6 = _audit("QA-H-6", x[2], "draft", opened_by="hq", due_in=100)  # not due soon
        w.q7 = _audit("QA-H-7", x[3], "returned", auditor="hq", due_in=5)   # someone else's
        e.flagged_on, e.flag_reasons = clock.today() - timedelta(days=2), "engineers,stock"
        factories.outlet(w.east, code="SH199", status="suspended", flagged_on=clock.today(),
                         flag_reasons="stock")
        # the admin's: a locked account, a manager without a region ("nobody")
        db.session.add(UserCredential(user_id=factories.user("manager_w").id, version=0, failed_logins=5,
                                      locked_until=NOW + m(10)))
        db.session.commit()
        yield w


def panels(html):
    """``{panel: (count, [row ids], empty)}`` of the "today" section of a page."""
    result = {}
    for part in re.split(r'<div class="panel panel-\w+ today-panel"\s+id="today-', html)[1:]:
        key, count = re.match(r'(\w+)" data-count="(\d+)"', part).groups()
        part = part.split("today-panel", 1)[0]
        ids = [int(i) for i in re.findall(r'class="today-row" data-id="(\d+)"', part)]
        result[key] = (int(count), ids, 'class="today-empty' in part)
    return result


def home_page(client):
    resp = client.get("/")
    assert resp.status_code == 200
    return resp.get_data(as_text=True)


def test_agent_and_manager_panels(home, login, api):
    w = home
    agent = login("agent_e")
    html = home_page(agent)
    found = panels(html)
    assert set(found) == {"my_complaints", "my_warnings"}
    # the soonest due first: A2 (overdue since 03:00), A1 (response in 2 minutes), A3
    assert found["my_complaints"] == (3, [w.a2.id, w.a1.id, w.a3.id], False)
    assert found["my_warnings"] == (2, [w.a2.id, w.a1.id], False)  # breached before warned
    assert f'href="/complaintview/show/{w.a1.id}"' in html
    link = re.search(r'id="today-my_complaints".*?class="today-count badge" href="([^"]+)"', html, re.S).group(1)
    assert _list(agent, link.replace("&amp;", "&"), "complaintview") == {w.a1.id, w.a2.id, w.a3.id}
    full = agent.get("/today/my_warnings").get_data(as_text=True)
    assert panels(full)["my_warnings"][:2] == (2, [w.a2.id, w.a1.id])

    manager = login("manager_e")
    found = panels(home_page(manager))
    assert set(found) == {"escalations_waiting", "breaches_today"}
    assert found["escalations_waiting"][:2] == (1, [w.e1.id])
    # breached today in region E, the latest first: B3 (unmarked yet), A5, A2; not B1 (yesterday), B2 (W)
    assert found["breaches_today"][:2] == (3, [w.b3.id, w.a5.id, w.a2.id])
    assert manager.get("/today/breaches_today").status_code == 200
    assert manager.get("/today/my_warnings").status_code == 404  # not a manager's panel
    # manager_w names manager_e their delegate today: region W's escalation waits for them too
    db.session.add(EscalationDelegation(manager_id=factories.user("manager_w").id,
                                        delegate_id=factories.user("manager_e").id,
                                        starts_on=clock.today(), ends_on=clock.today()))
    db.session.commit()
    html = home_page(manager)
    assert panels(html)["escalations_waiting"][:2] == (2, [w.e1.id, w.e2.id])
    assert f'href="/desk/#escalation-{w.e1.id}"' in html

    # a manager with no region: the panels say nothing waits
    found = panels(home_page(login("nobody")))
    assert found["escalations_waiting"] == (0, [], True) and found["breaches_today"] == (0, [], True)

    # the regions chart of a single-region manager: one bar per outlet, each opening its complaints
    regions = panel(api("manager_e"), "regions")
    assert regions["per_outlet"] and "SH001" in regions["codes"]
    link = regions["links"][regions["codes"].index("SH001")]
    assert w.b2.id not in _list(manager, link, "complaintview")
    assert {w.a1.id, w.b3.id} <= _list(manager, link, "complaintview")


def test_hq_auditor_and_admin_panels(home, login):
    w = home
    hq = login("hq")
    html = home_page(hq)
    found = panels(html)
    assert set(found) == {"audits_to_approve", "level2_escalations", "flagged_outlets", "holiday_calendar"}
    assert found["audits_to_approve"][:2] == (1, [w.q1.id])               # not QA-H-2, run by hq
    assert found["level2_escalations"][:2] == (1, [w.e4.id])              # not e5, requested by hq
    assert found["flagged_outlets"][:2] == (1, [w.outlet_e.id])           # not the suspended one
    assert found["holiday_calendar"][0] == 2                              # no calendar yet: 2026, 2027
    assert re.findall(r'dashboard-calendar-notice" role="alert" data-year="(\d+)"', html) == ["2026", "2027"]
    assert f'href="/workbench/approvals/{w.q1.id}"' in html and 'href="/workbench/approvals/"' in html
    assert f'href="/outletview/show/{w.outlet_e.id}"' in html
    links = dict(re.findall(r'id="today-(\w+)" data-count.*?class="today-count badge" href="([^"]+)"', html, re.S))
    links = {k: v.replace("&amp;", "&") for k, v in links.items()}
    assert _list(hq, links["level2_escalations"], "escalationview") == {w.e4.id, w.e5.id}
    assert _list(hq, links["flagged_outlets"], "outletview") == {w.outlet_e.id}

    auditor = login("auditor")
    found = panels(home_page(auditor))
    assert set(found) == {"my_audits", "trail_verification"}
    assert found["my_audits"][:2] == (2, [w.q5.id, w.q4.id])   # due first; not q1 (submitted), q6, q7
    # verifying the trail is recorded: the panel shows when, by whom and the result
    assert auditor.post("/auditeventview/verify").status_code == 302
    html = home_page(auditor)
    assert 'class="today-verification text-success" data-ok="1"' in html
    section = html.split('id="today-trail_verification"', 1)[1].split("today-panel", 1)[0]
    assert "auditor Test" in section  # the auditor, by name
    assert "2026" in section and 'action="/auditeventview/verify"' in section

    admin = login("admin")
    found = panels(home_page(admin))
    assert set(found) == {"locked_accounts", "users_without_region"}
    assert found["locked_accounts"][:2] == (1, [factories.user("manager_w").id])
    without = found["users_without_region"][1]
    assert factories.user("nobody").id in without
    assert not {factories.user(u).id for u in ("manager_e", "agent_e", "hq")} & set(without)
