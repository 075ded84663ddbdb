"""Certification as a hard gate: assigning an engineer to a service order needs them on duty and
holding a valid certificate of every type the order's product category requires."""
from datetime import timedelta

import pytest

from app.core import clock
from app.extensions import db
from app.orders.models import ServiceOrder
from tests import factories
from tests.test_pages_support import assert_form_refused, assert_saved, field_errors, fresh

REFRIGERATION = "制冷与空调作业操作证"
HEIGHT = "高处作业证"
ELECTRICIAN = "低压电工作业证"


def new_engineer(world, status="active", certs=(), **kw):
    e = factories.engineer(world.outlet_e, status=status, employee_no=kw.pop("employee_no", "E4001"), **kw)
    for name in certs:
        factories.certification(e, ctype=factories.cert_type(name))
    db.session.commit()
    return e


def order_payload(world, engineer, category="air_conditioner", **kw):
    return {"number": kw.pop("number", "SO-G-1"), "customer_name": "刘先生", "customer_phone": "13600000000",
            "product_category": factories.category(category).id, "outlet": world.outlet_e.id,
            "engineer": engineer.id if engineer is not None else None, "kind": "install", **kw}


def post_order(client, payload):
    return client.post("/api/v1/service_order/?_l_=en", json=payload)


def test_missing_one_of_two_required_types_is_named(world, api):
    e = new_engineer(world, certs=[REFRIGERATION])
    r = post_order(api("agent_e"), order_payload(world, e))
    assert r.status_code == 422
    assert r.get_json()["errors"] == {"engineer": [f"Missing a valid certificate: {HEIGHT}"]}
    assert db.session.query(ServiceOrder).filter_by(number="SO-G-1").count() == 0


def test_every_missing_type_is_named(world, api):
    e = new_engineer(world)
    r = post_order(api("agent_e"), order_payload(world, e))
    assert r.status_code == 422
    assert sorted(r.get_json()["errors"]["engineer"]) == sorted(
        [f"Missing a valid certificate: {HEIGHT}", f"Missing a valid certificate: {REFRIGERATION}"])


def test_holding_every_required_type_assigns(world, api):
    e = new_engineer(world, certs=[REFRIGERATION, HEIGHT])
    r = post_order(api("agent_e"), order_payload(world, e))
    assert r.status_code == 201, r.get_json()
    assert fresh(ServiceOrder, r.get_json()["id"]).engineer_id == e.id


@pytest.mark.parametrize("days,revoked,ok", [
    (-1, False, False),  # expired yesterday
    (0, False, True),    # expires today: still valid today
    (10, False, True),   # expiring soon: still valid
    (300, True, False),  # revoked
])
def test_expired_or_revoked_certificates_do_not_count(world, api, days, revoked, ok):
    e = new_engineer(world, certs=[REFRIGERATION])
    factories.certification(e, ctype=factories.cert_type(HEIGHT), expires_on=clock.today() + timedelta(days=days),
                            revoked=revoked)
    db.session.commit()
    r = post_order(api("agent_e"), order_payload(world, e))
    if ok:
        assert r.status_code == 201, r.get_json()
    else:
        assert r.status_code == 422
        assert r.get_json()["errors"] == {"engineer": [f"Missing a valid certificate: {HEIGHT}"]}


def test_a_valid_certificate_beside_an_expired_one_of_the_same_type_counts(world, api):
    e = new_engineer(world, certs=[REFRIGERATION, HEIGHT])
    factories.certification(e, ctype=factories.cert_type(HEIGHT), expires_on=clock.today() - timedelta(days=30))
    db.session.commit()
    assert post_order(api("agent_e"), order_payload(world, e)).status_code == 201


@pytest.mark.parametrize("status,label", [("trainee", "Trainee"), ("suspended", "Suspended from duty"),
                                          ("left", "Left")])
def test_only_engineers_on_duty_can_be_assigned(world, api, status, label):
    e = new_engineer(world, status=status, certs=[REFRIGERATION, HEIGHT])
    r = post_order(api("agent_e"), order_payload(world, e))
    assert r.status_code == 422
    assert r.get_json()["errors"] == {
        "engineer": [f"Only an engineer on duty can be assigned; this engineer is {label}."]}


def test_a_category_without_requirements_needs_no_certificate(world, api):
    e = new_engineer(world)
    r = post_order(api("agent_e"), order_payload(world, e, category="television"))
    assert r.status_code == 201, r.get_json()
    # the status gate still applies
    trainee = new_engineer(world, status="trainee", employee_no="E4002")
    r = post_order(api("agent_e"), order_payload(world, trainee, category="television", number="SO-G-2"))
    assert r.status_code == 422 and list(r.get_json()["errors"]) == ["engineer"]


def test_an_order_without_engineer_is_not_checked(world, api):
    r = post_order(api("agent_e"), order_payload(world, None))
    assert r.status_code == 201


def test_editing_without_changing_the_assignment_does_not_recheck(world, api):
    """The world's order is assigned to an engineer whose height certificate was later revoked:
    the order can still be worked on; reassigning or changing the category checks again."""
    world.height_cert_e.revoked = True
    db.session.commit()
    agent = api("agent_e")
    r = agent.put(f"/api/v1/service_order/{world.order_e.id}?_l_=en",
                  json={"status": "dispatched", "customer_name": "李女士", "engineer": world.engineer_e.id})
    assert r.status_code == 200, r.get_json()
    assert fresh(ServiceOrder, world.order_e.id).status == "dispatched"

    r = agent.put(f"/api/v1/service_order/{world.order_e.id}?_l_=en",
                  json={"product_category": factories.category("refrigerator").id})
    assert r.status_code == 200  # the refrigerator needs only the refrigeration certificate, still valid
    r = agent.put(f"/api/v1/service_order/{world.order_e.id}?_l_=en",
                  json={"product_category": factories.category("air_conditioner").id})
    assert r.status_code == 422
    assert r.get_json()["errors"] == {"engineer": [f"Missing a valid certificate: {HEIGHT}"]}

    other = new_engineer(world, certs=[ELECTRICIAN])
    r = agent.put(f"/api/v1/service_order/{world.order_e.id}?_l_=en", json={"engineer": other.id})
    assert r.status_code == 422
    assert fresh(ServiceOrder, world.order_e.id).engineer_id == world.engineer_e.id


def test_the_page_form_shows_the_refusal_on_the_engineer_field(world, login):
    e = new_engineer(world, certs=[HEIGHT])
    agent = login("agent_e")
    agent.post("/language/", data={"locale": "en"})
    data = {"number": "SO-G-9", "customer_name": "钱先生", "customer_phone": "13300000000",
            "customer_address": "上海", "product_category": str(factories.category("air_conditioner").id),
            "outlet": str(world.outlet_e.id), "engineer": str(e.id), "kind": "repair", "status": "created"}
    html = assert_form_refused(agent.post("/serviceorderview/add", data=data))
    assert field_errors(html, "engineer") == [f"Missing a valid certificate: {REFRIGERATION}"]
    factories.certification(e, ctype=factories.cert_type(REFRIGERATION))
    db.session.commit()
    assert_saved(agent.post("/serviceorderview/add", data=data))
    assert db.session.query(ServiceOrder).filter_by(number="SO-G-9").one().engineer_id == e.id
