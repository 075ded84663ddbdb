"""Region scope through the API: lists, show, update, delete, create, moves, related choices.

``manager_e`` and ``agent_e`` are assigned to region E only. The shipped roles let a scoped user
write only service orders, so to prove the mechanism on every other resource these tests also use
``editor_e``: region E, holding a test role with read/write/delete on the network resources.
"""
from datetime import date

import prison
import pytest

from app.engineers.models import Certification, Engineer, TrainingRecord
from app.extensions import db
from app.network.models import Outlet
from app.orders.models import ServiceOrder
from app.parts.models import Stock
from app.security import permissions as p
from tests import factories
from tests.conftest import PASSWORD

EDITOR = "editor_e"
EDITOR_ROLE = "Test Regional Editor"


@pytest.fixture(scope="module")
def _editor_user(app):
    with app.app_context():
        sm = app.appbuilder.sm
        role = sm.find_role(EDITOR_ROLE) or sm.add_role(EDITOR_ROLE)
        for resource in (*p.NETWORK_RESOURCES, *p.REFERENCE_RESOURCES):
            for action in (p.READ, p.WRITE, p.DELETE):
                pv = sm.find_permission_view_menu(action, resource)
                if pv not in role.permissions:
                    sm.add_permission_role(role, pv)
        if not sm.find_user(username=EDITOR):
            sm.add_user(EDITOR, EDITOR, "Test", "editor_e@example.com", [role], password=PASSWORD)
    return EDITOR


@pytest.fixture
def scoped_world(world, _editor_user):
    world.east.users.append(factories.user(EDITOR))
    world.training_e = TrainingRecord(engineer=world.engineer_e, kind="quarterly", taken_on=date(2026, 1, 5),
                                      theory_score=90, practical_score=95)
    world.training_w = TrainingRecord(engineer=world.engineer_w, kind="quarterly", taken_on=date(2026, 1, 5),
                                      theory_score=90, practical_score=95)
    world.central_w = factories.stock(world.part, region=world.west, quantity=50, safety_level=10)
    db.session.add_all([world.training_e, world.training_w])
    db.session.commit()
    return world


def rows(w):
    """resource → (ids in region E, ids in region W)."""
    return {
        "region": ({w.east.id}, {w.west.id}),
        "outlet": ({w.outlet_e.id}, {w.outlet_w.id}),
        "engineer": ({w.engineer_e.id}, {w.engineer_w.id}),
        "certification": ({w.cert_e.id, w.height_cert_e.id}, {w.cert_w.id, w.height_cert_w.id}),
        "training_record": ({w.training_e.id}, {w.training_w.id}),
        "stock": ({w.stock_e.id, w.central_e.id}, {w.stock_w.id, w.central_w.id}),
        "service_order": ({w.order_e.id}, {w.order_w.id}),
    }


@pytest.mark.parametrize("username", ["manager_e", "agent_e", EDITOR])
def test_scoped_users_list_and_show_only_their_regions(scoped_world, api, username):
    client = api(username)
    for resource, (east, west) in rows(scoped_world).items():
        body = client.get(f"/api/v1/{resource}/?q=(page_size:100)").get_json()
        assert set(body["ids"]) == east, resource
        assert body["count"] == len(east), resource
        for pk in east:
            assert client.get(f"/api/v1/{resource}/{pk}").status_code == 200, resource
        for pk in west:
            assert client.get(f"/api/v1/{resource}/{pk}").status_code == 404, resource
    # unscoped reference data is visible in full
    assert client.get("/api/v1/part/").get_json()["count"] == 1


@pytest.mark.parametrize("username", ["hq", "auditor", "admin"])
def test_unrestricted_roles_see_every_region(scoped_world, api, username):
    client = api(username)
    for resource, (east, west) in rows(scoped_world).items():
        assert set(client.get(f"/api/v1/{resource}/?q=(page_size:100)").get_json()["ids"]) == east | west


def test_user_without_regions_sees_nothing(scoped_world, api):
    client = api("nobody")
    for resource in rows(scoped_world):
        assert client.get(f"/api/v1/{resource}/").get_json()["count"] == 0


