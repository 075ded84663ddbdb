"""Spare parts and their stock at outlet forward warehouses and regional central warehouses."""
from flask_babel import lazy_gettext as _l

from app.security import permissions as p


def register(appbuilder):
    from app.parts import api, services, views  # noqa: F401

    cat = dict(category=p.MENU_PARTS, category_label=_l("Parts"), category_icon="fa-cubes")
    appbuilder.add_view(views.PartView, "Parts list", label=_l("Parts"), icon="fa-cube", **cat)
    appbuilder.add_view(views.StockView, "Stock levels", label=_l("Stock"), icon="fa-archive", **cat)
    for resource in (api.PartApi, api.StockApi):
        appbuilder.add_api(resource)
