"""The email outbox, shared by every domain: written with the change, sent by a job after the commit.

* ``queue_email(...)`` adds a ``notification`` row in the caller's transaction and remembers its id
  for ``dispatch()``. A message that must go out once only carries a ``dedupe_key``: when a row with
  that key already exists (written earlier, or by a concurrent transaction) nothing is written and
  ``None`` is returned. The unique constraint decides, inside a SAVEPOINT, so two writers racing on
  the same key leave exactly one row and neither transaction fails.
* ``dispatch()`` — called by the service after its commit — queues one ``send_notification`` job
  (``core.jobs``) per row written in this request or job. If Redis is down the rows stay unsent and
  ``flush_outbox`` (periodic) queues them later: the database is the record, the queue the signal.
* ``send(notification_id)`` sends one row through Flask-Mail; a row already sent is skipped, so a
  job run twice sends once.
* ``emails_of(user_ids)`` — the addresses of the active users among ``user_ids``.

The kernel knows no domain: callers render the subject and body (in Chinese, inside
``flask_babel.force_locale("zh")``) and pass plain strings.
"""
import logging

from flask import g
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
    from app.core import jobs, queue

    for nid in ids:
        try:
            queue.enqueue(jobs.send_notification, nid)
        except Exception:  # Redis unavailable: flush_outbox will pick it up
            log.exception("could not queue notification %s", nid)


def send(notification_id):
    """Send one notification (idempotent): ``True`` when sent now, ``False`` when gone or sent before."""
    from flask_mail import Message

    from app.core.models import Notification
    from app.extensions import mail

    n = db.session.get(Notification, notification_id)
    if n is None or n.sent_at is not None:
        return False
    n.attempts += 1
    try:
        mail.send(Message(subject=n.subject, recipients=n.recipients.split(","), body=n.body, charset="utf-8"))
    except Exception as exc:
        n.last_error = str(exc)[:1000]
        db.session.commit()
        raise
    n.sent_at = clock.now()
    n.last_error = None
    db.session.commit()
    return True
