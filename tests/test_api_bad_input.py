"""Bad input is a 4xx with ``{"message", "errors"}``, never a 500: ids beyond a 32-bit INTEGER in
paths and bodies, text that cannot be stored, oversized bodies, and FAB's security API."""
import io
import json

import prison
import pytest

from app.security.roles import ROLES
from tests import factories

BIG = 2**31  # one past PostgreSQL's INTEGER
ROLE_USERS = ["hq", "manager_e", "agent_e", "auditor", "admin"]


def error_body(response):
    body = response.get_json()
    assert isinstance(body, dict) and set(body) == {"message", "errors"}, (response.status_code, body)
    return body


def api_resources(app):
    from flask_appbuilder import ModelRestApi

    return sorted(v.route_base for v in app.appbuilder.baseviews
                  if isinstance(v, ModelRestApi) and v.route_base.startswith("/api/v1/"))


# --- ids beyond 32 bits --------------------------------------------------------------------------

@pytest.mark.parametrize("username", ROLE_USERS)
def test_ids_beyond_an_integer_in_the_path_are_not_found_for_every_resource(app, api, username):
    client = api(username)
    for base in api_resources(app):
        for pk in (str(BIG), "99999999999999999999", "abc"):
            response = client.get(f"{base}/{pk}")
            # "abc" matches only the PUT/DELETE route of some resources: 405 there
            assert response.status_code in ((404, 405) if pk == "abc" else (404,)), (base, pk, response.status_code)
            error_body(response)
        for method in ("put", "delete"):
            response = getattr(client, method)(f"{base}/{BIG}", json={})
            assert response.status_code in (404, 405), (base, method, response.status_code)
    for path in (f"/api/v1/complaint/{BIG}/respond", f"/api/v1/qualification_audit/{BIG}/submit",
                 f"/api/v1/security/roles/{BIG}/permissions"):
        response = client.post(path, json={})
        assert response.status_code == 404, (path, response.status_code)
        error_body(response)
    response = client.get(f"/api/v1/qualification_audit/1/evidence/{BIG}")
    assert response.status_code == 404


def test_ids_beyond_an_integer_in_page_addresses_are_not_found(login):
    client = login("hq")
    for path in (f"/complaintview/show/{BIG}", f"/complaintview/edit/{BIG}", f"/outletview/show/{BIG}",
                 "/complaintview/show/abc", f"/users/show/{BIG}"):
        response = client.get(path)
        assert response.status_code == 404, (path, response.status_code)


def test_a_relation_id_beyond_an_integer_is_a_field_error(world, api):
    hq = api("hq")
    response = hq.post("/api/v1/complaint/", json={
        "customer_name": "王女士", "customer_phone": "13812345678", "channel": "phone", "outlet": BIG,
        "severity": "normal", "description": "漏水", "received_at": "2026-03-02T02:00:00"})
    assert response.status_code == 422, response.get_json()
    assert "outlet" in error_body(response)["errors"]
    response = hq.post("/api/v1/certification_type/", json={
        "name": "X", "validity_months": 12, "product_categories": [1, BIG]})
    assert response.status_code == 422
    assert "product_categories" in error_body(response)["errors"]
    response = hq.put(f"/api/v1/outlet/{world.outlet_e.id}", json={"region": BIG})
    assert response.status_code == 422
    assert "region" in error_body(response)["errors"]


def test_an_integer_beyond_its_column_is_a_field_error(world, api):
    hq = api("hq")
    response = hq.put(f"/api/v1/stock/{world.central_e.id}", json={"quantity": BIG})
    assert response.status_code == 422, response.get_json()
    assert "quantity" in error_body(response)["errors"]


def test_filters_with_ids_beyond_an_integer_are_not_server_errors(world, api):
    hq = api("hq")
    for flt in ({"col": "outlet", "opr": "rel_o_m", "value": BIG}, {"col": "id", "opr": "eq", "value": BIG}):
        response = hq.get("/api/v1/complaint/?q=" + prison.dumps({"filters": [flt]}))
        assert response.status_code < 500, (flt, response.status_code)


# --- text that cannot be stored --------------------------------------------------------------------

@pytest.mark.parametrize("bad", ["\udc00x", "a\x00b"])
def test_a_lone_surrogate_or_a_nul_in_a_json_string_is_a_field_error(world, api, bad):
    hq = api("hq")
    payload = json.dumps({"customer_name": bad, "customer_phone": "13812345678", "channel": "phone",
                          "outlet": world.outlet_e.id, "severity": "normal", "description": "漏水",
                          "received_at": "2026-03-02T02:00:00"})
    response = hq.post("/api/v1/complaint/", data=payload, content_type="application/json")
    assert response.status_code == 422
    assert list(error_body(response)["errors"]) == ["customer_name"]

    audit = hq.post("/api/v1/qualification_audit/", json={"outlet": world.outlet_e.id, "kind": "annual"})
    assert audit.status_code == 201, audit.get_json()
    nested = json.dumps({"items": [{"code": "premises", "answer": "yes", "note": bad}]})
    response = hq.put(f"/api/v1/qualification_audit/{audit.get_json()['id']}", data=nested,
                      content_type="application/json")
    assert response.status_code == 422
    assert list(error_body(response)["errors"]) == ["items.0.note"]

    response = hq.post(f"/api/v1/complaint/{BIG - 1}/respond", data=json.dumps({"note": bad}),
                       content_type="application/json")
    assert response.status_code == 422
    assert list(error_body(response)["errors"]) == ["note"]


