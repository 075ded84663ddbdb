"""Region scope on the pages: lists, show, edit, delete, actions, forms and related-field search."""
import pytest

from app.engineers.models import Engineer
from app.extensions import db
from app.network.models import Outlet
from app.orders.models import ServiceOrder
from tests import factories
from tests.conftest import PASSWORD
from tests.test_pages_support import field_errors, fresh, list_body, row_ids

CLERK = "clerk_e"


@pytest.fixture
def clerk(app, world, login):
    """A region-E user allowed to read, write and delete service orders (a scoped deleter)."""
    sm = app.appbuilder.sm
    role = sm.find_role("Test Order Clerk") or sm.add_role("Test Order Clerk")
    for perm in ("can_read", "can_write", "can_delete"):
        pv = sm.find_permission_view_menu(perm, "ServiceOrder")
        if pv not in role.permissions:
            sm.add_permission_role(role, pv)
    if sm.find_user(username=CLERK) is None:
        sm.add_user(CLERK, "Clerk", "East", "clerk_e@example.com", [role], password=PASSWORD)
    world.east.users.append(factories.user(CLERK))
    db.session.commit()
    return login(CLERK)


@pytest.mark.parametrize("view, east, west", [
    ("regionview", "华东区", "华西区"),
    ("outletview", "SH001", "CD001"),
    ("engineerview", "E1001", "W1001"),
    ("certificationview", "上海浦东网点", "成都高新网点"),
    ("stockview", "上海浦东网点", "成都高新网点"),
    ("serviceorderview", "SO-E-1", "SO-W-1"),
])
def test_manager_lists_only_their_region(world, login, view, east, west):
    html = list_body(login("manager_e").get(f"/{view}/list/").get_data(as_text=True))
    assert east in html
    assert west not in html


def test_manager_sees_only_region_e_counts(world, login):
    c = login("manager_e")
    assert row_ids(c.get("/engineerview/list/").get_data(as_text=True)) == [world.engineer_e.id]
    stock = row_ids(c.get("/stockview/list/").get_data(as_text=True))
    assert sorted(stock) == sorted([world.stock_e.id, world.central_e.id])


@pytest.mark.parametrize("view, attr", [
    ("outletview", "outlet_w"), ("engineerview", "engineer_w"), ("certificationview", "cert_w"),
    ("stockview", "stock_w"), ("serviceorderview", "order_w"), ("regionview", "west"),
])
def test_show_of_other_region_is_not_found(world, login, view, attr):
    c = login("manager_e")
    assert c.get(f"/{view}/show/{getattr(world, attr).id}").status_code == 404
    east_attr = attr.replace("_w", "_e").replace("west", "east")
    assert c.get(f"/{view}/show/{getattr(world, east_attr).id}").status_code == 200


def test_edit_of_other_region_is_not_found(world, login):
    agent = login("agent_e")
    assert agent.get(f"/serviceorderview/edit/{world.order_w.id}").status_code == 404
    resp = agent.post(f"/serviceorderview/edit/{world.order_w.id}", data={"customer_name": "篡改"})
    assert resp.status_code == 404
    assert fresh(ServiceOrder, world.order_w.id).customer_name == "李女士"


def test_delete_of_other_region_is_not_found(world, clerk):
    assert clerk.post(f"/serviceorderview/delete/{world.order_w.id}").status_code == 404
    assert fresh(ServiceOrder, world.order_w.id) is not None
    # the same user deletes an order of their own region
    assert clerk.post(f"/serviceorderview/delete/{world.order_e.id}").status_code in (302, 303)
    assert fresh(ServiceOrder, world.order_e.id) is None


def test_actions_refuse_out_of_scope_rows(world, clerk):
    resp = clerk.post("/serviceorderview/action_post",
                      data={"action": "muldelete", "rowid": [str(world.order_e.id), str(world.order_w.id)]})
    assert resp.status_code == 404
    assert fresh(ServiceOrder, world.order_e.id) is not None  # all or nothing
    assert fresh(ServiceOrder, world.order_w.id) is not None

    assert clerk.post(f"/serviceorderview/action/muldelete/{world.order_w.id}").status_code == 404
    assert fresh(ServiceOrder, world.order_w.id) is not None

    resp = clerk.post("/serviceorderview/action_post", data={"action": "muldelete", "rowid": [str(world.order_e.id)]})
    assert resp.status_code in (302, 303)
    assert fresh(ServiceOrder, world.order_e.id) is None


