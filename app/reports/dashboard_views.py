"""The home page is the dashboard: what the user must act on today, then the charts.

Anonymous visitors are sent to the login page by ``security.guard`` like everywhere else, and a
signed-in user without the dashboard permission sees the plain welcome page. The "today" section
(``reports.home``: panels chosen by the user's roles) is rendered with the page for those who may
read the dashboard; each panel without an exact filtered list elsewhere has its full list at
``/today/<panel>`` (``TodayView``, ``can_read`` on ``Dashboard``). The charts' numbers are fetched
from the API below, which checks ``can_read`` on ``Dashboard`` (``@protect``) and applies the
user's region scope.
"""
from math import ceil

from flask import abort, current_app, request
from flask_appbuilder import BaseView, IndexView, expose
from flask_appbuilder.api import BaseApi, protect
from flask_appbuilder.security.decorators import has_access
from flask_babel import gettext

from app.reports import dashboard, home
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


class TodayView(BaseView):
    """``/today/<panel>?page=N``: every row of one of the user's "today" panels, a page at a time."""

    route_base = "/today"
    default_view = "panel_list"
    class_permission_name = p.DASHBOARD
    method_permission_name = {"panel_list": "read"}
    base_permissions = ["can_read"]

    @expose("/<key>")
    @has_access
    def panel_list(self, key):
        user = current_app.appbuilder.sm.current_user
        spec = home.PANELS.get(key)
        if spec is None or not spec.full_list or not home.may_see(user, key):
            abort(404)
        page = max(request.args.get("page", 1, type=int) or 1, 1)
        result = home.panel(key, user, limit=home.PAGE_SIZE, offset=(page - 1) * home.PAGE_SIZE)
        pages = max(ceil(result["count"] / home.PAGE_SIZE), 1)
        return self.render_template("reports/today_list.html", panel=result, page=page, pages=pages,
                                    title=result["title"])


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
    appbuilder.add_view_no_menu(TodayView)
