from datetime import date

from flask import flash, redirect
from flask_appbuilder.actions import action as page_action
from flask_babel import gettext, lazy_gettext as _l
from markupsafe import Markup
from sqlalchemy import select

from app.core import clock, l10n, scope
from app.core.errors import DomainError
from app.core.views import (
    VIEW_METHOD_PERMISSIONS, WRITE, BaseModelView, FilterDateWithinDays, FilterInRegion, FilterYesNo, badge,
    days_search, related_search, scoped, yes_no_search,
)
from app.engineers.enums import CERTIFICATION_STATUS, ENGINEER_STATUS, SUSPENSION_REASON, TRAINING_KIND
from app.engineers.models import Certification, CertificationType, Engineer, TrainingRecord
from app.network.models import Outlet, Region
from app.security import permissions as p

REGION_LABEL = _l("Region")


class FilterEngineerAtOutlet(FilterInRegion):
    """Rows whose engineer works at the chosen outlet."""

    def apply(self, query, value):
        from app.core.views import _int_value

        pk = _int_value(value)
        if pk is None:
            return query
        return query.filter(self.model.engineer_id.in_(select(Engineer.id).where(Engineer.outlet_id == pk)))


def star_formatter(value):
    if value is None:
        return gettext("Not rated")
    return Markup('<span title="{}">{}</span>').format(value, "★" * int(value))


def percent_formatter(value):
    return "" if value is None else f"{value}%"


class EngineerView(BaseModelView):
    class_permission_name = p.ENGINEER
    datamodel = scoped(Engineer)
    singular = _l("engineer")
    list_title = _l("Engineers")
    method_permission_name = {**VIEW_METHOD_PERMISSIONS, "activate": WRITE}
    list_columns = ["employee_no", "name", "outlet", "outlet.region", "status", "star_level", "hire_date"]
    show_columns = ["employee_no", "name", "phone", "email", "outlet", "outlet.region", "hire_date", "status",
                    "suspension_reason", "star_level", "star_score", "star_orders", "star_on_time_rate",
                    "star_first_time_fix_rate", "star_satisfaction", "star_computed_on", "created_at", "updated_at"]
    add_columns = ["employee_no", "name", "phone", "email", "outlet", "hire_date", "status"]
    edit_columns = add_columns
    search_columns = ["employee_no", "name", "phone", "region", "outlet", "status", "star_level", "hire_date"]
    virtual_search = {"region": related_search(Region, FilterInRegion, REGION_LABEL)}
    enum_columns = {"status": ENGINEER_STATUS, "suspension_reason": SUSPENSION_REASON}
    formatters_columns = {"star_level": star_formatter, "star_on_time_rate": percent_formatter,
                          "star_first_time_fix_rate": percent_formatter}
    base_order = ("employee_no", "asc")
    quick_filters = [
        (_l("On duty"), {"_flt_0_status": "active"}),
        (_l("Trainees"), {"_flt_0_status": "trainee"}),
        (_l("Suspended"), {"_flt_0_status": "suspended"}),
    ]
    label_columns = {
        "employee_no": _l("Employee no."),
        "name": _l("Name"),
        "phone": _l("Phone"),
        "email": _l("Email"),
        "outlet": _l("Outlet"),
        "outlet.region": REGION_LABEL,
        "hire_date": _l("Hire date"),
        "status": _l("Status"),
        "star_level": _l("Star level"),
        "suspension_reason": _l("Suspension reason"),
        "star_score": _l("Star score"),
        "star_orders": _l("Completed orders (star window)"),
        "star_on_time_rate": _l("On-time arrival rate"),
        "star_first_time_fix_rate": _l("First-time-fix rate"),
        "star_satisfaction": _l("Mean satisfaction"),
        "star_computed_on": _l("Star level computed on"),
        "created_at": _l("Created at"),
        "updated_at": _l("Updated at"),
    }
    description_columns = {
        "status": _l("Trainee → on duty after passing onboarding training; on duty ⇄ suspended (by the "
                     "quarterly refresher, or by an HQ admin); anyone may leave, and a leaver does not come back."),
        "star_level": _l("Recomputed nightly from the last 90 days of service orders."),
    }

    @page_action("activate", _l("Activate"), _l("Put this trainee on duty?"), "fa-check", multiple=False)
    def activate(self, item):
        """Put a trainee on duty (the same service as ``POST /api/v1/engineer/<id>/activate``)."""
        from app.engineers import services
        from app.extensions import db

        item = item[0] if isinstance(item, list) else item
        try:
            engineer = services.activate(item.id, scope.acting_user())
            flash(gettext("%(name)s is now on duty.", name=str(engineer)), "success")
        except DomainError as exc:
            db.session.rollback()
            details = [str(m) for messages in exc.errors.values() for m in messages if str(m) != str(exc.message)]
            flash(" ".join([str(exc.message)] + details), "danger")
        self.update_redirect()
        return redirect(self.get_redirect())


class CertificationTypeView(BaseModelView):
    class_permission_name = p.CERTIFICATION_TYPE
    datamodel = scoped(CertificationType)
    singular = _l("certification type")
    list_title = _l("Certification types")
    list_columns = ["name", "validity_months", "product_categories"]
    show_columns = ["name", "validity_months", "product_categories", "created_at", "updated_at"]
    add_columns = ["name", "validity_months", "product_categories"]
    edit_columns = add_columns
    search_columns = ["name", "product_categories"]
    plain_related_columns = ("product_categories",)
    base_order = ("name", "asc")
    label_columns = {
        "name": _l("Name"),
        "validity_months": _l("Validity (months)"),
        "product_categories": _l("Required for product categories"),
        "created_at": _l("Created at"),
        "updated_at": _l("Updated at"),
    }


