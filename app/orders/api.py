from app.core.api import API_METHOD_PERMISSIONS, BaseApi
from app.core.datamodel import FilterInRegion, ScopedInterface
from app.core.personal import PhoneMaskingApi
from app.orders.models import ServiceOrder
from app.security import permissions as p


class ServiceOrderApi(PhoneMaskingApi, BaseApi):
    resource_name = "service_order"
    class_permission_name = p.SERVICE_ORDER
    datamodel = ScopedInterface(ServiceOrder)
    _fields = [
        "number", "customer_name", "customer_phone", "customer_address", "product_category", "outlet",
        "engineer", "kind", "status", "dispatched_at", "appointment_at", "arrived_at", "completed_at",
        "first_time_fix", "satisfaction",
    ]
    list_columns = ["id"] + _fields + ["created_at"]
    show_columns = ["id"] + _fields + ["created_at", "updated_at"]
    add_columns = _fields
    edit_columns = _fields
    search_columns = ["number", "customer_name", "customer_phone", "outlet", "engineer", "product_category",
                      "kind", "status", "created_at", "completed_at"]
    search_filters = {"outlet": [FilterInRegion]}
    order_columns = ["number", "created_at", "appointment_at", "completed_at", "status"]
    method_permission_name = {**API_METHOD_PERMISSIONS, "reveal_phone": "read"}
