"""Every role × every resource × every method, through the REST API with a JWT.

The expectations are written out here, independently of ``app/security/roles.py``: a change to
the roles that changes what a role may do fails this test until the table below agrees.
Allowed requests carry valid payloads and must succeed with the exact status (a CRUD round trip:
create, read, update, delete); denied ones must answer 403 and change nothing.
"""
from datetime import date, timedelta

import pytest

from app.core import clock
from app.engineers.models import TrainingRecord
from app.extensions import db
from tests import factories

RESOURCES = ["region", "outlet", "product_category", "engineer", "certification_type", "certification",
             "training_record", "part", "stock", "service_order", "setting", "sla_policy"]
BUSINESS = [r for r in RESOURCES if r != "setting"]

# R: GET list + GET one · W: POST + PUT · D: DELETE
EXPECTED = {
    "hq": {**{r: "RWD" for r in BUSINESS}, "setting": "RW"},
    "manager_e": {**{r: "R" for r in BUSINESS}, "setting": ""},
    "agent_e": {**{r: "R" for r in BUSINESS}, "service_order": "RW", "setting": ""},
    "auditor": {r: "R" for r in RESOURCES},
    "admin": {r: "RWD" for r in RESOURCES},
}

# Seeded reference rows every installation has: a POST of an existing key answers 409 (the
# permission check passed), and DELETE aims at a missing id (404 = allowed) rather than removing
# a row other tests rely on.
SEEDED = {"setting", "sla_policy"}


def _payloads(world, tag):
    """(create payload, update payload, id of an existing row in region E) per resource."""
    ac = factories.category("air_conditioner").id
    extra_part = factories.part(sku=f"SKU-{tag}-X")
    setting = db.session.execute(db.text("SELECT id FROM setting WHERE key = 'qualification.kpi_window_days'")).scalar()
    sla = db.session.execute(db.text("SELECT id FROM sla_policy WHERE severity = 'general'")).scalar()
    ctype = factories.cert_type().id
    training = TrainingRecord(engineer=world.engineer_e, kind="quarterly", taken_on=date(2026, 1, 5),
                              theory_score=90, practical_score=95)
    db.session.add(training)
    db.session.commit()
    today = clock.today()
    return {
        "region": ({"code": f"R-{tag}", "name": f"区域-{tag}", "users": []}, {"name": f"新区域-{tag}"},
                   world.east.id),
        "outlet": ({"code": f"O-{tag}", "name": "网点", "region": world.east.id, "product_categories": [ac],
                    "status": "applying"}, {"contact": "王经理"}, world.outlet_e.id),
        "product_category": ({"code": f"t_{tag}", "name": f"测试品类-{tag}"}, {"name": f"测试品类2-{tag}"},
                             ac),
        "engineer": ({"employee_no": f"E-{tag}", "name": "李工", "outlet": world.outlet_e.id,
                      "hire_date": "2025-03-01", "status": "trainee"}, {"phone": "13900000000"},
                     world.engineer_e.id),
        "certification_type": ({"name": f"T-证书-{tag}", "validity_months": 24, "product_categories": [ac]},
                               {"validity_months": 36}, ctype),
        "certification": ({"engineer": world.engineer_e.id, "certification_type": ctype, "number": f"C-{tag}",
                           "issuer": "应急管理局", "issued_on": str(today - timedelta(days=10)),
                           "expires_on": str(today + timedelta(days=700))}, {"issuer": "市场监管局"},
                          world.cert_e.id),
        "training_record": ({"engineer": world.engineer_e.id, "kind": "onboarding", "taken_on": "2026-01-10",
                             "theory_hours": 30, "practical_hours": 50, "mentored_orders": 10,
                             "theory_score": 85, "practical_score": 92}, {"theory_score": 88}, training.id),
        "part": ({"sku": f"P-{tag}", "name": "电容", "product_category": ac, "unit_price": "12.50",
                  "is_common": True, "warranty_days": 90}, {"unit_price": "13.00"}, world.part.id),
        "stock": ({"outlet": world.outlet_e.id, "part": extra_part.id, "quantity": 3, "safety_level": 2},
                  {"quantity": 4}, world.stock_e.id),
        "service_order": ({"number": f"SO-{tag}", "customer_name": "赵女士", "customer_phone": "13700000000",
                           "product_category": ac, "outlet": world.outlet_e.id, "engineer": world.engineer_e.id,
                           "kind": "install"}, {"customer_name": "赵先生"}, world.order_e.id),
        "setting": ({"key": "qualification.kpi_window_days", "value": "90"}, {"value": "90"}, setting),
        "sla_policy": ({"severity": "general", "response_minutes": 10, "resolution_hours": 24},
                       {"description": "一般投诉"}, sla),
    }


