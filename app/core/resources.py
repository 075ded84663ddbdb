from flask_babel import lazy_gettext as _l

from app.core.api import BaseApi
from app.core.datamodel import ScopedInterface
from app.core.models import Setting
from app.core.views import BaseModelView
from app.security import permissions as p


class SettingApi(BaseApi):
    resource_name = "setting"
    class_permission_name = p.SETTING
    datamodel = ScopedInterface(Setting)
    list_columns = ["id", "key", "value", "updated_at"]
    show_columns = list_columns
    add_columns = ["key", "value"]
    edit_columns = ["value"]
    order_columns = ["key", "updated_at"]


class SettingView(BaseModelView):
    label = _l("Settings")
    category_label = _l("System settings")
    class_permission_name = p.SETTING
    datamodel = ScopedInterface(Setting)
    list_title = _l("Settings")
    list_columns = ["key", "description", "value", "updated_at"]
    show_columns = ["key", "description", "value", "updated_at"]
    add_columns = ["key", "value"]
    edit_columns = ["value"]
    search_columns = ["key"]
    base_order = ("key", "asc")
    label_columns = {
        "key": _l("Key"),
        "description": _l("Description"),
        "value": _l("Value"),
        "updated_at": _l("Updated at"),
    }
    formatters_columns = {}

