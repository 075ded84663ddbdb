"""Customers' phone numbers (PIPL): masked for roles that do not need them, revealed one at a time
with an audit event, through the API and the pages alike."""
import json

import prison
import pytest

from app.audit_trail.models import AuditEvent
from app.core.personal import mask_phone, mask_changes
from app.extensions import db
from app.security import permissions as p
from tests import factories
from tests.conftest import PASSWORD
from tests.test_complaints_lifecycle import new_complaint

COMPLAINT_PHONE = "13912345678"
COMPLAINT_MASKED = "139****5678"
ORDER_PHONE = "13800001234"  # tests.factories.service_order
ORDER_MASKED = "138****1234"

MASKED_USERS = ["manager_e", "auditor"]
FULL_USERS = ["agent_e", "hq", "admin"]
NO_REVEAL_USER = "phone_blind"


# --- mask_phone ----------------------------------------------------------------------------------

@pytest.mark.parametrize("value,expected", [
    ("13812341234", "138****1234"),            # 11-digit mobile: the middle four hidden
    (" 13812341234 ", "138****1234"),
    ("021-12345678", "021****5678"),           # landline with a dash: length hidden too
    ("0755-87654321", "075****4321"),
    ("+86 138 1234 5678", "+86****5678"),
    ("1234567890", "123****890"),              # 8 to 10 characters: at least 4 hidden
    ("12345678", "123****8"),
    ("1234567", "*******"),                    # under 8 characters: all starred
    ("123", "****"),
    ("", ""),
    (None, None),
])
def test_mask_phone(value, expected):
    assert mask_phone(value) == expected


def test_mask_phone_always_hides_at_least_four_characters():
    for n in range(1, 20):
        value = "".join(str(i % 10) for i in range(n))
        masked = mask_phone(value)
        shown = [c for c in masked if c != "*"]
        assert len(shown) <= max(0, n - 4), (value, masked)
        assert masked.count("*") >= 4


# --- fixtures ------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def phone_blind_user(app):
    """A user who reads complaints and orders but holds no CustomerPhone permission."""
    with app.app_context():
        sm = app.appbuilder.sm
        role = sm.find_role("Test Phone Blind") or sm.add_role("Test Phone Blind")
        pvs = [sm.find_permission_view_menu(p.READ, r) for r in (p.COMPLAINT, p.SERVICE_ORDER)]
        role.permissions = [pv for pv in pvs if pv is not None]
        db.session.commit()
        if not sm.find_user(username=NO_REVEAL_USER):
            sm.add_user(NO_REVEAL_USER, "Phone", "Blind", "blind@example.com", [role], password=PASSWORD)
    return NO_REVEAL_USER


@pytest.fixture
def complaint(world):
    return new_complaint(world)


def _max_event_id():
    return db.session.query(db.func.max(AuditEvent.id)).scalar() or 0


def _reveal_events(since):
    db.session.expire_all()
    return db.session.query(AuditEvent).filter(AuditEvent.id > since, AuditEvent.action == "reveal_phone").all()


def _no_full_number(response, *numbers):
    for number in numbers:
        assert number.encode() not in response.data, f"{number} leaked in {response.request.path}"


def q(**kwargs):
    return "?q=" + prison.dumps(kwargs)


# --- the policy is data ------------------------------------------------------------------------

def test_permissions_are_synced_and_admin_holds_them(app):
    sm = app.appbuilder.sm
    for action in (p.READ, p.REVEAL):
        assert sm.find_permission_view_menu(action, p.CUSTOMER_PHONE) is not None
    admin = sm.find_role("Admin")
    names = {(pv.permission.name, pv.view_menu.name) for pv in admin.permissions}
    assert {(p.READ, p.CUSTOMER_PHONE), (p.REVEAL, p.CUSTOMER_PHONE)} <= names


# --- API: masked payloads ----------------------------------------------------------------------

