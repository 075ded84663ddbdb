"""REST resources of outlet qualification: audits with their workflow actions and evidence files,
and the checklist template. Every action calls ``qualification.services``."""
from datetime import date

from flask import current_app, request, send_file
from flask_appbuilder.api import expose, protect, safe
from flask_appbuilder.const import API_RESULT_RES_KEY
from flask_appbuilder.security.decorators import permission_name
from flask_babel import gettext as _

from app.core.api import API_METHOD_PERMISSIONS, BaseApi, handle_domain_errors, json_body
from app.core.datamodel import FilterInRegion, ScopedInterface
from app.core.errors import Invalid
from app.core.openapi import TEXT, action_doc
from app.qualification import services
from app.qualification.models import AuditTemplateItem, QualificationAudit
from app.security import permissions as p

AUDIT_FIELDS = [
    "number", "outlet", "kind", "status", "origin", "due_on", "trigger_note", "parent_id", "opened_by",
    "auditor", "outcome", "rectification_days", "rectification_deadline", "submit_comment", "submitted_at",
    "decided_by", "decided_at", "decision_comment",
]


def _actor():
    return current_app.appbuilder.sm.current_user


def _unknown_fields(data, allowed):
    unknown = sorted(set(data) - set(allowed))
    if unknown:
        raise Invalid({f: [_("Unknown field.")] for f in unknown})


def _date(value, field):
    if value is None:
        return None
    try:
        return date.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        pass
    raise Invalid({field: [_("Enter a date as YYYY-MM-DD.")]})


def audit_details(audit):
    """The checklist (live while open for answers, frozen once submitted) and its headline facts."""
    lines = services.rows(audit)
    for line in lines:
        for f in line["files"]:
            f["url"] = f"/api/v1/qualification_audit/{audit.id}/evidence/{f['id']}"
    return {"items": lines, "evidence": services.summary(audit, lines)}


