"""Pages of the complaint desk: SLA policies, complaints with their timeline, the escalation desk
for regional managers and HQ admins, delegations and business calendars. Decisions go through
``complaints.services``."""
from flask import abort, current_app, flash, g, redirect, request, url_for
from flask_appbuilder import expose
from flask_appbuilder.security.decorators import has_access
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf.csrf import generate_csrf
from wtforms.validators import Optional

from app.complaints import filters as complaint_filters
from app.complaints import services, workspace
from app.complaints.enums import (
    CHANNEL, COMPLAINT_STATUS, ESCALATION_REASON, ESCALATION_STATUS, EVENT_KIND, REMEDY, SEVERITY,
)
from app.complaints.models import Complaint, Escalation, EscalationDelegation, SlaPolicy
from app.core import clock
from app.core.errors import DomainError
from app.core.personal import PhoneMaskingView
from app.core.models import DAY_KIND, BusinessCalendar, CalendarDay
from app.core.views import BaseModelView, LocalDateTimeField, scoped, yes_is_bad, yes_no
from app.core.web import csrf_ok
from app.extensions import db
from app.security import permissions as p


class SlaPolicyView(BaseModelView):
    class_permission_name = p.SLA_POLICY
    datamodel = scoped(SlaPolicy)
    singular = _l("SLA policy")
    list_title = _l("SLA policies")
    list_columns = ["severity", "response_minutes", "resolution_hours", "business_time", "description"]
    show_columns = list_columns + ["created_at", "updated_at"]
    add_columns = ["severity", "response_minutes", "resolution_hours", "business_time", "description"]
    edit_columns = add_columns
    search_columns = ["severity", "business_time"]
    enum_columns = {"severity": SEVERITY}
    base_order = ("id", "asc")
    label_columns = {
        "severity": _l("Severity"),
        "response_minutes": _l("First response within (minutes)"),
        "resolution_hours": _l("Resolved within (hours)"),
        "business_time": _l("Counts business time"),
        "description": _l("Description"),
        "created_at": _l("Created at"),
        "updated_at": _l("Updated at"),
    }
    description_columns = {
        "business_time": _l("Count only working hours of the region's business calendar."),
    }


class ReceivedAtField(LocalDateTimeField):
    """The time received, typed in local time; now unless the agent says otherwise. Left empty,
    the service takes the time of recording."""

    def process_formdata(self, valuelist):
        if not valuelist:  # not on the submitted form: keep the default (already UTC)
            return
        super().process_formdata(valuelist)


