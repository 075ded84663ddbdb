"""Lists cost a fixed number of statements, whatever the page size or page: no per-row loads, no
per-row permission checks, the signed-in user with roles, permissions and regions read in one
statement (API ≤ 6, page ≤ 8). Permission and region changes count from the very next request."""
import pytest
from sqlalchemy import delete, event, select

from app.complaints.models import Complaint
from app.core import clock, datamodel
from app.extensions import db
from tests import factories

API_BUDGET = 6
PAGE_BUDGET = 8
ROWS = 25  # more than one page of 10, less than one of 100

API_LISTS = ["complaint", "service_order", "outlet", "engineer", "certification", "stock", "part", "escalation",
             "qualification_audit"]
PAGE_LISTS = ["ComplaintView", "ServiceOrderView", "OutletView", "EngineerView", "CertificationView", "StockView", "PartView",
              "EscalationView", "QualificationAuditView"]


@pytest.fixture
def rows(world):
    for i in range(ROWS):
        db.session.add(Complaint(number=f"LS-{i:04d}", customer_name="王先生", customer_phone="13912345678",
                                 outlet=world.outlet_e, severity="general", description="空调不制冷", status="new",
                                 received_at=clock.now()))
        factories.service_order(world.outlet_e, world.engineer_e, number=f"SO-LS-{i}")
        engineer = factories.engineer(world.outlet_e, employee_no=f"E9{i:03d}")
        factories.certification(engineer)
    db.session.commit()
    return world


class Statements:
    def __init__(self):
        self.count = 0

    def __call__(self, conn, cursor, statement, params, context, executemany):
        self.count += 1

    def __enter__(self):
        self.count = 0
        event.listen(db.engine, "before_cursor_execute", self)
        return self

    def __exit__(self, *exc):
        event.remove(db.engine, "before_cursor_execute", self)


def _api_list(client, resource, page, page_size):
    with Statements() as counter:
        resp = client.get(f"/api/v1/{resource}/?q=(page:{page},page_size:{page_size})")
    assert resp.status_code == 200, (resource, resp.get_json())
    return counter.count, resp.get_json()


def _page_list(client, view, page, page_size):
    with Statements() as counter:
        resp = client.get(f"/{view.lower()}/list/?psize_{view}={page_size}&page_{view}={page}")
    assert resp.status_code == 200, view
    return counter.count


@pytest.mark.parametrize("resource", API_LISTS)
def test_api_list_statements_do_not_grow_with_the_page(rows, api, resource):
    client = api("manager_e")
    _api_list(client, resource, 0, 10)  # the process's first request reads the permission catalogue
    counts = {(page, size): _api_list(client, resource, page, size)[0] for page, size in
              [(0, 10), (0, 100), (2, 10)]}
    assert max(counts.values()) <= API_BUDGET, counts
    assert counts[(0, 10)] == counts[(0, 100)] and counts[(2, 10)] <= counts[(0, 10)], counts


@pytest.mark.parametrize("view", PAGE_LISTS)
def test_page_list_statements_do_not_grow_with_the_page(rows, login, view):
    client = login("manager_e")
    _page_list(client, view, 0, 10)
    counts = {(page, size): _page_list(client, view, page, size) for page, size in [(0, 10), (0, 100), (2, 10)]}
    assert max(counts.values()) <= PAGE_BUDGET, counts
    assert counts[(0, 10)] == counts[(0, 100)] and counts[(2, 10)] <= counts[(0, 10)], counts


def test_authentication_is_one_statement(rows, api, login):
    """The user, credential version, roles, permissions and regions: one statement; a list adds
    its count and its rows."""
    client = api("manager_e")
    _api_list(client, "engineer", 0, 10)
    count, body = _api_list(client, "engineer", 0, 10)
    assert count == 3
    assert body["count"] == ROWS + 1 and body["count_exact"] is True


def test_count_beyond_the_limit_is_a_lower_bound(rows, api, login, monkeypatch):
    monkeypatch.setattr(datamodel, "COUNT_LIMIT", 10)
    client = api("manager_e")
    _, body = _api_list(client, "complaint", 0, 5)
    assert body["count"] == 11 and body["count_exact"] is False and len(body["result"]) == 5
    _, body = _api_list(client, "complaint", 3, 5)  # a page past the limit: still a next page
    assert body["count"] == 21 and body["count_exact"] is False and len(body["result"]) == 5
    _, body = _api_list(client, "complaint", 4, 5)  # the last page: exact again
    assert body["count"] == ROWS and body["count_exact"] is True and len(body["result"]) == 5
    html = login("manager_e").get("/complaintview/list/?psize_ComplaintView=10").get_data(as_text=True)
    assert "超过 10" in html or "more than 10" in html


def test_a_permission_removed_from_a_role_counts_from_the_next_request(rows, api, login, app):
    from flask_appbuilder.security.sqla.models import (
        Permission, PermissionView, Role, ViewMenu, assoc_permissionview_role,
    )

    client, page = api("manager_e"), login("manager_e")
    assert client.get("/api/v1/complaint/").status_code == 200
    assert page.get("/complaintview/list/").status_code == 200
    role_id = db.session.scalar(select(Role.id).where(Role.name == "Regional Manager"))
    pv_ids = db.session.scalars(
        select(PermissionView.id).join(Permission).join(ViewMenu)
        .where(Permission.name == "can_read", ViewMenu.name.in_(["Complaint", "ComplaintView"]))).all()
    removed = db.session.execute(select(assoc_permissionview_role.c.permission_view_id).where(
        assoc_permissionview_role.c.role_id == role_id,
        assoc_permissionview_role.c.permission_view_id.in_(pv_ids))).scalars().all()
    assert removed
    db.session.execute(delete(assoc_permissionview_role).where(
        assoc_permissionview_role.c.role_id == role_id,
        assoc_permissionview_role.c.permission_view_id.in_(removed)))
    db.session.commit()
    try:
        assert client.get("/api/v1/complaint/").status_code == 403
        assert page.get("/complaintview/list/").status_code in (302, 403)
    finally:
        db.session.execute(assoc_permissionview_role.insert(), [
            {"role_id": role_id, "permission_view_id": pv} for pv in removed])
        db.session.commit()
    assert client.get("/api/v1/complaint/").status_code == 200


def test_a_region_change_counts_from_the_next_request(rows, api, login):
    from app.network.models import region_user

    client, page = api("manager_e"), login("manager_e")
    numbers = {r["number"] for r in client.get("/api/v1/complaint/?q=(page_size:100)").get_json()["result"]}
    assert len(numbers) == ROWS
    user_id = factories.user("manager_e").id
    db.session.execute(delete(region_user).where(region_user.c.user_id == user_id))
    db.session.execute(region_user.insert().values(user_id=user_id, region_id=rows.west.id))
    db.session.commit()
    assert client.get("/api/v1/complaint/?q=(page_size:100)").get_json()["count"] == 0
    assert "LS-0001" not in page.get("/complaintview/list/").get_data(as_text=True)
    orders = client.get("/api/v1/service_order/?q=(page_size:100)").get_json()["result"]
    assert [o["number"] for o in orders] == ["SO-W-1"]




def test_the_spec_says_the_count_may_be_a_lower_bound(api):
    spec = api("admin").get("/api/v1/_openapi").get_json()
    answer = spec["paths"]["/api/v1/complaint/"]["get"]["responses"]["200"]
    props = answer["content"]["application/json"]["schema"]["properties"]
    assert "lower bound" in props["count"]["description"]
    assert props["count_exact"]["type"] == "boolean"
