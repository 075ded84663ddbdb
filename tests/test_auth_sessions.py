"""A password change (by an admin through the API or the reset page, by the user), a deactivation
or a logout ends the user's earlier sessions and JWTs (access and refresh) at once: pages redirect
to the login, the API answers 401."""
from app.extensions import db
from app.security import credentials
from tests.auth_support import api_login, new_user, page_login, signed_in
from tests.conftest import PASSWORD

NEW_PASSWORD = "Brand-New-Secret-77"


class Earlier:
    """What the user held before the change: two browser sessions, an access and a refresh token."""

    def __init__(self, app, user, password=PASSWORD):
        self.app, self.user = app, user
        self.browser, resp = page_login(app, user.username, password)
        assert resp.status_code == 302 and signed_in(self.browser)
        self.other_browser, _ = page_login(app, user.username, password)
        assert signed_in(self.other_browser)
        tokens = api_login(app, user.username, password, refresh=True).get_json()
        self.access, self.refresh = tokens["access_token"], tokens["refresh_token"]
        assert self.api_get().status_code == 200

    def api_get(self, token=None):
        return self.app.test_client().get("/api/v1/menu/", headers={"Authorization": f"Bearer {token or self.access}"})

    def refreshed(self):
        return self.app.test_client().post("/api/v1/security/refresh",
                                           headers={"Authorization": f"Bearer {self.refresh}"})

    def assert_all_ended(self, keep_browser=False):
        browsers = [self.other_browser] if keep_browser else [self.browser, self.other_browser]
        for browser in browsers:
            resp = browser.get("/")
            assert resp.status_code == 302 and "/login/" in resp.headers["Location"]
        resp = browser.get("/api/v1/menu/")  # the session cookie on the API
        assert resp.status_code == 401
        resp = self.api_get()
        assert resp.status_code == 401 and set(resp.get_json()) == {"message", "errors"}
        assert self.refreshed().status_code == 401


def test_tokens_carry_the_credential_version_and_refresh_works_until_a_change(app):
    user = new_user(app)
    held = Earlier(app, user)
    resp = held.refreshed()
    assert resp.status_code == 200 and held.api_get(resp.get_json()["access_token"]).status_code == 200


def test_an_admin_changing_the_password_through_the_api_ends_everything(app, api):
    user = new_user(app)
    held = Earlier(app, user)
    resp = api("admin").put(f"/api/v1/security/users/{user.id}", json={"password": NEW_PASSWORD})
    assert resp.status_code == 200, resp.get_json()
    held.assert_all_ended()
    assert api_login(app, user.username, PASSWORD).status_code == 401
    new = Earlier(app, user, NEW_PASSWORD)  # signing in again works
    assert new.api_get().status_code == 200


def test_an_admin_resetting_the_password_on_the_page_ends_everything(app, login):
    user = new_user(app)
    held = Earlier(app, user)
    admin = login("admin")
    resp = admin.post(f"/resetpassword/form?pk={user.id}",
                      data={"password": NEW_PASSWORD, "conf_password": NEW_PASSWORD})
    assert resp.status_code == 302
    held.assert_all_ended()
    assert signed_in(admin)  # the admin's own session goes on


def test_changing_ones_own_password_ends_the_other_sessions_and_tokens(app):
    user = new_user(app)
    held = Earlier(app, user)
    resp = held.browser.post("/resetmypassword/form", data={"password": NEW_PASSWORD, "conf_password": NEW_PASSWORD})
    assert resp.status_code == 302
    assert signed_in(held.browser)  # where the change was made
    held.assert_all_ended(keep_browser=True)


def test_deactivating_a_user_ends_everything(app, api):
    user = new_user(app)
    held = Earlier(app, user)
    resp = api("admin").put(f"/api/v1/security/users/{user.id}", json={"active": False})
    assert resp.status_code == 200, resp.get_json()
    held.assert_all_ended()


def test_any_write_path_counts_a_change_in_code_too(app):
    """The ORM hook covers writes made in code (services, CLI), not only FAB's views."""
    user = new_user(app)
    held = Earlier(app, user)
    before = credentials.current_version(user.id)
    sm = app.appbuilder.sm
    sm.reset_password(user.id, NEW_PASSWORD)
    assert credentials.current_version(user.id) == before + 1
    held.assert_all_ended()
    # a change that touches neither the password nor the active flag keeps sessions
    again = Earlier(app, user, NEW_PASSWORD)
    row = sm.get_user_by_id(user.id)
    row.first_name = "Renamed"
    db.session.commit()
    assert signed_in(again.browser) and again.api_get().status_code == 200


def test_logging_out_ends_every_session_and_token(app):
    user = new_user(app)
    held = Earlier(app, user)
    resp = held.browser.post("/signout/")
    assert resp.status_code in (302, 303)
    held.assert_all_ended()
