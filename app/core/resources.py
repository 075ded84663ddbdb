from app.core.api import BaseApi
from app.core.datamodel import ScopedInterface
from app.core.models import Setting
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
