"""Who a related-user field lists: only the users a role may see.

A page's ``/related/<column>`` search, the value its form accepts and an API's ``_info`` choices
offer restricted users (regional managers, service agents) only users of their own regions; a
delegation's delegate only those who can decide (regional managers sharing a region, HQ admins).
A delegation to someone who cannot decide is refused (422 on the API, a form error on the page).
"""
from datetime import timedelta

import pytest
from flask_appbuilder.security.sqla.models import User

from app.complaints import services
from app.complaints.models import EscalationDelegation
from app.core import clock
from app.core.errors import Invalid
from app.core.services import save
from app.extensions import db
from tests import factories

OUTSIDE_E = {"manager_w", "auditor", "admin", "nobody"}  # no region E, no HQ admin role


def _names(results):
    ids = [row["id"] for row in results]
    return {u.username for u in db.session.query(User).filter(User.id.in_(ids))} if ids else set()


def _related(client, path):
    r = client.get(path)
    assert r.status_code == 200, (path, r.status_code)
    return _names(r.get_json()["results"])


def test_a_managers_delegate_search_lists_only_deciders_of_their_regions(world, login):
    names = _related(login("manager_e"), "/escalationdelegationview/related/delegate?q=")
    assert names == {"hq", "hq2"}  # the HQ admins; manager_e is the only manager of E (not themselves)
    assert not names & OUTSIDE_E and "agent_e" not in names
    for term in ("manager_w", "admin", "auditor", "agent"):
        assert _related(login("manager_e"), f"/escalationdelegationview/related/delegate?q={term}") == set()


def test_an_agent_sees_no_user_beyond_their_region(world, login):
    agent = login("agent_e")
    delegates = _related(agent, "/escalationdelegationview/related/delegate?q=")
    assert delegates == {"manager_e", "hq", "hq2"}
    managers = _related(agent, "/escalationdelegationview/related/manager?q=")
    assert managers == {"manager_e"}
    assert _related(agent, "/escalationdelegationview/related/manager?q=manager_w") == set()


def test_hq_admins_see_every_decider(world, login):
    hq = login("hq")
    assert _related(hq, "/escalationdelegationview/related/delegate?q=") >= {"manager_e", "manager_w", "hq2"}
    assert not _related(hq, "/escalationdelegationview/related/delegate?q=") & {"agent_e", "auditor", "admin",
                                                                                "nobody"}
    assert _related(hq, "/escalationdelegationview/related/manager?q=") == {"manager_e", "manager_w"}


def test_every_related_user_search_keeps_to_the_users_regions(app, world, login):
    """Walk every page's related-field searches that list users."""
    from app.core.views import BaseModelView

    checked = 0
    for username in ("manager_e", "agent_e"):
        client = login(username)
        for view in app.appbuilder.baseviews:
            if not isinstance(view, BaseModelView):
                continue
            for col, (model, _fields) in view._ajax.items():
                if not issubclass(model, User):
                    continue
                r = client.get(f"{view.route_base}/related/{col}?q=")
                if r.status_code == 403:  # a form-only column for a reader
                    continue
                assert r.status_code == 200, (view, col, r.status_code)
                names = _names(r.get_json()["results"])
                assert not names & OUTSIDE_E, (type(view).__name__, col, username, names)
                checked += 1
    assert checked >= 4


def test_api_info_lists_only_offered_users(world, api):
    body = api("manager_e").get("/api/v1/escalation_delegation/_info?q=(keys:!(add_columns,edit_columns))")
    assert body.status_code == 200, body.get_json()
    fields = {f["name"]: f for f in body.get_json()["add_columns"]}
    delegates = {v["value"] for v in fields["delegate"]["values"]}
    assert not any(name in value for value in delegates for name in OUTSIDE_E | {"agent_e"})
    assert fields["delegate"]["count"] == len(fields["delegate"]["values"]) == 2  # hq, hq2
    managers = fields["manager"]["values"]
    assert [m["id"] for m in managers] == [factories.user("manager_e").id]


def _window():
    today = clock.today()
    return str(today + timedelta(days=1)), str(today + timedelta(days=3))


@pytest.mark.parametrize("delegate", ["agent_e", "manager_w", "nobody", "auditor"])
def test_api_refuses_a_delegate_who_cannot_decide(world, api, delegate):
    starts, ends = _window()
    r = api("manager_e").post("/api/v1/escalation_delegation/",
                              json={"delegate": factories.user(delegate).id, "starts_on": starts, "ends_on": ends})
    assert r.status_code == 422, r.get_json()
    body = r.get_json()
    assert set(body) >= {"message", "errors"} and "delegate" in body["errors"]
    assert db.session.query(EscalationDelegation).count() == 0


def test_api_accepts_a_decider(world, api):
    starts, ends = _window()
    r = api("manager_e").post("/api/v1/escalation_delegation/",
                              json={"delegate": factories.user("hq2").id, "starts_on": starts, "ends_on": ends})
    assert r.status_code in (200, 201), r.get_json()


def test_the_rule_lives_in_the_service(world):
    second_e = factories.user("manager_w")
    with pytest.raises(Invalid) as err:
        save(EscalationDelegation(manager=factories.user("manager_e"), delegate=factories.user("agent_e"),
                                  starts_on=clock.today(), ends_on=clock.today()))
    assert "delegate" in err.value.errors
    db.session.rollback()
    # a regional manager sharing the region may be named
    world.east.users.append(second_e)
    db.session.commit()
    assert services.may_decide_for(second_e, factories.user("manager_e"))
    save(EscalationDelegation(manager=factories.user("manager_e"), delegate=second_e, starts_on=clock.today(),
                              ends_on=clock.today()))


def test_page_refuses_a_delegate_who_cannot_decide(world, login):
    starts, ends = _window()
    manager = login("manager_e")
    for delegate in ("agent_e", "manager_w"):
        r = manager.post("/escalationdelegationview/add", data={
            "delegate": factories.user(delegate).id, "starts_on": starts, "ends_on": ends, "note": ""})
        assert r.status_code == 200, r.status_code  # the form again, with its error
        assert "has-error" in r.get_data(as_text=True) or "help-block" in r.get_data(as_text=True)
    assert db.session.query(EscalationDelegation).count() == 0
    r = manager.post("/escalationdelegationview/add", data={
        "delegate": factories.user("hq2").id, "starts_on": starts, "ends_on": ends, "note": ""})
    assert r.status_code in (302, 303)
    assert db.session.query(EscalationDelegation).count() == 1
