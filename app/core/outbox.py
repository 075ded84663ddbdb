"""The email outbox, shared by every domain: written with the change, sent by a job after the commit.

* ``queue_email(...)`` adds a ``notification`` row in the caller's transaction and remembers its id
  for ``dispatch()``. A message that must go out once only carries a ``dedupe_key``: when a row with
  that key already exists (written earlier, or by a concurrent transaction) nothing is written and
  ``None`` is returned. The unique constraint decides, inside a SAVEPOINT, so two writers racing on
  the same key leave exactly one row and neither transaction fails.
* ``dispatch()`` — called by the service after its commit — queues one ``send_notification`` job
  (``core.jobs``) per row written in this request or job. If Redis is down the rows stay unsent and
  ``flush_outbox`` (periodic) queues them later: the database is the record, the queue the signal.
* ``send(notification_id)`` sends one row through Flask-Mail. It first **claims** the row: one
  ``UPDATE … WHERE sent_at IS NULL AND (no claim, or a claim older than OUTBOX_CLAIM_LEASE)``,
  committed before the SMTP conversation, so of two workers running the same send at once exactly
  one sends and the other finds nothing to claim; a row already sent is skipped, so a job run twice
  sends once. A sender that dies after its claim leaves the row unsent: once the lease has passed,
  ``flush_outbox`` queues it again and the next sender claims it — at least once, and on every
  normal path exactly once. A failed send gives the claim back at once (with the error).
* ``emails_of(user_ids)`` — the addresses of the active users among ``user_ids``.

The kernel knows no domain: callers render the subject and body (in Chinese, inside
``flask_babel.force_locale("zh")``) and pass plain strings.
"""
import logging
import uuid
from datetime import timedelta

from flask import g
from sqlalchemy import and_, or_
from sqlalchemy.exc import IntegrityError

from app.core import clock
from app.core.services import savepoint
from app.extensions import db

log = logging.getLogger(__name__)


def emails_of(user_ids):
    """Sorted, distinct email addresses of the active users among ``user_ids``."""
    from flask_appbuilder.security.sqla.models import User

    if not user_ids:
        return []
    rows = db.session.query(User.email).filter(User.id.in_(list(user_ids)), User.active.is_(True)).all()
    return sorted({r[0] for r in rows if r[0]})


def queue_email(recipients, subject, body, topic, complaint_id=None, dedupe_key=None):
    """Record an email in the caller's transaction; returns the ``Notification`` or ``None``.

    ``None`` when there is no recipient, or when ``dedupe_key`` is already taken (nothing written).
    """
    from app.core.models import Notification

    recipients = list(dict.fromkeys(a.strip() for a in recipients or () if a and a.strip()))
    if not recipients:
        return None
    n = Notification(recipients=",".join(recipients), subject=subject, body=body, topic=topic,
                     complaint_id=complaint_id, dedupe_key=dedupe_key, created_at=clock.now())
    if dedupe_key is None:
        db.session.add(n)
        db.session.flush()
    else:
        try:
            with savepoint():
                db.session.add(n)
                db.session.flush()
        except IntegrityError:
            taken = db.session.query(Notification.id).filter(Notification.dedupe_key == dedupe_key).first()
            if taken is None:  # refused for another reason (e.g. an unknown complaint)
                raise
            log.info("notification %s already recorded", dedupe_key)  # went, or is going, out already
            return None
    g.setdefault("_outbox", []).append(n.id)
    return n


def dispatch():
    """After the commit: queue a send job per notification written in this request/job."""
    ids = g.pop("_outbox", [])
    if not ids:
        return
    for nid in ids:
        try:
            enqueue_send(nid)
        except Exception:  # Redis unavailable: flush_outbox will pick it up
            log.exception("could not queue notification %s", nid)


def enqueue_send(notification_id):
    """Queue the send job of one notification on the notification queue (the most urgent)."""
    from flask import current_app

    from app.core import jobs, queue

    return queue.enqueue(jobs.send_notification, notification_id, queue=queue.NOTIFY,
                         job_timeout=current_app.config["OUTBOX_SEND_TIMEOUT"])


def lease():
    """How long a claim holds before another sender may take the row (``OUTBOX_CLAIM_LEASE``)."""
    from flask import current_app

    return timedelta(seconds=int(current_app.config["OUTBOX_CLAIM_LEASE"]))


def claimable():
    """The SQL condition of a notification a sender may claim now: unsent, and unclaimed or its
    claim's lease run out."""
    from app.core.models import Notification

    return and_(Notification.sent_at.is_(None),
                or_(Notification.claimed_at.is_(None), Notification.claimed_at < clock.now() - lease()))


def claim(notification_id):
    """Claim one notification for this sender (committed); its token, or ``None`` when it is sent,
    gone, or claimed by another sender whose lease still holds."""
    from app.core.models import Notification

    token = uuid.uuid4().hex
    claimed = db.session.query(Notification).filter(Notification.id == notification_id, claimable()).update(
        {"claimed_at": clock.now(), "claim_token": token, "attempts": Notification.attempts + 1},
        synchronize_session=False)
    db.session.commit()
    return token if claimed else None


def send(notification_id):
    """Send one notification: ``True`` when sent now, ``False`` when gone, sent before or being sent
    by another worker (see the module's notes on the claim)."""
    from flask_mail import Message

    from app.core.models import Notification
    from app.extensions import mail

    token = claim(notification_id)
    if token is None:
        return False
    n = db.session.get(Notification, notification_id)
    message = Message(subject=n.subject, recipients=n.recipients.split(","), body=n.body, charset="utf-8")
    db.session.commit()  # nothing held in the database while the SMTP server takes its time
    mine = db.session.query(Notification).filter(Notification.id == notification_id,
                                                 Notification.claim_token == token)
    try:
        mail.send(message)
    except Exception as exc:
        db.session.rollback()
        mine.update({"last_error": str(exc)[:1000], "claimed_at": None, "claim_token": None},
                    synchronize_session=False)
        db.session.commit()
        raise
    mine.update({"sent_at": clock.now(), "last_error": None}, synchronize_session=False)
    db.session.commit()
    return True
