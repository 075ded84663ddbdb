"""``/api/v1/audit_event/``: the audit trail, read-only for everyone.

Only list, show, ``_info`` and ``verify`` routes exist: no ``POST``, ``PUT`` or ``DELETE`` route
writes an event, whatever the role (the database refuses changes to the table as well); ``POST
verify`` records the verification run itself, as every verification from a page or command does.
Filters (FAB's rison ``filters``): ``actor_id``, ``actor_name``, ``entity``, ``record_id``,
``action``, ``at`` (``gt``/``lt``, ISO 8601 UTC) and ``id`` (``gt`` to read what came after a known
event). ``changes`` is a JSON object: ``{field: [before, after]}`` for row changes, the details
for other events.
"""
import json

from flask import request
from flask_appbuilder.api import expose, protect, safe
from flask_appbuilder.const import API_RESULT_RES_KEY
from flask_appbuilder.security.decorators import permission_name

from app.audit_trail import chain
from app.audit_trail.models import AuditEvent
from app.audit_trail.web import verify_and_record
from app.core.api import API_METHOD_PERMISSIONS, BaseApi
from app.core.datamodel import ScopedInterface
from app.extensions import db
from app.security import permissions as p

COLUMNS = ["id", "at", "actor_kind", "actor_id", "actor_name", "request_id", "client_addr", "entity", "record_id",
           "action", "changes", "prev_hash", "hash"]


def _parse(row):
    """``changes`` as a JSON object, customers' phone numbers masked for users who may not see them."""
    from app.core.personal import mask_changes

    if isinstance(row, dict) and isinstance(row.get("changes"), str):
        try:
            row["changes"] = mask_changes(row.get("entity"), json.loads(row["changes"]))
        except ValueError:
            pass
    return row


class AuditEventApi(BaseApi):
    resource_name = "audit_event"
    class_permission_name = p.AUDIT_EVENT
    datamodel = ScopedInterface(AuditEvent)
    include_route_methods = {"get", "get_list", "info", "verify"}
    method_permission_name = {**API_METHOD_PERMISSIONS, "verify": "read"}
    list_columns = COLUMNS
    show_columns = COLUMNS
    search_columns = ["id", "actor_id", "actor_name", "entity", "record_id", "action", "at"]
    order_columns = ["id", "at"]
    base_order = ("id", "desc")
    response_field_schemas = {"changes": {"description": "a JSON object: {field: [before, after]} or the details"}}

    def pre_get_list(self, data):
        super().pre_get_list(data)
        for row in data.get(API_RESULT_RES_KEY, []):
            _parse(row)

    def pre_get(self, data):
        super().pre_get(data)
        _parse(data.get(API_RESULT_RES_KEY))

    @expose("/verify", methods=["GET", "POST"])
    @protect()
    @safe
    @permission_name("read")
    def verify(self):
        """Recompute the hash chain: ``{"ok", "checked", "first_broken_id"}``. ``GET`` only reads;
        ``POST`` also records the run in the trail (when, by whom, the result), as the page's button does.

        ---
        get: &verify_result
          responses:
            200:
              description: The result of the check
              content:
                application/json:
                  schema:
                    type: object
                    properties:
                      ok: {type: boolean}
                      checked: {type: integer}
                      first_broken_id: {type: integer, nullable: true}
        post: *verify_result
        """
        if request.method == "POST":
            return self.response(200, **verify_and_record())
        return self.response(200, **chain.verify(db.session))
