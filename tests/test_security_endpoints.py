"""No endpoint is reachable without a permission check.

* statically: every registered view function carries a Flask-AppBuilder permission decorator
  (``has_access`` on pages, ``protect``/``has_access_api`` on APIs) or is in a short allowlist;
* dynamically: every rule of ``app.url_map`` (pages and APIs, every method) answers an anonymous
  request with 401 (API) or a redirect to the login page, and a signed-in user holding no
  permission at all with 403 (or the login redirect FAB uses for pages).
"""
import re

import pytest
from flask_appbuilder.security.decorators import has_access, has_access_api, protect

from app.security.guard import PUBLIC_ENDPOINTS
from tests.conftest import PASSWORD

# FAB's action routes check the action's own permission inside the function
# (``sm.has_access(action_name, resource)``), not with a decorator.
INLINE_CHECKED = re.compile(r"\.(action|action_post)$")
# The welcome page shows no data; the login guard keeps it behind the login like everything else.
UNDECORATED_BUT_GUARDED = {
    "HomeView.index": "the dashboard shell or the welcome page, no data (numbers: @protect-ed /api/v1/dashboard/)",
}

NO_PERMISSION_USER = "no_permission"


def _dummy(self):  # pragma: no cover - only its wrappers' code objects are used
    return None


_dummy._permission_name = "x"
PERMISSION_WRAPPERS = {
    has_access(_dummy).__code__,
    has_access_api(_dummy).__code__,
    protect()(_dummy).__code__,
    protect(allow_browser_login=True)(_dummy).__code__,
}


def _url(rule):
    values = {}
    for arg in rule.arguments:
        converter = rule._converters[arg].__class__.__name__
        values[arg] = 1 if converter == "IntegerConverter" else {
            "version": "v1", "locale": "zh", "filename": "x.txt", "name": "x", "pk": "1",
        }.get(arg, "1")
    return rule.build(values, append_unknown=False)[1]


def _rules(app):
    for rule in app.url_map.iter_rules():
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            yield rule, method


def test_every_view_function_has_a_permission_decorator(app):
    missing = []
    for endpoint, view in app.view_functions.items():
        if endpoint in PUBLIC_ENDPOINTS or endpoint in UNDECORATED_BUT_GUARDED or INLINE_CHECKED.search(endpoint):
            continue
        code = getattr(getattr(view, "__func__", view), "__code__", None)
        if code not in PERMISSION_WRAPPERS:
            missing.append(endpoint)
    assert not missing, f"endpoints without a FAB permission decorator: {sorted(missing)}"


def test_allowlist_is_small_and_real(app):
    assert len(PUBLIC_ENDPOINTS) <= 10
    for endpoint in list(PUBLIC_ENDPOINTS) + list(UNDECORATED_BUT_GUARDED):
        assert endpoint in app.view_functions, f"stale allowlist entry {endpoint}"


def _login_redirect(response):
    return response.status_code in (301, 302, 303) and "/login/" in response.headers.get("Location", "")


def test_anonymous_requests_are_refused_everywhere(app):
    client = app.test_client()
    open_endpoints = []
    for rule, method in _rules(app):
        if rule.endpoint in PUBLIC_ENDPOINTS:
            continue
        url = _url(rule)
        response = client.open(url, method=method, json={} if method in ("POST", "PUT") else None)
        if url.startswith("/api/"):
            ok = response.status_code == 401 and set(response.get_json() or {}) == {"message", "errors"}
        else:
            ok = _login_redirect(response)
        if not ok:
            open_endpoints.append(f"{method} {url} ({rule.endpoint}) -> {response.status_code}")
    assert not open_endpoints, "\n".join(open_endpoints)


@pytest.fixture(scope="module")
def no_permission_user(app):
    """A signed-in user whose only role holds no permission at all."""
    with app.app_context():
        sm = app.appbuilder.sm
        role = sm.find_role("Test No Permission") or sm.add_role("Test No Permission")
        if not sm.find_user(username=NO_PERMISSION_USER):
            sm.add_user(NO_PERMISSION_USER, "No", "Permission", "np@example.com", [role], password=PASSWORD)
    return NO_PERMISSION_USER


