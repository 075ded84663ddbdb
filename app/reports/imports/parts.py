"""Importing parts (key: SKU)."""
from decimal import Decimal

from flask_babel import lazy_gettext as _l

from app.reports.imports.columns import Col, Spec
from app.security import permissions as p


def spec():
    return Spec("part", _l("Parts"), p.PART, "app.parts.models:Part", [
        Col("sku", _l("SKU"), required=True, example="AC-FAN-02", max_length=50),
        Col("name", _l("Name"), required=True, width=24, example="室外风扇电机", max_length=200),
        Col("product_category", _l("Product category"), "ref", required=True, ref="category", example="空调"),
        Col("unit_price", _l("Unit price"), "decimal", required=True, example=Decimal("1260.00")),
        Col("is_common", _l("Common part"), "bool", example="yes"),
        Col("warranty_days", _l("Repair warranty (days)"), "int", example=90),
    ], ("sku",), defaults={"is_common": False})
