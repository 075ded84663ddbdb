from flask_babel import lazy_gettext as _l

from app.core.views import BaseModelView, scoped
from app.parts.models import Part, Stock
from app.security import permissions as p


class PartView(BaseModelView):
    class_permission_name = p.PART
    datamodel = scoped(Part)
    list_title = _l("Parts")
    list_columns = ["sku", "name", "product_category", "unit_price", "is_common", "warranty_days"]
    show_columns = list_columns
    add_columns = list_columns
    edit_columns = list_columns
    search_columns = ["sku", "name", "product_category", "is_common"]
    base_order = ("sku", "asc")
    label_columns = {
        "sku": _l("SKU"),
        "name": _l("Name"),
        "product_category": _l("Product category"),
        "unit_price": _l("Unit price"),
        "is_common": _l("Common part"),
        "warranty_days": _l("Repair warranty (days)"),
    }


class StockView(BaseModelView):
    class_permission_name = p.STOCK
    datamodel = scoped(Stock)
    list_title = _l("Stock")
    list_columns = ["part", "outlet", "region", "quantity", "safety_level", "low"]
    show_columns = list_columns
    add_columns = ["part", "outlet", "region", "quantity", "safety_level"]
    edit_columns = add_columns
    search_columns = ["part", "outlet", "region", "quantity", "safety_level"]
    label_columns = {
        "part": _l("Part"),
        "outlet": _l("Outlet (forward warehouse)"),
        "region": _l("Region (central warehouse)"),
        "quantity": _l("Quantity on hand"),
        "safety_level": _l("Safety level"),
        "low": _l("Low stock"),
    }
