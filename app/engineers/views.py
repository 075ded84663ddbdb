from datetime import date

from flask import flash, redirect
from flask_appbuilder.actions import action as page_action
from flask_babel import gettext, lazy_gettext as _l
from markupsafe import Markup
from sqlalchemy import select

from app.core import clock, exports, l10n, scope, settings
from app.core.errors import DomainError
from app.core.views import (
    VIEW_METHOD_PERMISSIONS, WRITE, BaseModelView, FilterDateWithinDays, FilterInRegion, FilterYesNo, badge,
    days_search, related_search, scoped, yes_no_search,
)
from app.engineers import stars
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


def star_text(engineer, min_orders):
    """An engineer's star level as it reads on the pages: the stars with the figures they come from
    (score and inputs, in the tooltip), "not rated" with the orders it rests on, or "to be
    computed" when no computed figures back it (``stars.rating_state``)."""
    state = stars.rating_state(engineer)
    if state == stars.PENDING:
        return Markup('<span class="label label-default" data-stars="pending" title="{}">{}</span>').format(
            gettext("No computed figures yet: star levels are computed nightly from recent service orders."),
            gettext("To be computed"))
    if state == stars.NOT_RATED:
        return Markup('<span class="text-muted" data-stars="none">{}</span>').format(
            gettext("Not rated (completed orders: %(orders)s, at least %(min)s needed)",
                    orders=engineer.star_orders or 0, min=min_orders))
    level = max(1, min(int(engineer.star_level), 5))
    inputs = []
    for column, label, unit in STAR_INPUTS:
        value = getattr(engineer, column)
        if value is not None:
            inputs.append(gettext("%(label)s: %(value)s", label=label, value=f"{l10n.number_text(value)}{unit}"))
    return Markup('<span class="app-stars" data-stars="{}" title="{}" aria-label="{}">{}<span class="text-muted">{}'
                  '</span></span> <small class="text-muted">{}</small>').format(
        level, " · ".join(inputs), gettext("Star level: %(level)s / 5", level=level), "★" * level,
        "☆" * (5 - level), l10n.number_text(engineer.star_score))


STAR_INPUTS = (
    ("star_score", _l("Star score"), ""),
    ("star_orders", _l("Completed orders (star window)"), ""),
    ("star_on_time_rate", _l("On-time arrival rate"), "%"),
    ("star_first_time_fix_rate", _l("First-time-fix rate"), "%"),
    ("star_satisfaction", _l("Mean satisfaction"), ""),
)

# The page action that makes each move of the status table (``engineers.rules.STATUS_TRANSITIONS``).
MOVE_ACTIONS = {("trainee", "active"): "activate", ("suspended", "active"): "reinstate"}
TARGET_ACTIONS = {"suspended": "suspend", "left": "leave"}


def move_action(current, target):
    return MOVE_ACTIONS.get((current, target)) or TARGET_ACTIONS[target]


def _unmet(exc):
    """The conditions a refused move still needs, from the ``Conflict`` the status rule raised: its
    ``status`` messages after the headline, then each listed item (unmet onboarding items)."""
    messages = [str(m) for m in exc.errors.get("status", [])[1:]]
    for field, items in exc.errors.items():
        if field != "status":
            messages += [str(m) for m in items]
    return messages or [str(exc.message)]


def status_moves(engineer, actor):
    """``[{"target", "action", "unmet"}]``: the moves the status table allows from the engineer's
    status, each judged now for ``actor`` by the rule every write goes through
    (``lifecycle.check_status_change``); ``unmet`` is empty when the move may be made. Nothing is
    written: the engineer's status is put back after each judgement."""
    from app.engineers import lifecycle, rules
    from app.extensions import db

    current = engineer.status
    moves = []
    for target in rules.STATUS_TRANSITIONS.get(current, {}):
        unmet = []
        try:
            with db.session.no_autoflush:
                engineer.status = target
                lifecycle.check_status_change(engineer, actor)
        except DomainError as exc:
            unmet = _unmet(exc)
        finally:
            db.session.expire(engineer, ["status", "suspension_reason"])
        moves.append({"target": target, "action": move_action(current, target), "unmet": unmet})
    return moves


def percent_formatter(value):
    return "" if value is None else f"{value}%"