def test_actions_need_the_delete_right(world, login):
    agent = login("agent_e")
    resp = agent.post("/serviceorderview/action_post", data={"action": "muldelete", "rowid": [str(world.order_e.id)]})
    assert resp.status_code in (302, 303)  # FAB flashes "access denied" and goes back
    assert fresh(ServiceOrder, world.order_e.id) is not None
    assert agent.post("/serviceorderview/action_post", data={"action": "nope", "rowid": ["1"]}).status_code == 404


def _order_form(world, **overrides):
    data = {"number": "SO-E-200", "customer_name": "赵女士", "customer_phone": "13600000000",
            "customer_address": "上海", "product_category": str(factories.category("air_conditioner").id),
            "outlet": str(world.outlet_e.id), "engineer": "", "kind": "repair", "status": "created"}
    data.update(overrides)
    return data


def test_agent_cannot_create_order_at_other_region_outlet(world, login):
    agent = login("agent_e")
    resp = agent.post("/serviceorderview/add", data=_order_form(world, outlet=str(world.outlet_w.id)))
    assert resp.status_code == 200
    assert field_errors(resp.get_data(as_text=True), "outlet")
    assert db.session.query(ServiceOrder).filter_by(number="SO-E-200").count() == 0


def test_agent_cannot_move_order_to_other_region(world, login):
    agent = login("agent_e")
    order = world.order_e
    data = _order_form(world, number=order.number, outlet=str(world.outlet_w.id))
    resp = agent.post(f"/serviceorderview/edit/{order.id}", data=data)
    assert resp.status_code == 200
    assert field_errors(resp.get_data(as_text=True), "outlet")
    order = fresh(ServiceOrder, order.id)
    assert order.outlet_id == world.outlet_e.id and order.customer_name == "李女士"


def test_agent_cannot_attach_engineer_of_other_region(world, login):
    agent = login("agent_e")
    resp = agent.post("/serviceorderview/add", data=_order_form(world, engineer=str(world.engineer_w.id)))
    assert field_errors(resp.get_data(as_text=True), "engineer")
    assert db.session.query(ServiceOrder).filter_by(number="SO-E-200").count() == 0


def test_engineer_of_another_outlet_is_a_field_error(world, login):
    """In scope but inconsistent: the service rule answers on the engineer field."""
    other = factories.outlet(world.east, code="SH009", name="上海松江网点")
    eng = factories.engineer(other, employee_no="E9009")
    db.session.commit()
    agent = login("agent_e")
    resp = agent.post("/serviceorderview/add", data=_order_form(world, engineer=str(eng.id)))
    assert resp.status_code == 200
    assert field_errors(resp.get_data(as_text=True), "engineer")
    assert db.session.query(ServiceOrder).filter_by(number="SO-E-200").count() == 0


def test_nobody_without_regions_sees_no_rows(world, login):
    c = login("nobody")
    assert row_ids(c.get("/outletview/list/").get_data(as_text=True)) == []
    assert c.get("/engineerview/related/outlet").get_json()["results"] == []


# --- related-field search ----------------------------------------------------------------------

def test_related_search_is_scoped(world, login):
    east = login("manager_e").get("/engineerview/related/outlet").get_json()
    assert [r["id"] for r in east["results"]] == [world.outlet_e.id]
    assert east["results"][0]["text"] == world.outlet_e.picker_label()  # "SH001 上海浦东网点（华东区）"
    hq = login("hq").get("/engineerview/related/outlet").get_json()
    assert {r["id"] for r in hq["results"]} == {world.outlet_e.id, world.outlet_w.id}
    regions = login("manager_e").get("/certificationview/related/region").get_json()
    assert [r["text"] for r in regions["results"]] == ["华东区"]


