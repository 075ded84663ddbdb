"""Complaint emails, in Chinese, through the kernel outbox (``core.outbox``).

Each email says what happened and links to the page to act on, built on ``PUBLIC_BASE_URL``
(``core.links``, no request needed): the desk for deciders, the complaint's page for its owner.
``new_escalation`` (a request, or a level 1 approval referred to HQ), ``decision`` (approved, approved
and referred to HQ, rejected) and ``breach_warning`` render the message and add a ``notification``
row in the caller's transaction (``outbox.queue_email``); ``dispatch()`` (called after the commit)
queues one ``send_notification`` job per row written. The job is idempotent: a row already sent is
skipped. ``flush_outbox`` (periodic) re-queues anything left unsent, e.g. when Redis was down at
commit time.

The SLA sweep (``complaints.sweep``) writes its emails a batch at a time: the ``*_message`` functions
render them (with a ``Catalogue``: each message id looked up once), ``queue_many`` records them in one
``INSERT`` and ``dispatch_many`` queues send jobs of many emails each (``jobs.send_notifications``).
"""
from flask_babel import force_locale, gettext
from flask_babel import gettext as _

from app.core import l10n, outbox
from app.core.links import absolute_url
from app.core.people import display_name
from app.extensions import db


def _local(moment):
    return l10n.datetime_text(moment) if moment else "-"


def _queue(recipients, subject, body, topic, complaint):
    return outbox.queue_email(recipients, subject, body, topic,
                              complaint_id=complaint.id if complaint is not None else None)


def _labels(esc, complaint=None):
    from app.complaints.enums import ESCALATION_REASON, REMEDY, SEVERITY

    complaint = complaint if complaint is not None else esc.complaint
    return {
        "number": complaint.number,
        "outlet": str(complaint.outlet),
        "severity": SEVERITY.label(complaint.severity),
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
    subject, body, topic = escalation_message(esc, esc.complaint, parent)
    return _queue(recipients, subject, body, topic, esc.complaint)


def escalation_message(esc, complaint, parent=None, _=None):
    """``(subject, body, topic)`` of the email announcing ``esc`` of ``complaint`` (``parent``: the
    level 1 escalation a level 2 one was referred from). ``_``: a ``Catalogue`` of a batch, used
    inside the caller's ``force_locale("zh")``."""
    if _ is None:
        with force_locale("zh"):
            return escalation_message(esc, complaint, parent, gettext)
    d = _labels(esc, complaint)
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
    requested_by = esc.requested_by if esc.requested_by_id is not None else None
    body = "\n".join([
        opening,
        "",
        _("Severity: %(severity)s", **d),
        _("Reason: %(reason)s", **d),
        _("Proposed remedy: %(remedy)s, compensation: %(amount)s", **d),
        _("Requested by: %(who)s at %(at)s", who=_name(requested_by), at=_local(esc.requested_at)),
        _("Request comment: %(comment)s", comment=esc.request_comment or "-"),
        *extra,
        "",
        _("Approve or reject it on the escalation desk:"),
        desk_link(esc),
    ])
    topic = "escalation_referred" if parent is not None else "escalation_new"
    return subject, body, topic


class Catalogue:
    """``gettext`` for a batch of messages: each message id looked up once in the current locale's
    catalogue (what ``gettext`` does each time), then formatted the same way."""

    def __init__(self):
        from flask_babel import get_translations

        self._translations = get_translations()
        self._seen = {}

    def __call__(self, msgid, **variables):
        text = self._seen.get(msgid)
        if text is None:
            text = self._seen[msgid] = self._translations.ugettext(msgid)
        return text % variables if variables else text


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
    subject, body, topic = breach_warning_message(complaint, which, due)
    return _queue(outbox.emails_of({complaint.owner_id} if complaint.owner_id else set()), subject, body,
                  topic, complaint)


def breach_warning_message(complaint, which, due, _=None):
    """``(subject, body, topic)`` of the owner's warning that ``which`` (response, resolution) is
    due (``_`` as for ``escalation_message``)."""
    if _ is None:
        with force_locale("zh"):
            return breach_warning_message(complaint, which, due, gettext)
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
    return subject, body, f"warning_{which}"


def queue_many(messages):
    """Record many emails at once in the caller's transaction (one ``INSERT`` whatever their number):
    ``messages`` are ``(recipients, subject, body, topic, complaint_id)``; a message without a
    recipient is skipped, as ``outbox.queue_email`` does. Returns the ids written, remembered for
    ``dispatch``."""
    from flask import g
    from sqlalchemy import insert

    from app.core import clock
    from app.core.models import Notification

    rows = []
    now = clock.now()
    for recipients, subject, body, topic, complaint_id in messages:
        recipients = list(dict.fromkeys(a.strip() for a in recipients or () if a and a.strip()))
        if recipients:
            rows.append({"recipients": ",".join(recipients), "subject": subject, "body": body, "topic": topic,
                         "complaint_id": complaint_id, "dedupe_key": None, "created_at": now})
    if not rows:
        return []
    ids = reserve_ids(Notification.__table__, len(rows))
    for row, nid in zip(rows, ids):
        row["id"] = nid
    db.session.execute(insert(Notification), rows)
    g.setdefault("_outbox", []).extend(ids)
    return ids


def reserve_ids(table, n):
    """The ids of ``n`` rows about to be inserted into ``table`` (an integer ``id`` key), so that many
    rows go in with one ``INSERT`` executed for all of them, without asking the database to return
    their ids in order: PostgreSQL takes them from the column's sequence (one statement); SQLite,
    which writes one transaction at a time and numbers a row as the largest id plus one, after the
    largest id. Empty for ``n`` = 0."""
    from sqlalchemy import func, select, text

    if n <= 0:
        return []
    with db.session.no_autoflush:
        if db.session.get_bind().dialect.name == "postgresql":
            return list(db.session.scalars(
                text("SELECT nextval(pg_get_serial_sequence(:table, 'id')) FROM generate_series(1, :n)"),
                {"table": table.name, "n": n}))
        last = db.session.execute(select(func.coalesce(func.max(table.c.id), 0))).scalar()
    return list(range(last + 1, last + 1 + n))


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


def dispatch_many(chunk=50):
    """After the commit: queue the emails written in this job as send jobs of ``chunk`` emails each
    (``jobs.send_notifications``), in one round trip to Redis — ``outbox.dispatch`` queues one job
    per email. Each email is still claimed and sent on its own (``outbox.send``). When Redis is out
    of reach the rows stay unsent and ``flush_outbox`` queues them later."""
    import logging

    from flask import current_app, g

    from app.complaints import jobs
    from app.core import queue

    ids = g.pop("_outbox", [])
    if not ids:
        return
    try:
        q = queue.get_queue(queue.NOTIFY)
        timeout = int(current_app.config["OUTBOX_SEND_TIMEOUT"])
        parts = [ids[i:i + chunk] for i in range(0, len(ids), chunk)]
        q.enqueue_many([q.prepare_data(jobs.send_notifications, args=(part,), timeout=timeout * len(part))
                        for part in parts])
    except Exception:  # Redis unavailable: flush_outbox will pick them up
        logging.getLogger(__name__).exception("could not queue %s notifications", len(ids))
