from flask_babel import lazy_gettext as _l

from app.core.personal import PhoneMaskingView
from app.core.filters import FilterInRegion, related_search
from app.core.views import BaseModelView, scoped
from app.network.models import Region
from app.orders.enums import ORDER_KIND, ORDER_STATUS
from app.orders.models import ServiceOrder
from app.security import permissions as p


class ServiceOrderView(PhoneMaskingView, BaseModelView):
    class_permission_name = p.SERVICE_ORDER
    datamodel = scoped(ServiceOrder)
    singular = _l("service order")
    list_title = _l("Service orders")
    list_columns = ["number", "customer_name", "outlet", "engineer", "kind", "status", "created_at"]
    show_columns = ["number", "customer_name", "customer_phone", "customer_address", "product_category",
                    "outlet", "engineer", "kind", "status", "created_at", "dispatched_at", "appointment_at",
                    "arrived_at", "completed_at", "first_time_fix", "satisfaction", "updated_at"]
    add_columns = ["number", "customer_name", "customer_phone", "customer_address", "product_category",
                   "outlet", "engineer", "kind", "status", "dispatched_at", "appointment_at", "arrived_at",
                   "completed_at", "first_time_fix", "satisfaction"]
    edit_columns = add_columns
    search_columns = ["number", "customer_name", "customer_phone", "region", "outlet", "engineer",
                      "product_category", "kind", "status", "created_at"]
    virtual_search = {"region": related_search(Region, FilterInRegion, _l("Region"))}
    plain_related_columns = ("product_category",)
    related_depends = {"engineer": {"outlet": "outlet_id"}}
    enum_columns = {"kind": ORDER_KIND, "status": ORDER_STATUS}
    base_order = ("created_at", "desc")
    quick_filters = [
        (_l("Created"), {"_flt_0_status": "created"}),
        (_l("In service"), {"_flt_0_status": "in_service"}),
        (_l("Completed"), {"_flt_0_status": "completed"}),
    ]
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
        "updated_at": _l("Updated at"),
        "dispatched_at": _l("Dispatched at"),
        "appointment_at": _l("Appointment"),
        "arrived_at": _l("Arrived at"),
        "completed_at": _l("Completed at"),
        "first_time_fix": _l("First-time fix"),
        "satisfaction": _l("Satisfaction"),
    }
    description_columns = {
        "engineer": _l("Only engineers of the chosen outlet are offered."),
        "satisfaction": _l("1 to 5, recorded once the order is completed."),
        "dispatched_at": _l("Local time (Beijing)."),
    }
