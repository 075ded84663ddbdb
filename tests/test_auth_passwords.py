"""The password policy on every path that sets a password: at least ``security.password_min_length``
characters (default 10), not the username nor containing it, not a common password; refused with
a clear message (API 422 ``{"message", "errors": {"password": [...]}}``, a field error on pages)."""
import pytest

from app.core.errors import Invalid
from app.security import passwords
from seeds.demo_users import DEMO_USERS
from tests.auth_support import api_login, new_user, page_login, set_setting, zh
from tests.conftest import PASSWORD

WEAK = ["a", "1", "b", "short-1", "1234567890", "qwertyuiop", "password123"]


def _short(app, n=10):
    return zh(app, "The password must have at least %(n)s characters.", n=n)


def _messages(app, password, username):
    with app.test_request_context():
        from flask_babel import force_locale

        with force_locale("zh"):
            return [str(m) for m in passwords.problems(password, username)]


def test_the_rules(app):
    assert passwords.problems("Svc-Passw0rd-2026", "agent") == []
    assert len(passwords.problems("a", "someone")) == 1  # too short
    assert passwords.problems("xyz-Kefu-Demo", "kefu")  # contains the username, any case
    assert passwords.problems("ZHANGWEI88", "zhangwei88")  # is the username
    assert passwords.problems("1234567890", "someone")  # common
    assert passwords.problems("Qwertyuiop", "someone")  # common, any case
    assert "1234567890" in passwords.common_passwords() and len(passwords.common_passwords()) > 3000
    set_setting("security.password_min_length", 16)
    assert passwords.problems("Svc-Passw0rd-2026", "agent") == []
    assert passwords.problems("Svc-Passw0rd-26", "agent")  # 15 characters


def test_demo_users_follow_the_policy():
    for username, password, _role in DEMO_USERS:
        assert passwords.problems(password, username) == [], username


@pytest.mark.parametrize("password", WEAK)
def test_the_security_api_refuses_weak_passwords_on_create(app, api, password):
    admin = api("admin")
    roles = admin.get("/api/v1/security/roles/?q=(page_size:100)").get_json()["result"]
    agent_role = next(r["id"] for r in roles if r["name"] == "Service Agent")
    resp = admin.post("/api/v1/security/users/", json={
        "username": "weak_pw_user", "first_name": "A", "last_name": "B", "email": "weak_pw@example.com",
        "password": password, "active": True, "roles": [agent_role]})
    assert resp.status_code == 422
    body = resp.get_json()
    assert set(body) == {"message", "errors"} and list(body["errors"]) == ["password"]
    assert body["message"] == zh(app, "The password does not meet the password policy.")
    assert body["errors"]["password"] == _messages(app, password, "weak_pw_user")
    assert app.appbuilder.sm.find_user(username="weak_pw_user") is None


def test_the_security_api_refuses_weak_passwords_on_update(app, api):
    user = new_user(app)
    admin = api("admin")
    for password in ["a", "1", "b", f"{user.username.upper()}-2026x"]:
        resp = admin.put(f"/api/v1/security/users/{user.id}", json={"password": password})
        assert resp.status_code == 422, password
        assert resp.get_json()["errors"]["password"] == _messages(app, password, user.username)
    assert zh(app, "The password must not contain the username.") in resp.get_json()["errors"]["password"]
    assert api_login(app, user.username).status_code == 200  # unchanged
    assert admin.put(f"/api/v1/security/users/{user.id}", json={"password": "Fine-Passw0rd-2026"}).status_code == 200


def test_the_user_add_page_refuses_a_weak_password(app, login):
    sm = app.appbuilder.sm
    admin = login("admin")
    data = {"first_name": "A", "last_name": "B", "username": "weak_form_user", "active": "y",
            "email": "weak_form@example.com", "roles": [str(sm.find_role("Service Agent").id)],
            "password": "a", "conf_password": "a"}
    resp = admin.post("/users/add", data=data)
    assert resp.status_code == 200
    assert str(_short(app)) in resp.get_data(as_text=True)
    assert sm.find_user(username="weak_form_user") is None
    data.update(password="weak_form_user!!", conf_password="weak_form_user!!")
    resp = admin.post("/users/add", data=data)
    assert zh(app, "The password must not contain the username.") in resp.get_data(as_text=True)
    assert sm.find_user(username="weak_form_user") is None


def test_the_reset_password_pages_refuse_a_weak_password(app, login):
    user = new_user(app)
    client, _resp = page_login(app, user.username)
    resp = client.post("/resetmypassword/form", data={"password": "1", "conf_password": "1"})
    assert resp.status_code == 200 and _short(app) in resp.get_data(as_text=True)
    resp = client.post("/resetmypassword/form", data={"password": "1234567890", "conf_password": "1234567890"})
    assert zh(app, "This password is too common; choose another.") in resp.get_data(as_text=True)
    admin = login("admin")
    resp = admin.post(f"/resetpassword/form?pk={user.id}", data={"password": "b", "conf_password": "b"})
    assert resp.status_code == 200 and _short(app) in resp.get_data(as_text=True)
    mine = f"{user.username}-Xyz"
    resp = admin.post(f"/resetpassword/form?pk={user.id}", data={"password": mine, "conf_password": mine})
    assert zh(app, "The password must not contain the username.") in resp.get_data(as_text=True)
    assert api_login(app, user.username, PASSWORD).status_code == 200  # unchanged


def test_add_user_in_code_refuses_a_weak_password(app):
    sm = app.appbuilder.sm
    with pytest.raises(Invalid) as refused:
        sm.add_user("weak_code_user", "A", "B", "weak_code@example.com", [sm.find_role("Auditor")], password="a")
    assert refused.value.errors["password"]
    assert sm.find_user(username="weak_code_user") is None