def test_a_nul_in_the_query_string_is_a_field_error(world, api):
    hq = api("hq")
    response = hq.get("/api/v1/complaint/?q=(filters:!((col:customer_name,opr:ct,value:'a%00b')))")
    assert response.status_code == 422
    assert list(error_body(response)["errors"]) == ["q"]


def test_malformed_json_is_a_bad_request(world, api):
    hq = api("hq")
    response = hq.post("/api/v1/region/", data="{" * 100000, content_type="application/json")
    assert response.status_code == 400
    error_body(response)


# --- body size -------------------------------------------------------------------------------------

def test_a_body_over_the_limit_is_too_large(app, api):
    hq = api("hq")
    big = b'{"name": "' + b"x" * (app.config["MAX_CONTENT_LENGTH"] + 1) + b'"}'
    response = hq.post("/api/v1/region/", data=big, content_type="application/json")
    assert response.status_code == 413
    error_body(response)


def test_a_chunked_body_over_the_limit_is_too_large(app, api):
    """Without Content-Length (chunked, the server terminating the stream as gunicorn does)."""
    hq = api("hq")
    stream = io.BytesIO(b'{"name": "' + b"x" * (app.config["MAX_CONTENT_LENGTH"] + 1) + b'"}')
    response = hq.post("/api/v1/region/", input_stream=stream, content_type="application/json",
                       headers={"Transfer-Encoding": "chunked"},
                       environ_overrides={"wsgi.input_terminated": True})
    assert response.status_code == 413
    error_body(response)


# --- FAB's security API ------------------------------------------------------------------------------

SECURITY_WRITES = [
    ("post", "/api/v1/security/users/"), ("post", "/api/v1/security/roles/"),
    ("post", "/api/v1/security/resources/"), ("post", "/api/v1/security/permissions-resources/"),
    ("post", "/api/v1/security/groups/"),
]


def test_the_security_api_without_a_json_body_is_a_client_error(api):
    admin = api("admin")
    role_id = factories.user("hq").roles[0].id
    user_id = factories.user("hq2").id
    calls = SECURITY_WRITES + [("put", f"/api/v1/security/users/{user_id}"),
                               ("put", f"/api/v1/security/roles/{role_id}"),
                               ("post", f"/api/v1/security/roles/{role_id}/permissions"),
                               ("put", f"/api/v1/security/roles/{role_id}/users")]
    for method, path in calls:
        for kwargs in ({}, {"data": "x", "content_type": "text/plain"},
                       {"data": "", "content_type": "application/json"}):
            response = getattr(admin, method)(path, **kwargs)
            assert response.status_code in (400, 415), (method, path, kwargs, response.status_code)
            error_body(response)


def test_a_duplicate_security_resource_is_a_conflict(api):
    admin = api("admin")
    for path, payload in (("/api/v1/security/resources/", {"name": "Complaint"}),
                          ("/api/v1/security/roles/", {"name": sorted(ROLES)[0]}),
                          ("/api/v1/security/permissions-resources/", None)):
        if payload is None:
            existing = admin.get("/api/v1/security/permissions-resources/1").get_json()
            assert existing, existing
            from app.extensions import db
            from flask_appbuilder.security.sqla.models import PermissionView

            pv = db.session.get(PermissionView, 1)
            payload = {"permission_id": pv.permission_id, "view_menu_id": pv.view_menu_id}
        response = admin.post(path, json=payload)
        assert response.status_code == 409, (path, response.status_code, response.get_json())
        error_body(response)


def test_an_empty_permission_on_a_resource_is_a_validation_error(api):
    response = api("admin").post("/api/v1/security/permissions-resources/", json={})
    assert response.status_code == 422, response.get_json()
    error_body(response)


def test_a_missing_user_or_an_id_beyond_an_integer_in_the_security_api(api):
    admin = api("admin")
    response = admin.put(f"/api/v1/security/users/{BIG - 1}", json={"first_name": "x"})
    assert response.status_code == 404
    response = admin.post("/api/v1/security/permissions-resources/", json={"permission_id": BIG, "view_menu_id": 1})
    # PostgreSQL refuses the value (422); SQLite takes it as an id that names no row (409)
    assert response.status_code in (409, 422), response.get_json()
    error_body(response)
