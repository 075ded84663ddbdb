"""Shared kernel: errors, clock, settings, region scope, services, base views and APIs."""
from flask_babel import lazy_gettext as _l

# The menu as HQ users read it, left to right: the network first, system settings last.
# Categories are created here in this order; each domain's register() fills its own.
MENU_CATEGORIES = (
    ("MENU_NETWORK", _l("Service network"), "fa-sitemap"),
    ("MENU_ENGINEERS", _l("Engineers"), "fa-users"),
    ("MENU_PARTS", _l("Parts"), "fa-cubes"),
    ("MENU_ORDERS", _l("Service orders"), "fa-wrench"),
    ("MENU_COMPLAINTS", _l("Complaints"), "fa-bullhorn"),
    ("MENU_QUALIFICATION", _l("Qualification"), "fa-check-square-o"),
    ("MENU_AUDIT", _l("Audit trail"), "fa-history"),
    ("MENU_SYSTEM", _l("System settings"), "fa-cog"),
)


def register(appbuilder):
    from app.core import calendar_services, setting_services  # noqa: F401  (register the rules)
    from app.core.resources import SettingApi
    from app.core.views import SettingView
    from app.security import permissions as p

    for constant, label, icon in MENU_CATEGORIES:
        name = getattr(p, constant)
        if appbuilder.menu.find(name) is None:
            appbuilder.menu.add_category(name, icon=icon, label=label)

    from app.core import protection

    protection.register(appbuilder)
    appbuilder.add_api(SettingApi)
    appbuilder.add_view(SettingView, "Settings", label=SettingView.label, icon="fa-sliders",
                        category=p.MENU_SYSTEM, category_label=SettingView.category_label, category_icon="fa-cog")