class ComplaintView(PhoneMaskingView, BaseModelView):
    """Complaints, and each complaint's page as the agent's workspace: the SLA clock, the timeline
    and the actions its state allows (respond, pause, resume, resolve, close, request escalation),
    each a form that posts to this view and calls the same service as the API."""

    class_permission_name = p.COMPLAINT
    datamodel = scoped(Complaint)
    list_title = _l("Complaints")
    show_template = "complaints/complaint_show.html"
    method_permission_name = {**BaseModelView.method_permission_name,
                              **{action: "write" for action in workspace.ACTIONS}}
    list_columns = ["number", "customer_name", "outlet", "severity", "status", "received_at",
                    "resolution_due_at", "response_breached", "resolution_breached"]
    show_columns = ["number", "customer_name", "customer_phone", "channel", "outlet", "service_order", "engineer",
                    "severity", "description", "owner", "status", "received_at", "first_response_at",
                    "response_due_at", "resolution_due_at", "verification_due_at", "response_breached",
                    "resolution_breached", "paused", "resolved_at", "resolution", "closed_at",
                    "customer_satisfied"]
    add_columns = ["customer_name", "customer_phone", "channel", "received_at", "outlet", "service_order",
                   "engineer", "severity", "description"]
    edit_columns = ["customer_name", "customer_phone", "channel", "service_order", "engineer", "severity",
                    "description"]
    search_columns = ["number", "customer_name", "customer_phone", "outlet", "status", "severity",
                      "response_breached", "resolution_breached", "received_at", "paused", "open", "mine",
                      "due_soon", "breached", "awaiting_decision"]
    virtual_search = complaint_filters.searches()
    base_order = ("received_at", "desc")
    enum_columns = {"status": COMPLAINT_STATUS, "severity": SEVERITY, "channel": CHANNEL}
    formatters_columns = {"response_breached": yes_is_bad, "resolution_breached": yes_is_bad}
    singular = _l("complaint")
    related_depends = {"engineer": {"outlet": "outlet_id"}, "service_order": {"outlet": "outlet_id"}}
    quick_filters = complaint_filters.quick_filters()
    add_form_extra_fields = {
        "received_at": ReceivedAtField(
            _l("Received at"), validators=[Optional()], default=clock.now,
            description=_l("When the call, message or visit came in (local time). Leave it as it is "
                           "for a complaint taken just now.")),
    }

    label_columns = {
        "number": _l("Complaint no."), "customer_name": _l("Customer"), "customer_phone": _l("Customer phone"),
        "channel": _l("Channel"), "outlet": _l("Outlet"), "service_order": _l("Service order"),
        "engineer": _l("Engineer"), "severity": _l("Severity"), "description": _l("Description"),
        "owner": _l("First-contact owner"), "status": _l("Status"), "received_at": _l("Received at"),
        "first_response_at": _l("First response at"), "response_due_at": _l("First response due"),
        "resolution_due_at": _l("Resolution due"), "verification_due_at": _l("Initial verification due"),
        "response_breached": _l("Response breached"), "resolution_breached": _l("Resolution breached"),
        "paused": _l("Paused"), "resolved_at": _l("Resolved at"), "resolution": _l("Resolution"),
        "closed_at": _l("Closed at"), "customer_satisfied": _l("Customer satisfied"),
    }

    def show_extras(self, item):
        can_write = bool(self.appbuilder.sm.has_access("can_write", self.class_permission_name))
        return {"timeline": services.timeline(item), "EVENT_KIND": EVENT_KIND,
                **workspace.page_context(item, can_write, g.get("_complaint_failure"))}

    def update_redirect(self):
        """The page history keeps addresses a GET can open again, not an action's POST."""
        if request.method == "GET":
            super().update_redirect()

    # --- the workspace's actions ---------------------------------------------------------------
    def _act(self, pk, action, run, done):
        """Run one action for the signed-in user. Success: back to the page with a flash. Refused:
        the page again (status of the refusal) with the typed values and the errors on the fields."""
        back = url_for(".show", pk=pk)
        if not csrf_ok():
            return redirect(back)
        try:
            run(current_app.appbuilder.sm.current_user)
        except DomainError as exc:
            db.session.rollback()
            if exc.status == 404:
                abort(404)
            g._complaint_failure = workspace.Failure(action, request.form, exc)
            widgets = self._show(pk)
            page = self.render_template(self.show_template, pk=pk, title=self.show_title, widgets=widgets,
                                        related_views=self._related_views, **g.pop("_page_show_extras", {}))
            return page, exc.status
        flash(done, "success")
        return redirect(back)

    @expose("/respond/<int:pk>", methods=["POST"])
    @has_access
    def respond(self, pk):
        note = request.form.get("note", "")
        return self._act(pk, "respond", lambda user: services.respond(pk, note, user),
                         _("The first response is recorded."))

    @expose("/pause/<int:pk>", methods=["POST"])
    @has_access
    def pause(self, pk):
        reason = request.form.get("reason", "")
        return self._act(pk, "pause", lambda user: services.pause(pk, reason, user),
                         _("The complaint is paused; its resolution clock is stopped."))

    @expose("/resume/<int:pk>", methods=["POST"])
    @has_access
    def resume(self, pk):
        return self._act(pk, "resume", lambda user: services.resume(pk, user),
                         _("The complaint is resumed; its resolution clock runs again."))

    @expose("/resolve/<int:pk>", methods=["POST"])
    @has_access
    def resolve(self, pk):
        resolution = request.form.get("resolution", "")
        return self._act(pk, "resolve", lambda user: services.resolve(pk, resolution, user),
                         _("The complaint is resolved."))

    @expose("/close/<int:pk>", methods=["POST"])
    @has_access
    def close(self, pk):
        answer = request.form.get("customer_satisfied")
        return self._act(pk, "close",
                         lambda user: services.close(pk, workspace.satisfied_choice(answer), user),
                         _("The complaint is closed."))

    @expose("/escalate/<int:pk>", methods=["POST"])
    @has_access
    def escalate(self, pk):
        form = request.form
        reason = form.get("reason") or None
        remedy = form.get("remedy") or None
        amount = (form.get("compensation_amount") or "").strip() or None
        comment = form.get("comment", "")
        return self._act(pk, "escalate",
                         lambda user: services.escalate(pk, reason, remedy, amount, comment, user),
                         _("Escalation requested; the regional manager decides it on the escalation desk."))


