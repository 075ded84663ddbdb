from datetime import timedelta

from flask_babel import gettext, lazy_gettext as _l
from markupsafe import Markup

from app.core import clock, exports, l10n
from app.core.filters import FilterDateWithinDays, FilterYesNo, days_search, yes_no_search
from app.core.formatters import badge, yes_no
from app.core.views import BaseModelView, scoped
from app.network.enums import OUTLET_STATUS
from app.network.models import Outlet, ProductCategory, Region
from app.security import permissions as p

COMMON_LABELS = {
    "code": _l("Code"),
    "name": _l("Name"),
    "created_at": _l("Created at"),
    "updated_at": _l("Updated at"),
}


class RegionView(BaseModelView):
    class_permission_name = p.REGION
    datamodel = scoped(Region)
    singular = _l("region")
    list_title = _l("Regions")
    list_columns = ["code", "name", "users"]
    show_columns = ["code", "name", "users", "created_at", "updated_at"]
    add_columns = ["code", "name", "users"]
    edit_columns = add_columns
    search_columns = ["code", "name"]
    base_order = ("code", "asc")
    label_columns = {**COMMON_LABELS, "users": _l("Assigned users")}
    description_columns = {
        "users": _l("Regional managers and service agents who work on this region's records."),
    }


class ProductCategoryView(BaseModelView):
    class_permission_name = p.PRODUCT_CATEGORY
    datamodel = scoped(ProductCategory)
    singular = _l("product category")
    list_title = _l("Product categories")
    list_columns = ["code", "name"]
    show_columns = ["code", "name", "created_at", "updated_at"]
    add_columns = ["code", "name"]
    edit_columns = add_columns
    search_columns = ["code", "name"]
    base_order = ("code", "asc")
    label_columns = dict(COMMON_LABELS)


class FilterAuditDue(FilterDateWithinDays):
    """Next audit due within N days from today, overdue ones included."""

    name = _l("Due within N days (overdue included)")
    date_column = "next_audit_due_on"
    include_past = True


def audit_due_formatter(value):
    """The next audit date, flagged when overdue or due within 30 days."""
    if value is None:
        return ""
    today = clock.today()
    if value < today:
        return Markup("{} {}").format(l10n.date_text(value), badge(gettext("Overdue"), "danger"))
    if value <= today + timedelta(days=30):
        return Markup("{} {}").format(l10n.date_text(value), badge(gettext("Due soon"), "warning"))
    return l10n.date_text(value)


def _ratio(actual, required, ok):
    return Markup('<span class="{}">{} / {}</span>').format(
        "text-success" if ok else "text-danger", actual, required)


class FilterFlagged(FilterYesNo):
    """Flagged by the nightly qualification check (below a computed criterion)."""

    def clause(self):
        return self.model.flagged_on.isnot(None)


class OutletView(BaseModelView):
    class_permission_name = p.OUTLET
    datamodel = scoped(Outlet)
    singular = _l("outlet")
    list_title = _l("Service outlets")
    show_template = "pages/outlet_show.html"
    list_columns = ["code", "name", "region", "status", "has_fixed_premises", "certified_engineers",
                    "stock_rate", "qualifies", "next_audit_due_on"]
    computed_columns = ("certified_engineers", "stock_rate", "qualifies")
    # exports: each fact and its threshold in a column of its own, typed (``export_computed_values``)
    export_computed_columns = ("certified_engineers", "required_engineers", "stock_rate", "required_stock_rate",
                               "qualifies")
    export_formats = {"stock_rate": exports.PERCENT, "required_stock_rate": exports.PERCENT}
    show_columns = ["code", "name", "region", "status", "address", "contact", "phone", "email", "licence_no",
                    "has_fixed_premises", "product_categories", "last_qualified_on", "next_audit_due_on", "notes",
                    "created_at", "updated_at"]
    add_columns = ["code", "name", "region", "status", "address", "contact", "phone", "email", "licence_no",
                   "has_fixed_premises", "product_categories", "notes"]
    edit_columns = add_columns + ["last_qualified_on", "next_audit_due_on"]
    search_columns = ["code", "name", "region", "status", "has_fixed_premises", "product_categories",
                      "next_audit_due_on", "audit_due", "flagged"]
    virtual_search = {"audit_due": days_search(FilterAuditDue, _l("Next audit due within (days)")),
                      "flagged": yes_no_search(FilterFlagged, _l("Below a qualification threshold"))}
    plain_related_columns = ("product_categories",)
    enum_columns = {"status": OUTLET_STATUS}
    base_order = ("code", "asc")
    formatters_columns = {"next_audit_due_on": audit_due_formatter}
    quick_filters = [
        (_l("Audit due within 30 days"), {"_flt_0_audit_due": 30}),
        (_l("Active"), {"_flt_0_status": "active"}),
        (_l("Probation"), {"_flt_0_status": "probation"}),
        (_l("Below a qualification threshold"), {"_flt_0_flagged": 1}),
    ]
    label_columns = {
        **COMMON_LABELS,
        "region": _l("Region"),
        "status": _l("Cooperation status"),
        "address": _l("Address"),
        "contact": _l("Contact"),
        "phone": _l("Phone"),
        "email": _l("Email"),
        "licence_no": _l("Business licence no."),
        "has_fixed_premises": _l("Fixed premises"),
        "product_categories": _l("Product categories"),
        "last_qualified_on": _l("Last qualified on"),
        "next_audit_due_on": _l("Next audit due"),
        "notes": _l("Notes"),
        "certified_engineers": _l("Certified engineers"),
        "stock_rate": _l("Common-parts stock rate"),
        "qualifies": _l("Qualifies"),
        "required_engineers": _l("Required certified engineers"),
        "required_stock_rate": _l("Required common-parts stock rate"),
    }

    def computed_values(self, items):
        """Qualification facts for the whole page in one batch (a fixed number of queries)."""
        from app.qualification import evidence

        facts = evidence.for_outlets([o.id for o in items])
        result = {}
        for oid, ev in facts.items():
            rate = gettext("n/a") if ev.stock_rate is None else f"{ev.stock_rate:.1f}%"
            result[oid] = {
                "certified_engineers": _ratio(ev.certified_engineers, ev.required_engineers, ev.meets_engineers),
                "stock_rate": _ratio(rate, f"{ev.required_stock_rate:.0f}%", ev.meets_stock),
                "qualifies": yes_no(ev.qualifies),
            }
        return result

    def export_computed_values(self, items):
        """The same facts for exports: numbers, percent points and flags, one per column."""
        from app.qualification import evidence

        return {oid: {"certified_engineers": ev.certified_engineers, "required_engineers": ev.required_engineers,
                      "stock_rate": ev.stock_rate, "required_stock_rate": ev.required_stock_rate,
                      "qualifies": ev.qualifies}
                for oid, ev in evidence.for_outlets([o.id for o in items]).items()}

    def show_extras(self, item):
        from app.qualification import evidence

        from flask import current_app

        from app.qualification.enums import FLAG_REASON

        sm = current_app.appbuilder.sm
        # decided here, per request: a template filter with constant arguments would be folded
        # into the compiled template once, with the first user's rights
        return {"evidence": evidence.for_outlet(item.id), "flag_reasons": item.flag_reasons,
                "FLAG_REASON": FLAG_REASON,
                "can_read_audits": sm.has_access(p.READ, p.QUALIFICATION_AUDIT),
                "can_run_audits": sm.has_access(p.WRITE, p.QUALIFICATION_AUDIT)}
