"""The REST contract: relations by id both ways, error shapes and statuses, duplicates, nothing
half-written, page size cap, filters, date-times, settings."""
from datetime import datetime

import pytest
import prison

from app.extensions import db
from app.network.models import Outlet, Region, outlet_product_category
from tests import factories


def q(**args):
    return "?q=" + prison.dumps(args)


def count(model_or_table):
    if hasattr(model_or_table, "__table__"):
        return db.session.query(model_or_table).count()
    return db.session.execute(db.select(db.func.count()).select_from(model_or_table)).scalar()


def errors_of(response):
    body = response.get_json()
    assert set(body) == {"message", "errors"}, body
    return body["errors"]


# --- relations by id ----------------------------------------------------------------------------

def test_relations_are_read_as_ids_and_many_to_many_as_sorted_id_lists(world, api):
    hq = api("hq")
    washer = factories.category("washing_machine")
    ac = factories.category("air_conditioner")
    world.outlet_e.product_categories.append(washer)
    db.session.commit()

    outlet = hq.get(f"/api/v1/outlet/{world.outlet_e.id}").get_json()["result"]
    assert outlet["region"] == world.east.id
    assert outlet["product_categories"] == sorted([ac.id, washer.id])

    listed = hq.get("/api/v1/outlet/" + q(filters=[{"col": "code", "opr": "eq", "value": "SH001"}])).get_json()
    assert listed["result"][0]["region"] == world.east.id

    region = hq.get(f"/api/v1/region/{world.east.id}")
    assert region.get_json()["result"]["users"] == sorted(
        [factories.user("manager_e").id, factories.user("agent_e").id])
    assert "password" not in region.get_data(as_text=True)

    stock = hq.get(f"/api/v1/stock/{world.central_e.id}").get_json()["result"]
    assert (stock["outlet"], stock["region"], stock["part"]) == (None, world.east.id, world.part.id)
    cert = hq.get(f"/api/v1/certification/{world.cert_e.id}").get_json()["result"]
    assert cert["engineer"] == world.engineer_e.id
    assert cert["certification_type"] == world.cert_e.certification_type_id
    order = hq.get(f"/api/v1/service_order/{world.order_e.id}").get_json()["result"]
    assert (order["outlet"], order["engineer"]) == (world.outlet_e.id, world.engineer_e.id)


def test_relations_are_written_by_id_and_many_to_many_by_id_list(world, api):
    hq = api("hq")
    ac, fridge = factories.category("air_conditioner").id, factories.category("refrigerator").id
    created = hq.post("/api/v1/outlet/", json={"code": "SH002", "name": "上海静安网点", "region": world.east.id,
                                               "product_categories": [fridge, ac, ac]})
    assert created.status_code == 201, created.get_json()
    body = created.get_json()
    assert body["result"]["region"] == world.east.id
    assert body["result"]["product_categories"] == sorted([ac, fridge])
    outlet = db.session.get(Outlet, body["id"])
    assert {c.id for c in outlet.product_categories} == {ac, fridge}

    moved = hq.put(f"/api/v1/outlet/{body['id']}", json={"region": world.west.id, "product_categories": [fridge]})
    assert moved.status_code == 200, moved.get_json()
    assert moved.get_json()["result"]["region"] == world.west.id
    assert moved.get_json()["result"]["product_categories"] == [fridge]
    # a PUT without the relation keeps it
    renamed = hq.put(f"/api/v1/outlet/{body['id']}", json={"name": "静安二店"})
    assert renamed.get_json()["result"]["product_categories"] == [fridge]
    db.session.expire_all()
    assert db.session.get(Outlet, body["id"]).region_id == world.west.id

    users = [factories.user("manager_w").id, factories.user("agent_e").id]
    region = hq.post("/api/v1/region/", json={"code": "N", "name": "华北区", "users": users})
    assert region.status_code == 201, region.get_json()
    assert region.get_json()["result"]["users"] == sorted(users)
    cleared = hq.put(f"/api/v1/region/{region.get_json()['id']}", json={"users": []})
    assert cleared.get_json()["result"]["users"] == []