def test_filters_cannot_reach_outside_the_scope(scoped_world, api):
    client = api("manager_e")
    w = scoped_world
    for resource, filters in [
        ("outlet", [{"col": "region", "opr": "rel_o_m", "value": w.west.id}]),
        ("engineer", [{"col": "outlet", "opr": "rel_o_m", "value": w.outlet_w.id}]),
        ("engineer", [{"col": "outlet", "opr": "in_region", "value": w.west.id}]),
        ("service_order", [{"col": "number", "opr": "eq", "value": "SO-W-1"}]),
    ]:
        body = client.get(f"/api/v1/{resource}/?q=" + prison.dumps({"filters": filters})).get_json()
        assert body["count"] == 0, resource


def _choices(client, resource, column):
    info = client.get(f"/api/v1/{resource}/_info").get_json()
    return sorted(v["id"] for c in info["add_columns"] if c["name"] == column for v in c["values"])


def test_related_choices_in_info_are_scoped(scoped_world, api):
    w = scoped_world
    editor = api(EDITOR)
    assert _choices(editor, "engineer", "outlet") == [w.outlet_e.id]
    assert _choices(editor, "stock", "region") == [w.east.id]
    assert _choices(editor, "certification", "engineer") == [w.engineer_e.id]
    agent = api("agent_e")
    assert _choices(agent, "service_order", "outlet") == [w.outlet_e.id]
    assert _choices(agent, "service_order", "engineer") == [w.engineer_e.id]
    assert _choices(api("hq"), "engineer", "outlet") == sorted([w.outlet_e.id, w.outlet_w.id])
    # readers get the metadata without the (write-only) field choices
    info = api("manager_e").get("/api/v1/engineer/_info").get_json()
    assert info["add_columns"] == [] and info["edit_columns"] == []
    assert info["permissions"] == ["can_read"]


def test_update_and_delete_outside_the_scope_are_404_and_change_nothing(scoped_world, api):
    w = scoped_world
    editor, agent = api(EDITOR), api("agent_e")
    cases = [
        (editor, "outlet", w.outlet_w.id, {"name": "改"}),
        (editor, "engineer", w.engineer_w.id, {"name": "改"}),
        (editor, "certification", w.cert_w.id, {"issuer": "改"}),
        (editor, "training_record", w.training_w.id, {"theory_score": 10}),
        (editor, "stock", w.stock_w.id, {"quantity": 0}),
        (editor, "stock", w.central_w.id, {"quantity": 0}),
        (agent, "service_order", w.order_w.id, {"customer_name": "改"}),
    ]
    for client, resource, pk, change in cases:
        assert client.put(f"/api/v1/{resource}/{pk}", json=change).status_code == 404, resource
        # agents may not delete at all: the permission answers first
        assert client.delete(f"/api/v1/{resource}/{pk}").status_code == (403 if client is agent else 404), resource
    db.session.expire_all()
    assert db.session.get(Outlet, w.outlet_w.id).name == "成都高新网点"
    assert db.session.get(Stock, w.stock_w.id).quantity == 10
    assert db.session.get(Stock, w.central_w.id).quantity == 50
    assert db.session.get(ServiceOrder, w.order_w.id).customer_name == "李女士"
    for model, pk in ((Engineer, w.engineer_w.id), (Certification, w.cert_w.id),
                      (TrainingRecord, w.training_w.id)):
        assert db.session.get(model, pk) is not None


def test_update_and_delete_inside_the_scope_work(scoped_world, api):
    w = scoped_world
    editor = api(EDITOR)
    assert editor.put(f"/api/v1/outlet/{w.outlet_e.id}", json={"contact": "周经理"}).status_code == 200
    assert editor.put(f"/api/v1/stock/{w.central_e.id}", json={"quantity": 7}).status_code == 200
    assert editor.delete(f"/api/v1/training_record/{w.training_e.id}").status_code == 200
    agent = api("agent_e")
    r = agent.put(f"/api/v1/service_order/{w.order_e.id}", json={"status": "dispatched"})
    assert r.status_code == 200 and r.get_json()["result"]["status"] == "dispatched"
    new = agent.post("/api/v1/service_order/", json={
        "number": "SO-E-2", "customer_name": "钱女士", "customer_phone": "13500000000",
        "product_category": factories.category("air_conditioner").id, "outlet": w.outlet_e.id, "kind": "install"})
    assert new.status_code == 201, new.get_json()


def _counts():
    return {m.__tablename__: db.session.query(m).count()
            for m in (Outlet, Engineer, Certification, TrainingRecord, Stock, ServiceOrder)}


