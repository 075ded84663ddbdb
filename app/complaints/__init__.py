"""Complaints, SLA policies and escalations."""
from flask_babel import lazy_gettext as _l

from app.security import permissions as p


def register(appbuilder):
    from app.complaints import api, views

    appbuilder.add_view(views.SlaPolicyView, "SLA policies", label=_l("SLA policies"), icon="fa-clock-o",
                        category=p.MENU_COMPLAINTS, category_label=_l("Complaints"), category_icon="fa-bullhorn")
    appbuilder.add_api(api.SlaPolicyApi)
