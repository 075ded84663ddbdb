"""Helpers of the sign-in tests (tests/test_auth_*.py): throwaway users, logins from fresh client
addresses, the audit events a test wrote, messages in the default language."""
import json
import uuid

from flask_babel import force_locale, gettext
from sqlalchemy import func

from app.audit_trail.models import AuditEvent
from app.extensions import db
from tests.conftest import PASSWORD


def new_user(app, role="Service Agent", prefix="u", password=PASSWORD):
    """A user of its own, so counters kept per account (rate limits) start at zero."""
    sm = app.appbuilder.sm
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    user = sm.add_user(name, "Test", "User", f"{name}@example.com", [sm.find_role(role)], password=password)
    assert user, name
    return user


def api_login(app, username, password=PASSWORD, client=None, refresh=False):
    client = client or app.test_client()
    body = {"username": username, "password": password, "provider": "db"}
    if refresh:
        body["refresh"] = True
    return client.post("/api/v1/security/login", json=body)


def page_login(app, username, password=PASSWORD, client=None):
    client = client or app.test_client()
    return client, client.post("/login/", data={"username": username, "password": password})


def signed_in(client):
    """Whether the client's session is a signed-in one (the dashboard, not the login redirect)."""
    resp = client.get("/")
    return resp.status_code == 200


def last_event_id():
    db.session.expire_all()
    return db.session.query(func.coalesce(func.max(AuditEvent.id), 0)).scalar()


def events_since(since, **filters):
    db.session.expire_all()
    return db.session.query(AuditEvent).filter(AuditEvent.id > since).filter_by(**filters).order_by(AuditEvent.id).all()


def details(event):
    return json.loads(event.changes)


def zh(app, msgid, **kwargs):
    """``msgid`` as the app says it in its default language (Chinese)."""
    with app.test_request_context(), force_locale("zh"):
        return gettext(msgid, **kwargs)


def set_setting(key, value):
    from app.core.models import Setting

    row = db.session.query(Setting).filter_by(key=key).one_or_none()
    if row is None:
        row = Setting(key=key, value=str(value))
        db.session.add(row)
    row.value = str(value)
    db.session.commit()
