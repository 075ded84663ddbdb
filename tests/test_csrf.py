"""Cross-site request forgery, clickjacking and script injection: what a hostile page in the
victim's browser can no longer do (``app.core.protection``).

Every request here comes from a signed-in user's browser; ``csrf=False`` sends it without the
page's token, as a forged request from another site would (it has the cookie, not the token).
"""
import io
import re
import uuid

import pytest

from app.audit_trail.models import AuditEvent
from app.engineers.models import CertificationType
from app.extensions import db
from tests.qualification_support import open_audit, qualifying_outlet

EVIL = {"Origin": "https://evil.example", "Referer": "https://evil.example/page"}
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def _max_event_id():
    db.session.expire_all()
    return db.session.query(db.func.max(AuditEvent.id)).scalar() or 0


@pytest.fixture
def cert_type_id(app):
    """A certification type of its own (reference data is not wiped between tests: removed here)."""
    row = CertificationType(name=f"临时证书类型-{uuid.uuid4().hex[:6]}", validity_months=12)
    db.session.add(row)
    db.session.commit()
    pk = row.id
    yield pk
    db.session.rollback()
    db.session.query(CertificationType).filter_by(id=pk).delete()
    db.session.commit()


def _exists(model, pk):
    db.session.expire_all()
    return db.session.get(model, pk) is not None


def test_csrf_protection_is_initialised(app):
    assert "csrf" in app.extensions
    assert app.config["WTF_CSRF_ENABLED"] is True


# --- FAB's generated pages ----------------------------------------------------------------------

@pytest.mark.parametrize("path", ["/certificationtypeview/delete/{pk}", "/certificationtypeview/action/muldelete/{pk}"])
def test_a_get_never_deletes(app, login, path, cert_type_id):
    pk = cert_type_id
    hq = login("hq")
    r = hq.get(path.format(pk=pk))
    assert r.status_code in (302, 303, 405)
    assert _exists(CertificationType, pk)


def test_a_post_without_the_token_is_refused(app, login, cert_type_id):
    pk = cert_type_id
    hq = login("hq")
    for path, data in ((f"/certificationtypeview/delete/{pk}", {}),
                       ("/certificationtypeview/action_post", {"action": "muldelete", "rowid": str(pk)})):
        r = hq.post(path, data=data, headers=EVIL, csrf=False)
        assert r.status_code == 403, path
        assert "csrf_token" not in r.get_data(as_text=True)
        assert _exists(CertificationType, pk), path
    # the page's own form (with its token) still deletes
    assert hq.post("/certificationtypeview/action_post", data={"action": "muldelete", "rowid": str(pk)}).status_code == 302
    assert not _exists(CertificationType, pk)


def test_the_users_page_does_not_delete_on_get(app, login):
    sm = app.appbuilder.sm
    victim = sm.add_user("csrf_victim", "Victim", "User", "victim@example.com", [sm.find_role("Auditor")],
                         password="Long-enough-Passw0rd")
    try:
        admin = login("admin")
        admin.get(f"/users/delete/{victim.id}")
        admin.post(f"/users/delete/{victim.id}", csrf=False, headers=EVIL)
        db.session.expire_all()
        assert sm.find_user(username="csrf_victim") is not None
    finally:
        db.session.expire_all()
        user = sm.find_user(username="csrf_victim")
        if user is not None:
            db.session.delete(user)
            db.session.commit()


