"""Service orders."""
from flask_babel import lazy_gettext as _l

from app.security import permissions as p


def register(appbuilder):
    from app.orders import api, services, views  # noqa: F401

    appbuilder.add_view(views.ServiceOrderView, "Service orders list", label=_l("Service orders"),
                        icon="fa-wrench", category=p.MENU_ORDERS, category_label=_l("Service orders"),
                        category_icon="fa-wrench")
    appbuilder.add_api(api.ServiceOrderApi)
