"""Rules for editing settings: the key must be known and the value must parse. A saved setting
is seen by the next ``settings.get`` (the values read are forgotten when one is written)."""
from app.core.models import Setting
from app.core.services import validates_entity
from app.core.settings import DEFINITIONS, forget


@validates_entity(Setting)
def _setting(item, errors):
    from flask_babel import gettext as _

    defn = DEFINITIONS.get(item.key)
    if defn is None:
        errors.add("key", _("Unknown setting."))
        return
    try:
        item.value = defn.render(defn.parse(item.value))
    except ValueError as exc:
        errors.add("value", str(exc))
        return
    forget()  # the next ``settings.get`` reads the saved value
