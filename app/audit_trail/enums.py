"""What the audit trail shows: actions and actor kinds with translated labels."""
from app.core.enums import Enumeration, _l

AUDIT_ACTION = Enumeration(
    "audit_action",
    [
        ("insert", _l("Created")),
        ("update", _l("Changed")),
        ("delete", _l("Deleted")),
        ("bulk_insert", _l("Created in bulk")),
        ("bulk_update", _l("Changed in bulk")),
        ("bulk_delete", _l("Deleted in bulk")),
        ("login", _l("Signed in")),
        ("login_failed", _l("Sign-in failed")),
        ("logout", _l("Signed out")),
        ("token_issued", _l("API token issued")),
        ("token_refreshed", _l("API token refreshed")),
        ("permission_denied", _l("Permission denied")),
        ("reveal_phone", _l("Phone number revealed")),
        ("account_locked", _l("Account locked")),
        ("account_unlocked", _l("Account unlocked")),
        ("chain_verified", _l("Audit trail verified")),
    ],
)

ROW_ACTIONS = frozenset({"insert", "update", "delete", "bulk_update", "bulk_delete"})
"""Events whose ``changes`` are ``{field: [before, after]}``."""

SECURITY_ACTIONS = ("login", "login_failed", "logout", "token_issued", "token_refreshed", "permission_denied",
                    "reveal_phone", "account_locked", "account_unlocked")

ACTOR_KIND = Enumeration(
    "audit_actor_kind",
    [
        ("user", _l("User")),
        ("job", _l("Background job")),
        ("cli", _l("Command line")),
        ("system", _l("System")),
        ("anonymous", _l("Anonymous")),
    ],
)

# Tables without a page of their own, named for auditors.
EXTRA_ENTITY_LABELS = {
    "ab_user": _l("user"),
    "ab_role": _l("role"),
    "ab_user_role": _l("user's roles"),
    "region_user": _l("region assignment"),
    "permission": _l("permission"),
}
EXTRA_ENTITY_LABELS.update({
    "ab_group": _l("group"),
    "ab_group_role": _l("group's roles"),
    "ab_user_group": _l("user's groups"),
    "ab_permission": _l("Base Permissions"),
    "ab_view_menu": _l("Views/Menus"),
    "ab_permission_view": _l("Permission on Views/Menus"),
    "ab_permission_view_role": _l("role's permissions"),
    "ab_register_user": _l("User Registrations"),
    "ab_api_key": _l("API key"),
    "complaint_event": _l("complaint timeline entry"),
    "audit_event": _l("Audit trail"),
    "complaint_pause": _l("complaint pause"),
    "qualification_audit_item": _l("audit checklist item"),
    "qualification_evidence_file": _l("audit evidence file"),
    "outlet_product_category": _l("outlet's product categories"),
    "certification_type_product_category": _l("certification type's product categories"),
})

# Field names as people read them, where no page labels the column: shared bookkeeping columns,
# then per table (tables without a page, and columns their page does not show). A foreign key
# without a label reads as the table it points to (``present.field_label``).
COMMON_FIELD_LABELS = {
    "id": _l("ID"),
    "created_at": _l("Created at"),
    "updated_at": _l("Updated at"),
    "created_on": _l("Created on"),
    "changed_on": _l("Changed on"),
    "created_by_fk": _l("Created by"),
    "changed_by_fk": _l("Changed by"),
}

