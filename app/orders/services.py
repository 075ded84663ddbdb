from flask_babel import gettext as _

from app.core.services import validates_entity
from app.orders.models import ServiceOrder


@validates_entity(ServiceOrder)
def _service_order(item, errors):
    engineer = item.engineer
    outlet_id = item.outlet.id if item.outlet is not None else item.outlet_id
    if engineer is not None and outlet_id is not None and engineer.outlet_id != outlet_id:
        errors.add("engineer", _("The engineer does not work at this outlet."))
    if item.arrived_at and item.dispatched_at and item.arrived_at < item.dispatched_at:
        errors.add("arrived_at", _("Arrival cannot be before dispatch."))
    if item.completed_at and item.arrived_at and item.completed_at < item.arrived_at:
        errors.add("completed_at", _("Completion cannot be before arrival."))
    if item.satisfaction is not None and item.status != "completed":
        errors.add("satisfaction", _("Satisfaction is recorded once the order is completed."))
