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
