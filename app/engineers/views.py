from flask_babel import lazy_gettext as _l

from app.core.views import BaseModelView, enum_field, enum_formatter, scoped
from app.engineers.enums import CERTIFICATION_STATUS, ENGINEER_STATUS, TRAINING_KIND
from app.engineers.models import Certification, CertificationType, Engineer, TrainingRecord
from app.security import permissions as p


class EngineerView(BaseModelView):
    class_permission_name = p.ENGINEER
    datamodel = scoped(Engineer)
    list_title = _l("Engineers")
    list_columns = ["employee_no", "name", "outlet", "status", "star_level", "hire_date"]
    show_columns = ["employee_no", "name", "phone", "email", "outlet", "hire_date", "status", "star_level"]
    add_columns = ["employee_no", "name", "phone", "email", "outlet", "hire_date", "status"]
    edit_columns = add_columns
    search_columns = ["employee_no", "name", "outlet", "status", "star_level", "hire_date"]
    base_order = ("employee_no", "asc")
    add_form_extra_fields = {"status": enum_field(ENGINEER_STATUS, _l("Status"))}
    edit_form_extra_fields = add_form_extra_fields
    formatters_columns = {"status": enum_formatter(ENGINEER_STATUS)}
    label_columns = {
        "employee_no": _l("Employee no."),
        "name": _l("Name"),
        "phone": _l("Phone"),
        "email": _l("Email"),
        "outlet": _l("Outlet"),
        "hire_date": _l("Hire date"),
        "status": _l("Status"),
        "star_level": _l("Star level"),
    }


class CertificationTypeView(BaseModelView):
    class_permission_name = p.CERTIFICATION_TYPE
    datamodel = scoped(CertificationType)
    list_title = _l("Certification types")
    list_columns = ["name", "validity_months"]
    show_columns = ["name", "validity_months", "product_categories"]
    add_columns = show_columns
    edit_columns = show_columns
    search_columns = ["name"]
    base_order = ("name", "asc")
    label_columns = {
        "name": _l("Name"),
        "validity_months": _l("Validity (months)"),
        "product_categories": _l("Required for product categories"),
    }


class CertificationView(BaseModelView):
    class_permission_name = p.CERTIFICATION
    datamodel = scoped(Certification)
    list_title = _l("Certifications")
    list_columns = ["number", "engineer", "certification_type", "expires_on", "status"]
    show_columns = ["number", "engineer", "certification_type", "issuer", "issued_on", "expires_on", "revoked",
                    "status"]
    add_columns = ["engineer", "certification_type", "number", "issuer", "issued_on", "expires_on", "revoked"]
    edit_columns = add_columns
    search_columns = ["number", "engineer", "certification_type", "expires_on", "status", "revoked"]
    base_order = ("expires_on", "asc")
    formatters_columns = {"status": enum_formatter(CERTIFICATION_STATUS)}
    label_columns = {
        "number": _l("Certificate no."),
        "engineer": _l("Engineer"),
        "certification_type": _l("Certification type"),
        "issuer": _l("Issuer"),
        "issued_on": _l("Issued on"),
        "expires_on": _l("Expires on"),
        "revoked": _l("Revoked"),
        "status": _l("Status"),
    }


class TrainingRecordView(BaseModelView):
    class_permission_name = p.TRAINING_RECORD
    datamodel = scoped(TrainingRecord)
    list_title = _l("Training records")
    list_columns = ["engineer", "kind", "taken_on", "theory_score", "practical_score", "passed"]
    show_columns = ["engineer", "kind", "taken_on", "theory_hours", "practical_hours", "mentored_orders",
                    "theory_score", "practical_score", "passed"]
    add_columns = ["engineer", "kind", "taken_on", "theory_hours", "practical_hours", "mentored_orders",
                   "theory_score", "practical_score"]
    edit_columns = add_columns
    search_columns = ["engineer", "kind", "taken_on", "passed"]
    base_order = ("taken_on", "desc")
    add_form_extra_fields = {"kind": enum_field(TRAINING_KIND, _l("Kind"))}
    edit_form_extra_fields = add_form_extra_fields
    formatters_columns = {"kind": enum_formatter(TRAINING_KIND)}
    label_columns = {
        "engineer": _l("Engineer"),
        "kind": _l("Kind"),
        "taken_on": _l("Date"),
        "theory_hours": _l("Theory hours"),
        "practical_hours": _l("Practical hours"),
        "mentored_orders": _l("Mentored orders"),
        "theory_score": _l("Theory score"),
        "practical_score": _l("Practical score"),
        "passed": _l("Passed"),
    }
