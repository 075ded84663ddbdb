from flask_babel import lazy_gettext as _l

from app.core.enums import Enumeration

JOB_KIND = Enumeration("job_kind", [("import", _l("Import")), ("export", _l("Export"))])

JOB_STATUS = Enumeration(
    "job_status",
    [
        ("queued", _l("Queued")),
        ("running", _l("Running")),
        ("validated", _l("Checked, waiting for confirmation")),
        ("invalid", _l("Errors found")),
        ("done", _l("Done")),
        ("failed", _l("Failed")),
        ("cancelled", _l("Cancelled")),
    ],
)