class FilterExpiresWithin(FilterDateWithinDays):
    """Not revoked and expiring between today and today + N days."""

    name = _l("Within the next N days")
    date_column = "expires_on"

    def extra_clause(self):
        return self.model.revoked.is_(False)


class FilterExpired(FilterYesNo):
    def clause(self):
        return self.model.expires_on < clock.today()


STATUS_STYLE = {"valid": "success", "expiring": "warning", "expired": "danger", "revoked": "default"}


def certification_status(value):
    if not value:
        return ""
    return badge(CERTIFICATION_STATUS.label(value), STATUS_STYLE.get(value, "default"))


def expiry_formatter(value):
    """The expiry date with the days left (or since) today."""
    if not isinstance(value, date):
        return ""
    days = (value - clock.today()).days
    if days < 0:
        note = gettext("expired %(n)s days ago", n=-days)
    elif days == 0:
        note = gettext("expires today")
    else:
        note = gettext("%(n)s days left", n=days)
    return Markup('{} <small class="text-muted">({})</small>').format(l10n.date_text(value), note)


class CertificationView(BaseModelView):
    class_permission_name = p.CERTIFICATION
    datamodel = scoped(Certification)
    singular = _l("certification")
    list_title = _l("Certifications")
    list_columns = ["number", "engineer", "engineer.outlet", "certification_type", "expires_on", "status"]
    show_columns = ["number", "engineer", "engineer.outlet", "certification_type", "issuer", "issued_on",
                    "expires_on", "revoked", "status", "created_at", "updated_at"]
    add_columns = ["engineer", "certification_type", "number", "issuer", "issued_on", "expires_on", "revoked"]
    edit_columns = add_columns
    search_columns = ["number", "engineer", "outlet", "region", "certification_type", "status", "expires_within",
                      "expired", "expires_on", "revoked"]
    virtual_search = {
        "outlet": related_search(Outlet, FilterEngineerAtOutlet, _l("Outlet")),
        "region": related_search(Region, FilterInRegion, REGION_LABEL),
        "expires_within": days_search(FilterExpiresWithin, _l("Expires within (days)")),
        "expired": yes_no_search(FilterExpired, _l("Expired")),
    }
    plain_related_columns = ("certification_type",)
    enum_columns = {"status": CERTIFICATION_STATUS}
    base_order = ("expires_on", "asc")
    formatters_columns = {"status": certification_status, "expires_on": expiry_formatter}
    quick_filters = [
        (_l("Expiring within 30 days"), {"_flt_0_expires_within": 30}),
        (_l("Expiring within 7 days"), {"_flt_0_expires_within": 7}),
        (_l("Expired"), {"_flt_0_expired": 1}),
        (_l("Revoked"), {"_flt_0_status": "revoked"}),
    ]
    label_columns = {
        "number": _l("Certificate no."),
        "engineer": _l("Engineer"),
        "engineer.outlet": _l("Outlet"),
        "certification_type": _l("Certification type"),
        "issuer": _l("Issuer"),
        "issued_on": _l("Issued on"),
        "expires_on": _l("Expires on"),
        "revoked": _l("Revoked"),
        "status": _l("Status"),
        "created_at": _l("Created at"),
        "updated_at": _l("Updated at"),
    }
    description_columns = {
        "expires_on": _l("The last day the certificate is valid; it must be after the issue date."),
    }


class TrainingRecordView(BaseModelView):
    class_permission_name = p.TRAINING_RECORD
    datamodel = scoped(TrainingRecord)
    singular = _l("training record")
    list_title = _l("Training records")
    list_columns = ["engineer", "engineer.outlet", "kind", "taken_on", "theory_score", "practical_score", "passed"]
    show_columns = ["engineer", "engineer.outlet", "kind", "taken_on", "theory_hours", "practical_hours",
                    "mentored_orders", "theory_score", "practical_score", "passed", "created_at", "updated_at"]
    add_columns = ["engineer", "kind", "taken_on", "theory_hours", "practical_hours", "mentored_orders",
                   "theory_score", "practical_score"]
    edit_columns = add_columns
    search_columns = ["engineer", "outlet", "region", "kind", "taken_on", "passed"]
    virtual_search = {
        "outlet": related_search(Outlet, FilterEngineerAtOutlet, _l("Outlet")),
        "region": related_search(Region, FilterInRegion, REGION_LABEL),
    }
    enum_columns = {"kind": TRAINING_KIND}
    base_order = ("taken_on", "desc")
    quick_filters = [
        (_l("Not passed"), {"_flt_0_passed": 0}),
        (_l("Onboarding"), {"_flt_0_kind": "onboarding"}),
    ]
    label_columns = {
        "engineer": _l("Engineer"),
        "engineer.outlet": _l("Outlet"),
        "kind": _l("Kind"),
        "taken_on": _l("Date"),
        "theory_hours": _l("Theory hours"),
        "practical_hours": _l("Practical hours"),
        "mentored_orders": _l("Mentored orders"),
        "theory_score": _l("Theory score"),
        "practical_score": _l("Practical score"),
        "passed": _l("Passed"),
        "created_at": _l("Created at"),
        "updated_at": _l("Updated at"),
    }
    description_columns = {
        "passed": _l("Judged against the training policy in force when the record is saved."),
    }
