"""Complaint emails, in Chinese: written to the outbox with the change, sent after the commit.

``new_escalation``/``decision``/``breach_warning`` add ``notification`` rows in the caller's
transaction; ``dispatch()`` (called after the commit) queues one ``send_notification`` job per
unsent row. The job is idempotent: a row already sent is skipped. ``flush_outbox`` (periodic)
re-queues anything left unsent, e.g. when Redis was down at commit time.
"""
import logging

from flask import g
from flask_babel import force_locale, gettext as _

from app.core import clock
from app.extensions import db

log = logging.getLogger(__name__)


def _emails(user_ids):
    from flask_appbuilder.security.sqla.models import User

    if not user_ids:
        return []
    rows = db.session.query(User.email).filter(User.id.in_(list(user_ids)), User.active.is_(True)).all()
    return sorted({r[0] for r in rows if r[0]})


def _local(moment):
    return clock.to_local(moment).strftime("%Y-%m-%d %H:%M") if moment else "-"


def _queue(recipients, subject, body, topic, complaint):
    from app.complaints.models import Notification

    if not recipients:
        return None
    n = Notification(recipients=",".join(recipients), subject=subject, body=body, topic=topic,
                     complaint_id=complaint.id if complaint is not None else None, created_at=clock.now())
    db.session.add(n)
    db.session.flush()
    g.setdefault("_outbox", []).append(n.id)
    return n


def _labels(esc):
    from app.complaints.enums import ESCALATION_REASON, REMEDY, SEVERITY

    return {
        "number": esc.complaint.number,
        "outlet": str(esc.complaint.outlet),
        "severity": SEVERITY.label(esc.complaint.severity),
        "reason": ESCALATION_REASON.label(esc.reason),
        "remedy": REMEDY.label(esc.remedy) if esc.remedy else "-",
        "amount": f"¥{esc.compensation_amount:,.2f}" if esc.compensation_amount is not None else "-",
        "level": esc.level,
    }


def new_escalation(esc):
    """To the region's managers and their active delegates (level 1), or HQ admins (level 2)."""
    from app.complaints import services

    if esc.level == 1:
        recipients = _emails(services.level1_decider_ids(esc.complaint))
    else:
        recipients = _emails(_hq_admin_ids())
    with force_locale("zh"):
        d = _labels(esc)
        subject = _("[Complaint escalation] %(number)s needs your approval (level %(level)s)", **d)
        body = "\n".join([
            _("Complaint %(number)s at %(outlet)s has been escalated to level %(level)s.", **d),
            _("Severity: %(severity)s", **d),
            _("Reason: %(reason)s", **d),
            _("Proposed remedy: %(remedy)s, compensation: %(amount)s", **d),
            _("Requested at: %(at)s", at=_local(esc.requested_at)),
            _("Comment: %(comment)s", comment=esc.request_comment or "-"),
            "",
            _("Please approve or reject it on the escalation desk."),
        ])
    return _queue(recipients, subject, body, "escalation_new", esc.complaint)


def decision(esc):
    """To the requester and the complaint's owner."""
    ids = {i for i in (esc.requested_by_id, esc.complaint.owner_id) if i}
    with force_locale("zh"):
        d = _labels(esc)
        verdict = _("approved") if esc.status == "approved" else _("rejected")
        subject = _("[Complaint escalation] %(number)s level %(level)s %(verdict)s", verdict=verdict, **d)
        body = "\n".join([
            _("The level %(level)s escalation of complaint %(number)s was %(verdict)s.", verdict=verdict, **d),
            _("Decided by: %(who)s at %(at)s", who=_user_name(esc.decided_by_id), at=_local(esc.decided_at)),
            _("Comment: %(comment)s", comment=esc.comment or "-"),
            _("Proposed remedy: %(remedy)s, compensation: %(amount)s", **d),
            "",
            _("Please tell the customer the result and ask whether they are satisfied."),
        ])
    return _queue(_emails(ids), subject, body, "escalation_decision", esc.complaint)


def breach_warning(complaint, which, due):
    with force_locale("zh"):
        what = _("first response") if which == "response" else _("resolution")
        subject = _("[SLA warning] Complaint %(number)s: %(what)s due at %(due)s", number=complaint.number,
                    what=what, due=_local(due))
        body = "\n".join([
            _("Complaint %(number)s (%(customer)s) is close to its %(what)s deadline.", number=complaint.number,
              customer=complaint.customer_name, what=what),
            _("Due at: %(due)s", due=_local(due)),
            _("Please handle it now to avoid an SLA breach and an automatic escalation."),
        ])
    return _queue(_emails({complaint.owner_id} if complaint.owner_id else set()), subject, body,
                  f"warning_{which}", complaint)


def _user_name(user_id):
    from flask_appbuilder.security.sqla.models import User

    user = db.session.get(User, user_id) if user_id else None
    if user is None:
        return "-"
    return f"{user.first_name or ''}{user.last_name or ''}".strip() or user.username


def _hq_admin_ids():
    from flask_appbuilder.security.sqla.models import Role, User, assoc_user_role
    from sqlalchemy import select

    rows = db.session.execute(
        select(User.id).join(assoc_user_role, assoc_user_role.c.user_id == User.id)
        .join(Role, Role.id == assoc_user_role.c.role_id).where(Role.name == "HQ Admin")
    )
    return {r[0] for r in rows}


def dispatch():
    """After the commit: queue a send job per notification written in this request/job."""
    ids = g.pop("_outbox", [])
    if not ids:
        return
    from app.complaints import jobs
    from app.core import queue

    for nid in ids:
        try:
            queue.enqueue(jobs.send_notification, nid)
        except Exception:  # Redis unavailable: flush_outbox will pick it up
            log.exception("could not queue notification %s", nid)


def send(notification_id):
    """Send one notification (idempotent)."""
    from flask_mail import Message

    from app.complaints.models import Notification
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
