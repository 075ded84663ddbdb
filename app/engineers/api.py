from flask import current_app
from flask_appbuilder.api import expose, protect, safe
from flask_appbuilder.models.filters import BaseFilter
from flask_appbuilder.security.decorators import permission_name
from flask_babel import lazy_gettext as _l

from app.core.api import API_METHOD_PERMISSIONS, BaseApi, handle_domain_errors, json_body
from app.core.datamodel import FilterInRegion, ScopedInterface
from app.core.openapi import action_doc
from app.engineers.models import Certification, CertificationType, Engineer, TrainingRecord
from app.security import permissions as p

TIMESTAMPS = ["created_at", "updated_at"]


class FilterCertificationStatusNow(BaseFilter):
    """Certificates whose status *today* is the given code (or one of a list), computed by the same
    rule as the displayed status — correct even before the nightly refresh has stored it:
    ``(col:status,opr:status_now,value:expiring)``."""

    name = _l("Status today")
    arg_name = "status_now"

    def apply(self, query, value):
        from app.engineers.rules import certification_status_sql

        codes = list(value) if isinstance(value, (list, tuple)) else [value]
        return query.filter(certification_status_sql(self.model).in_([str(c) for c in codes]))


class EngineerApi(BaseApi):
    resource_name = "engineer"
    class_permission_name = p.ENGINEER
    datamodel = ScopedInterface(Engineer)
    _fields = ["employee_no", "name", "phone", "email", "outlet", "hire_date", "status"]
    # the nightly star level (engineers.stars) and its inputs: read-only
    _star = ["star_level", "star_score", "star_orders", "star_on_time_rate", "star_first_time_fix_rate",
             "star_satisfaction", "star_computed_on"]
    list_columns = ["id"] + _fields + ["suspension_reason"] + _star
    show_columns = ["id"] + _fields + ["suspension_reason"] + _star + TIMESTAMPS
    add_columns = _fields
    edit_columns = _fields
    search_columns = ["employee_no", "name", "outlet", "status", "star_level", "hire_date"]
    search_filters = {"outlet": [FilterInRegion]}
    order_columns = ["employee_no", "name", "hire_date", "status", "star_level", "star_score"]
    method_permission_name = {**API_METHOD_PERMISSIONS, "activate": "write"}

    @expose("/<int:pk>/activate", methods=["POST"])
    @protect()
    @safe
    @permission_name("write")
    @handle_domain_errors
    @action_doc({})
    def activate(self, pk):
        """Put a trainee on duty once an onboarding training passed: 409 naming the status and the
        unmet condition (``status``) and listing the unmet items (``theory_hours``,
        ``practical_hours``, ``mentored_orders``, ``theory_score``, ``practical_score`` or
        ``onboarding``); 409 naming the status of a non-trainee. A ``PUT`` of ``status`` follows the
        same status table (``engineers.rules``)."""
        from app.engineers import services
        from app.extensions import db

        json_body()
        engineer = services.activate(pk, current_app.appbuilder.sm.current_user)
        db.session.expire_all()
        fresh = self.datamodel.get(engineer.id)
        return self.response(200, id=fresh.id, result=self._dump_one(fresh, self.show_model_schema))


class CertificationTypeApi(BaseApi):
    resource_name = "certification_type"
    class_permission_name = p.CERTIFICATION_TYPE
    datamodel = ScopedInterface(CertificationType)
    _fields = ["name", "validity_months", "product_categories"]
    list_columns = ["id"] + _fields
    show_columns = ["id"] + _fields + TIMESTAMPS
    add_columns = _fields
    edit_columns = _fields
    search_columns = ["name", "product_categories"]
    order_columns = ["name", "validity_months"]


class CertificationApi(BaseApi):
    resource_name = "certification"
    class_permission_name = p.CERTIFICATION
    datamodel = ScopedInterface(Certification)
    _fields = ["engineer", "certification_type", "number", "issuer", "issued_on", "expires_on", "revoked"]
    list_columns = ["id"] + _fields + ["status"]
    show_columns = ["id"] + _fields + ["status"] + TIMESTAMPS
    add_columns = _fields
    edit_columns = _fields
    search_columns = ["engineer", "certification_type", "number", "issuer", "expires_on", "revoked", "status"]
    search_filters = {"engineer": [FilterInRegion], "status": [FilterCertificationStatusNow]}
    order_columns = ["number", "issued_on", "expires_on", "status"]

    def derived(self, ids):
        """The status as of today, even before the nightly refresh has run."""
        from sqlalchemy import select

        from app.engineers.rules import certification_status_sql
        from app.extensions import db

        rows = db.session.execute(
            select(Certification.id, certification_status_sql(Certification)).where(Certification.id.in_(ids))
        )
        return {pk: {"status": status} for pk, status in rows}


class TrainingRecordApi(BaseApi):
    resource_name = "training_record"
    class_permission_name = p.TRAINING_RECORD
    datamodel = ScopedInterface(TrainingRecord)
    _fields = ["engineer", "kind", "taken_on", "theory_hours", "practical_hours", "mentored_orders",
               "theory_score", "practical_score"]
    list_columns = ["id"] + _fields + ["passed"]
    show_columns = ["id"] + _fields + ["passed"] + TIMESTAMPS
    add_columns = _fields
    edit_columns = _fields
    search_columns = ["engineer", "kind", "taken_on", "passed"]
    search_filters = {"engineer": [FilterInRegion]}
    order_columns = ["taken_on", "kind", "theory_score", "practical_score"]
