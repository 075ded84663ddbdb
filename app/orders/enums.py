from flask_babel import lazy_gettext as _l

from app.core.enums import Enumeration

ORDER_KIND = Enumeration(
    "order_kind",
    [
        ("install", _l("Installation")),
        ("repair", _l("Repair")),
        ("maintenance", _l("Maintenance")),
        ("trade_in", _l("Trade-in")),
    ],
)

ORDER_STATUS = Enumeration(
    "order_status",
    [
        ("created", _l("Created")),
        ("dispatched", _l("Dispatched")),
        ("in_service", _l("In service")),
        ("completed", _l("Completed")),
        ("cancelled", _l("Cancelled")),
    ],
)