def test_related_search_is_capped_and_paged(world, login):
    for i in range(30):
        factories.outlet(world.east, code=f"PD{i:03d}", name=f"浦东{i}号网点")
    db.session.commit()
    c = login("manager_e")
    first = c.get("/engineerview/related/outlet?q=PD").get_json()
    assert len(first["results"]) == 20 and first["more"] is True
    assert first["results"][0]["text"].startswith("PD000")
    second = c.get("/engineerview/related/outlet?q=PD&page=2").get_json()
    assert len(second["results"]) == 10 and second["more"] is False
    assert not {r["id"] for r in first["results"]} & {r["id"] for r in second["results"]}
    by_name = c.get("/engineerview/related/outlet?q=浦东2").get_json()
    assert {r["text"].split(" (")[0].split("（")[0] for r in by_name["results"]} >= {"PD002 浦东2号网点",
                                                                                    "PD020 浦东20号网点"}
    # the term is matched literally: a wildcard finds nothing
    assert c.get("/engineerview/related/outlet?q=%25").get_json()["results"] == []


def test_related_search_narrowed_by_outlet(world, login):
    other = factories.outlet(world.east, code="SH010", name="上海青浦网点")
    factories.engineer(other, employee_no="E1010")
    db.session.commit()
    agent = login("agent_e")
    rows = agent.get(f"/serviceorderview/related/engineer?outlet={world.outlet_e.id}").get_json()["results"]
    assert [r["text"] for r in rows] == ["E1001 张工 · SH001 上海浦东网点"]
    both = agent.get("/serviceorderview/related/engineer").get_json()["results"]
    assert {r["text"] for r in both} == {"E1001 张工 · SH001 上海浦东网点", "E1010 张工 · SH010 上海青浦网点"}


def test_related_search_permissions(world, login):
    manager = login("manager_e")
    # assigned users are only chosen on the region form: it needs the write right
    assert manager.get("/regionview/related/users").status_code == 403
    assert login("hq").get("/regionview/related/users?q=manager").status_code == 200
    assert manager.get("/engineerview/related/nope").status_code == 404
    # a Regional Manager may not write service orders, but may search them by outlet on the list
    assert manager.get("/serviceorderview/related/outlet").status_code == 200
    assert manager.get("/serviceorderview/related/engineer").status_code == 200


def test_no_form_loads_a_whole_table(world, login):
    for i in range(5):
        factories.outlet(world.east, code=f"BULK{i}", name=f"批量网点{i}")
    db.session.commit()
    html = login("hq").get("/engineerview/add").get_data(as_text=True)
    assert "BULK" not in html  # outlets are fetched by search, not listed in the page
    html = login("hq").get(f"/engineerview/edit/{world.engineer_e.id}").get_data(as_text=True)
    assert f'<option selected value="{world.outlet_e.id}">{world.outlet_e.picker_label()}</option>' in html
    assert "BULK" not in html and "CD001" not in html
    html = login("hq").get("/engineerview/list/").get_data(as_text=True)
    assert "BULK" not in html.split('<table class="table table-bordered table-hover">')[0]


def test_add_prefilled_from_filter_stays_scoped(world, login):
    """``?_flt_0_outlet=<id>`` preselects the outlet; an out-of-scope id preselects nothing."""
    agent = login("agent_e")
    resp = agent.post(f"/serviceorderview/add?_flt_0_outlet={world.outlet_w.id}",
                      data=_order_form(world, outlet=str(world.outlet_w.id)))
    assert resp.status_code in (200, 403, 404)
    assert db.session.query(ServiceOrder).filter_by(number="SO-E-200").count() == 0
    assert db.session.query(Outlet).count() == 2 and db.session.query(Engineer).count() == 2


def test_auditor_reads_everything_and_changes_nothing(world, login):
    auditor = login("auditor")
    assert sorted(row_ids(auditor.get("/outletview/list/").get_data(as_text=True))) == sorted(
        [world.outlet_e.id, world.outlet_w.id])
    assert auditor.get(f"/engineerview/show/{world.engineer_w.id}").status_code == 200
    assert auditor.get("/settingview/list/").status_code == 200
    assert auditor.get("/engineerview/add").status_code == 403
    assert auditor.post(f"/engineerview/edit/{world.engineer_w.id}", data={"name": "x"}).status_code == 403
    assert auditor.post(f"/engineerview/delete/{world.engineer_w.id}").status_code == 403
    assert fresh(Engineer, world.engineer_w.id).name == "张工"
    # searching on a list is reading; searching a form-only field is not
    assert auditor.get("/engineerview/related/outlet").status_code == 200
    assert auditor.get("/regionview/related/users").status_code == 403


def test_related_search_needs_a_login(world, app):
    resp = app.test_client().get("/engineerview/related/outlet")
    assert resp.status_code in (302, 401, 403)
    assert b"SH001" not in resp.data
