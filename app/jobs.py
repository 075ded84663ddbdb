"""Entry points of background jobs: small functions taking ids, run in the app context.

Each calls a domain service; the rq worker (``core.queue.AppWorker``) provides the context.
"""
from app.complaints.jobs import sla_sweep
from app.core.jobs import flush_outbox, send_notification
from app.engineers.jobs import refresh_certification_statuses
from app.engineers.lifecycle import enforce_refresher_training
from app.engineers.stars import recompute_star_levels
from app.engineers.reminders import send_certificate_reminders
from app.qualification.jobs import check_outlet_qualification, open_annual_audits
from app.reports.cleanup import clean_up_job_files
from app.reports.exports import export_list
from app.reports.imports import commit_import, validate_import

__all__ = ["refresh_certification_statuses", "enforce_refresher_training", "recompute_star_levels",
           "sla_sweep", "flush_outbox", "send_notification",
           "send_certificate_reminders", "check_outlet_qualification", "open_annual_audits", "export_list",
           "validate_import", "commit_import", "clean_up_job_files"]