@pytest.mark.parametrize("user", MASKED_USERS)
def test_api_masks_phones_for_maskers(world, complaint, api, user):
    client = api(user)
    listed = client.get("/api/v1/complaint/")
    assert listed.status_code == 200
    rows = {r["id"]: r for r in listed.get_json()["result"]}
    assert rows[complaint.id]["customer_phone"] == COMPLAINT_MASKED
    _no_full_number(listed, COMPLAINT_PHONE)

    shown = client.get(f"/api/v1/complaint/{complaint.id}")
    assert shown.get_json()["result"]["customer_phone"] == COMPLAINT_MASKED
    _no_full_number(shown, COMPLAINT_PHONE)

    selected = client.get(f"/api/v1/complaint/{complaint.id}" + q(columns=["customer_phone"]))
    assert selected.get_json()["result"]["customer_phone"] == COMPLAINT_MASKED

    orders = client.get("/api/v1/service_order/")
    assert orders.status_code == 200
    assert {r["customer_phone"] for r in orders.get_json()["result"]} == {ORDER_MASKED}
    _no_full_number(orders, ORDER_PHONE)
    order = client.get(f"/api/v1/service_order/{world.order_e.id}")
    assert order.get_json()["result"]["customer_phone"] == ORDER_MASKED
    _no_full_number(order, ORDER_PHONE)

    timeline = client.get(f"/api/v1/complaint/{complaint.id}/timeline")
    _no_full_number(timeline, COMPLAINT_PHONE)


@pytest.mark.parametrize("user", FULL_USERS)
def test_api_shows_full_phones_to_readers(world, complaint, api, user):
    client = api(user)
    rows = {r["id"]: r for r in client.get("/api/v1/complaint/").get_json()["result"]}
    assert rows[complaint.id]["customer_phone"] == COMPLAINT_PHONE
    assert client.get(f"/api/v1/complaint/{complaint.id}").get_json()["result"]["customer_phone"] == COMPLAINT_PHONE
    order = client.get(f"/api/v1/service_order/{world.order_e.id}").get_json()["result"]
    assert order["customer_phone"] == ORDER_PHONE


def test_api_search_by_phone_matches_only_the_whole_number_for_maskers(world, complaint, api):
    def ids(client, opr, value, resource="complaint"):
        r = client.get(f"/api/v1/{resource}/" + q(filters=[{"col": "customer_phone", "opr": opr, "value": value}]))
        assert r.status_code == 200, r.get_json()
        return r

    manager = api("manager_e")
    for opr, value in (("ct", "1391"), ("sw", "139"), ("ew", "5678"), ("eq", "139")):
        assert ids(manager, opr, value).get_json()["count"] == 0, opr
    found = ids(manager, "ct", COMPLAINT_PHONE)
    assert found.get_json()["ids"] == [complaint.id]
    assert found.get_json()["result"][0]["customer_phone"] == COMPLAINT_MASKED
    assert ids(manager, "eq", COMPLAINT_PHONE).get_json()["ids"] == [complaint.id]
    assert ids(manager, "nct", "1391").get_json()["ids"] == [complaint.id]  # not equal to "1391"
    assert ids(manager, "sw", "138", "service_order").get_json()["count"] == 0
    assert ids(manager, "eq", ORDER_PHONE, "service_order").get_json()["ids"] == [world.order_e.id]

    agent = api("agent_e")
    assert ids(agent, "ct", "1391").get_json()["ids"] == [complaint.id]
    assert ids(agent, "sw", "138", "service_order").get_json()["ids"] == [world.order_e.id]


# --- pages: masked lists and show pages --------------------------------------------------------

@pytest.mark.parametrize("user", MASKED_USERS)
def test_pages_mask_phones_for_maskers(world, complaint, login, user):
    client = login(user)
    for url, full in (("/complaintview/list/", COMPLAINT_PHONE), ("/serviceorderview/list/", ORDER_PHONE)):
        r = client.get(url)
        assert r.status_code == 200
        _no_full_number(r, full)

    show = client.get(f"/complaintview/show/{complaint.id}")
    assert show.status_code == 200
    html = show.get_data(as_text=True)
    assert COMPLAINT_MASKED in html
    assert f"/complaintview/show/{complaint.id}/reveal_phone" in html
    _no_full_number(show, COMPLAINT_PHONE)

    order = client.get(f"/serviceorderview/show/{world.order_e.id}")
    assert order.status_code == 200
    assert ORDER_MASKED in order.get_data(as_text=True)
    assert f"/serviceorderview/show/{world.order_e.id}/reveal_phone" in order.get_data(as_text=True)
    _no_full_number(order, ORDER_PHONE)