@pytest.mark.parametrize("value", [999999, {"id": 1}, "1", True, 1.5])
def test_a_relation_must_name_an_existing_row_by_id(world, api, value):
    regions, outlets = count(Region), count(Outlet)
    r = api("hq").post("/api/v1/outlet/", json={"code": "X1", "name": "n", "region": value})
    assert r.status_code == 422
    assert list(errors_of(r)) == ["region"] and len(errors_of(r)["region"]) == 1
    # marshmallow-sqlalchemy would have invented a new region row for an unknown id
    assert (count(Region), count(Outlet)) == (regions, outlets)


def test_many_to_many_errors_name_the_field(world, api):
    r = api("hq").post("/api/v1/outlet/", json={"code": "X1", "name": "n", "region": world.east.id,
                                                "product_categories": [999999]})
    assert r.status_code == 422
    assert list(errors_of(r)) == ["product_categories"]
    r = api("hq").post("/api/v1/outlet/", json={"code": "X1", "name": "n", "region": world.east.id,
                                                "product_categories": 3})
    assert r.status_code == 422 and list(errors_of(r)) == ["product_categories"]


# --- malformed requests and validation ----------------------------------------------------------

@pytest.mark.parametrize("data, content_type", [
    ("{not json", "application/json"),
    ("[1, 2]", "application/json"),
    ('"text"', "application/json"),
    ("code=X", "application/x-www-form-urlencoded"),
])
def test_malformed_bodies_are_400(world, api, data, content_type):
    hq = api("hq")
    for method, path in (("post", "/api/v1/outlet/"), ("put", f"/api/v1/outlet/{world.outlet_e.id}")):
        r = getattr(hq, method)(path, data=data, headers={"Content-Type": content_type})
        assert r.status_code == 400, (method, r.get_json())
        assert errors_of(r) == {}


def test_missing_required_fields_are_listed_per_field(world, api):
    hq = api("hq")
    expected = {
        "region": {"code", "name"},
        "outlet": {"code", "name", "region"},
        "product_category": {"code", "name"},
        "engineer": {"employee_no", "name", "outlet", "hire_date"},
        "certification_type": {"name", "validity_months"},
        "certification": {"engineer", "certification_type", "number", "issued_on", "expires_on"},
        "training_record": {"engineer", "kind", "taken_on"},
        "part": {"sku", "name", "product_category"},
        "stock": {"part"},
        "service_order": {"customer_name", "customer_phone", "product_category", "outlet", "kind"},
    }
    for resource, fields in expected.items():
        r = hq.post(f"/api/v1/{resource}/", json={})
        assert r.status_code == 422, resource
        assert set(errors_of(r)) == fields, resource


def _engineer(world, **kw):
    return {"employee_no": "E9", "name": "王工", "outlet": world.outlet_e.id, "hire_date": "2025-01-01", **kw}


def _training(world, **kw):
    return {"engineer": world.engineer_e.id, "kind": "onboarding", "taken_on": "2026-01-01", "theory_hours": 30,
            "practical_hours": 50, "mentored_orders": 10, "theory_score": 85, "practical_score": 95, **kw}


LATER = "2099-01-01T10:00:00+08:00"  # a completion time after any order's receipt


def _order(world, **kw):
    return {"number": "SO-N", "customer_name": "刘先生", "customer_phone": "13600000000",
            "product_category": factories.category("air_conditioner").id, "outlet": world.outlet_e.id,
            "kind": "repair", **kw}


def _cert(world, **kw):
    return {"engineer": world.engineer_e.id, "certification_type": factories.cert_type().id, "number": "C-N",
            "issued_on": "2026-01-01", "expires_on": "2028-01-01", **kw}