EXTRA_FIELD_LABELS = {
    "ab_user": {
        "first_name": _l("First Name"), "last_name": _l("Last Name"), "username": _l("User Name"),
        "password": _l("Password"), "active": _l("Is Active?"), "email": _l("Email"),
        "last_login": _l("Last login"), "login_count": _l("Login count"),
        "fail_login_count": _l("Failed login count"),
    },
    "ab_register_user": {
        "first_name": _l("First Name"), "last_name": _l("Last Name"), "username": _l("User Name"),
        "password": _l("Password"), "email": _l("Email"), "registration_date": _l("Registered on"),
        "registration_hash": _l("Activation code"),
    },
    "ab_role": {"name": _l("Name")},
    "ab_group": {"name": _l("Name"), "label": _l("Label"), "description": _l("Description")},
    "ab_permission": {"name": _l("Name")},
    "ab_view_menu": {"name": _l("Name")},
    "ab_api_key": {
        "uuid": _l("Key id"), "name": _l("Name"), "key_hash": _l("Hash"), "lookup_hash": _l("Lookup hash"),
        "key_prefix": _l("Key prefix"), "scopes": _l("Scopes"), "active": _l("Is Active?"),
        "expires_on": _l("Expires on"), "revoked_on": _l("Revoked on"), "last_used_on": _l("Last used on"),
    },
    "complaint": {
        "customer_notified": _l("Customer notified"), "response_warned": _l("Response due warning sent"),
        "resolution_warned": _l("Resolution due warning sent"), "paused_at": _l("Paused at"),
        "next_check_at": _l("Next SLA check"),
    },
    "complaint_event": {"at": _l("Time"), "kind": _l("Kind"), "actor_id": _l("Who"), "actor_name": _l("Who"),
                        "note": _l("Note")},
    "complaint_pause": {"started_at": _l("Paused at"), "ended_at": _l("Resumed at"), "reason": _l("Reason")},
    "escalation": {"parent_id": _l("Escalated from"), "auto_key": _l("Raised automatically for")},
    "outlet": {"flagged_on": _l("Flagged on"), "flag_reasons": _l("Flag reasons")},
    "certification": {"scan": _l("Scan")},
    "qualification_audit": {"is_open": _l("Still open"), "evidence_snapshot": _l("Evidence when submitted")},
    "qualification_audit_item": {
        "audit_id": _l("Qualification audit"), "position": _l("Order"), "code": _l("Code"), "label": _l("Item"),
        "kind": _l("Kind"), "metric": _l("Metric"), "required": _l("Required to qualify"),
        "evidence_required": _l("Needs a photo or note"), "guidance": _l("Guidance"), "answer": _l("Answer"),
        "note": _l("Note"), "actual": _l("Actual"), "target": _l("Target"), "met": _l("Met"),
        "details": _l("Details"),
    },
    "qualification_evidence_file": {
        "item_id": _l("audit checklist item"), "filename": _l("File name"), "stored_name": _l("Stored file"),
        "content_type": _l("File type"), "size": _l("Size (bytes)"), "uploaded_by_id": _l("Uploaded by"),
        "uploaded_at": _l("Uploaded at"),
    },
}

# Details of events that are not row changes (sign-ins, refused permissions, revealed phones).
DETAIL_LABELS = {
    "username": _l("User Name"),
    "channel": _l("Through"),
    "permission": _l("Permission"),
    "view": _l("Page or API"),
    "path": _l("Address"),
    "method": _l("Attempted"),
    "field": _l("Field"),
    "reason": _l("Reason"),
    "failures": _l("Failed sign-ins"),
    "until": _l("Locked until"),
    "ok": _l("Intact"),
    "checked": _l("Events checked"),
    "first_broken_id": _l("First broken event"),
    "rows": _l("Rows created"),
}

# The order details are listed in (others follow by name).
DETAIL_ORDER = ("username", "view", "permission", "method", "channel", "field", "failures", "until", "reason",
                "path", "rows")

# What a refused request tried to do, by its HTTP method.
REQUEST_KIND = Enumeration(
    "audit_request_kind",
    [
        ("GET", _l("Open or read")),
        ("HEAD", _l("Open or read")),
        ("POST", _l("Submit")),
        ("PUT", _l("Modify")),
        ("PATCH", _l("Modify")),
        ("DELETE", _l("Delete")),
    ],
)

ACCESS_CHANNEL = Enumeration("audit_access_channel", [("page", _l("Web page")), ("api", _l("API"))])

# Background jobs acting as themselves (actor ``job:<function>``), by what they do.
JOB_LABELS = {
    "refresh_certification_statuses": _l("Certificate status refresh"),
    "enforce_refresher_training": _l("Refresher training check"),
    "recompute_star_levels": _l("Star level recalculation"),
    "check_outlet_qualification": _l("Outlet qualification check"),
    "open_annual_audits": _l("Opening of annual audits"),
    "sla_sweep": _l("Complaint SLA sweep"),
    "flush_outbox": _l("Email outbox flush"),
    "send_notification": _l("Email sending"),
    "send_certificate_reminders": _l("Certificate expiry reminders"),
    "export_list": _l("List export"),
    "validate_import": _l("Import check"),
    "commit_import": _l("Import"),
    "clean_up_job_files": _l("Clean-up of import and export files"),
}
