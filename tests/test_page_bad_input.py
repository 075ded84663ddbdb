"""A user's mistake on a page is never a 500: downloads of missing files, text the database cannot
store, actions opened by a GET."""
import os

from flask import current_app
from flask_appbuilder import ModelView
from flask_appbuilder.security.sqla.models import Role, User
from werkzeug.datastructures import MultiDict

from app.complaints import services as complaint_services
from app.complaints.models import Escalation
from app.core import page_input
from app.core.views import SafeModelViewMixin
from app.engineers.models import Engineer
from app.extensions import db
from tests import factories
from tests.test_complaints_lifecycle import new_complaint
from tests.test_pages_support import assert_form_refused, field_errors, fresh, text

NUL = "\x00"


def _zh(message):
    from flask_babel import force_locale

    with force_locale("zh"):
        return str(message)


def _model_views(app):
    return [v for v in app.appbuilder.baseviews if isinstance(v, ModelView)]


# --- downloads ---------------------------------------------------------------------------------

def test_download_of_a_missing_file_is_a_404(world, login):
    c = login("hq")
    for url in ("/partview/download/evidence", "/partview/download/..", "/partview/download/..%2f..%2fetc%2fpasswd",
                "/partview/download/..%2fsecret.txt", "/partview/download/.hidden", "/partview/download/a%5C..%5Cb"):
        assert c.get(url).status_code == 404, url


def test_download_serves_nothing_the_page_does_not_show(app, world, login):
    """A file in the upload folder (evidence, an import, an export) is not served by a page whose
    records name no file, nor outside the folder."""
    folder = app.config["UPLOAD_FOLDER"]
    os.makedirs(os.path.join(folder, "evidence"), exist_ok=True)  # the evidence files' folder
    stray = os.path.join(folder, "stray-file.txt")
    with open(stray, "w") as f:
        f.write("another region's evidence")
    outside = os.path.join(os.path.dirname(folder.rstrip("/")), "secret.txt")
    with open(outside, "w") as f:
        f.write("secret")
    try:
        c = login("hq")
        assert c.get("/partview/download/evidence").status_code == 404
        assert c.get("/partview/download/stray-file.txt").status_code == 404
        assert c.get("/engineerview/download/stray-file.txt").status_code == 404
        assert c.get("/partview/download/..%2fsecret.txt").status_code == 404
    finally:
        os.remove(stray)
        os.remove(outside)


def test_every_model_page_answers_a_missing_download_with_404(app, login):
    views = _model_views(app)
    assert views and all(isinstance(v, SafeModelViewMixin) for v in views), [
        type(v).__name__ for v in views if not isinstance(v, SafeModelViewMixin)]
    c = login("admin")
    for view in views:
        url = f"{view.route_base}/download/evidence"
        # 403 where the page offers no download permission at all (FAB's permission list)
        expected = (404,) if "download" in view.base_permissions or "can_download" in view.base_permissions \
            or not view.base_permissions else (403, 404)
        assert c.get(url).status_code in expected, url


# --- text the database cannot store ----------------------------------------------------------

def _engineer_form(world, **overrides):
    data = {"employee_no": "E3001", "name": "周工", "phone": "13500000000", "outlet": str(world.outlet_e.id),
            "hire_date": "2025-01-01", "status": "trainee"}
    data.update(overrides)
    return data


def test_nul_in_a_generated_add_form_is_a_field_error(world, login):
    c = login("hq")
    before = db.session.query(Engineer).count()
    html = assert_form_refused(c.post("/engineerview/add", data=_engineer_form(world, name="周" + NUL + "工")))
    assert field_errors(html, "name") == [_zh(page_input.field_message())]
    assert field_errors(html, "employee_no") == []
    db.session.expire_all()
    assert db.session.query(Engineer).count() == before
    # a NUL in a unique column: refused before the uniqueness check queries the database
    html = assert_form_refused(c.post("/engineerview/add", data=_engineer_form(world, employee_no="E30" + NUL)))
    assert field_errors(html, "employee_no") == [_zh(page_input.field_message())]
    assert db.session.query(Engineer).count() == before


def test_nul_in_a_generated_edit_form_is_a_field_error_and_changes_nothing(world, login):
    c = login("hq")
    engineer = world.engineer_e
    name, phone = engineer.name, engineer.phone
    data = {"employee_no": engineer.employee_no, "name": "新名字", "phone": "139" + NUL,
            "outlet": str(engineer.outlet_id), "hire_date": engineer.hire_date.isoformat(), "status": engineer.status}
    html = assert_form_refused(c.post(f"/engineerview/edit/{engineer.id}", data=data))
    assert field_errors(html, "phone") == [_zh(page_input.field_message())]
    row = fresh(Engineer, engineer.id)
    assert (row.name, row.phone) == (name, phone)


