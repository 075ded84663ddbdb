from flask_babel import lazy_gettext as _l

from app.core.enums import Enumeration

SEVERITY = Enumeration(
    "severity",
    [
        ("general", _l("General")),
        ("major", _l("Major")),
        ("urgent", _l("Urgent")),
    ],
)

CHANNEL = Enumeration(
    "channel",
    [
        ("phone", _l("Phone")),
        ("app", _l("App")),
        ("web", _l("Website")),
        ("email", _l("Email")),
        ("in_person", _l("In person")),
    ],
)

COMPLAINT_STATUS = Enumeration(
    "complaint_status",
    [
        ("new", _l("New")),
        ("responded", _l("Responded")),
        ("in_progress", _l("In progress")),
        ("resolved", _l("Resolved")),
        ("closed", _l("Closed")),
    ],
)

ESCALATION_REASON = Enumeration(
    "escalation_reason",
    [
        ("sla_breach", _l("SLA breach")),
        ("severity", _l("Severity")),
        ("customer_request", _l("Customer request")),
        ("compensation", _l("Compensation")),
    ],
)

REMEDY = Enumeration(
    "remedy",
    [
        ("repair", _l("Repair")),
        ("replacement", _l("Replacement")),
        ("refund", _l("Refund")),
        ("compensation", _l("Compensation")),
    ],
)

ESCALATION_STATUS = Enumeration(
    "escalation_status",
    [
        ("pending", _l("Pending")),
        ("approved", _l("Approved")),
        ("rejected", _l("Rejected")),
        ("withdrawn", _l("Withdrawn")),
    ],
)

EVENT_KIND = Enumeration(
    "complaint_event",
    [
        ("received", _l("Received")),
        ("responded", _l("First response")),
        ("note", _l("Note")),
        ("paused", _l("Paused")),
        ("resumed", _l("Resumed")),
        ("severity_changed", _l("Severity changed")),
        ("warning", _l("SLA warning")),
        ("breached", _l("SLA breached")),
        ("escalated", _l("Escalated")),
        ("approved", _l("Escalation approved")),
        ("rejected", _l("Escalation rejected")),
        ("resolved", _l("Resolved")),
        ("closed", _l("Closed")),
        ("notified", _l("Customer notified")),
    ],
)