INVALID = [
    # resource, payload builder, bad fields, expected error fields
    ("outlet", lambda w: {"code": "X", "name": "n", "region": w.east.id, "status": "open"}, {"status"}),
    ("outlet", lambda w: {"code": "X", "name": "n", "region": w.east.id, "has_fixed_premises": "maybe"},
     {"has_fixed_premises"}),
    ("outlet", lambda w: {"code": "X" * 31, "name": "n", "region": w.east.id}, {"code"}),
    ("engineer", lambda w: _engineer(w, status="ACTIVE"), {"status"}),
    ("engineer", lambda w: _engineer(w, star_level=0), {"star_level"}),
    ("engineer", lambda w: _engineer(w, star_level=6), {"star_level"}),
    ("engineer", lambda w: _engineer(w, hire_date="2025-02-30"), {"hire_date"}),
    ("engineer", lambda w: _engineer(w, star_level="five"), {"star_level"}),
    ("training_record", lambda w: _training(w, kind="yearly"), {"kind"}),
    ("training_record", lambda w: _training(w, theory_score=101), {"theory_score"}),
    ("training_record", lambda w: _training(w, practical_score=-1), {"practical_score"}),
    ("training_record", lambda w: _training(w, theory_hours=-0.5), {"theory_hours"}),
    ("training_record", lambda w: _training(w, passed=True), {"passed"}),
    ("service_order", lambda w: _order(w, kind="trade-in"), {"kind"}),
    ("service_order", lambda w: _order(w, status="completed", completed_at=LATER, satisfaction=0), {"satisfaction"}),
    ("service_order", lambda w: _order(w, status="completed", completed_at=LATER, satisfaction=6), {"satisfaction"}),
    ("service_order", lambda w: _order(w, status="completed", satisfaction=5), {"completed_at"}),
    ("service_order", lambda w: _order(w, appointment_at="tomorrow"), {"appointment_at"}),
    ("service_order", lambda w: _order(w, engineer=w.engineer_w.id), {"engineer"}),
    ("service_order", lambda w: _order(w, satisfaction=5), {"satisfaction"}),
    ("stock", lambda w: {"outlet": w.outlet_e.id, "part": w.part.id, "quantity": -1}, {"quantity"}),
    ("stock", lambda w: {"outlet": w.outlet_e.id, "part": w.part.id, "safety_level": -1}, {"safety_level"}),
    ("stock", lambda w: {"outlet": w.outlet_e.id, "part": w.part.id, "quantity": "many"}, {"quantity"}),
    ("stock", lambda w: {"outlet": w.outlet_e.id, "region": w.east.id, "part": w.part.id}, {"outlet", "region"}),
    ("stock", lambda w: {"part": w.part.id}, {"outlet", "region"}),
    ("certification", lambda w: _cert(w, expires_on="2026-01-01"), {"expires_on"}),
    ("certification", lambda w: _cert(w, expires_on="2025-12-31"), {"expires_on"}),
    ("certification", lambda w: _cert(w, status="valid"), {"status"}),
    ("certification_type", lambda w: {"name": "T-x", "validity_months": 0}, {"validity_months"}),
    ("part", lambda w: {"sku": "S", "name": "n", "product_category": factories.category("kitchen").id,
                        "unit_price": -1}, {"unit_price"}),
    ("part", lambda w: {"sku": "S", "name": "n", "product_category": factories.category("kitchen").id,
                        "unit_price": "NaN"}, {"unit_price"}),
    ("outlet", lambda w: {"code": "X", "name": "n", "region": w.east.id, "colour": "red", "status": "x"},
     {"colour", "status"}),
]


@pytest.mark.parametrize("resource, build, fields", INVALID,
                         ids=[f"{r}-{'-'.join(sorted(f))}-{i}" for i, (r, _b, f) in enumerate(INVALID)])
def test_invalid_values_are_422_naming_the_field_and_write_nothing(world, api, resource, build, fields):
    table = _table(resource)
    before = count(table)
    r = api("hq").post(f"/api/v1/{resource}/", json=build(world))
    assert r.status_code == 422, r.get_json()
    assert set(errors_of(r)) == fields
    assert count(table) == before


def _table(name):
    from flask_appbuilder import Model

    return Model.metadata.tables[name]


