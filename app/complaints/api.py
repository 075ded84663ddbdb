from app.complaints.models import SlaPolicy
from app.core.api import BaseApi
from app.core.datamodel import ScopedInterface
from app.security import permissions as p


class SlaPolicyApi(BaseApi):
    resource_name = "sla_policy"
    class_permission_name = p.SLA_POLICY
    datamodel = ScopedInterface(SlaPolicy)
    _fields = ["severity", "response_minutes", "resolution_hours", "business_time", "description"]
    list_columns = ["id"] + _fields
    show_columns = ["id"] + _fields + ["created_at", "updated_at"]
    add_columns = _fields
    edit_columns = _fields
    order_columns = ["severity"]