class EscalationView(BaseModelView):
    class_permission_name = p.ESCALATION
    datamodel = scoped(Escalation)
    list_title = _l("Escalations")
    # read-only pages; shares the Escalation permissions with the desk and the API
    base_permissions = ["can_read", "can_decide"]
    muldelete = None  # no bulk delete: escalations are decided, never deleted
    list_columns = ["complaint", "level", "reason", "remedy", "compensation_amount", "status", "requested_at",
                    "decided_at"]
    show_columns = ["complaint", "level", "reason", "remedy", "compensation_amount", "request_comment",
                    "requested_by", "requested_at", "status", "decided_by", "decided_at", "comment"]
    search_columns = ["complaint", "level", "status", "reason"]
    base_order = ("requested_at", "desc")
    enum_columns = {"reason": ESCALATION_REASON, "remedy": REMEDY, "status": ESCALATION_STATUS}
    singular = _l("escalation")
    label_columns = {
        "complaint": _l("Complaint"), "level": _l("Level"), "reason": _l("Reason"), "remedy": _l("Remedy"),
        "compensation_amount": _l("Compensation (CNY)"), "request_comment": _l("Request comment"),
        "requested_by": _l("Requested by"), "requested_at": _l("Requested at"), "status": _l("Status"),
        "decided_by": _l("Decided by"), "decided_at": _l("Decided at"), "comment": _l("Decision comment"),
    }


class EscalationDelegationView(BaseModelView):
    class_permission_name = p.ESCALATION_DELEGATION
    datamodel = scoped(EscalationDelegation)
    list_title = _l("Approval delegations")
    singular = _l("delegation")
    list_columns = ["manager", "delegate", "starts_on", "ends_on", "note"]
    show_columns = list_columns
    add_columns = ["delegate", "starts_on", "ends_on", "note"]
    edit_columns = add_columns
    base_order = ("starts_on", "desc")
    label_columns = {"manager": _l("Manager"), "delegate": _l("Delegate"), "starts_on": _l("From"),
                     "ends_on": _l("To (inclusive)"), "note": _l("Note")}

    def pre_add(self, item):
        services.check_delegation_owner(item, current_app.appbuilder.sm.current_user)

    def pre_update(self, item):
        services.check_delegation_owner(item, current_app.appbuilder.sm.current_user)


class BusinessCalendarView(BaseModelView):
    class_permission_name = p.BUSINESS_CALENDAR
    datamodel = scoped(BusinessCalendar)
    list_title = _l("Business calendars")
    singular = _l("business calendar")
    list_columns = ["name", "region", "monday_hours", "saturday_hours", "sunday_hours"]
    show_columns = ["name", "region", "monday_hours", "tuesday_hours", "wednesday_hours", "thursday_hours",
                    "friday_hours", "saturday_hours", "sunday_hours", "makeup_hours"]
    add_columns = show_columns
    edit_columns = show_columns
    label_columns = {
        "name": _l("Name"), "region": _l("Region (empty: the default calendar)"),
        "monday_hours": _l("Monday"), "tuesday_hours": _l("Tuesday"), "wednesday_hours": _l("Wednesday"),
        "thursday_hours": _l("Thursday"), "friday_hours": _l("Friday"), "saturday_hours": _l("Saturday"),
        "sunday_hours": _l("Sunday"), "makeup_hours": _l("Make-up working day hours"),
        "days": _l("Holidays and make-up working days"),
    }