def test_failed_update_leaves_the_row_unchanged(world, api):
    hq = api("hq")
    r = hq.put(f"/api/v1/outlet/{world.outlet_e.id}", json={"name": "改名", "status": "closed"})
    assert r.status_code == 422 and set(errors_of(r)) == {"status"}
    r = hq.put(f"/api/v1/certification/{world.cert_e.id}", json={"issuer": "改", "expires_on": "2000-01-01"})
    assert r.status_code == 422 and set(errors_of(r)) == {"expires_on"}
    r = hq.put(f"/api/v1/outlet/{world.outlet_e.id}",
               json={"name": "改名", "product_categories": [factories.category("kitchen").id], "region": 999999})
    assert r.status_code == 422 and set(errors_of(r)) == {"region"}
    db.session.expire_all()
    outlet = db.session.get(Outlet, world.outlet_e.id)
    assert outlet.name == "上海浦东网点" and outlet.status == "active"
    assert [c.code for c in outlet.product_categories] == ["air_conditioner"]
    assert hq.get(f"/api/v1/certification/{world.cert_e.id}").get_json()["result"]["issuer"] == "应急管理局"


@pytest.mark.parametrize("method", ["put", "delete"])
def test_non_numeric_or_missing_ids_are_404(world, api, method):
    hq = api("hq")
    for pk in ("abc", "999999"):
        kwargs = {"json": {"name": "x"}} if method == "put" else {}
        r = getattr(hq, method)(f"/api/v1/outlet/{pk}", **kwargs)
        assert r.status_code == 404, (pk, r.get_json())
    assert hq.get("/api/v1/outlet/999999").status_code == 404


# --- duplicates ---------------------------------------------------------------------------------

def test_duplicates_are_409_naming_the_field_never_500(world, api):
    hq = api("hq")
    ac = factories.category("air_conditioner").id
    cases = [
        ("region", {"code": "E", "name": "另一个区"}, "code"),
        ("outlet", {"code": "SH001", "name": "n", "region": world.east.id}, "code"),
        ("product_category", {"code": "air_conditioner", "name": "空调二"}, "code"),
        ("engineer", _engineer(world, employee_no="E1001"), "employee_no"),
        ("part", {"sku": "AC-COMP-01", "name": "n", "product_category": ac}, "sku"),
        ("certification", _cert(world, number=world.cert_e.number), "number"),
        ("service_order", _order(world, number="SO-E-1"), "number"),
        ("stock", {"outlet": world.outlet_e.id, "part": world.part.id, "quantity": 1}, "part"),
        ("stock", {"region": world.east.id, "part": world.part.id, "quantity": 1}, "part"),
    ]
    for resource, payload, field in cases:
        before = count(_table(resource))
        r = hq.post(f"/api/v1/{resource}/", json=payload)
        assert r.status_code == 409, (resource, r.status_code, r.get_json())
        assert list(errors_of(r)) == [field], resource
        assert "SQL" not in r.get_json()["message"] and "constraint" not in r.get_json()["message"]
        assert count(_table(resource)) == before

    r = hq.put(f"/api/v1/engineer/{world.engineer_e.id}", json={"employee_no": "W1001"})
    assert r.status_code == 409 and list(errors_of(r)) == ["employee_no"]
    r = hq.put(f"/api/v1/stock/{world.stock_w.id}", json={"outlet": world.outlet_e.id})
    assert r.status_code == 409 and list(errors_of(r)) == ["part"]
    db.session.expire_all()
    assert db.session.get(type(world.engineer_e), world.engineer_e.id).employee_no == "E1001"


def test_deleting_a_row_still_in_use_is_409_and_deletes_nothing(world, api):
    hq = api("hq")
    cases = [
        ("engineer", world.engineer_e.id),  # has certificates and a service order
        ("outlet", world.outlet_w.id),
        ("region", world.west.id),
        ("part", world.part.id),
        ("product_category", factories.category("air_conditioner").id),
        ("certification_type", factories.cert_type().id),
    ]
    for resource, pk in cases:
        before = count(_table(resource))
        r = hq.delete(f"/api/v1/{resource}/{pk}")
        assert r.status_code == 409, (resource, r.get_json())
        assert count(_table(resource)) == before
    # and once nothing refers to it, it goes
    assert hq.delete(f"/api/v1/service_order/{world.order_w.id}").status_code == 200
    assert hq.delete(f"/api/v1/stock/{world.stock_w.id}").status_code == 200


