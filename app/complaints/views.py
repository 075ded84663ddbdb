from flask_babel import lazy_gettext as _l

from app.complaints.enums import SEVERITY
from app.complaints.models import SlaPolicy
from app.core.views import BaseModelView, enum_field, enum_formatter, scoped
from app.security import permissions as p


class SlaPolicyView(BaseModelView):
    class_permission_name = p.SLA_POLICY
    datamodel = scoped(SlaPolicy)
    list_title = _l("SLA policies")
    list_columns = ["severity", "response_minutes", "resolution_hours", "business_time", "description"]
    show_columns = list_columns
    add_columns = list_columns
    edit_columns = list_columns
    add_form_extra_fields = {"severity": enum_field(SEVERITY, _l("Severity"))}
    edit_form_extra_fields = add_form_extra_fields
    formatters_columns = {"severity": enum_formatter(SEVERITY)}
    label_columns = {
        "severity": _l("Severity"),
        "response_minutes": _l("First response within (minutes)"),
        "resolution_hours": _l("Resolved within (hours)"),
        "business_time": _l("Counts business time"),
        "description": _l("Description"),
    }
