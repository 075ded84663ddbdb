"""Every registered endpoint, walked as the most powerful user's browser:

* no GET changes anything: the audit trail (which records every ORM and bulk write of every
  table, users and roles included) gains no event, and the two tables it leaves out (the email
  outbox and users' background jobs) gain no row — with real ids in every ``<pk>`` and every
  action name of every view, so a delete or an action reached by GET has a row to act on;
* no state-changing request (POST, PUT, PATCH, DELETE) of a page or of the API succeeds with the
  session cookie but without the CSRF token: each answers 403 and changes nothing.
"""
import pytest

from app.audit_trail.models import AuditEvent
from app.core.models import Notification
from app.extensions import db
from app.reports.models import UserJob
from tests.qualification_support import open_audit, qualifying_outlet
from tests.test_complaints_lifecycle import new_complaint

# Public endpoints that authenticate nobody by cookie: they take credentials or a bearer token.
NOT_COOKIE_AUTHENTICATED = {"SecurityApi.login", "SecurityApi.refresh"}
# Security events that record a request rather than a change (a refused permission is one).
REQUEST_EVENTS = ("permission_denied", "login", "login_failed", "token_issued", "token_refreshed")
UNSAFE = ("POST", "PUT", "PATCH", "DELETE")


def _fingerprint():
    """The last change recorded by the trail, and the rows of the two tables it leaves out."""
    db.session.expire_all()
    changes = db.session.query(db.func.max(AuditEvent.id)).filter(AuditEvent.action.notin_(REQUEST_EVENTS))
    return (changes.scalar() or 0, db.session.query(Notification).count(), db.session.query(UserJob).count())


def _first_pk(view):
    datamodel = getattr(view, "datamodel", None)
    if datamodel is None:
        return 1
    model = datamodel.obj
    pk = db.session.query(model).order_by(*model.__mapper__.primary_key).first()
    return getattr(pk, model.__mapper__.primary_key[0].name) if pk is not None else 1


def _urls(app, rule):
    """The rule's URLs with real ids: one per action name for FAB's action routes."""
    view = getattr(app.view_functions[rule.endpoint], "__self__", None)
    values = {}
    for arg in rule.arguments:
        converter = rule._converters[arg].__class__.__name__
        if arg == "pk":
            values[arg] = _first_pk(view)
        elif arg == "locale":
            values[arg] = "en"
        elif arg == "filename":
            values[arg] = "x.txt"
        elif arg == "version":
            values[arg] = "v1"
        elif converter == "IntegerConverter":
            values[arg] = 1
        else:
            values[arg] = "1"
    if "name" in rule.arguments:
        for name in sorted(getattr(view, "actions", None) or {"x": None}):
            yield rule.build({**values, "name": name}, append_unknown=False)[1]
    else:
        yield rule.build(values, append_unknown=False)[1]


@pytest.fixture
def rows(world, api):
    """A row of every kind the actions act on: the world, a complaint, an audit with its checklist."""
    new_complaint(world)
    open_audit(api("auditor"), qualifying_outlet(world.east))
    return world


def test_no_get_changes_anything(app, login, rows):
    admin = login("admin")
    before = _fingerprint()
    changed = []
    for rule in app.url_map.iter_rules():
        if "GET" not in rule.methods or rule.endpoint == "static" or rule.endpoint.endswith(".static"):
            continue
        for url in _urls(app, rule):
            admin.get(url)
            now = _fingerprint()
            if now != before:
                changed.append(f"GET {url} ({rule.endpoint}): {before} -> {now}")
                before = now
    assert not changed, "\n".join(changed)


def test_no_state_changing_request_succeeds_without_the_token(app, login, rows):
    admin = login("admin")
    before = _fingerprint()
    accepted = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint in NOT_COOKIE_AUTHENTICATED:
            continue
        for method in sorted(set(rule.methods) & set(UNSAFE)):
            for url in _urls(app, rule):
                r = admin.open(url, method=method, csrf=False, data={"x": "1"},
                               headers={"Origin": "https://evil.example"})
                if r.status_code != 403:
                    accepted.append(f"{method} {url} ({rule.endpoint}) -> {r.status_code}")
    assert not accepted, "\n".join(accepted)
    assert _fingerprint() == before
    # and the same session still works: the refusals were about the token, not the user
    assert admin.get("/outletview/list/").status_code == 200
