"""Stock Flask-AppBuilder 5.3 on the product's tables: the yardstick for the lists benchmark.

A minimal FAB app with FAB's defaults and nothing of the product's: one plain ``ModelRestApi``
(``/api/v1/stock_<resource>/``) and one plain ``ModelView`` (``/stock<resource>view/list/``) per
model class, FAB's own security manager and login, its own admin user created with FAB's API.
It writes that user and FAB's permissions, so it must be bound to a throwaway clone
(``ctx.scratch()``), never to the filled database.
"""
import importlib
import tempfile

from flask import Flask

USERNAME = "stock_admin"
PASSWORD = "Stock-Admin-Passw0rd-2026"

MODELS = {  # API resource → model class path
    "complaint": "app.complaints.models:Complaint",
    "service_order": "app.orders.models:ServiceOrder",
    "outlet": "app.network.models:Outlet",
    "engineer": "app.engineers.models:Engineer",
    "certification": "app.engineers.models:Certification",
    "stock": "app.parts.models:Stock",
    "part": "app.parts.models:Part",
    "escalation": "app.complaints.models:Escalation",
    "qualification_audit": "app.qualification.models:QualificationAudit",
    "audit_event": "app.audit_trail.models:AuditEvent",
}


def _model(path):
    module, name = path.split(":")
    return getattr(importlib.import_module(module), name)


def _view_name(resource):
    return "Stock" + "".join(part.title() for part in resource.split("_")) + "View"


def create(url):
    from flask_appbuilder import AppBuilder, ModelRestApi, ModelView
    from flask_appbuilder.models.sqla.interface import SQLAInterface
    from flask_appbuilder.utils.legacy import get_sqla_class

    app = Flask("stock_fab", instance_path=tempfile.mkdtemp(prefix="stock-fab-"))
    app.config.update(
        SQLALCHEMY_DATABASE_URI=url, SECRET_KEY="stock-fab-bench", WTF_CSRF_ENABLED=False,
        AUTH_TYPE=1, FAB_UPDATE_PERMS=True, FAB_API_SWAGGER_UI=False, JWT_SECRET_KEY="stock-fab-bench-jwt-secret-of-enough-length",
        AUTH_RATE_LIMITED=False, RATELIMIT_ENABLED=False,
    )
    db = get_sqla_class()()
    db.init_app(app)
    with app.app_context():
        appbuilder = AppBuilder(app, db.session)
        for resource, path in MODELS.items():
            model = _model(path)
            api = type(f"Stock{model.__name__}Api", (ModelRestApi,), {
                "resource_name": f"stock_{resource}", "datamodel": SQLAInterface(model)})
            view = type(_view_name(resource), (ModelView,), {"datamodel": SQLAInterface(model)})
            appbuilder.add_api(api)
            appbuilder.add_view(view, model.__name__)
        sm = appbuilder.sm
        if sm.find_user(username=USERNAME) is None:
            sm.add_user(USERNAME, "Stock", "Admin", "stock_admin@example.invalid", sm.find_role("Admin")
                        or sm.add_role("Admin"), password=PASSWORD)
    app.extensions["stock_fab_db"] = db
    return app


def sign_in(app):
    """``(client, api_headers)``: a session through FAB's login page and a JWT from its API."""
    client = app.test_client()
    resp = client.post("/login/", data={"username": USERNAME, "password": PASSWORD})
    if resp.status_code not in (302, 303):
        raise RuntimeError(f"stock FAB sign-in answered {resp.status_code}: {resp.get_data(as_text=True)[:300]}")
    token = app.test_client().post("/api/v1/security/login", json={
        "username": USERNAME, "password": PASSWORD, "provider": "db"}).get_json()["access_token"]
    return client, {"Authorization": f"Bearer {token}"}


def api_url(resource, page, page_size):
    return f"/api/v1/stock_{resource}/?q=(page:{page},page_size:{page_size})"


def page_url(resource, page, page_size):
    view = _view_name(resource)
    return f"/{view.lower()}/list/?page_{view}={page}&psize_{view}={page_size}"


def dispose(app):
    db = app.extensions.get("stock_fab_db")
    if db is not None:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