class QualificationAuditApi(BaseApi):
    resource_name = "qualification_audit"
    class_permission_name = p.QUALIFICATION_AUDIT
    datamodel = ScopedInterface(QualificationAudit)
    list_columns = ["id"] + AUDIT_FIELDS
    show_columns = ["id"] + AUDIT_FIELDS + ["created_at", "updated_at"]
    add_columns = ["outlet", "kind", "due_on"]
    edit_columns = ["due_on"]
    search_columns = ["number", "outlet", "kind", "status", "origin", "outcome", "due_on", "auditor"]
    search_filters = {"outlet": [FilterInRegion]}
    order_columns = ["number", "due_on", "status", "kind", "submitted_at", "decided_at"]
    base_order = ("due_on", "asc")
    method_permission_name = {
        **API_METHOD_PERMISSIONS, "submit": "write", "approve": "approve",
        "return_audit": "approve", "upload_evidence": "write", "download_evidence": "read",
        "delete_evidence": "write",
    }
    base_permissions = [p.READ, p.WRITE, p.DELETE, p.APPROVE]

    def pre_get(self, data):
        row = data.get(API_RESULT_RES_KEY)
        pk = data.get("id", row.get("id") if isinstance(row, dict) else None)
        if pk is not None and isinstance(row, dict):
            row.update(audit_details(services.get_audit(pk)))

    def _result(self, audit, status=200):
        from app.extensions import db

        db.session.expire_all()
        fresh = services.get_audit(audit.id)
        return self.response(status, result=self._dump_one(fresh, self.show_model_schema), id=fresh.id)

    @handle_domain_errors
    def post_headless(self):
        """``{"outlet", "kind", "due_on"?}`` → 201 with the checklist and the live evidence."""
        data = json_body()
        _unknown_fields(data, ["outlet", "kind", "due_on"])
        audit = services.open_audit(data.get("outlet"), data.get("kind"), _actor(),
                                    due_on=_date(data.get("due_on"), "due_on"))
        return self._result(audit, 201)

    @handle_domain_errors
    def put_headless(self, pk):
        """Checklist answers: ``{"items": [{"code", "answer": "yes"|"no"|null, "note"}], "due_on"?}``."""
        pk = self._int_pk(pk)
        if pk is None:
            return self.response_404()
        data = json_body()
        _unknown_fields(data, ["items", "due_on"])
        audit = services.save_answers(pk, data.get("items", []), _actor(),
                                      due_on=_date(data.get("due_on"), "due_on"))
        return self._result(audit)

    @expose("/<int:pk>/submit", methods=["POST"])
    @protect()
    @safe
    @permission_name("write")
    @handle_domain_errors
    @action_doc({"outcome": {"type": "string", "nullable": True, "enum": ["pass", "conditional", "fail", None]},
                 "comment": TEXT, "rectification_days": {"type": "integer", "nullable": True}})
    def submit(self, pk):
        """``{"outcome": "pass"|"conditional"|"fail", "comment", "rectification_days"}``: freezes the
        computed evidence and proposes the outcome."""
        data = json_body()
        _unknown_fields(data, ["outcome", "comment", "rectification_days"])
        audit = services.submit(pk, data.get("outcome"), data.get("comment"), data.get("rectification_days"),
                                _actor())
        return self._result(audit)

    @expose("/<int:pk>/approve", methods=["POST"])
    @protect()
    @safe
    @permission_name("approve")
    @handle_domain_errors
    @action_doc({"comment": TEXT})
    def approve(self, pk):
        """``{"comment"}``: an HQ admin who did not submit it; the outcome takes effect on the outlet."""
        data = json_body()
        return self._result(services.approve(pk, data.get("comment"), _actor()))

    @expose("/<int:pk>/return", methods=["POST"])
    @protect()
    @safe
    @permission_name("approve")
    @handle_domain_errors
    @action_doc({"comment": TEXT})
    def return_audit(self, pk):
        """``{"comment"}`` (required): back to the auditor for corrections."""
        data = json_body()
        return self._result(services.return_(pk, data.get("comment"), _actor()))

    @expose("/<int:pk>/evidence", methods=["POST"])
    @protect()
    @safe
    @permission_name("write")
    @handle_domain_errors
    def upload_evidence(self, pk):
        """``multipart/form-data`` with ``item`` (an on-site item's code) and ``file`` (JPEG, PNG,
        WebP or PDF) → 201 with the stored file.

        ---
        post:
          requestBody:
            required: true
            content:
              multipart/form-data:
                schema:
                  type: object
                  required: [item, file]
                  properties:
                    item: {type: string, description: 'the code of an on-site checklist item'}
                    file: {type: string, format: binary, description: 'JPEG, PNG, WebP or PDF'}
          responses:
            201:
              description: The stored file
              content:
                application/json:
                  schema:
                    type: object
                    properties:
                      id: {type: integer}
                      result:
                        type: object
                        properties:
                          id: {type: integer}
                          url: {type: string}
        """
        upload = request.files.get("file")
        row = services.add_evidence(pk, request.form.get("item"), upload.filename if upload else "",
                                    upload.stream if upload else None, _actor())
        from app.qualification.checklist import file_view

        result = file_view(row)
        result["url"] = f"/api/v1/qualification_audit/{pk}/evidence/{row.id}"
        return self.response(201, id=row.id, result=result)

    @expose("/<int:pk>/evidence/<int:file_id>", methods=["GET"])
    @protect()
    @safe
    @permission_name("read")
    @handle_domain_errors
    def download_evidence(self, pk, file_id):
        """The evidence file itself, for users who may see the audit.

        ---
        get:
          parameters:
          - in: query
            name: download
            schema: {type: string, enum: ['1']}
            description: 1 to download a PDF instead of showing it
          responses:
            200:
              description: The file, as uploaded
              content:
                image/jpeg:
                  schema: {type: string, format: binary}
                image/png:
                  schema: {type: string, format: binary}
                image/webp:
                  schema: {type: string, format: binary}
                application/pdf:
                  schema: {type: string, format: binary}
        """
        return evidence_response(pk, file_id)

    @expose("/<int:pk>/evidence/<int:file_id>", methods=["DELETE"])
    @protect()
    @safe
    @permission_name("write")
    @handle_domain_errors
    def delete_evidence(self, pk, file_id):
        """Delete one evidence file of an audit still open for answers.

        ---
        delete:
          responses:
            200:
              description: Deleted
              content:
                application/json:
                  schema:
                    type: object
                    properties:
                      message: {type: string}
        """
        services.remove_evidence(pk, file_id, _actor())
        return self.response(200, message=_("Deleted."))


def evidence_response(pk, file_id):
    """Send an evidence file (404 outside the actor's scope); never sniffed as anything else."""
    row, path = services.get_evidence(pk, file_id)
    response = send_file(path, mimetype=row.content_type, download_name=row.filename,
                         as_attachment=row.content_type == "application/pdf" and request.args.get("download") == "1")
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "private, no-store"
    return response


class AuditTemplateItemApi(BaseApi):
    resource_name = "audit_template_item"
    class_permission_name = p.AUDIT_TEMPLATE
    datamodel = ScopedInterface(AuditTemplateItem)
    _fields = ["code", "label", "kind", "metric", "required", "evidence_required", "position", "active",
               "guidance"]
    list_columns = ["id"] + _fields
    show_columns = ["id"] + _fields + ["created_at", "updated_at"]
    add_columns = _fields
    edit_columns = _fields
    search_columns = ["code", "label", "kind", "active"]
    order_columns = ["position", "code"]
    base_order = ("position", "asc")
