"""Shared kernel: errors, clock, settings, region scope, services, base views and APIs."""


def register(appbuilder):
    from app.core import setting_services  # noqa: F401  (registers the setting rules)
    from app.core.resources import SettingApi, SettingView
    from app.security import permissions as p

    appbuilder.add_api(SettingApi)
    appbuilder.add_view(SettingView, "Settings", label=SettingView.label, icon="fa-sliders",
                        category=p.MENU_SYSTEM, category_label=SettingView.category_label, category_icon="fa-cog")
