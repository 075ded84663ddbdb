"""Importing stock levels (key: the warehouse — an outlet's or a region's — and the SKU).

A row names exactly one warehouse: an outlet code (a forward warehouse) or a region code (a central
warehouse); the stock rules (``parts.services``) refuse anything else.
"""
from flask_babel import lazy_gettext as _l

from app.reports.imports.columns import Col, Spec
from app.security import permissions as p

ONE_WAREHOUSE = _l("Fill in the outlet code (a forward warehouse) or the region code (a central warehouse), "
                   "not both.")


def spec():
    return Spec("stock", _l("Stock levels"), p.STOCK, "app.parts.models:Stock", [
        Col("outlet", _l("Outlet code"), "ref", ref="outlet", example="SH001", hint=ONE_WAREHOUSE),
        Col("region", _l("Region code"), "ref", ref="region", example=None, hint=ONE_WAREHOUSE),
        Col("part", _l("SKU"), "ref", required=True, ref="part", example="AC-FAN-02"),
        Col("quantity", _l("Quantity on hand"), "int", required=True, example=12),
        Col("safety_level", _l("Safety level"), "int", required=True, example=5),
    ], ("outlet", "region", "part"),
        more_examples=[{"region": "E", "part": "AC-FAN-02", "quantity": 1200, "safety_level": 100}])
