from contextlib import contextmanager
from contextvars import ContextVar

from flask_babel import gettext as _
from sqlalchemy import and_, exists, select

from app.core import clock, numbering
from app.core.services import changed_fields, validates_entity
from app.orders.models import ServiceOrder

ASSIGNMENT_FIELDS = {"engineer", "engineer_id", "product_category", "product_category_id"}


def _assignment_changed(item):
    """A new order with an engineer, or its engineer or product category changed."""
    from sqlalchemy import inspect

    state = inspect(item)
    if state.transient or state.pending:
        return True
    return bool(changed_fields(item) & ASSIGNMENT_FIELDS)


_known_missing = ContextVar("known_missing_certificates", default=None)


def missing_certificates(engineer_id, category_id):
    """Names of the certification types ``category_id`` requires that the engineer holds no
    certificate of that is valid today (not revoked, not expired), in one query — or none, inside
    ``missing_certificates_known`` covering the pair."""
    from app.engineers.models import Certification, CertificationType, certification_type_product_category as link
    from app.engineers.rules import certification_valid_clause
    from app.extensions import db

    known = _known_missing.get()
    if known is not None and engineer_id in known[0] and category_id in known[1]:
        return list(known[2].get((engineer_id, category_id), ()))
    held = exists().where(
        Certification.certification_type_id == CertificationType.id,
        Certification.engineer_id == engineer_id,
        certification_valid_clause(Certification),
    )
    query = (
        select(CertificationType.name)
        .join(link, link.c.certification_type_id == CertificationType.id)
        .where(and_(link.c.product_category_id == category_id, ~held))
        .order_by(CertificationType.name)
    )
    return list(db.session.scalars(query))


def _missing(engineer_ids, category_ids):
    """``{(engineer id, category id): [type names]}`` of every pair of the two lists that misses
    a certificate (the rule of ``missing_certificates``), in one query."""
    from app.engineers.models import Certification, CertificationType, certification_type_product_category as link
    from app.engineers.models import Engineer
    from app.engineers.rules import certification_valid_clause
    from app.extensions import db

    held = exists().where(
        Certification.certification_type_id == CertificationType.id,
        Certification.engineer_id == Engineer.id,
        certification_valid_clause(Certification),
    )
    query = (
        select(Engineer.id, link.c.product_category_id, CertificationType.name)
        .select_from(CertificationType)
        .join(link, link.c.certification_type_id == CertificationType.id)
        .join(Engineer, Engineer.id.in_(list(engineer_ids)))
        .where(and_(link.c.product_category_id.in_(list(category_ids)), ~held))
        .order_by(CertificationType.name)
    )
    found = {}
    for engineer_id, category_id, name in db.session.execute(query):
        found.setdefault((engineer_id, category_id), []).append(name)
    return found


@contextmanager
def missing_certificates_known(engineer_ids, category_ids):
    """Inside, ``missing_certificates`` answers every pair of these engineers and categories from
    one query made here (an import checks a chunk of orders at once)."""
    engineer_ids, category_ids = set(engineer_ids) - {None}, set(category_ids) - {None}
    found = _missing(engineer_ids, category_ids) if engineer_ids and category_ids else {}
    token = _known_missing.set((engineer_ids, category_ids, found))
    try:
        yield
    finally:
        _known_missing.reset(token)


def _check_assignment(item, errors):
    """Only an engineer on duty holding every certificate the product category requires may be
    assigned to an order."""
    from app.engineers.enums import ENGINEER_STATUS

    engineer = item.engineer
    if engineer is None or not _assignment_changed(item):
        return
    if engineer.status != "active":
        errors.add("engineer", _("Only an engineer on duty can be assigned; this engineer is %(status)s.",
                                 status=ENGINEER_STATUS.label(engineer.status)))
    category_id = item.product_category.id if item.product_category is not None else item.product_category_id
    if category_id is None or engineer.id is None:
        return
    for name in missing_certificates(engineer.id, category_id):
        errors.add("engineer", _("Missing a valid certificate: %(type)s", type=name))


def next_number(received_at):
    """``SO`` + the local day received + a sequence: ``SO202612070001`` (unique under load)."""
    return numbering.take(f"SO{clock.to_local(received_at):%Y%m%d}", ServiceOrder.number)


@validates_entity(ServiceOrder)
def _service_order(item, errors):
    if not (item.number or "").strip():
        if item.id is None:
            item.number = next_number(item.created_at or clock.now())
        else:
            errors.add("number", _("Missing data for required field."))
    engineer = item.engineer
    outlet_id = item.outlet.id if item.outlet is not None else item.outlet_id
    if engineer is not None and outlet_id is not None and engineer.outlet_id != outlet_id:
        errors.add("engineer", _("The engineer does not work at this outlet."))
    _check_assignment(item, errors)
    if item.arrived_at and item.dispatched_at and item.arrived_at < item.dispatched_at:
        errors.add("arrived_at", _("Arrival cannot be before dispatch."))
    if item.completed_at and item.arrived_at and item.completed_at < item.arrived_at:
        errors.add("completed_at", _("Completion cannot be before arrival."))
    elif item.completed_at and item.dispatched_at and item.completed_at < item.dispatched_at:
        errors.add("completed_at", _("Completion cannot be before dispatch."))
    # the database refuses it too (ck_service_order_completed_at); a new order is received now
    received = item.created_at or clock.now()
    if item.completed_at and item.completed_at < received:
        errors.add("completed_at", _("Completion cannot be before the order was received."))
    if item.created_at and item.created_at > clock.now() and "created_at" in changed_fields(item):
        errors.add("created_at", _("The time received cannot be in the future."))
    if item.status == "completed" and item.completed_at is None:
        errors.add("completed_at", _("A completed order needs its completion time."))
    if item.satisfaction is not None and item.status != "completed":
        errors.add("satisfaction", _("Satisfaction is recorded once the order is completed."))