def test_escalation_desk_does_not_leak_the_phone(world, complaint, login):
    r = login("manager_e").get("/desk/")
    assert r.status_code == 200
    _no_full_number(r, COMPLAINT_PHONE)


@pytest.mark.parametrize("user", FULL_USERS)
def test_pages_show_full_phones_to_readers(world, complaint, login, user):
    client = login(user)
    show = client.get(f"/complaintview/show/{complaint.id}").get_data(as_text=True)
    assert COMPLAINT_PHONE in show and "reveal_phone" not in show
    order = client.get(f"/serviceorderview/show/{world.order_e.id}").get_data(as_text=True)
    assert ORDER_PHONE in order and "reveal_phone" not in order


def test_page_search_by_phone_matches_only_the_whole_number_for_maskers(world, complaint, login):
    # filter 0 of the phone column is "contains", 2 "starts with"
    manager = login("manager_e")
    partial = manager.get("/complaintview/list/?_flt_0_customer_phone=1391")
    assert complaint.number not in partial.get_data(as_text=True)
    _no_full_number(partial, COMPLAINT_PHONE)
    starts = manager.get("/serviceorderview/list/?_flt_2_customer_phone=138")
    assert world.order_e.number not in starts.get_data(as_text=True)
    whole = manager.get(f"/complaintview/list/?_flt_0_customer_phone={COMPLAINT_PHONE}")
    assert complaint.number in whole.get_data(as_text=True)

    agent = login("agent_e")
    assert complaint.number in agent.get("/complaintview/list/?_flt_0_customer_phone=1391").get_data(as_text=True)


def test_edit_form_shows_the_full_number_to_writers_only(world, complaint, login):
    agent = login("agent_e")
    r = agent.get(f"/complaintview/edit/{complaint.id}")
    assert r.status_code == 200 and COMPLAINT_PHONE in r.get_data(as_text=True)
    manager = login("manager_e")
    r = manager.get(f"/complaintview/edit/{complaint.id}")
    assert r.status_code != 200
    _no_full_number(r, COMPLAINT_PHONE)


def test_masked_number_sent_back_unchanged_keeps_the_stored_one(world, complaint, app):
    """A role with write but without CustomerPhone (none today) never overwrites a number with its mask."""
    from app.core import scope
    from app.core.personal import _keep_stored_if_masked

    with app.test_request_context(), scope.acting_as(factories.user("agent_e")):
        # agent_e sees numbers: a masked value typed in is kept as typed
        complaint.customer_phone = COMPLAINT_MASKED
        _keep_stored_if_masked(complaint)
        assert complaint.customer_phone == COMPLAINT_MASKED
    db.session.rollback()
    with app.test_request_context(), scope.acting_as(factories.user("nobody")):  # reveal, no read
        complaint.customer_phone = COMPLAINT_MASKED
        _keep_stored_if_masked(complaint)
        assert complaint.customer_phone == COMPLAINT_PHONE
    db.session.rollback()


def test_mask_changes_for_the_history(world, app):
    from app.core import scope

    changes = {"customer_phone": [None, COMPLAINT_PHONE], "customer_name": [None, "王先生"]}
    with app.test_request_context():
        with scope.acting_as(factories.user("auditor")):
            masked = mask_changes("complaint", changes)
        with scope.acting_as(factories.user("hq")):
            full = mask_changes("complaint", changes)
    assert masked == {"customer_phone": [None, COMPLAINT_MASKED], "customer_name": [None, "王先生"]}
    assert full == changes
    assert mask_changes("outlet", changes) == changes


# --- reveal --------------------------------------------------------------------------------------

@pytest.mark.parametrize("user", MASKED_USERS)
def test_reveal_through_the_api_is_logged_once(world, complaint, api, user):
    since = _max_event_id()
    client = api(user)
    r = client.post(f"/api/v1/complaint/{complaint.id}/reveal_phone")
    assert r.status_code == 200, r.get_json()
    assert r.get_json() == {"customer_phone": COMPLAINT_PHONE}
    r = client.post(f"/api/v1/service_order/{world.order_e.id}/reveal_phone")
    assert r.get_json() == {"customer_phone": ORDER_PHONE}

    events = _reveal_events(since)
    assert len(events) == 2
    uid = factories.user(user).id
    by_entity = {e.entity: e for e in events}
    assert by_entity["complaint"].record_id == str(complaint.id)
    assert by_entity["service_order"].record_id == str(world.order_e.id)
    for event in events:
        assert event.actor_id == uid and event.actor_kind == "user"
        assert json.loads(event.changes) == {"field": "customer_phone"}
    # the reveal shows the number once: the records themselves stay masked
    assert client.get(f"/api/v1/complaint/{complaint.id}").get_json()["result"]["customer_phone"] == COMPLAINT_MASKED