class CalendarDayView(BaseModelView):
    """The days of the calendars. Above the list, each year whose arrangement is a forecast (or
    missing) is named; an HQ admin reviews a forecast year and confirms it (``confirm_year``, the
    service ``calendar_services.confirm_year``). Saving a day by hand confirms that day."""

    class_permission_name = p.BUSINESS_CALENDAR
    datamodel = scoped(CalendarDay)
    method_permission_name = {**BaseModelView.method_permission_name, "confirm_year": "write"}
    list_title = _l("Holidays and make-up working days")
    list_template = "complaints/calendar_days.html"
    list_columns = ["calendar", "day", "kind", "name", "provisional"]
    show_columns = list_columns
    add_columns = ["calendar", "day", "kind", "name"]
    edit_columns = add_columns
    search_columns = ["calendar", "day", "kind", "provisional"]
    base_order = ("day", "asc")
    enum_columns = {"kind": DAY_KIND}
    singular = _l("calendar day")
    quick_filters = [(_l("Provisional"), {"_flt_0_provisional": 1})]
    label_columns = {"calendar": _l("Calendar"), "day": _l("Date"), "kind": _l("Kind"), "name": _l("Name"),
                     "provisional": _l("Provisional")}
    description_columns = {
        "provisional": _l("A forecast: the State Council has not published this year's arrangement yet."),
        "name": _l("Saving a provisional day confirms it."),
    }
    formatters_columns = {"provisional": lambda value: yes_no(value, "warning")}

    def render_template(self, template, **kwargs):
        if template == self.list_template:
            kwargs.setdefault("arrangements", self._arrangements())
        return super().render_template(template, **kwargs)

    def _arrangements(self):
        """The years to point out above the list: forecast (provisional) years, and this year or
        the next when it has no days at all."""
        from app.core import calendar_services

        years = sorted(set(calendar_services.provisional_years()) | set(calendar_services.unconfirmed_years()))
        status = calendar_services.year_status(years)
        can_confirm = self.appbuilder.sm.has_access("can_write", self.class_permission_name)
        return [{"year": year, "days": status[year][0], "provisional": status[year][1],
                 "confirm_url": url_for(".confirm_year", year=year) if can_confirm and status[year][1] else None,
                 "list_url": url_for(".list", _flt_0_provisional=1)}
                for year in years]

    @expose("/confirm", methods=["GET", "POST"])
    @has_access
    def confirm_year(self):
        """GET ``?year=``: the year's days to review against the State Council's notice, with the
        button that confirms them; POST ``year``: confirm them."""
        from app.core import calendar_services
        from app.core.web import flash_error

        back = url_for(".list")
        try:
            if request.method == "POST":
                if not csrf_ok():
                    return redirect(back)
                year, count = calendar_services.confirm_year(request.form.get("year"))
                flash(_("The %(year)s holiday arrangement is confirmed (%(n)s days).", year=year, n=count), "success")
                return redirect(back)
            year = calendar_services.parse_year(request.args.get("year"))
        except DomainError as exc:
            db.session.rollback()
            flash_error(exc)
            return redirect(back)
        weekdays = [_("Monday"), _("Tuesday"), _("Wednesday"), _("Thursday"), _("Friday"), _("Saturday"),
                    _("Sunday")]
        return self.render_template(
            "complaints/calendar_confirm.html", year=year, days=calendar_services.year_days(year),
            title=_("Confirm the %(year)s holiday arrangement", year=year), weekdays=weekdays, DAY_KIND=DAY_KIND,
            back=back, csrf_token=generate_csrf)

