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
    ],
)

ROW_ACTIONS = frozenset({"insert", "update", "delete", "bulk_update", "bulk_delete"})
"""Events whose ``changes`` are ``{field: [before, after]}``."""

SECURITY_ACTIONS = ("login", "login_failed", "logout", "token_issued", "token_refreshed", "permission_denied",
                    "reveal_phone")

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
