"""Rules applied whenever engineers, certifications or training records are written."""
from flask_babel import gettext as _

from app.core import clock
from app.core.services import validates_entity
from app.engineers import rules
from app.engineers.models import Certification, TrainingRecord


@validates_entity(Certification)
def _certification(item, errors):
    if item.issued_on and item.expires_on and item.expires_on <= item.issued_on:
        errors.add("expires_on", _("The expiry date must be after the issue date."))
    if item.expires_on is not None:
        item.status = rules.certification_status(item.expires_on, bool(item.revoked), clock.today())


@validates_entity(TrainingRecord)
def _training(item, errors):
    item.passed = rules.training_passed(item)