@pytest.fixture
def cleanup_reference():
    """Reference tables survive the per-test wipe: remove what these tests add to them."""
    yield
    db.session.rollback()
    db.session.execute(db.text("DELETE FROM certification_type_product_category WHERE certification_type_id IN "
                               "(SELECT id FROM certification_type WHERE name LIKE 'T-%')"))
    db.session.execute(db.text("DELETE FROM certification_type WHERE name LIKE 'T-%'"))
    db.session.execute(db.text("DELETE FROM product_category WHERE code LIKE 't\\_%' ESCAPE '\\'"))
    db.session.commit()


def _count(table):
    return db.session.execute(db.text(f"SELECT count(*) FROM {table}")).scalar()


@pytest.mark.parametrize("role", list(EXPECTED))
def test_role_resource_method_matrix(role, world, api, cleanup_reference):
    client = api(role)
    payloads = _payloads(world, role)
    problems = []

    def check(resource, method, response, expected):
        if response.status_code != expected:
            problems.append(f"{role} {method} {resource}: {response.status_code} (expected {expected}) "
                            f"{(response.get_json() or {}).get('errors') or (response.get_json() or {}).get('message')}")
        return response

    for resource in RESOURCES:
        rights = EXPECTED[role][resource]
        create, update, existing = payloads[resource]
        base = f"/api/v1/{resource}/"
        read = 200 if "R" in rights else 403
        listed = check(resource, "GET list", client.get(base), read)
        if read == 200:
            ids = listed.get_json()["ids"]
            if existing not in ids:
                problems.append(f"{role} GET list {resource}: row {existing} of region E not listed")
        check(resource, "GET one", client.get(f"{base}{existing}"), read)
        check(resource, "GET _info", client.get(f"{base}_info"), read)

        before = _count(resource)
        if "W" in rights:
            created = check(resource, "POST", client.post(base, json=create), 409 if resource in SEEDED else 201)
            new_id = created.get_json().get("id") if created.status_code == 201 else None
            target = new_id or existing
            put = check(resource, "PUT", client.put(f"{base}{target}", json=update), 200)
            if put.status_code == 200:
                for field, value in update.items():
                    got = put.get_json()["result"][field]
                    if got != value and str(got).rstrip("0").rstrip(".") != str(value):
                        problems.append(f"{role} PUT {resource}: {field} not updated")
        else:
            check(resource, "POST", client.post(base, json=create), 403)
            check(resource, "PUT", client.put(f"{base}{existing}", json=update), 403)
            new_id = None
            if _count(resource) != before:
                problems.append(f"{role} {resource}: a refused POST wrote a row")

        if "D" in rights:
            if resource in SEEDED:
                check(resource, "DELETE", client.delete(f"{base}999999"), 404)
            else:
                check(resource, "DELETE", client.delete(f"{base}{new_id}"), 200)
                check(resource, "GET deleted", client.get(f"{base}{new_id}"), 404)
        else:
            check(resource, "DELETE", client.delete(f"{base}{existing}"), 403)
            if db.session.execute(db.text(f"SELECT count(*) FROM {resource} WHERE id = :i"),
                                  {"i": existing}).scalar() != 1:
                problems.append(f"{role} {resource}: a refused DELETE removed the row")
        db.session.rollback()

    assert not problems, "\n".join(problems)


def test_api_without_login_is_401(world, app):
    client = app.test_client()
    for resource in RESOURCES:
        for method, path in (("get", ""), ("get", "1"), ("post", ""), ("put", "1"), ("delete", "1")):
            r = getattr(client, method)(f"/api/v1/{resource}/{path}", json={} if method in ("post", "put") else None)
            assert r.status_code == 401, (method, resource, r.status_code)
            assert set(r.get_json()) == {"message", "errors"}
