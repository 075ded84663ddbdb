"""Periodic engineer jobs."""
import logging

from sqlalchemy import update

from app.core import clock
from app.core.services import transaction
from app.engineers import rules
from app.engineers.models import Certification

log = logging.getLogger(__name__)


def refresh_certification_statuses():
    """Nightly: bring every certificate's stored status in line with today's date.

    One UPDATE touching only rows whose status changes; re-running it changes nothing.
    """
    today = clock.today()
    computed = rules.certification_status_sql(Certification, today)
    with transaction() as session:
        result = session.execute(
            update(Certification)
            .where(Certification.status != computed)
            .values(status=computed, updated_at=clock.now())
            .execution_options(synchronize_session=False)
        )
    log.info("certification statuses refreshed: %s changed", result.rowcount)
    return result.rowcount
