"""The home page is the dashboard; its numbers come from ``GET /api/v1/dashboard/<panel>``.

The page itself is a shell without data (charts, cards, translated texts): anonymous visitors are
sent to the login page by ``security.guard`` like everywhere else, and a signed-in user without the
dashboard permission sees the plain welcome page. Every number is fetched from the API below,
which checks ``can_read`` on ``Dashboard`` (``@protect``) and applies the user's region scope.
"""
from flask import current_app, request
from flask_appbuilder import IndexView, expose
from flask_appbuilder.api import BaseApi, protect
from flask_babel import gettext

from app.reports import dashboard
from app.security import permissions as p


def can_read_dashboard():
    return bool(current_app.appbuilder.sm.has_access(p.READ, p.DASHBOARD))


class HomeView(IndexView):
    """FAB's index (``FAB_INDEX_VIEW``): the dashboard for those who may read it."""

    index_template = "index.html"
    dashboard_template = "reports/dashboard.html"

    @expose("/")
    def index(self):
        self.update_redirect()
        if not can_read_dashboard():
            return self.render_template(self.index_template, appbuilder=self.appbuilder)
        return self.render_template(
            self.dashboard_template, appbuilder=self.appbuilder,
            panels=list(dashboard.PANELS), default_days=dashboard.DEFAULT_WINDOW_DAYS,
            window_choices=(30, 90, 365), **dashboard.page_context())


class DashboardApi(BaseApi):
    """``GET /api/v1/dashboard/<panel>?days=N``: one panel's aggregates as small JSON."""

    resource_name = "dashboard"
    class_permission_name = p.DASHBOARD
    method_permission_name = {"panel": "read"}
    openapi_spec_tag = "Dashboard"

    @expose("/<name>", methods=["GET"])
    @protect(allow_browser_login=True)
    def panel(self, name):
        """A dashboard panel: labels and numbers within the caller's regions.
        ---
        get:
          parameters:
          - in: path
            name: name
            schema: {type: string}
          - in: query
            name: days
            schema: {type: integer}
          responses:
            200:
              description: the panel (its name, title, labels and numbers)
              content:
                application/json:
                  schema: {type: object, properties: {name: {type: string}}}
            400: {description: invalid window}
            404: {description: no such panel}
        """
        compute = dashboard.PANELS.get(name)
        if compute is None:
            return self.response(404, message=gettext("Not found."), errors={})
        raw = request.args.get("days", "")
        days = dashboard.DEFAULT_WINDOW_DAYS
        if raw != "":
            try:
                days = int(raw)
            except ValueError:
                days = 0
            if not 1 <= days <= dashboard.MAX_WINDOW_DAYS:
                message = gettext("Enter a number of days between 1 and %(n)s.", n=dashboard.MAX_WINDOW_DAYS)
                return self.response(400, message=message, errors={"days": [message]})
        return self.response(200, name=name, **compute(days))


def register(appbuilder):
    appbuilder.add_api(DashboardApi)
