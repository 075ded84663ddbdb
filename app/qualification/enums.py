from flask_babel import lazy_gettext as _l

from app.core.enums import Enumeration

AUDIT_KIND = Enumeration(
    "audit_kind",
    [
        ("admission", _l("Admission")),
        ("annual", _l("Annual review")),
        ("special", _l("Special audit")),
    ],
)

AUDIT_STATUS = Enumeration(
    "audit_status",
    [
        ("draft", _l("Draft")),
        ("submitted", _l("Submitted")),
        ("approved", _l("Approved")),
        ("returned", _l("Returned")),
    ],
)

AUDIT_OUTCOME = Enumeration(
    "audit_outcome",
    [
        ("pass", _l("Pass")),
        ("conditional", _l("Conditional (rectify by a deadline)")),
        ("fail", _l("Fail")),
    ],
)

AUDIT_ORIGIN = Enumeration(
    "audit_origin",
    [
        ("manual", _l("Opened by hand")),
        ("schedule", _l("Annual schedule")),
        ("threshold", _l("Dropped below a threshold")),
        ("follow_up", _l("Follow-up of a conditional outcome")),
    ],
)

ITEM_KIND = Enumeration(
    "audit_item_kind",
    [
        ("onsite", _l("On-site check")),
        ("computed", _l("Computed from live data")),
        ("kpi", _l("Informative KPI")),
    ],
)

ANSWER = Enumeration("audit_answer", [("yes", _l("Yes")), ("no", _l("No"))])

# Why an outlet is flagged by the nightly qualification check.
FLAG_REASON = Enumeration(
    "outlet_flag_reason",
    [
        ("engineers", _l("Too few certified engineers")),
        ("stock", _l("Common-parts stock rate below the threshold")),
    ],
)
