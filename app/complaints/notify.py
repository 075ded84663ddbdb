"""Complaint emails, in Chinese, through the kernel outbox (``core.outbox``).

Each email says what happened and links to the page to act on, built on ``PUBLIC_BASE_URL``
(``core.links``, no request needed): the desk for deciders, the complaint's page for its owner.
``new_escalation`` (a request, or a level 1 approval referred to HQ), ``decision`` (approved, approved
and referred to HQ, rejected) and ``breach_warning`` render the message and add a ``notification``
row in the caller's transaction (``outbox.queue_email``); ``dispatch()`` (called after the commit)
queues one ``send_notification`` job per row written. The job is idempotent: a row already sent is
skipped. ``flush_outbox`` (periodic) re-queues anything left unsent, e.g. when Redis was down at
commit time.
"""
from flask_babel import force_locale, gettext as _

from app.core import l10n, outbox
from app.core.links import absolute_url
from app.core.people import display_name
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


def _name(user):
    return display_name(user, system=_("System"))


def desk_link(esc):
    """Where deciders act: the escalation's card on the desk."""
    return absolute_url("EscalationDeskView.index", _anchor=f"escalation-{esc.id}")


def complaint_link(complaint):
    """Where the owner acts: the complaint's page."""
    return absolute_url("ComplaintView.show", pk=complaint.id)


def new_escalation(esc):
    """To the region's managers and their active delegates (level 1), or HQ admins (level 2: a level 1
    approval referred to HQ because of its remedy)."""
    from app.complaints import services
    from app.complaints.models import Escalation

    parent = db.session.get(Escalation, esc.parent_id) if esc.parent_id else None
    if esc.level == 1:
        recipients = outbox.emails_of(services.level1_decider_ids(esc.complaint))
    else:
        recipients = outbox.emails_of(_hq_admin_ids())
    with force_locale("zh"):
        d = _labels(esc)
        if parent is not None:
            subject = _("[Complaint escalation] %(number)s referred to HQ for level 2 approval", **d)
            opening = _("The level 1 escalation of complaint %(number)s at %(outlet)s was approved by %(who)s "
                        "on %(at)s. Its remedy needs a level 2 approval by HQ.",
                        who=_name(parent.decided_by), at=_local(parent.decided_at), **d)
            extra = [_("Level 1 decision comment: %(comment)s", comment=parent.comment or "-")]
        else:
            subject = _("[Complaint escalation] %(number)s needs your approval (level %(level)s)", **d)
            opening = _("Complaint %(number)s at %(outlet)s has been escalated to level %(level)s.", **d)
            extra = []
        body = "\n".join([
            opening,
            "",
            _("Severity: %(severity)s", **d),
            _("Reason: %(reason)s", **d),
            _("Proposed remedy: %(remedy)s, compensation: %(amount)s", **d),
            _("Requested by: %(who)s at %(at)s", who=_name(esc.requested_by), at=_local(esc.requested_at)),
            _("Request comment: %(comment)s", comment=esc.request_comment or "-"),
            *extra,
            "",
            _("Approve or reject it on the escalation desk:"),
            desk_link(esc),
        ])
    topic = "escalation_referred" if parent is not None else "escalation_new"
    return _queue(recipients, subject, body, topic, esc.complaint)


def decision(esc):
    """To the requester and the complaint's owner: approved (and what to do now, or that HQ decides
    next), or rejected (the reason, and the complaint is back with its owner)."""
    from app.complaints.models import Escalation

    ids = {i for i in (esc.requested_by_id, esc.complaint.owner_id) if i}
    referred = esc.status == "approved" and db.session.query(Escalation.id).filter(
        Escalation.parent_id == esc.id, Escalation.status == "pending").first() is not None
    with force_locale("zh"):
        d = _labels(esc)
        d.update(who=_name(esc.decided_by), at=_local(esc.decided_at))
        if esc.status == "approved" and referred:
            topic = "escalation_awaiting_hq"
            subject = _("[Complaint escalation] %(number)s level 1 approved, waiting for HQ", **d)
            lines = [
                _("The level 1 escalation of complaint %(number)s was approved by %(who)s on %(at)s.", **d),
                "",
                _("Decision comment: %(comment)s", comment=esc.comment or "-"),
                _("Proposed remedy: %(remedy)s, compensation: %(amount)s", **d),
                "",
                _("This remedy also needs a level 2 approval by HQ: do not carry it out yet. You will get "
                  "another email when HQ decides."),
            ]
        elif esc.status == "approved":
            topic = "escalation_approved"
            subject = _("[Complaint escalation] %(number)s approved (level %(level)s)", **d)
            lines = [
                _("The level %(level)s escalation of complaint %(number)s was approved by %(who)s on %(at)s.", **d),
                "",
                _("Decision comment: %(comment)s", comment=esc.comment or "-"),
                _("Approved remedy: %(remedy)s, compensation: %(amount)s", **d),
                "",
                _("Please carry out the approved remedy now, tell the customer the result and ask whether "
                  "they are satisfied, then record the resolution on the complaint."),
            ]
        else:
            topic = "escalation_rejected"
            subject = _("[Complaint escalation] %(number)s rejected (level %(level)s)", **d)
            lines = [
                _("The level %(level)s escalation of complaint %(number)s was rejected by %(who)s on %(at)s.", **d),
                "",
                _("Reason for rejecting: %(comment)s", comment=esc.comment or "-"),
                _("Proposed remedy (not approved): %(remedy)s, compensation: %(amount)s", **d),
                "",
                _("The complaint is back with its owner, %(owner)s: do not carry out the proposed remedy; go on "
                  "handling the complaint, or request an escalation again with more information.",
                  owner=_name(esc.complaint.owner)),
            ]
        body = "\n".join([*lines, _("The complaint:"), complaint_link(esc.complaint)])
    return _queue(outbox.emails_of(ids), subject, body, topic, esc.complaint)


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
            _("The complaint:"),
            complaint_link(complaint),
        ])
    return _queue(outbox.emails_of({complaint.owner_id} if complaint.owner_id else set()), subject, body,
                  f"warning_{which}", complaint)


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
