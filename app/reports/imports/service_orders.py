"""Importing service orders (key: order no.). Times are Beijing time in the workbook and naive UTC
in the database."""
from datetime import datetime

from flask_babel import lazy_gettext as _l

from app.reports.imports.columns import Col, Spec
from app.security import permissions as p


def spec():
    from app.orders.enums import ORDER_KIND, ORDER_STATUS

    return Spec("service_order", _l("Service orders"), p.SERVICE_ORDER, "app.orders.models:ServiceOrder", [
        Col("number", _l("Order no."), required=True, example="SO20250001", max_length=40),
        Col("customer_name", _l("Customer name"), required=True, example="李女士", max_length=100),
        Col("customer_phone", _l("Customer phone"), required=True, example="13800001234", max_length=30),
        Col("customer_address", _l("Customer address"), width=30, example="上海市浦东新区", max_length=300),
        Col("product_category", _l("Product category"), "ref", required=True, ref="category", example="空调"),
        Col("outlet", _l("Outlet code"), "ref", required=True, ref="outlet", example="SH001"),
        Col("engineer", _l("Engineer employee no."), "ref", ref="engineer", example="007001"),
        Col("kind", _l("Kind"), "enum", required=True, enum=ORDER_KIND, example="repair"),
        Col("status", _l("Status"), "enum", enum=ORDER_STATUS, example="completed"),
        Col("created_at", _l("Received at"), "datetime", width=18, example=datetime(2025, 5, 31, 10, 20)),
        Col("dispatched_at", _l("Dispatched at"), "datetime", width=18, example=datetime(2025, 5, 31, 11, 0)),
        Col("appointment_at", _l("Appointment"), "datetime", width=18, example=datetime(2025, 6, 1, 9, 0)),
        Col("arrived_at", _l("Arrived at"), "datetime", width=18, example=datetime(2025, 6, 1, 8, 50)),
        Col("completed_at", _l("Completed at"), "datetime", width=18, example=datetime(2025, 6, 1, 10, 30)),
        Col("first_time_fix", _l("First-time fix"), "bool", example="yes"),
        Col("satisfaction", _l("Satisfaction"), "int", example=5,
            hint=_l("1 to 5, recorded once the order is completed.")),
    ], ("number",), defaults={"status": "created"},
        more_examples=[{"number": "SO20250002", "customer_name": "周先生", "customer_phone": "13800005678",
                        "product_category": "空调", "outlet": "SH001", "kind": "install",
                        "created_at": datetime(2025, 6, 2, 14, 30)}], prepare=_certificates_of_chunk)


def _certificates_of_chunk(batch):
    """The certificates the chunk's engineers miss for the chunk's categories, in one query (the
    rule that an assigned engineer holds every certificate the category requires)."""
    from app.orders.services import missing_certificates_known

    return missing_certificates_known([e.id for e in batch.records("engineer")],
                                      [c.id for c in batch.records("category")])
