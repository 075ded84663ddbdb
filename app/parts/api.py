from flask_appbuilder.models.filters import BaseFilter
from flask_babel import lazy_gettext as _l

from app.core.api import BaseApi
from app.core.datamodel import FilterInRegion, ScopedInterface
from app.parts.models import Part, Stock
from app.security import permissions as p

TIMESTAMPS = ["created_at", "updated_at"]


class FilterLowStock(BaseFilter):
    """``(col:quantity,opr:low,value:!t)``: stock below its safety level (``!f``: at or above it)."""

    name = _l("Low stock")
    arg_name = "low"

    def apply(self, query, value):
        low = value if isinstance(value, bool) else str(value).lower() in ("1", "true", "yes", "y", "t")
        return query.filter(Stock.low if low else ~Stock.low)


class PartApi(BaseApi):
    resource_name = "part"
    class_permission_name = p.PART
    datamodel = ScopedInterface(Part)
    _fields = ["sku", "name", "product_category", "unit_price", "is_common", "warranty_days"]
    list_columns = ["id"] + _fields
    show_columns = ["id"] + _fields + TIMESTAMPS
    add_columns = _fields
    edit_columns = _fields
    search_columns = ["sku", "name", "product_category", "is_common"]
    order_columns = ["sku", "name", "unit_price"]


class StockApi(BaseApi):
    resource_name = "stock"
    class_permission_name = p.STOCK
    datamodel = ScopedInterface(Stock)
    _fields = ["outlet", "region", "part", "quantity", "safety_level"]
    list_columns = ["id"] + _fields
    show_columns = ["id"] + _fields + TIMESTAMPS
    add_columns = _fields
    edit_columns = _fields
    search_columns = ["outlet", "region", "part", "quantity", "safety_level"]
    search_filters = {"outlet": [FilterInRegion], "quantity": [FilterLowStock]}
    order_columns = ["quantity", "safety_level"]

    def derived(self, ids):
        from sqlalchemy import select

        from app.extensions import db

        rows = db.session.execute(select(Stock.id, Stock.quantity < Stock.safety_level).where(Stock.id.in_(ids)))
        return {pk: {"low": bool(low)} for pk, low in rows}
