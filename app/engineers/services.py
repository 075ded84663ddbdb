"""Rules applied whenever engineers, certifications or training records are written, and the
engineer lifecycle actions (pages, the API and jobs call these)."""
from flask_babel import gettext as _

from app.core import clock, precision
from app.core.errors import Conflict
from app.core.services import load, run_validators, transaction, validates_entity
from app.engineers import lifecycle, rules
from app.engineers.models import Certification, Engineer, TrainingRecord


@validates_entity(Certification)
def _certification(item, errors):
    if item.issued_on and item.expires_on and item.expires_on <= item.issued_on:
        errors.add("expires_on", _("The expiry date must be after the issue date."))
    if item.expires_on is not None:
        item.status = rules.certification_status(item.expires_on, bool(item.revoked), clock.today())


@validates_entity(TrainingRecord)
def _training(item, errors):
    """``passed`` is derived here and only here, from the values as they will be stored: a value
    its column would round is refused (``core.precision``) and nothing is judged on it."""
    if precision.unstorable(item):
        return
    item.passed = rules.training_passed(item)
    lifecycle.apply_refresher_to_record(item)


@validates_entity(Engineer)
def _engineer(item, errors):
    """Status moves follow the table in ``engineers.rules`` (``lifecycle.check_status_change``)."""
    lifecycle.check_status_change(item)


def get_engineer(engineer_id, lock=False):
    """Load an engineer within the actor's region scope (404 outside it)."""
    return load(Engineer, engineer_id, lock)


def activate(engineer_id, actor=None):
    """Put a trainee on duty (独立上岗): 409 naming the current status unless a trainee, 409
    listing the unmet onboarding items unless an onboarding training passed."""
    from app.engineers.enums import ENGINEER_STATUS

    with transaction() as session:
        engineer = get_engineer(engineer_id, lock=True)
        if engineer.status != "trainee":
            message = _("Only a trainee can be put on duty; this engineer is %(status)s.",
                        status=ENGINEER_STATUS.label(engineer.status))
            raise Conflict(message, {"status": [message]})
        engineer.status = "active"
        with session.no_autoflush:
            run_validators(engineer)
        session.flush()
    return engineer