def test_signed_in_user_without_permissions_is_refused_everywhere(app, login, no_permission_user):
    page_client = login(no_permission_user)
    token = app.test_client().post("/api/v1/security/login", json={
        "username": no_permission_user, "password": PASSWORD, "provider": "db"}).get_json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    api_client = app.test_client()
    allowed = []
    for rule, method in _rules(app):
        if rule.endpoint in PUBLIC_ENDPOINTS or rule.endpoint in UNDECORATED_BUT_GUARDED:
            continue
        url = _url(rule)
        body = {"json": {}} if method in ("POST", "PUT") else {}
        if url.startswith("/api/"):
            response = api_client.open(url, method=method, headers=headers, **body)
            ok = response.status_code == 403
        else:
            response = page_client.open(url, method=method, **body)
            if INLINE_CHECKED.search(rule.endpoint):
                # unknown action → 404; a known one without its permission → flash + redirect
                ok = response.status_code in (302, 403, 404)
            else:
                ok = response.status_code == 403 or _login_redirect(response)
        if not ok:
            allowed.append(f"{method} {url} ({rule.endpoint}) -> {response.status_code}")
    assert not allowed, "\n".join(allowed)


def test_openapi_spec_needs_a_login_and_is_served_to_signed_in_users(app, api):
    assert app.test_client().get("/api/v1/_openapi").status_code == 401
    spec = api("manager_e").get("/api/v1/_openapi")
    assert spec.status_code == 200
    paths = spec.get_json()["paths"]
    for resource in ("region", "outlet", "product_category", "engineer", "certification_type", "certification",
                     "training_record", "part", "stock", "service_order", "setting", "sla_policy"):
        assert f"/api/v1/{resource}/" in paths, resource


def test_expired_or_forged_tokens_answer_401(app):
    client = app.test_client()
    r = client.get("/api/v1/outlet/", headers={"Authorization": "Bearer not.a.token"})
    assert r.status_code == 401 and set(r.get_json()) == {"message", "errors"}


@pytest.mark.parametrize("path", ["/api/v1/security/users/", "/api/v1/security/roles/",
                                  "/api/v1/security/permissions/", "/api/v1/security/resources/",
                                  "/api/v1/security/permissions-resources/", "/api/v1/security/groups/"])
def test_security_api_is_for_admin_only(path, api):
    assert api("admin").get(path).status_code == 200
    for username in ("hq", "manager_e", "agent_e", "auditor"):
        assert api(username).get(path).status_code == 403, (username, path)


def test_admin_manages_users_through_the_security_api(app, api):
    admin = api("admin")
    roles = admin.get("/api/v1/security/roles/?q=(page_size:100)").get_json()
    agent_role = next(r["id"] for r in roles["result"] if r["name"] == "Service Agent")
    created = admin.post("/api/v1/security/users/", json={
        "username": "api_made_user", "first_name": "A", "last_name": "B", "email": "api_made@example.com",
        "password": "S3cret-pass!", "active": True, "roles": [agent_role]})
    assert created.status_code == 201, created.get_json()
    user_id = created.get_json()["id"]
    try:
        assert api("hq").post("/api/v1/security/users/", json={
            "username": "hq_made", "first_name": "A", "last_name": "B", "email": "hq_made@example.com",
            "password": "S3cret-pass!", "roles": [agent_role]}).status_code == 403
        assert api("hq").delete(f"/api/v1/security/users/{user_id}").status_code == 403
    finally:
        assert admin.delete(f"/api/v1/security/users/{user_id}").status_code == 200


def test_roles_sync_is_idempotent_and_restores_a_tampered_role(app):
    """``flask roles sync`` makes each role exactly as declared; a second run changes nothing."""
    from app.security import roles

    sm = app.appbuilder.sm
    auditor = sm.find_role(roles.AUDITOR)
    write = sm.find_permission_view_menu("can_write", "Outlet")
    sm.add_permission_role(auditor, write)
    runner = app.test_cli_runner()

    first = runner.invoke(args=["roles", "sync"])
    assert first.exit_code == 0, first.output
    assert "(1 changed)" in first.output, first.output
    assert write.id not in {pv.id for pv in sm.find_role(roles.AUDITOR).permissions}

    second = runner.invoke(args=["roles", "sync"])
    assert second.exit_code == 0, second.output
    assert "(0 changed)" in second.output, second.output
