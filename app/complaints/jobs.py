"""Complaint jobs: the SLA sweep (every minute; ``complaints.sweep``). Its emails go out through the
kernel outbox (``core.outbox``, jobs ``send_notification`` and ``flush_outbox`` in ``core.jobs``)."""


def sla_sweep():
    from app.complaints import sweep

    return sweep.run()


def send_notifications(notification_ids):
    """Send several outbox rows, each claimed and sent on its own as ``send_notification`` does
    (idempotent: a row already sent, or claimed by another sender, is skipped). A failed email does
    not hold back the others; the first failure is raised at the end so the job shows it."""
    from app.core import outbox

    sent, failure = 0, None
    for notification_id in notification_ids:
        try:
            sent += bool(outbox.send(notification_id))
        except Exception as exc:  # its claim is given back: flush_outbox queues it again
            failure = failure or exc
    if failure is not None:
        raise failure
    return sent