def test_creating_in_a_region_outside_the_scope_is_refused_and_writes_nothing(scoped_world, api):
    w = scoped_world
    editor, agent = api(EDITOR), api("agent_e")
    extra = factories.part(sku="P-SCOPE")
    db.session.commit()
    ac = factories.category("air_conditioner").id
    before = _counts()
    cases = [
        (editor, "outlet", {"code": "CD009", "name": "n", "region": w.west.id}),
        (editor, "engineer", {"employee_no": "W9", "name": "n", "outlet": w.outlet_w.id, "hire_date": "2025-01-01"}),
        (editor, "certification", {"engineer": w.engineer_w.id, "certification_type": factories.cert_type().id,
                                   "number": "C-W9", "issued_on": "2026-01-01", "expires_on": "2028-01-01"}),
        (editor, "training_record", {"engineer": w.engineer_w.id, "kind": "quarterly", "taken_on": "2026-02-01"}),
        (editor, "stock", {"outlet": w.outlet_w.id, "part": extra.id, "quantity": 1}),
        (editor, "stock", {"region": w.west.id, "part": extra.id, "quantity": 1}),
        (agent, "service_order", {"number": "SO-W-9", "customer_name": "n", "customer_phone": "1",
                                  "product_category": ac, "outlet": w.outlet_w.id, "kind": "repair"}),
    ]
    for client, resource, payload in cases:
        r = client.post(f"/api/v1/{resource}/", json=payload)
        assert r.status_code in (403, 404), (resource, r.status_code, r.get_json())
        assert r.get_json()["errors"], resource
    assert _counts() == before


def test_moving_a_row_into_a_region_outside_the_scope_is_refused_and_the_row_unchanged(scoped_world, api):
    w = scoped_world
    editor, agent = api(EDITOR), api("agent_e")
    cases = [
        (editor, "outlet", w.outlet_e.id, {"region": w.west.id, "name": "搬走"}),
        (editor, "engineer", w.engineer_e.id, {"outlet": w.outlet_w.id, "name": "搬走"}),
        (editor, "stock", w.stock_e.id, {"outlet": w.outlet_w.id, "quantity": 99}),
        (editor, "stock", w.central_e.id, {"region": w.west.id, "quantity": 99}),
        (editor, "certification", w.cert_e.id, {"engineer": w.engineer_w.id}),
        (agent, "service_order", w.order_e.id, {"outlet": w.outlet_w.id, "engineer": None, "customer_name": "搬走"}),
        (agent, "service_order", w.order_e.id, {"outlet": w.outlet_w.id, "engineer": w.engineer_w.id}),
    ]
    for client, resource, pk, change in cases:
        r = client.put(f"/api/v1/{resource}/{pk}", json=change)
        assert r.status_code in (403, 404), (resource, r.status_code, r.get_json())
    db.session.expire_all()
    outlet = db.session.get(Outlet, w.outlet_e.id)
    assert (outlet.region_id, outlet.name) == (w.east.id, "上海浦东网点")
    engineer = db.session.get(Engineer, w.engineer_e.id)
    assert (engineer.outlet_id, engineer.name) == (w.outlet_e.id, "张工")
    stock = db.session.get(Stock, w.stock_e.id)
    assert (stock.outlet_id, stock.quantity) == (w.outlet_e.id, 10)
    central = db.session.get(Stock, w.central_e.id)
    assert (central.region_id, central.quantity) == (w.east.id, 100)
    assert db.session.get(Certification, w.cert_e.id).engineer_id == w.engineer_e.id
    order = db.session.get(ServiceOrder, w.order_e.id)
    assert (order.outlet_id, order.engineer_id, order.customer_name) == (w.outlet_e.id, w.engineer_e.id, "李女士")


def test_scoped_user_cannot_write_what_the_role_does_not_allow(scoped_world, api):
    w = scoped_world
    agent = api("agent_e")
    assert agent.put(f"/api/v1/outlet/{w.outlet_e.id}", json={"name": "x"}).status_code == 403
    assert agent.post("/api/v1/engineer/", json={}).status_code == 403
    assert agent.delete(f"/api/v1/service_order/{w.order_e.id}").status_code == 403
    manager = api("manager_e")
    assert manager.put(f"/api/v1/service_order/{w.order_e.id}", json={"customer_name": "x"}).status_code == 403
    assert manager.get("/api/v1/setting/").status_code == 403
