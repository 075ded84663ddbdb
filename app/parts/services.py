from flask_babel import gettext as _

from app.core import settings
from app.core.services import validates_entity
from app.parts.models import Part, Stock


def _present(item, relation, fk):
    """Whether a many-to-one is set, trusting the relation when it was loaded or assigned (an FK
    column keeps its old value until the flush)."""
    from sqlalchemy import inspect

    if relation in inspect(item).dict:
        return getattr(item, relation) is not None
    return getattr(item, fk) is not None


@validates_entity(Stock)
def _stock(item, errors):
    has_outlet = _present(item, "outlet", "outlet_id")
    has_region = _present(item, "region", "region_id")
    if has_outlet == has_region:
        message = _("Give exactly one warehouse: an outlet (forward warehouse) or a region (central warehouse).")
        errors.add("outlet", message)
        errors.add("region", message)


@validates_entity(Part)
def _part(item, errors):
    if item.warranty_days is None:
        item.warranty_days = settings.get("part.default_warranty_days")
