"""Complaint emails, in Chinese, through the kernel outbox (``core.outbox``).

``new_escalation``/``decision``/``breach_warning`` render the message and add a ``notification``
row in the caller's transaction (``outbox.queue_email``); ``dispatch()`` (called after the commit)
queues one ``send_notification`` job per row written. The job is idempotent: a row already sent is
skipped. ``flush_outbox`` (periodic) re-queues anything left unsent, e.g. when Redis was down at
commit time.
"""
from flask_babel import force_locale, gettext as _

from app.core import l10n, outbox
from app.extensions import db


def _local(moment):
    return l10n.datetime_text(moment) if moment else "-"


def _queue(recipients, subject, body, topic, complaint):
    return outbox.queue_email(recipients, subject, body, topic,
                              complaint_id=complaint.id if complaint is not None else None)


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
        recipients = outbox.emails_of(services.level1_decider_ids(esc.complaint))
    else:
        recipients = outbox.emails_of(_hq_admin_ids())
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
    return _queue(outbox.emails_of(ids), subject, body, "escalation_decision", esc.complaint)


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
    return _queue(outbox.emails_of({complaint.owner_id} if complaint.owner_id else set()), subject, body,
                  f"warning_{which}", complaint)


def _user_name(user_id):
    from flask_appbuilder.security.sqla.models import User

    user = db.session.get(User, user_id) if user_id else None
    from app.core.people import display_name

    return display_name(user, system="-")


def _hq_admin_ids():
    from flask_appbuilder.security.sqla.models import Role, User, assoc_user_role
    from sqlalchemy import select

    rows = db.session.execute(
        select(User.id).join(assoc_user_role, assoc_user_role.c.user_id == User.id)
        .join(Role, Role.id == assoc_user_role.c.role_id).where(Role.name == "HQ Admin")
    )
    return {r[0] for r in rows}


def dispatch():
    """After the commit: queue the emails written in this request or job (``outbox.dispatch``)."""
    outbox.dispatch()
