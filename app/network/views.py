from flask_babel import lazy_gettext as _l

from app.core.views import BaseModelView, enum_field, enum_formatter, scoped
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
    list_title = _l("Regions")
    list_columns = ["code", "name"]
    show_columns = ["code", "name", "users"]
    add_columns = ["code", "name", "users"]
    edit_columns = add_columns
    search_columns = ["code", "name"]
    base_order = ("code", "asc")
    label_columns = {**COMMON_LABELS, "users": _l("Assigned users")}


class ProductCategoryView(BaseModelView):
    class_permission_name = p.PRODUCT_CATEGORY
    datamodel = scoped(ProductCategory)
    list_title = _l("Product categories")
    list_columns = ["code", "name"]
    show_columns = ["code", "name"]
    add_columns = ["code", "name"]
    edit_columns = add_columns
    search_columns = ["code", "name"]
    base_order = ("code", "asc")
    label_columns = dict(COMMON_LABELS)


class OutletView(BaseModelView):
    class_permission_name = p.OUTLET
    datamodel = scoped(Outlet)
    list_title = _l("Service outlets")
    list_columns = ["code", "name", "region", "status", "has_fixed_premises", "next_audit_due_on"]
    list_select_columns = ["id", "code", "name", "region.name", "region.id", "status", "has_fixed_premises",
                           "next_audit_due_on"]
    show_columns = ["code", "name", "region", "status", "address", "contact", "phone", "email", "licence_no",
                    "has_fixed_premises", "product_categories", "last_qualified_on", "next_audit_due_on", "notes"]
    add_columns = ["code", "name", "region", "status", "address", "contact", "phone", "email", "licence_no",
                   "has_fixed_premises", "product_categories", "notes"]
    edit_columns = add_columns + ["last_qualified_on", "next_audit_due_on"]
    search_columns = ["code", "name", "region", "status", "has_fixed_premises", "next_audit_due_on"]
    base_order = ("code", "asc")
    add_form_extra_fields = {"status": enum_field(OUTLET_STATUS, _l("Status"))}
    edit_form_extra_fields = add_form_extra_fields
    formatters_columns = {"status": enum_formatter(OUTLET_STATUS)}
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
    }
