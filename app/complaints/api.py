"""REST resources of the complaint desk: SLA policies, complaints with their lifecycle actions,
escalations with their decisions, delegations and business calendars. Every action calls
``complaints.services``."""
from flask import current_app
from flask_appbuilder.api import expose, protect, safe
from flask_appbuilder.security.decorators import permission_name

from app.complaints import services
from app.complaints.models import Complaint, Escalation, EscalationDelegation, SlaPolicy
from app.core.api import API_METHOD_PERMISSIONS, BaseApi, handle_domain_errors, json_body
from app.core.datamodel import ScopedInterface
from app.core.personal import PhoneMaskingApi
from app.core.models import BusinessCalendar, CalendarDay
from app.core.openapi import TEXT, action_doc
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


COMPLAINT_FIELDS = [
    "number", "customer_name", "customer_phone", "channel", "outlet", "service_order", "engineer", "severity",
    "description", "owner", "received_at", "status", "first_response_at", "resolved_at", "closed_at",
    "resolution", "customer_notified", "customer_satisfied", "response_due_at", "resolution_due_at",
    "verification_due_at", "response_breached", "resolution_breached", "paused",
]


def _actor():
    return current_app.appbuilder.sm.current_user


def _text(data, key):
    value = data.get(key)
    return value if isinstance(value, str) else ("" if value is None else str(value))


class ComplaintApi(PhoneMaskingApi, BaseApi):
    resource_name = "complaint"
    class_permission_name = p.COMPLAINT
    datamodel = ScopedInterface(Complaint)
    list_columns = ["id"] + COMPLAINT_FIELDS
    show_columns = ["id"] + COMPLAINT_FIELDS + ["created_at", "updated_at"]
    add_columns = ["customer_name", "customer_phone", "channel", "outlet", "service_order", "engineer", "severity",
                   "description", "received_at"]
    edit_columns = ["customer_name", "customer_phone", "channel", "service_order", "engineer", "severity",
                    "description"]
    search_columns = ["number", "customer_name", "customer_phone", "outlet", "status", "severity", "owner",
                      "received_at", "response_breached", "resolution_breached", "paused"]
    order_columns = ["number", "received_at", "status", "severity", "response_due_at", "resolution_due_at"]
    base_order = ("received_at", "desc")
    method_permission_name = {
        **API_METHOD_PERMISSIONS, "respond": "write", "pause": "write", "resume": "write", "resolve": "write",
        "close": "write", "escalate": "write", "timeline": "read", "reveal_phone": "read",
    }

    def _result(self, complaint):
        from app.extensions import db

        db.session.expire_all()
        fresh = self.datamodel.get(complaint.id)
        return self.response(200, result=self._dump_one(fresh, self.show_model_schema), id=fresh.id)

    @expose("/<int:pk>/respond", methods=["POST"])
    @protect()
    @safe
    @permission_name("write")
    @handle_domain_errors
    @action_doc({"note": TEXT})
    def respond(self, pk):
        """First response to the customer: ``{"note"}``."""
        data = json_body()
        return self._result(services.respond(pk, _text(data, "note"), _actor()))

    @expose("/<int:pk>/pause", methods=["POST"])
    @protect()
    @safe
    @permission_name("write")
    @handle_domain_errors
    @action_doc({"reason": TEXT})
    def pause(self, pk):
        """Stop the SLA clock while waiting on the customer: ``{"reason"}``."""
        data = json_body()
        return self._result(services.pause(pk, _text(data, "reason"), _actor()))

    @expose("/<int:pk>/resume", methods=["POST"])
    @protect()
    @safe
    @permission_name("write")
    @handle_domain_errors
    @action_doc({})
    def resume(self, pk):
        """Restart the clock; every paused minute is given back."""
        json_body()
        return self._result(services.resume(pk, _actor()))

    @expose("/<int:pk>/resolve", methods=["POST"])
    @protect()
    @safe
    @permission_name("write")
    @handle_domain_errors
    @action_doc({"resolution": TEXT})
    def resolve(self, pk):
        """``{"resolution"}``."""
        data = json_body()
        return self._result(services.resolve(pk, _text(data, "resolution"), _actor()))

    @expose("/<int:pk>/close", methods=["POST"])
    @protect()
    @safe
    @permission_name("write")
    @handle_domain_errors
    @action_doc({"customer_satisfied": {"type": "boolean", "nullable": True}})
    def close(self, pk):
        """After telling the customer the result: ``{"customer_satisfied": true|false}``."""
        data = json_body()
        return self._result(services.close(pk, data.get("customer_satisfied"), _actor()))

    @expose("/<int:pk>/escalate", methods=["POST"])
    @protect()
    @safe
    @permission_name("write")
    @handle_domain_errors
    @action_doc({"reason": TEXT, "remedy": TEXT, "compensation_amount": {"type": "number", "nullable": True, "minimum": 0},
                 "comment": TEXT}, status=201, record="EscalationApi")
    def escalate(self, pk):
        """``{"reason", "remedy", "compensation_amount", "comment"}`` → 201 with the escalation's id."""
        data = json_body()
        esc = services.escalate(pk, data.get("reason"), data.get("remedy"), data.get("compensation_amount"),
                                _text(data, "comment"), _actor())
        return self.response(201, id=esc.id, result=EscalationApi.serialize(esc))

    @expose("/<int:pk>/timeline", methods=["GET"])
    @protect()
    @safe
    @permission_name("read")
    @handle_domain_errors
    def timeline(self, pk):
        """Received, responses, pauses, breaches, escalations and decisions, in order.

        ---
        get:
          responses:
            200:
              description: The complaint's events, oldest first
              content:
                application/json:
                  schema:
                    type: object
                    properties:
                      result:
                        type: array
                        items:
                          type: object
                          properties:
                            at: {type: string, format: date-time}
                            kind: {type: string}
                            label: {type: string}
                            actor: {type: string, nullable: true}
                            note: {type: string, nullable: true}
        """
        complaint = services.get_complaint(pk)
        return self.response(200, result=[timeline_entry(e) for e in services.timeline(complaint)])


