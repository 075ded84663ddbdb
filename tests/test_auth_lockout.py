"""Account lockout: N failed sign-ins in a row (``security.lockout_failures``, default 10) lock the
account for M minutes (``security.lockout_minutes``, default 15) on both logins; the right
password is refused meanwhile with a clear message; the lock, the refusals and the unlock are in
the audit trail; an admin unlocks from the user pages or the API."""
from datetime import timedelta

from app.core import clock, settings
from app.core.settings import DEFINITIONS
from app.security import credentials
from app.security.api import locked_message
from tests.auth_support import (api_login, details, events_since, last_event_id, new_user, page_login,
                                set_setting, signed_in, zh)
from tests.conftest import PASSWORD

WRONG = "Wrong-Passw0rd-2026"


def _locked_text(app, user):
    until = credentials.locked_until(user.id)
    assert until is not None
    with app.test_request_context():
        from flask_babel import force_locale

        with force_locale("zh"):
            return locked_message(until)


def test_the_lockout_settings_are_data_with_defaults():
    assert DEFINITIONS["security.lockout_failures"].default == 10
    assert DEFINITIONS["security.lockout_minutes"].default == 15
    assert settings.get("security.lockout_failures") == 10
    assert settings.get("security.lockout_minutes") == 15


def test_api_lockout_after_ten_failures_then_an_admin_unlocks_by_api(app, api):
    user = new_user(app)
    since = last_event_id()
    # each attempt from its own address: the address limit is not what stops them
    statuses = [api_login(app, user.username, WRONG).status_code for _ in range(10)]
    assert statuses == [401] * 9 + [403]
    resp = api_login(app, user.username)  # the right password, while locked
    assert resp.status_code == 403
    assert resp.get_json() == {"message": _locked_text(app, user), "errors": {}}

    failed = events_since(since, action="login_failed")
    assert len(failed) == 11 and all(details(e)["username"] == user.username for e in failed)
    assert details(failed[-1]).get("reason") == "locked"
    [locked] = events_since(since, action="account_locked")
    assert locked.record_id == str(user.id) and details(locked)["failures"] == 10
    assert not events_since(since, action="login")

    # unlocking needs the user-editing permission (Admin)
    assert api("hq").post(f"/api/v1/security/users/{user.id}/unlock").status_code == 403
    admin = api("admin")
    resp = admin.post(f"/api/v1/security/users/{user.id}/unlock")
    assert resp.status_code == 200 and resp.get_json()["was_locked"] is True
    [unlocked] = events_since(since, action="account_unlocked")
    assert unlocked.record_id == str(user.id) and unlocked.actor_name == "admin"
    assert api_login(app, user.username).status_code == 200
    assert admin.post("/api/v1/security/users/999999/unlock").status_code == 404


def test_page_lockout_refuses_the_right_password_then_the_admin_unlocks_on_the_user_page(app, login):
    set_setting("security.lockout_failures", 3)
    user = new_user(app)
    since = last_event_id()
    for _ in range(3):
        client, resp = page_login(app, user.username, WRONG)
        assert resp.status_code == 302
    page = client.get(resp.headers["Location"]).get_data(as_text=True)
    assert _locked_text(app, user) in page  # the third failure says the account is now locked

    client, resp = page_login(app, user.username, PASSWORD)
    assert resp.status_code == 302 and not signed_in(client)
    page = client.get(resp.headers["Location"]).get_data(as_text=True)
    assert _locked_text(app, user) in page
    assert zh(app, "Invalid login. Please try again.") not in page
    # the API refuses it too
    assert api_login(app, user.username).status_code == 403
    assert len(events_since(since, action="account_locked")) == 1

    admin = login("admin")
    show = admin.get(f"/users/show/{user.id}").get_data(as_text=True)
    assert f"/users/action/unlock/{user.id}" in show
    # a forged request without the page's token changes nothing
    assert admin.post(f"/users/action/unlock/{user.id}", csrf=False).status_code in (302, 400, 403)
    assert credentials.locked_until(user.id) is not None
    resp = admin.post(f"/users/action/unlock/{user.id}")
    assert resp.status_code == 302
    assert credentials.locked_until(user.id) is None
    [event] = events_since(since, action="account_unlocked")
    assert event.record_id == str(user.id) and event.actor_name == "admin"
    client, resp = page_login(app, user.username, PASSWORD)
    assert signed_in(client)


def test_the_list_action_unlocks_several_users(app, login):
    set_setting("security.lockout_failures", 3)
    users = [new_user(app), new_user(app)]
    for user in users:
        for _ in range(3):
            api_login(app, user.username, WRONG)
        assert credentials.locked_until(user.id) is not None
    admin = login("admin")
    resp = admin.post("/users/action_post", data={"action": "unlock", "rowid": [str(u.id) for u in users]})
    assert resp.status_code == 302
    assert all(credentials.locked_until(u.id) is None for u in users)


def test_the_lock_ends_by_itself_after_the_set_minutes(app):
    set_setting("security.lockout_minutes", 30)
    user = new_user(app)
    start = clock.now().replace(microsecond=0)
    with clock.freeze(start):
        for _ in range(10):
            api_login(app, user.username, WRONG)
        assert api_login(app, user.username).status_code == 403
    with clock.freeze(start + timedelta(minutes=29)):
        assert api_login(app, user.username).status_code == 403
    with clock.freeze(start + timedelta(minutes=31)):
        assert api_login(app, user.username).status_code == 200
        # the count starts again: one failure does not lock it
        assert api_login(app, user.username, WRONG).status_code == 401
        assert api_login(app, user.username).status_code == 200


def test_a_success_resets_the_count(app):
    user = new_user(app)
    for _ in range(9):
        assert api_login(app, user.username, WRONG).status_code == 401
    assert api_login(app, user.username).status_code == 200
    for _ in range(9):
        assert api_login(app, user.username, WRONG).status_code == 401
    assert api_login(app, user.username).status_code == 200
