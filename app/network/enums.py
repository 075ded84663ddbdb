from flask_babel import lazy_gettext as _l

from app.core.enums import Enumeration

OUTLET_STATUS = Enumeration(
    "outlet_status",
    [
        ("applying", _l("Applying")),
        ("active", _l("Active")),
        ("probation", _l("Probation")),
        ("suspended", _l("Suspended")),
        ("terminated", _l("Terminated")),
    ],
)