class EngineerView(BaseModelView):
    class_permission_name = p.ENGINEER
    datamodel = scoped(Engineer)
    singular = _l("engineer")
    list_title = _l("Engineers")
    method_permission_name = {**VIEW_METHOD_PERMISSIONS, "activate": WRITE, "suspend": WRITE, "reinstate": WRITE,
                              "leave": WRITE}
    show_template = "engineers/show.html"
    computed_columns = ("star_level",)
    list_columns = ["employee_no", "name", "outlet", "outlet.region", "status", "star_level", "hire_date"]
    show_columns = ["employee_no", "name", "phone", "email", "outlet", "outlet.region", "hire_date", "status",
                    "suspension_reason", "star_level", "star_score", "star_orders", "star_on_time_rate",
                    "star_first_time_fix_rate", "star_satisfaction", "star_computed_on", "created_at", "updated_at"]
    add_columns = ["employee_no", "name", "phone", "email", "outlet", "hire_date", "status"]
    edit_columns = add_columns
    search_columns = ["employee_no", "name", "phone", "region", "outlet", "status", "star_level", "hire_date"]
    virtual_search = {"region": related_search(Region, FilterInRegion, REGION_LABEL)}
    enum_columns = {"status": ENGINEER_STATUS, "suspension_reason": SUSPENSION_REASON}
    formatters_columns = {"star_on_time_rate": percent_formatter, "star_first_time_fix_rate": percent_formatter}
    export_formats = {"star_on_time_rate": exports.PERCENT, "star_first_time_fix_rate": exports.PERCENT}
    base_order = ("employee_no", "asc")
    quick_filters = [
        (_l("On duty"), {"_flt_0_status": "active"}),
        (_l("Trainees"), {"_flt_0_status": "trainee"}),
        (_l("Suspended from duty"), {"_flt_0_status": "suspended"}),
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

    # the export writes the stored level (a number), not the page's reading of it
    export_columns = show_columns  # (every list column is one of them)
    export_computed_columns = ()

    def _init_properties(self):
        super()._init_properties()
        if "star_level" not in self.order_columns:  # shown computed, still sorted by the stored level
            self.order_columns.append("star_level")

    def computed_values(self, items):
        min_orders = settings.get("star.min_orders")
        return {e.id: {"star_level": star_text(e, min_orders)} for e in items}

    def show_extras(self, item):
        """The status moves offered on the page (to users who may change engineers): each move the
        status table allows from the current status, with what it still needs."""
        sm = self.appbuilder.sm
        can_change = sm.has_access(p.WRITE, self.class_permission_name)
        return {"engineer": item, "ENGINEER_STATUS": ENGINEER_STATUS, "SUSPENSION_REASON": SUSPENSION_REASON,
                "MOVE_LABELS": {name: spec.text for name, spec in self.actions.items()},
                "status_moves": status_moves(item, sm.current_user) if can_change else None}

    def _get_show_widget(self, pk, item, widgets=None, actions=None, show_fieldsets=None):
        widgets = super()._get_show_widget(pk, item, widgets, actions, show_fieldsets)
        # the status moves are offered by the page's status panel, following the status
        widgets["show"].template_args["actions"] = {}
        return widgets

    @page_action("activate", _l("Activate"), _l("Put this trainee on duty?"), "fa-check", multiple=False)
    def activate(self, item):
        """Put a trainee on duty (the same service as ``POST /api/v1/engineer/<id>/activate``)."""
        from app.engineers import services

        return self._move(item, lambda pk: services.activate(pk, scope.acting_user()))

    @page_action("suspend", _l("Suspend from duty"), _l("Suspend this engineer from duty?"), "fa-pause",
                 multiple=False)
    def suspend(self, item):
        return self._move(item, lambda pk: _change_status(pk, "suspended"))

    @page_action("reinstate", _l("Back on duty"), _l("Lift the suspension and put this engineer back on duty?"),
                 "fa-play", multiple=False)
    def reinstate(self, item):
        return self._move(item, lambda pk: _change_status(pk, "active", only_from="suspended"))

    @page_action("leave", _l("Mark as left"),
                 _l("Mark this engineer as left? This is final: a leaver does not come back."), "fa-sign-out",
                 multiple=False)
    def leave(self, item):
        return self._move(item, lambda pk: _change_status(pk, "left"))

    def _move(self, item, change):
        from app.extensions import db

        item = item[0] if isinstance(item, list) else item
        try:
            engineer = change(item.id)
            flash(MOVED[engineer.status](str(engineer)), "success")
        except DomainError as exc:
            db.session.rollback()
            details = [str(m) for messages in exc.errors.values() for m in messages if str(m) != str(exc.message)]
            flash(" ".join([str(exc.message)] + details), "danger")
        self.update_redirect()
        return redirect(self.get_redirect())


MOVED = {
    "active": lambda name: gettext("%(name)s is now on duty.", name=name),
    "suspended": lambda name: gettext("%(name)s is suspended from duty.", name=name),
    "left": lambda name: gettext("%(name)s is marked as left.", name=name),
}


def _change_status(engineer_id, target, only_from=None):
    """Move an engineer to ``target`` through the status table (the engineer entity rule), as the
    edit form does; refuses (409) a move that does not change the status, or (``only_from``) one
    from another status than the action is for."""
    from app.core import services as core_services
    from app.core.errors import Conflict
    from app.engineers import services

    engineer = services.get_engineer(engineer_id, lock=True)
    if only_from is not None and engineer.status != only_from:
        message = gettext("Only a suspended engineer is put back on duty; this engineer is %(status)s.",
                          status=ENGINEER_STATUS.label(engineer.status))
        raise Conflict(message, {"status": [message]})
    if engineer.status == target:
        message = gettext("This engineer is %(current)s and cannot become %(target)s.",
                          current=ENGINEER_STATUS.label(engineer.status), target=ENGINEER_STATUS.label(target))
        raise Conflict(message, {"status": [message]})
    engineer.status = target
    return core_services.save(engineer)


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
