from flask_babel import gettext as _

from app.core import settings
from app.core.services import validates_entity
from app.parts.models import Part, Stock


@validates_entity(Stock)
def _stock(item, errors):
    has_outlet = item.outlet is not None or item.outlet_id is not None
    has_region = item.region is not None or item.region_id is not None
    if has_outlet == has_region:
        message = _("Give exactly one warehouse: an outlet (forward warehouse) or a region (central warehouse).")
        errors.add("outlet", message)
        errors.add("region", message)


@validates_entity(Part)
def _part(item, errors):
    if item.warranty_days is None:
        item.warranty_days = settings.get("part.default_warranty_days")
