"""Role × resource × method for the complaint desk's resources, through the REST API.

Written out independently of ``app/security/roles.py``. Escalations have no POST, PUT or DELETE
routes at all (they are created by escalating a complaint and changed only by decisions).
"""
from datetime import timedelta

import pytest

from app.core import clock
from app.core.models import BusinessCalendar, CalendarDay
from app.extensions import db
from tests import factories

# R: GET list + one · W: POST + PUT · D: DELETE
EXPECTED = {
    "hq": {"complaint": "RW", "escalation": "R", "escalation_delegation": "RWD", "calendar_day": "RWD",
           "business_calendar": "RWD"},
    "manager_e": {"complaint": "R", "escalation": "R", "escalation_delegation": "RWD", "business_calendar": "R",
                  "calendar_day": "R"},
    "agent_e": {"complaint": "RW", "escalation": "R", "escalation_delegation": "R", "business_calendar": "R",
                "calendar_day": "R"},
    "auditor": {"complaint": "R", "escalation": "R", "escalation_delegation": "R", "business_calendar": "R",
                "calendar_day": "R"},
    "admin": {"complaint": "RWD", "escalation": "R", "escalation_delegation": "RWD", "business_calendar": "RWD",
              "calendar_day": "RWD"},
}
RESOURCES = list(EXPECTED["hq"])


@pytest.fixture
def rows(world):
    from app.complaints import services
    from tests.test_complaints_lifecycle import new_complaint

    cal = BusinessCalendar(name="默认日历")
    db.session.add(cal)
    db.session.flush()
    day = CalendarDay(calendar=cal, day=clock.today() + timedelta(days=40), kind="holiday", name="测试假日")
    db.session.add(day)
    db.session.commit()
    complaint = new_complaint(world)
    esc = services.escalate(complaint.id, "customer_request", "repair", None, "", factories.user("agent_e"))
    from app.complaints.models import EscalationDelegation

    deleg = EscalationDelegation(manager=factories.user("manager_e"), delegate=factories.user("hq2"),
                                 starts_on=clock.today(), ends_on=clock.today() + timedelta(days=3))
    db.session.add(deleg)
    db.session.commit()
    return {"complaint": complaint.id, "escalation": esc.id, "escalation_delegation": deleg.id,
            "business_calendar": cal.id, "calendar_day": day.id, "world": world, "calendar": cal.id}


def _payload(resource, rows, username, n):
    world, today = rows["world"], clock.today()
    if resource == "complaint":
        return ({"customer_name": "周女士", "customer_phone": "13600000000", "channel": "app",
                 "outlet": world.outlet_e.id, "severity": "general", "description": "安装延误"},
                {"description": "安装延误两天"})
    if resource == "escalation":
        return ({"complaint": rows["complaint"], "level": 1, "reason": "severity"}, {"comment": "x"})
    if resource == "escalation_delegation":
        create = {"delegate": factories.user("hq2").id, "starts_on": str(today + timedelta(days=10 + n)),
                  "ends_on": str(today + timedelta(days=12 + n))}
        if username not in ("manager_e",):
            create["manager"] = factories.user("manager_e").id
        return create, {"note": "出差"}
    if resource == "business_calendar":
        return ({"name": f"日历-{username}", "monday_hours": "08:30-17:30"}, {"saturday_hours": "09:00-12:00"})
    return ({"calendar": rows["calendar"], "day": str(today + timedelta(days=60 + n)), "kind": "workday",
             "name": "调休"}, {"name": "调休上班"})


@pytest.mark.parametrize("username", list(EXPECTED))
def test_matrix(rows, api, username):
    client = api(username)
    for n, resource in enumerate(RESOURCES):
        allowed = EXPECTED[username][resource]
        base = f"/api/v1/{resource}/"
        pk = rows[resource]
        r = client.get(base)
        assert (r.status_code == 200) == ("R" in allowed), (username, resource, "list", r.status_code)
        r = client.get(f"{base}{pk}")
        assert (r.status_code == 200) == ("R" in allowed), (username, resource, "get", r.status_code)
        create, update = _payload(resource, rows, username, n)
        r_post = client.post(base, json=create)
        r_put = client.put(f"{base}{pk}", json=update)
        if resource == "escalation":
            assert r_post.status_code == 405 and r_put.status_code == 405, (username, r_post.status_code)
        elif "W" in allowed:
            assert r_post.status_code == 201, (username, resource, r_post.get_json())
            assert r_put.status_code == 200, (username, resource, r_put.get_json())
        else:
            assert r_post.status_code == 403 and r_put.status_code == 403, (username, resource, r_post.status_code)
        r = client.delete(f"{base}{pk}")
        if resource == "escalation":
            assert r.status_code == 405
        elif "D" in allowed:
            assert r.status_code in (200, 409), (username, resource, r.get_json())
        else:
            assert r.status_code == 403, (username, resource, r.status_code)
