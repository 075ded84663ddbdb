"""Entry points of background jobs: small functions taking ids, run in the app context.

Each calls a domain service; the rq worker (``core.queue.AppWorker``) provides the context.
"""
from app.complaints.jobs import flush_outbox, send_notification, sla_sweep
from app.engineers.jobs import refresh_certification_statuses

__all__ = ["refresh_certification_statuses", "sla_sweep", "flush_outbox", "send_notification"]