def test_reader_may_reveal_too_and_it_is_logged(world, complaint, api):
    since = _max_event_id()
    r = api("agent_e").post(f"/api/v1/complaint/{complaint.id}/reveal_phone")
    assert r.get_json() == {"customer_phone": COMPLAINT_PHONE}
    assert len(_reveal_events(since)) == 1


def test_reveal_on_the_page_is_logged_once(world, complaint, login):
    since = _max_event_id()
    client = login("manager_e")
    r = client.post(f"/complaintview/show/{complaint.id}/reveal_phone")
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    assert COMPLAINT_PHONE in html
    events = _reveal_events(since)
    assert len(events) == 1
    assert (events[0].entity, events[0].record_id, events[0].actor_id) == (
        "complaint", str(complaint.id), factories.user("manager_e").id)
    assert json.loads(events[0].changes) == {"field": "customer_phone"}
    # the next visit is masked again
    _no_full_number(client.get(f"/complaintview/show/{complaint.id}"), COMPLAINT_PHONE)

    r = login("auditor").post(f"/serviceorderview/show/{world.order_e.id}/reveal_phone")
    assert r.status_code == 200 and ORDER_PHONE in r.get_data(as_text=True)
    events = _reveal_events(since)
    assert len(events) == 2
    order_event = [e for e in events if e.entity == "service_order"][0]
    assert (order_event.record_id, order_event.actor_id) == (str(world.order_e.id), factories.user("auditor").id)


def test_reveal_outside_the_region_is_404_and_not_logged(world, complaint, api, login):
    since = _max_event_id()
    assert api("manager_w").post(f"/api/v1/complaint/{complaint.id}/reveal_phone").status_code == 404
    assert api("manager_e").post(f"/api/v1/service_order/{world.order_w.id}/reveal_phone").status_code == 404
    assert api("nobody").post(f"/api/v1/complaint/{complaint.id}/reveal_phone").status_code == 404
    assert api("manager_e").post("/api/v1/complaint/999999/reveal_phone").status_code == 404
    r = login("manager_w").post(f"/complaintview/show/{complaint.id}/reveal_phone")
    assert r.status_code == 404
    _no_full_number(r, COMPLAINT_PHONE)
    assert _reveal_events(since) == []


def test_reveal_without_the_permission_is_403_and_not_logged(world, complaint, api, login, phone_blind_user):
    world.east.users.append(factories.user(phone_blind_user))
    db.session.commit()
    since = _max_event_id()
    client = api(phone_blind_user)
    shown = client.get(f"/api/v1/complaint/{complaint.id}")
    assert shown.status_code == 200 and shown.get_json()["result"]["customer_phone"] == COMPLAINT_MASKED
    r = client.post(f"/api/v1/complaint/{complaint.id}/reveal_phone")
    assert r.status_code == 403
    assert set(r.get_json()) == {"message", "errors"}
    _no_full_number(r, COMPLAINT_PHONE)
    assert client.post(f"/api/v1/service_order/{world.order_e.id}/reveal_phone").status_code == 403

    page = login(phone_blind_user)
    show = page.get(f"/complaintview/show/{complaint.id}")
    assert show.status_code == 200
    assert COMPLAINT_MASKED in show.get_data(as_text=True)
    assert "reveal_phone" not in show.get_data(as_text=True)  # no button without the permission
    r = page.post(f"/complaintview/show/{complaint.id}/reveal_phone", follow_redirects=True)
    _no_full_number(r, COMPLAINT_PHONE)
    assert _reveal_events(since) == []


def test_reveal_needs_a_login(world, complaint, app):
    client = app.test_client()
    assert client.post(f"/api/v1/complaint/{complaint.id}/reveal_phone").status_code == 401
    r = client.post(f"/complaintview/show/{complaint.id}/reveal_phone")
    assert r.status_code in (302, 303)
