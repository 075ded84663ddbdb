from flask_babel import lazy_gettext as _l

from app.core.views import BaseModelView, enum_field, enum_formatter, scoped
from app.orders.enums import ORDER_KIND, ORDER_STATUS
from app.orders.models import ServiceOrder
from app.security import permissions as p


class ServiceOrderView(BaseModelView):
    class_permission_name = p.SERVICE_ORDER
    datamodel = scoped(ServiceOrder)
    list_title = _l("Service orders")
    list_columns = ["number", "customer_name", "outlet", "engineer", "kind", "status", "created_at"]
    show_columns = ["number", "customer_name", "customer_phone", "customer_address", "product_category",
                    "outlet", "engineer", "kind", "status", "created_at", "dispatched_at", "appointment_at",
                    "arrived_at", "completed_at", "first_time_fix", "satisfaction"]
    add_columns = ["number", "customer_name", "customer_phone", "customer_address", "product_category",
                   "outlet", "engineer", "kind", "status", "dispatched_at", "appointment_at", "arrived_at",
                   "completed_at", "first_time_fix", "satisfaction"]
    edit_columns = add_columns
    search_columns = ["number", "customer_name", "outlet", "engineer", "kind", "status", "created_at"]
    base_order = ("created_at", "desc")
    add_form_extra_fields = {"kind": enum_field(ORDER_KIND, _l("Kind")),
                             "status": enum_field(ORDER_STATUS, _l("Status"))}
    edit_form_extra_fields = add_form_extra_fields
    formatters_columns = {"kind": enum_formatter(ORDER_KIND), "status": enum_formatter(ORDER_STATUS)}
    label_columns = {
        "number": _l("Order no."),
        "customer_name": _l("Customer"),
        "customer_phone": _l("Customer phone"),
        "customer_address": _l("Customer address"),
        "product_category": _l("Product category"),
        "outlet": _l("Outlet"),
        "engineer": _l("Engineer"),
        "kind": _l("Kind"),
        "status": _l("Status"),
        "created_at": _l("Created at"),
        "dispatched_at": _l("Dispatched at"),
        "appointment_at": _l("Appointment"),
        "arrived_at": _l("Arrived at"),
        "completed_at": _l("Completed at"),
        "first_time_fix": _l("First-time fix"),
        "satisfaction": _l("Satisfaction"),
    }
