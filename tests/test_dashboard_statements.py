"""The dashboard and the home panels run a fixed, small number of statements whatever the rows: each
chart's request a handful of aggregates, each home panel one ``COUNT`` and one limited query in the
user's scope, the page the same number for ten times more complaints, orders and stock rows."""
from datetime import timedelta

import pytest
from flask_appbuilder.security.sqla.models import User
from sqlalchemy import event

from app.core import clock, scope
from app.extensions import db
from app.reports import home as home_panels
from tests import factories, test_dashboard, test_home_panels
from tests.test_dashboard import PANELS, _more_rows
from tests.test_home_panels import _complaint, _escalation

# the datasets of the dashboard's and the home panels' tests
data, frozen, home = test_dashboard.data, test_dashboard.frozen, test_home_panels.home

PANEL_CEILING = {
    "complaints_by_status": 1, "complaints_by_severity": 1, "outlets_by_status": 1, "sla": 2,
    "targets": 2, "attention": 4, "trend": 2, "regions": 3,
}
"""Statements of one chart's computation (the region scope and the settings are read once per request
and counted apart)."""

ROLE_PANELS = {
    "agent_e": ("my_complaints", "my_warnings"),
    "manager_e": ("escalations_waiting", "breaches_today"),
    "hq": ("audits_to_approve", "level2_escalations", "flagged_outlets"),
    "auditor": ("my_audits",),
    "admin": ("locked_accounts", "users_without_region"),
}


class Statements:
    def __init__(self):
        self.sql = []

    def _before(self, conn, cursor, statement, *args):
        self.sql.append(statement)

    def __enter__(self):
        event.listen(db.engine, "before_cursor_execute", self._before)
        return self

    def __exit__(self, *exc):
        event.remove(db.engine, "before_cursor_execute", self._before)


def _computed(app, username, fn):
    """Statements of ``fn(user)`` run for ``username`` in a request, once warm (scope and settings read)."""
    with app.test_request_context("/"):
        user = db.session.query(User).filter_by(username=username).one()
        with scope.acting_as(user):
            fn(user)
            with Statements() as counter:
                fn(user)
        db.session.rollback()
    return counter.sql


def _chart_statements(app, username):
    from app.reports import dashboard

    return {name: _computed(app, username, lambda user, name=name: dashboard.PANELS[name](90))
            for name in PANELS}


def _home_statements(app):
    return {(username, key): _computed(app, username, lambda user, key=key: home_panels.panel(key, user))
            for username, keys in ROLE_PANELS.items() for key in keys}


def _more_home_rows(w, n):
    """Open complaints of the agent coming due and breached today, escalations, flagged outlets."""
    now = clock.now()
    for i in range(n):
        outlet = w.outlet_e if i % 2 else factories.outlet(w.east if i % 3 else w.west,
                                                         flagged_on=clock.today() - timedelta(days=i % 5),
                                                         flag_reasons="stock")
        c = _complaint(f"TS-HS-{i:04d}", outlet, "agent_e" if i % 2 else None, ("new", "in_progress")[i % 2],
                       received_at=now - timedelta(hours=i + 2), response_due_at=now - timedelta(minutes=i + 1),
                       resolution_due_at=now + timedelta(hours=i), response_breached=bool(i % 3),
                       response_warned=True)
        _escalation(c, level=1 + i % 2)
    db.session.commit()


@pytest.mark.parametrize("username", ["hq", "manager_e"])
def test_each_chart_runs_the_same_few_statements_whatever_the_rows(app, data, username):
    before = _chart_statements(app, username)
    _more_rows(data, 40)
    after = _chart_statements(app, username)
    for name in PANELS:
        assert len(after[name]) == len(before[name]), (name, before[name], after[name])
        assert len(after[name]) <= PANEL_CEILING[name], (name, after[name])


def test_each_home_panel_is_one_count_and_one_limited_query(app, home):
    before = _home_statements(app)
    _more_home_rows(home, 30)
    after = _home_statements(app)
    for key, statements in after.items():
        assert len(statements) == len(before[key]), (key, before[key], statements)
        assert len(statements) <= 2, (key, statements)
        selects = [s for s in statements if "count(" not in s.lower()]
        assert all("LIMIT" in s.upper() for s in selects), (key, selects)


@pytest.mark.parametrize("username", ["hq", "manager_e", "agent_e", "auditor", "admin"])
def test_the_page_runs_the_same_statements_whatever_the_rows(login, home, username):
    client = login(username)

    def page():
        with Statements() as counter:
            assert client.get("/").status_code == 200
        return len(counter.sql)

    page()
    before = page()
    _more_home_rows(home, 30)
    assert page() == before