def test_nothing_half_written_when_a_many_to_many_write_fails(world, api):
    links = count(outlet_product_category)
    r = api("hq").post("/api/v1/outlet/", json={"code": "SH001", "name": "n", "region": world.east.id,
                                                "product_categories": [factories.category("kitchen").id]})
    assert r.status_code == 409
    assert count(outlet_product_category) == links


# --- lists: page size and filters ---------------------------------------------------------------

def test_page_size_is_capped_at_100(world, api):
    db.session.add_all([Region(code=f"Z{i:03d}", name=f"区{i:03d}") for i in range(105)])
    db.session.commit()
    hq = api("hq")
    body = hq.get("/api/v1/region/" + q(page_size=1000)).get_json()
    assert body["count"] == 107 and len(body["result"]) == 100
    assert len(hq.get("/api/v1/region/").get_json()["result"]) == 25
    second = hq.get("/api/v1/region/" + q(page_size=100, page=1)).get_json()
    assert len(second["result"]) == 7


def _ids(client, resource, *filters, **extra):
    r = client.get(f"/api/v1/{resource}/" + q(filters=[dict(zip(("col", "opr", "value"), f)) for f in filters],
                                               page_size=100, **extra))
    assert r.status_code == 200, r.get_json()
    return sorted(r.get_json()["ids"])


def test_filters_that_matter(world, api):
    hq = api("hq")
    other_e = factories.outlet(world.east, code="SH009", status="probation")
    suspended = factories.engineer(other_e, status="suspended", employee_no="E1009")
    order = factories.service_order(other_e, suspended, number="SO-E-9", status="completed")
    low = factories.stock(world.part, outlet=other_e, quantity=1, safety_level=5)
    db.session.commit()

    assert _ids(hq, "outlet", ("region", "rel_o_m", world.east.id)) == sorted([world.outlet_e.id, other_e.id])
    assert _ids(hq, "outlet", ("status", "eq", "probation")) == [other_e.id]
    assert _ids(hq, "outlet", ("region", "rel_o_m", world.east.id), ("status", "eq", "active")) == [world.outlet_e.id]
    assert _ids(hq, "engineer", ("outlet", "rel_o_m", other_e.id)) == [suspended.id]
    assert _ids(hq, "engineer", ("status", "eq", "active")) == sorted([world.engineer_e.id, world.engineer_w.id])
    assert _ids(hq, "engineer", ("outlet", "in_region", world.west.id)) == [world.engineer_w.id]
    assert _ids(hq, "service_order", ("outlet", "rel_o_m", other_e.id)) == [order.id]
    assert _ids(hq, "service_order", ("status", "eq", "created")) == sorted([world.order_e.id, world.order_w.id])
    assert _ids(hq, "service_order", ("outlet", "in_region", world.east.id)) == sorted([world.order_e.id, order.id])
    assert _ids(hq, "stock", ("outlet", "in_region", world.east.id)) == sorted(
        [world.stock_e.id, world.central_e.id, low.id])
    assert _ids(hq, "stock", ("quantity", "low", True)) == [low.id]
    assert _ids(hq, "stock", ("region", "rel_o_m", world.east.id)) == [world.central_e.id]
    assert _ids(hq, "certification", ("engineer", "in_region", world.east.id)) == sorted(
        [world.cert_e.id, world.height_cert_e.id])
    assert _ids(hq, "outlet", ("name", "ct", "成都")) == [world.outlet_w.id]

    bad = hq.get("/api/v1/outlet/" + q(filters=[{"col": "notes", "opr": "eq", "value": "x"}]))
    assert bad.status_code == 400
    assert hq.get("/api/v1/outlet/?q=(broken").status_code == 400


def test_ordering(world, api):
    hq = api("hq")
    body = hq.get("/api/v1/outlet/" + q(order_column="code", order_direction="asc")).get_json()
    assert [r["code"] for r in body["result"]] == ["CD001", "SH001"]
    assert hq.get("/api/v1/outlet/" + q(order_column="notes", order_direction="asc")).status_code == 400


# --- date-times ---------------------------------------------------------------------------------

