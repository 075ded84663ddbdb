"""Kernel jobs: sending the email outbox (``core.outbox``)."""
from datetime import timedelta

from app.core import clock


def send_notification(notification_id):
    """Send one outbox row (idempotent: a row already sent is skipped)."""
    from app.core import outbox

    return outbox.send(notification_id)


def flush_outbox():
    """Queue every notification still unsent after a minute (Redis was down, a send failed)."""
    from app.core import queue
    from app.core.models import Notification
    from app.extensions import db

    cutoff = clock.now() - timedelta(minutes=1)
    ids = [r[0] for r in db.session.query(Notification.id).filter(
        Notification.sent_at.is_(None), Notification.created_at <= cutoff, Notification.attempts < 10).limit(500)]
    for nid in ids:
        queue.enqueue(send_notification, nid)
    return len(ids)