def test_nul_in_a_security_page_form_is_a_field_error(app, login):
    c = login("admin")
    html = assert_form_refused(c.post("/roles/add", data={"name": "Ghost" + NUL}))
    assert field_errors(html, "name") == [_zh(page_input.field_message())]
    db.session.expire_all()
    assert db.session.query(Role).filter(Role.name.like("Ghost%")).count() == 0
    before = db.session.query(User).count()
    html = assert_form_refused(c.post("/users/add", data={
        "first_name": "Ne" + NUL, "last_name": "Wu", "username": "newbie", "email": "newbie@example.com",
        "active": "y", "password": "Another-Passw0rd-77", "conf_password": "Another-Passw0rd-77"}))
    assert field_errors(html, "first_name") == [_zh(page_input.field_message())]
    assert db.session.query(User).count() == before


def test_a_lone_surrogate_is_a_field_error_too(app, login):
    """Browsers cannot send one (Werkzeug keeps invalid UTF-8 percent-escapes as they are), but a
    form built from any other source must refuse it the same way."""
    view = next(v for v in app.appbuilder.baseviews if type(v).__name__ == "EngineerView")
    with app.test_request_context("/engineerview/add", method="POST"):
        form = view.add_form(formdata=MultiDict({"name": "周\ud800", "employee_no": "E9"}), meta={"csrf": False})
        assert form.validate() is False
        assert form.name.errors == [page_input.field_message()]
        assert not form.employee_no.errors


def test_nul_in_a_custom_page_form_is_a_400_naming_the_field(world, login):
    complaint = new_complaint(world)
    escalation = complaint_services.escalate(complaint.id, "severity", "repair", None, "", factories.user("agent_e"))
    esc_id, status = escalation.id, escalation.status
    resp = login("manager_e").post(f"/desk/{esc_id}/approve", data={"comment": "同意" + NUL})
    assert resp.status_code == 400
    page = text(resp.get_data(as_text=True))
    assert "comment" in page and 'data-code="400"' in resp.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Escalation, esc_id).status == status


def test_nul_on_the_login_page_and_in_a_search_is_a_400(app, world):
    client = app.test_client()
    resp = client.post("/login/", data={"username": "hq" + NUL, "password": "x"})
    assert resp.status_code == 400 and "username" in text(resp.get_data(as_text=True))
    from tests.conftest import PASSWORD

    assert client.post("/login/", data={"username": "hq", "password": PASSWORD}).status_code in (302, 303)
    resp = client.get("/engineerview/list/?_flt_0_name=a%00")
    assert resp.status_code == 400 and "_flt_0_name" in text(resp.get_data(as_text=True))
    assert client.get("/engineerview/list/?_flt_0_name=a").status_code == 200


# --- actions -----------------------------------------------------------------------------------

def _role(name):
    return db.session.query(Role).filter_by(name=name).one_or_none()


def test_get_of_an_action_changes_nothing_and_offers_a_button_that_posts(app, login):
    auditor = _role("Auditor")
    c = login("admin")
    resp = c.get(f"/roles/action/copyrole/{auditor.id}")
    assert resp.status_code == 405 and resp.headers["Allow"] == "POST"
    html = resp.get_data(as_text=True)
    assert 'id="confirm-action"' in html and f'action="/roles/action/copyrole/{auditor.id}"' in html
    assert 'method="POST"' in html and 'name="csrf_token"' in html
    db.session.expire_all()
    assert _role("Auditor copy") is None
    assert c.get("/roles/action/copyrole/99999").status_code == 404
    assert c.get(f"/roles/action/nosuchaction/{auditor.id}").status_code == 404


def test_copy_role_from_its_page_and_from_the_list(app, login):
    auditor = _role("Auditor")
    permissions = sorted(p.id for p in auditor.permissions)
    c = login("admin")
    listing = c.get("/roles/list/").get_data(as_text=True)
    assert "copyrole_menu_item" in listing and "/roles/action_post" in listing and 'name="csrf_token"' in listing
    try:
        # the role's page: its action POSTs to action/<name>/<pk>
        resp = c.post(f"/roles/action/copyrole/{auditor.id}")
        assert resp.status_code in (302, 303)
        db.session.expire_all()
        copy = _role("Auditor copy")
        assert copy is not None and sorted(p.id for p in copy.permissions) == permissions
        # the list's action menu: action_post; the name is taken, so the copy gets the next one
        resp = c.post("/roles/action_post", data={"action": "copyrole", "rowid": [str(auditor.id)]})
        assert resp.status_code in (302, 303)
        db.session.expire_all()
        assert _role("Auditor copy 2") is not None
        assert c.post("/roles/action_post", data={"action": "copyrole", "rowid": ["99999"]}).status_code == 404
        # without the CSRF token nothing is copied
        if current_app.config.get("WTF_CSRF_ENABLED"):
            refused = c.post(f"/roles/action/copyrole/{auditor.id}", csrf=False)
            assert refused.status_code in (400, 403)
            db.session.expire_all()
            assert _role("Auditor copy 3") is None
    finally:
        db.session.rollback()
        for name in ("Auditor copy", "Auditor copy 2", "Auditor copy 3"):
            role = _role(name)
            if role is not None:
                role.permissions = []
                db.session.delete(role)
        db.session.commit()