def test_a_form_token_from_the_page_is_accepted(app, login, cert_type_id):
    """The token the page prints (not only the test client's header) works for a form post."""
    pk = cert_type_id
    hq = login("hq")
    html = hq.get(f"/certificationtypeview/edit/{pk}").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"|name="csrf_token" value="([^"]+)"', html)
    assert token, "the edit form carries a CSRF token"
    value = token.group(1) or token.group(2)
    r = hq.post(f"/certificationtypeview/edit/{pk}", csrf=False,
                data={"csrf_token": value, "name": "改过的证书类型", "validity_months": "24"})
    assert r.status_code in (302, 303)
    db.session.expire_all()
    assert db.session.get(CertificationType, pk).name == "改过的证书类型"


# --- the session cookie ---------------------------------------------------------------------------

def test_session_cookie_is_httponly_and_samesite(app):
    client = app.test_client()
    r = client.post("/login/", data={"username": "hq", "password": "wrong-password-x"})
    cookies = [v for k, v in r.headers.items() if k.lower() == "set-cookie" and v.startswith("session=")]
    assert cookies, r.headers
    attrs = cookies[-1].lower()
    assert "httponly" in attrs and "samesite=lax" in attrs


def test_production_cookies_are_secure():
    import config

    settings = config.load("production", {"SECRET_KEY": "x" * 40, "SQLALCHEMY_DATABASE_URI": "postgresql://h/db",
                                          "REDIS_URL": "redis://h:6379/0"})
    assert settings["SESSION_COOKIE_SECURE"] is True and settings["SESSION_COOKIE_HTTPONLY"] is True
    assert settings["SESSION_COOKIE_SAMESITE"] == "Lax"


# --- the API with the browser's cookie ------------------------------------------------------------

def test_api_write_with_only_the_session_cookie_is_refused(world, login, api):
    from tests.test_complaints_lifecycle import new_complaint

    complaint = new_complaint(world)
    since = _max_event_id()
    manager = login("manager_e")
    r = manager.post(f"/api/v1/complaint/{complaint.id}/reveal_phone", headers=EVIL, csrf=False)
    assert r.status_code == 403
    assert set(r.get_json()) == {"message", "errors"}
    db.session.expire_all()
    assert not db.session.query(AuditEvent).filter(AuditEvent.id > since, AuditEvent.action == "reveal_phone").count()
    # the app's own pages send the token in a header: accepted
    assert manager.post(f"/api/v1/complaint/{complaint.id}/reveal_phone").status_code == 200
    # bearer-token clients are unaffected
    assert api("manager_e").post(f"/api/v1/complaint/{complaint.id}/reveal_phone").status_code == 200


def test_evidence_upload_with_only_the_session_cookie_is_refused(world, login, api):
    outlet = qualifying_outlet(world.east)
    audit_id, result = open_audit(api("auditor"), outlet)
    item = result["items"][0]["code"]
    auditor = login("auditor")
    r = auditor.post(f"/api/v1/qualification_audit/{audit_id}/evidence", headers=EVIL, csrf=False,
                     data={"item": item, "file": (io.BytesIO(PNG), "photo.png")}, content_type="multipart/form-data")
    assert r.status_code == 403
    detail = api("auditor").get(f"/api/v1/qualification_audit/{audit_id}").get_json()["result"]
    assert not any(i.get("files") for i in detail["items"])


# --- GET switches that were state changes --------------------------------------------------------

def test_the_language_switch_is_a_post_with_a_token(app, login):
    hq = login("hq")
    assert hq.get("/lang/en").status_code == 405
    assert hq.post("/language/", data={"locale": "en"}, csrf=False).status_code == 403
    assert "服务网点" in hq.get("/outletview/list/").get_data(as_text=True)
    assert hq.post("/language/", data={"locale": "en"}).status_code == 303
    assert "Service outlets" in hq.get("/outletview/list/").get_data(as_text=True)
    # an address on another site is not followed
    r = hq.post("/language/", data={"locale": "zh", "next": "https://evil.example/"})
    assert r.status_code == 303 and "evil.example" not in r.headers["Location"]


def test_logging_out_is_a_post_with_a_token(app, login):
    hq = login("hq")
    page = hq.get("/logout/")
    assert page.status_code == 200 and 'action="/signout/"' in page.get_data(as_text=True)
    assert hq.get("/outletview/list/").status_code == 200  # still signed in
    assert hq.post("/signout/", csrf=False).status_code == 403
    assert hq.get("/outletview/list/").status_code == 200
    assert hq.post("/signout/").status_code in (302, 303)
    r = hq.get("/outletview/list/")
    assert r.status_code in (302, 303) and "/login/" in r.headers["Location"]


# --- headers -------------------------------------------------------------------------------------

def test_security_headers_and_a_nonce_csp_on_every_page(app, login):
    hq = login("hq")
    for path in ("/", "/outletview/list/", "/login/", "/api/v1/outlet/"):
        r = hq.get(path)
        assert r.headers["X-Content-Type-Options"] == "nosniff", path
        assert r.headers["Referrer-Policy"] == "same-origin", path
        assert r.headers["X-Frame-Options"] == "DENY", path
        csp = r.headers["Content-Security-Policy"]
        for directive in ("default-src 'self'", "object-src 'none'", "frame-ancestors 'none'", "base-uri 'self'",
                          "form-action 'self'"):
            assert directive in csp, (path, directive)
        script_src = re.search(r"script-src ([^;]+)", csp).group(1)
        assert "'unsafe-inline'" not in script_src and "'unsafe-eval'" not in script_src
    html = hq.get("/outletview/list/")
    nonce = re.search(r"'nonce-([^']+)'", html.headers["Content-Security-Policy"]).group(1)
    body = html.get_data(as_text=True)
    # every executable script of the page carries this response's nonce
    for tag in re.findall(r"<script\b[^>]*>", body):
        if 'type="application/json"' in tag:
            continue
        assert f'nonce="{nonce}"' in tag, tag
    # a new response, a new nonce
    again = hq.get("/outletview/list/").headers["Content-Security-Policy"]
    assert f"'nonce-{nonce}'" not in again


def test_the_page_token_is_in_a_meta_tag_for_scripts(app, login):
    body = login("hq").get("/outletview/list/").get_data(as_text=True)
    assert re.search(r'<meta name="csrf-token" content="[^"]+">', body)


def test_anonymous_api_write_is_still_401_not_403(app):
    r = app.test_client().post("/api/v1/outlet/", json={}, csrf=False)
    assert r.status_code == 401


def test_security_api_login_needs_no_token(app):
    from tests.conftest import PASSWORD

    r = app.test_client().post("/api/v1/security/login", csrf=False,
                               json={"username": "hq", "password": PASSWORD, "provider": "db"})
    assert r.status_code == 200
