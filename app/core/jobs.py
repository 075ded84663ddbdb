"""Kernel jobs: sending the email outbox (``core.outbox``)."""
from datetime import timedelta

from app.core import clock


def send_notification(notification_id):
    """Send one outbox row (idempotent: a row already sent, or claimed by another sender, is skipped)."""
    from app.core import outbox

    return outbox.send(notification_id)


def flush_outbox():
    """Queue every notification still unsent after a minute (Redis was down, a send failed, or its
    sender died and its claim's lease ran out) on the notification queue."""
    from app.core import outbox
    from app.core.models import Notification
    from app.extensions import db

    cutoff = clock.now() - timedelta(minutes=1)
    ids = [r[0] for r in db.session.query(Notification.id).filter(
        outbox.claimable(), Notification.created_at <= cutoff, Notification.attempts < 10)
        .order_by(Notification.id).limit(500)]
    for nid in ids:
        outbox.enqueue_send(nid)
    return len(ids)
