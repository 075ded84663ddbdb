"""Complaints with SLA clocks, escalations and their desk, delegations, business calendars."""
from flask_babel import lazy_gettext as _l

from app.security import permissions as p


def register(appbuilder):
    from flask import current_app

    from app.complaints import api, desk, services, views  # noqa: F401  (services registers the rules)
    from app.complaints.cli import complaints_cli

    current_app.cli.add_command(complaints_cli)

    cat = dict(category=p.MENU_COMPLAINTS, category_label=_l("Complaints"), category_icon="fa-bullhorn")
    appbuilder.add_view(desk.EscalationDeskView, "Escalation desk", label=_l("Escalation desk"),
                        icon="fa-gavel", **cat)
    appbuilder.add_view(views.ComplaintView, "Complaints list", label=_l("Complaints"), icon="fa-comments",
                        **cat)
    appbuilder.add_view(views.EscalationView, "Escalations", label=_l("Escalations"), icon="fa-level-up",
                        **cat)
    appbuilder.add_view(views.EscalationDelegationView, "Approval delegations", label=_l("Approval delegations"),
                        icon="fa-exchange", **cat)
    appbuilder.add_view(views.SlaPolicyView, "SLA policies", label=_l("SLA policies"), icon="fa-clock-o", **cat)
    sys_cat = dict(category=p.MENU_SYSTEM, category_label=_l("System settings"), category_icon="fa-cog")
    appbuilder.add_view(views.BusinessCalendarView, "Business calendars", label=_l("Business calendars"),
                        icon="fa-calendar", **sys_cat)
    appbuilder.add_view(views.CalendarDayView, "Calendar days", label=_l("Holidays and make-up days"),
                        icon="fa-calendar-o", **sys_cat)
    for resource in (api.SlaPolicyApi, api.ComplaintApi, api.EscalationApi, api.EscalationDelegationApi,
                     api.BusinessCalendarApi, api.CalendarDayApi):
        appbuilder.add_api(resource)
