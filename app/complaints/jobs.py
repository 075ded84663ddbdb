"""Complaint jobs: the SLA sweep (every minute) and sending queued emails."""
from datetime import timedelta

from app.core import clock


def sla_sweep():
    from app.complaints import services

    return services.sweep()


def send_notification(notification_id):
    from app.complaints import notify

    return notify.send(notification_id)


def flush_outbox():
    """Queue every notification still unsent after a minute (Redis was down, a send failed)."""
    from app.complaints.models import Notification
    from app.core import queue
    from app.extensions import db

    cutoff = clock.now() - timedelta(minutes=1)
    ids = [r[0] for r in db.session.query(Notification.id).filter(
        Notification.sent_at.is_(None), Notification.created_at <= cutoff, Notification.attempts < 10).limit(500)]
    for nid in ids:
        queue.enqueue(send_notification, nid)
    return len(ids)
