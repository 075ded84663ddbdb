from flask_babel import gettext, lazy_gettext as _l

from app.core.filters import FilterInRegion, FilterYesNo, related_search, yes_no_search
from app.core.formatters import badge
from app.core.views import BaseModelView, scoped
from app.network.models import Region
from app.parts.models import Part, Stock
from app.security import permissions as p


class PartView(BaseModelView):
    class_permission_name = p.PART
    datamodel = scoped(Part)
    singular = _l("part")
    list_title = _l("Parts")
    list_columns = ["sku", "name", "product_category", "unit_price", "is_common", "warranty_days"]
    show_columns = list_columns + ["created_at", "updated_at"]
    add_columns = ["sku", "name", "product_category", "unit_price", "is_common", "warranty_days"]
    edit_columns = add_columns
    search_columns = ["sku", "name", "product_category", "is_common"]
    plain_related_columns = ("product_category",)
    base_order = ("sku", "asc")
    quick_filters = [(_l("Common parts"), {"_flt_0_is_common": 1})]
    label_columns = {
        "sku": _l("SKU"),
        "name": _l("Name"),
        "product_category": _l("Product category"),
        "unit_price": _l("Unit price"),
        "is_common": _l("Common part"),
        "warranty_days": _l("Repair warranty (days)"),
        "created_at": _l("Created at"),
        "updated_at": _l("Updated at"),
    }


class FilterLowStock(FilterYesNo):
    """Quantity on hand below the safety level (the low-stock flag)."""

    def clause(self):
        return self.model.quantity < self.model.safety_level


def low_flag(value):
    return badge(gettext("Low stock"), "danger") if value else ""


class StockView(BaseModelView):
    class_permission_name = p.STOCK
    datamodel = scoped(Stock)
    singular = _l("stock level")
    list_title = _l("Stock")
    list_columns = ["part", "outlet", "region", "quantity", "safety_level", "low"]
    show_columns = list_columns + ["created_at", "updated_at"]
    add_columns = ["part", "outlet", "region", "quantity", "safety_level"]
    edit_columns = add_columns
    search_columns = ["part", "any_region", "outlet", "region", "low", "quantity", "safety_level"]
    virtual_search = {
        "any_region": related_search(Region, FilterInRegion, _l("Region (any warehouse)")),
        "low": yes_no_search(FilterLowStock, _l("Low stock")),
    }
    formatters_columns = {"low": low_flag}
    base_order = ("id", "asc")
    quick_filters = [(_l("Low stock"), {"_flt_0_low": 1})]
    label_columns = {
        "part": _l("Part"),
        "outlet": _l("Outlet (forward warehouse)"),
        "region": _l("Region (central warehouse)"),
        "quantity": _l("Quantity on hand"),
        "safety_level": _l("Safety level"),
        "low": _l("Low stock"),
        "created_at": _l("Created at"),
        "updated_at": _l("Updated at"),
    }
    description_columns = {
        "outlet": _l("Give either an outlet (its forward warehouse) or a region (its central warehouse)."),
        "region": _l("Give either an outlet (its forward warehouse) or a region (its central warehouse)."),
    }