def test_datetimes_are_utc_and_offsets_are_converted(world, api):
    hq = api("hq")
    r = hq.put(f"/api/v1/service_order/{world.order_e.id}",
               json={"appointment_at": "2026-03-02T10:00:00+08:00", "dispatched_at": "2026-03-02T01:00:00"})
    assert r.status_code == 200, r.get_json()
    result = r.get_json()["result"]
    assert result["appointment_at"] == "2026-03-02T02:00:00"
    assert result["dispatched_at"] == "2026-03-02T01:00:00"
    # mixing an offset with stored naive values is compared correctly, not a 500
    r = hq.put(f"/api/v1/service_order/{world.order_e.id}", json={"arrived_at": "2026-03-02T08:30:00+08:00"})
    assert r.status_code == 422 and set(errors_of(r)) == {"arrived_at"}
    db.session.expire_all()
    assert db.session.get(type(world.order_e), world.order_e.id).appointment_at == datetime(2026, 3, 2, 2, 0)


# --- metadata -----------------------------------------------------------------------------------

def test_info_lists_related_choices_by_id_and_has_no_catalogue_junk(world, api):
    body = api("hq").get("/api/v1/engineer/_info").get_json()
    outlet = next(c for c in body["add_columns"] if c["name"] == "outlet")
    assert {v["id"] for v in outlet["values"]} == {world.outlet_e.id, world.outlet_w.id}
    assert all(c["description"] == "" for c in body["add_columns"])
    assert "can_write" in body["permissions"]


# --- settings -----------------------------------------------------------------------------------

def _setting_id(hq, key):
    body = hq.get("/api/v1/setting/" + q(filters=[{"col": "key", "opr": "eq", "value": key}])).get_json()
    return body["ids"][0]


def test_settings_unknown_key_or_unparsable_value_is_422(app, api):
    hq = api("hq")
    r = hq.post("/api/v1/setting/", json={"key": "qualification.nonsense", "value": "1"})
    assert r.status_code == 422 and set(errors_of(r)) == {"key"}

    sid = _setting_id(hq, "qualification.min_certified_engineers")
    for value in ("three", "", "2.5", "-1"):
        r = hq.put(f"/api/v1/setting/{sid}", json={"value": value})
        assert r.status_code == 422, value
        assert set(errors_of(r)) == {"value"}, value
    rate = _setting_id(hq, "qualification.min_common_stock_rate")
    assert hq.put(f"/api/v1/setting/{rate}", json={"value": "150"}).status_code == 422
    reminders = _setting_id(hq, "certification.reminder_days")
    assert hq.put(f"/api/v1/setting/{reminders}", json={"value": "30,x"}).status_code == 422
    # the key itself cannot be changed
    r = hq.put(f"/api/v1/setting/{sid}", json={"key": "qualification.kpi_window_days"})
    assert r.status_code == 422 and set(errors_of(r)) == {"key"}

    ok = hq.put(f"/api/v1/setting/{sid}", json={"value": " 4 "})
    assert ok.status_code == 200 and ok.get_json()["result"]["value"] == "4"
    ok = hq.put(f"/api/v1/setting/{reminders}", json={"value": "30，14, 7"})
    assert ok.get_json()["result"]["value"] == "30,14,7"
    from app.core import settings

    assert settings.get("qualification.min_certified_engineers") == 4


def test_openapi_describes_relations_as_ids_and_enumerations_as_codes(api):
    schemas = api("hq").get("/api/v1/_openapi").get_json()["components"]["schemas"]
    post = schemas["OutletApi.post"]["properties"]
    assert post["region"]["type"] == "integer"
    assert post["product_categories"] == {"type": "array", "items": {"type": "integer", "minimum": 1, "maximum": 2**31 - 1},
                                          "description": "ids of product_category rows"}
    assert post["status"]["enum"] == ["applying", "active", "probation", "suspended", "terminated"]
    assert schemas["OutletApi.get"]["properties"]["region"]["type"] == "integer"
    engineer = schemas["EngineerApi.post"]["properties"]
    assert "star_level" not in engineer and "star_level" in schemas["EngineerApi.get"]["properties"]
    assert "passed" not in schemas["TrainingRecordApi.post"]["properties"]
    assert "status" not in schemas["CertificationApi.post"]["properties"]