def timeline_entry(event):
    from app.complaints.enums import EVENT_KIND

    return {"at": event.at.isoformat(), "kind": event.kind, "label": EVENT_KIND.label(event.kind),
            "actor": event.actor_name, "note": event.note}


class EscalationApi(BaseApi):
    resource_name = "escalation"
    class_permission_name = p.ESCALATION
    datamodel = ScopedInterface(Escalation)
    _fields = ["complaint", "parent_id", "level", "reason", "remedy", "compensation_amount", "request_comment",
               "requested_by", "requested_at", "status", "decided_by", "decided_at", "comment"]
    list_columns = ["id"] + _fields
    show_columns = ["id"] + _fields
    search_columns = ["complaint", "level", "status", "reason", "requested_at"]
    order_columns = ["requested_at", "decided_at", "level", "status"]
    base_order = ("requested_at", "desc")
    include_route_methods = {"get", "get_list", "info", "approve", "reject"}
    method_permission_name = {**API_METHOD_PERMISSIONS, "approve": "decide", "reject": "decide"}
    base_permissions = ["can_read", "can_decide"]

    @classmethod
    def serialize(cls, esc):
        return {
            "id": esc.id, "complaint": esc.complaint_id, "parent_id": esc.parent_id, "level": esc.level,
            "reason": esc.reason, "remedy": esc.remedy,
            "compensation_amount": float(esc.compensation_amount) if esc.compensation_amount is not None else None,
            "request_comment": esc.request_comment, "requested_by": esc.requested_by_id,
            "requested_at": esc.requested_at.isoformat() if esc.requested_at else None, "status": esc.status,
            "decided_by": esc.decided_by_id, "decided_at": esc.decided_at.isoformat() if esc.decided_at else None,
            "comment": esc.comment,
        }

    @expose("/<int:pk>/approve", methods=["POST"])
    @protect()
    @safe
    @permission_name("decide")
    @handle_domain_errors
    @action_doc({"comment": TEXT})
    def approve(self, pk):
        """``{"comment"}``. 409 when it was already decided (exactly one concurrent decision wins)."""
        data = json_body()
        esc = services.approve(pk, _text(data, "comment"), _actor())
        return self.response(200, id=esc.id, result=self.serialize(esc))

    @expose("/<int:pk>/reject", methods=["POST"])
    @protect()
    @safe
    @permission_name("decide")
    @handle_domain_errors
    @action_doc({"comment": TEXT})
    def reject(self, pk):
        """``{"comment"}`` (required): the complaint goes back to its owner with the reason."""
        data = json_body()
        esc = services.reject(pk, _text(data, "comment"), _actor())
        return self.response(200, id=esc.id, result=self.serialize(esc))


class EscalationDelegationApi(BaseApi):
    resource_name = "escalation_delegation"
    class_permission_name = p.ESCALATION_DELEGATION
    datamodel = ScopedInterface(EscalationDelegation)
    _fields = ["manager", "delegate", "starts_on", "ends_on", "note"]
    list_columns = ["id"] + _fields
    show_columns = ["id"] + _fields + ["created_at"]
    add_columns = _fields
    edit_columns = _fields
    order_columns = ["starts_on", "ends_on"]

    def _init_model_schemas(self):
        super()._init_model_schemas()
        # a manager delegating their own approvals need not name themselves
        self.add_model_schema.fields["manager"].required = False

    def pre_add(self, item):
        services.check_delegation_owner(item, _actor())

    def pre_update(self, item):
        services.check_delegation_owner(item, _actor())


class BusinessCalendarApi(BaseApi):
    resource_name = "business_calendar"
    class_permission_name = p.BUSINESS_CALENDAR
    datamodel = ScopedInterface(BusinessCalendar)
    _fields = ["name", "region", "monday_hours", "tuesday_hours", "wednesday_hours", "thursday_hours",
               "friday_hours", "saturday_hours", "sunday_hours", "makeup_hours"]
    list_columns = ["id"] + _fields
    show_columns = ["id"] + _fields
    add_columns = _fields
    edit_columns = _fields


class CalendarDayApi(BaseApi):
    resource_name = "calendar_day"
    class_permission_name = p.BUSINESS_CALENDAR
    datamodel = ScopedInterface(CalendarDay)
    _fields = ["calendar", "day", "kind", "name"]
    list_columns = ["id"] + _fields + ["provisional"]  # read-only: saving a day confirms it
    show_columns = list_columns
    add_columns = _fields
    edit_columns = _fields
    search_columns = ["calendar", "day", "kind"]
    order_columns = ["day"]
    base_order = ("day", "asc")
