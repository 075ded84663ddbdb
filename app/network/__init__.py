"""Regions, service outlets and product categories."""
from flask_babel import lazy_gettext as _l

from app.security import permissions as p


def register(appbuilder):
    from app.network import api, views

    cat = dict(category=p.MENU_NETWORK, category_label=_l("Service network"), category_icon="fa-sitemap")
    appbuilder.add_view(views.OutletView, "Outlets", label=_l("Outlets"), icon="fa-building", **cat)
    appbuilder.add_view(views.RegionView, "Regions", label=_l("Regions"), icon="fa-map", **cat)
    appbuilder.add_view(views.ProductCategoryView, "Product categories", label=_l("Product categories"),
                        icon="fa-tags", **cat)
    for resource in (api.RegionApi, api.OutletApi, api.ProductCategoryApi):
        appbuilder.add_api(resource)
