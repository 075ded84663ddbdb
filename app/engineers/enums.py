from flask_babel import lazy_gettext as _l

from app.core.enums import Enumeration

ENGINEER_STATUS = Enumeration(
    "engineer_status",
    [
        ("trainee", _l("Trainee")),
        ("active", _l("On duty")),
        ("suspended", _l("Suspended from duty")),
        ("left", _l("Left")),
    ],
)

CERTIFICATION_STATUS = Enumeration(
    "certification_status",
    [
        ("valid", _l("Valid")),
        ("expiring", _l("Expiring")),
        ("expired", _l("Expired")),
        ("revoked", _l("Revoked")),
    ],
)

TRAINING_KIND = Enumeration(
    "training_kind",
    [
        ("onboarding", _l("Onboarding")),
        ("quarterly", _l("Quarterly refresher")),
        ("new_product", _l("New product")),
    ],
)

SUSPENSION_REASON = Enumeration(
    "suspension_reason",
    [
        ("refresher_failed", _l("Failed the quarterly refresher")),
        ("refresher_overdue", _l("Quarterly refresher overdue")),
        ("other", _l("Other reason")),
    ],
)
