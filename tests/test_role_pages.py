"""FAB's role pages in the reader's language: roles by name, permissions as "resource · action"."""
import re

from flask_babel import force_locale

from app.extensions import db
from app.security.permission_labels import ACTIONS, permission_text
from tests.test_pages_support import list_body, text


def _pvs(app):
    sm = app.appbuilder.sm
    return db.session.query(sm.permissionview_model).all()


def test_every_permission_reads_in_chinese(app, world):
    pvs = _pvs(app)
    assert len(pvs) > 100
    unknown = sorted({pv.permission.name for pv in pvs} - set(ACTIONS))
    assert not unknown, f"actions with no readable name: {unknown}"
    with app.test_request_context(), force_locale("zh"):
        texts = {permission_text(pv) for pv in pvs}
        english = sorted(t for t in texts if re.search(r"[A-Za-z]{3,}", t.replace("SLA", "")))
    assert not english, f"permissions still in English: {english}"


def test_the_role_pages_and_form_show_readable_permissions(world, login):
    admin = login("admin")
    roles = text(list_body(admin.get("/roles/list/").get_data(as_text=True)))
    assert "区域经理" in roles and "服务网点 · 读取" in roles
    assert "can read on" not in roles and "menu access on" not in roles
    sm = admin.application.appbuilder.sm
    manager = sm.find_role("Regional Manager")
    page = text(admin.get(f"/roles/show/{manager.id}").get_data(as_text=True))
    assert "区域经理" in page and "投诉 · 读取" in page and "can read on" not in page
    form = admin.get(f"/roles/edit/{manager.id}").get_data(as_text=True)
    assert ">服务网点 · 读取</option>" in form and ">can read on Outlet</option>" not in form

    admin.post("/language/", data={"locale": "en"})
    roles = text(list_body(admin.get("/roles/list/").get_data(as_text=True)))
    assert "Regional manager" in roles and "Service outlets · read" in roles
    admin.post("/language/", data={"locale": "zh"})
