"""The SLA sweep: warnings and breaches that came due, and the automatic escalation, set-based.

The rule of every complaint is the one of ``sla.Clock`` and ``services.mark_breaches``; this module
only decides how much work a sweep does. Its cost follows the complaints coming due, never the
number open:

* the due complaints are read through the index on ``next_check_at`` (a range scan of the rows
  whose time has come), ``batch`` at a time, locked with ``SKIP LOCKED`` on PostgreSQL so
  concurrent sweeps share the work instead of repeating it;
* what a batch shares is read once per batch: the settings, the SLA policies, the calendars of its
  regions, the pauses and escalations of its complaints, the owners' and deciders' addresses;
* every change of a batch is written in one flush — the complaints' flags and due times (an
  ``UPDATE`` per set of changed columns, executed for all rows at once), their timeline events and
  automatic escalations (one ``INSERT`` each) — so the audit trail records every change exactly as
  for a single write, in one append to its chain; the emails are one ``INSERT`` into the outbox and
  one round trip to the queue after the commit;
* each batch commits on its own: a crash loses at most the batch under way, which the next sweep
  picks up again (a complaint's ``next_check_at`` moves on only with its batch's commit).

A statement count that does not grow with the number of complaints due (within a batch) is the
property the tests hold it to.
"""
import logging
from types import SimpleNamespace

from flask_babel import force_locale, gettext as _
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import joinedload, lazyload, selectinload

from app.complaints import notify, sla
from app.complaints.models import Complaint, ComplaintEvent, Escalation
from app.core import calendar, clock, l10n, settings
from app.extensions import db

log = logging.getLogger(__name__)

OPEN_STATES = ("new", "responded", "in_progress")
BATCH = 500
AUTO_KEY = "sla_breach"


def run(now=None, batch=BATCH):
    """Sweep every complaint whose next check time has passed, ``batch`` at a time, each batch in
    its own transaction. Returns ``{"checked", "warned", "breached", "escalated"}``."""
    now = now or clock.now()
    counts = {"checked": 0, "warned": 0, "breached": 0, "escalated": 0}
    seen = set()
    while True:
        ids = _sweep_batch(now, batch, counts)
        notify.dispatch_many()
        if len(ids) < batch or ids <= seen:
            # fewer than a batch: nothing else is due; only rows seen already: their next check is
            # exactly now (a due time not yet passed), the next sweep looks again
            break
        seen |= ids
    return counts


def _due(now, batch):
    query = (db.session.query(Complaint)
             .options(joinedload(Complaint.outlet).lazyload("*"),
                      lazyload(Complaint.service_order), lazyload(Complaint.engineer), lazyload(Complaint.owner),
                      selectinload(Complaint.pauses), selectinload(Complaint.escalations)
                      .options(lazyload(Escalation.complaint), lazyload(Escalation.requested_by),
                               lazyload(Escalation.decided_by)))
             .filter(Complaint.next_check_at.isnot(None), Complaint.next_check_at <= now)
             .order_by(Complaint.next_check_at).limit(batch))
    if db.engine.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True, of=Complaint)
    return query.all()


def _sweep_batch(now, batch, counts):
    """One batch in one transaction; the ids it looked at."""
    session = db.session
    try:
        complaints = _due(now, batch)
        if not complaints:
            session.commit()
            return set()
        found = _apply(complaints, now)
        session.expire_all()  # written already: nothing left for the commit's flush to look at
        session.commit()
    except IntegrityError:
        # another sweep escalated one of these complaints meanwhile (possible where rows are not
        # locked, SQLite): do this batch again one complaint at a time, each escalation on its own
        session.rollback()
        log.info("SLA sweep: an automatic escalation was taken concurrently; sweeping the batch one by one")
        found = _one_by_one(now, batch)
    except Exception:
        session.rollback()
        raise
    for key in counts:
        counts[key] += found[key]
    return found["ids"]


class Batch:
    """What a batch of complaints shares, read once: calendars by region, policies by severity,
    settings."""

    def __init__(self, complaints):
        self.schedules = calendar.schedules_for_regions({c.outlet.region_id for c in complaints})
        self.policies = sla.policies()
        self.warn_percent = settings.get("complaint.warning_percent")
        self.verification_days = settings.get("complaint.investigation_working_days")

    def clock_of(self, c, now):
        return sla.recompute(c, sched=self.schedules[c.outlet.region_id], policy=self.policies[c.severity],
                             now=now, warn_percent=self.warn_percent, verification_days=self.verification_days)


SWEPT = ("response_due_at", "resolution_due_at", "verification_due_at", "next_check_at", "response_warned",
         "resolution_warned", "response_breached", "resolution_breached")
"""The columns the sweep writes (``sla.recompute``, the warnings and the breaches)."""


def _event(complaint, kind, note, at=None):
    ev = ComplaintEvent(complaint_id=complaint.id, kind=kind, actor_id=None, actor_name="system", note=note,
                        at=at or clock.now())
    db.session.add(ev)
    return ev


def _apply(complaints, now):
    """Compute and write the batch's changes (no commit). Returns the counts and the ids seen."""
    found = {"checked": 0, "warned": 0, "breached": 0, "escalated": 0, "ids": {c.id for c in complaints}}
    shared = Batch(complaints)
    _ = notify.Catalogue()
    events, warnings, escalate = [], [], []

    def event(c, kind, note, at=None):
        events.append({"complaint_id": c.id, "at": at or clock.now(), "kind": kind, "actor_id": None,
                       "actor_name": "system", "note": note})

    with db.session.no_autoflush:
        for c in complaints:
            found["checked"] += 1
            clk = shared.clock_of(c, now)
            if c.first_response_at is None and not c.response_warned and now >= clk.response_warn:
                c.response_warned = True
                found["warned"] += 1
                event(c, "warning", _("First response due at %(due)s", due=l10n.time_text(clk.response_due)))
                warnings.append((c, "response", clk.response_due))
            if (c.status in OPEN_STATES and not clk.stopped and not c.resolution_warned
                    and now >= clk.resolution_warn):
                c.resolution_warned = True
                found["warned"] += 1
                event(c, "warning", _("Resolution due at %(due)s", due=l10n.datetime_text(clk.resolution_due)))
                warnings.append((c, "resolution", clk.resolution_due))
            # services.mark_breaches, with the escalation gathered for the whole batch
            newly = 0
            if not c.response_breached and clk.response_late(now):
                c.response_breached, newly = True, 1
                event(c, "breached", _("No first response in time."), at=now)
            if not c.resolution_breached and clk.resolution_late(now):
                c.resolution_breached, newly = True, 1
                event(c, "breached", _("Not resolved in time."), at=now)
            found["breached"] += newly
            if newly and c.status in OPEN_STATES and _may_escalate(c):
                escalate.append(c)
            c.next_check_at = sla.next_check(c, clk)
        stamp = clock.now()
        comment = _("Escalated automatically after an SLA breach.")
        escalations = []
        for c in escalate:
            escalations.append((c, {
                "complaint_id": c.id, "parent_id": None, "level": 1, "reason": "sla_breach", "remedy": None,
                "compensation_amount": None, "request_comment": comment, "auto_key": AUTO_KEY,
                "requested_by_id": None, "requested_at": now, "status": "pending", "decided_by_id": None,
                "decided_at": None, "comment": None, "created_at": stamp, "updated_at": stamp}))
            event(c, "escalated", comment)
        found["escalated"] = len(escalations)
        _write(complaints, events, [row for _c, row in escalations])
        _notify(warnings, [(c, SimpleNamespace(requested_by=None, **row)) for c, row in escalations])
    return found


def _write(complaints, events, escalations):
    """Write the batch: the complaints' changes in one ``UPDATE … WHERE id = :id`` executed for every
    changed row at once (the unit of work would group rows by the set of columns each one changed),
    the timeline events and escalations in one ``INSERT`` each (ids taken up front), and their audit
    events in one append to the chain — each complaint's changed columns before and after
    (``capture.row_changes``, as a flush records them) and each new row's values, as a flush
    records an inserted row. The complaint objects are left clean."""
    from sqlalchemy import bindparam, insert, inspect, update
    from sqlalchemy.orm.attributes import set_committed_value

    from app.audit_trail import capture, chain

    session = db.session
    connection = session.connection()
    audit = []
    changed = [c for c in complaints if _modified(c)]
    if changed:
        stamp = clock.now()
        for c in changed:
            changes = capture.row_changes(c, "update")
            if changes:
                audit.append(capture._event("complaint", capture._pk(inspect(c)), "update", changes))
        table = Complaint.__table__
        statement = (update(table).where(table.c.id == bindparam("row_id"))
                     .values({name: bindparam(name) for name in SWEPT + ("updated_at",)}))
        connection.execute(statement, [dict({name: getattr(c, name) for name in SWEPT}, row_id=c.id,
                                            updated_at=stamp) for c in changed])
        for c in changed:
            for name in SWEPT:
                set_committed_value(c, name, getattr(c, name))
            set_committed_value(c, "updated_at", stamp)
    for model, rows in ((ComplaintEvent, events), (Escalation, escalations)):
        if not rows:
            continue
        table = model.__table__
        for row, new_id in zip(rows, notify.reserve_ids(table, len(rows))):
            row["id"] = new_id
        connection.execute(insert(table), rows)
        skipped = capture.bookkeeping(table.name)
        audit.extend(capture._event(table.name, row["id"], "insert",
                                    {k: [None, capture._value(k, v)] for k, v in row.items()
                                     if v is not None and k not in skipped})
                     for row in rows)
    if audit:
        audit.sort(key=lambda e: (e["entity"], e["record_id"] or ""))
        chain.append(connection, audit)


def _modified(c):
    """Whether the sweep changed one of ``c``'s columns (``Session.is_modified``, for those columns)."""
    from sqlalchemy import inspect

    attrs = inspect(c).attrs
    return any(attrs[name].history.has_changes() for name in SWEPT)


def _may_escalate(c):
    """No level 1 escalation pending or approved, and no automatic one ever (the complaint's
    escalations were read with it, under its row lock)."""
    return not any(e.level == 1 and (e.status in ("pending", "approved") or e.auto_key == AUTO_KEY)
                   for e in c.escalations)


def _notify(warnings, escalations):
    """The owners' warnings and the deciders' escalation emails of the batch, in one insert."""
    from app.complaints.services import REGIONAL_MANAGER
    from app.core import scope

    owner_ids = {c.owner_id for c, _which, _due in warnings if c.owner_id}
    managers_by_region = {}
    if escalations:
        for region_id, user_id, _email in scope.region_members({c.outlet.region_id for c, _e in escalations},
                                                               REGIONAL_MANAGER):
            managers_by_region.setdefault(region_id, set()).add(user_id)
    delegates_by_manager = _delegates({m for ids in managers_by_region.values() for m in ids})
    deciders_by_region = {
        region_id: managers | {d for m in managers for d in delegates_by_manager.get(m, ())}
        for region_id, managers in managers_by_region.items()}
    everyone = owner_ids | {u for ids in deciders_by_region.values() for u in ids}
    emails = _emails(everyone)
    messages = []
    with force_locale("zh"):
        _ = notify.Catalogue()
        for c, which, due in warnings:
            subject, body, topic = notify.breach_warning_message(c, which, due, _)
            to = sorted({emails[c.owner_id]} if c.owner_id in emails else set())
            messages.append((to, subject, body, topic, c.id))
        for c, esc in escalations:
            subject, body, topic = notify.escalation_message(esc, c, None, _)
            to = sorted({emails[u] for u in deciders_by_region.get(c.outlet.region_id, ()) if u in emails})
            messages.append((to, subject, body, topic, c.id))
    notify.queue_many(messages)


def _delegates(manager_ids):
    """``{manager_id: {delegate ids}}`` of today's delegations, in one query."""
    from app.complaints.models import EscalationDelegation

    if not manager_ids:
        return {}
    today = clock.today()
    rows = db.session.execute(
        select(EscalationDelegation.manager_id, EscalationDelegation.delegate_id).where(
            EscalationDelegation.manager_id.in_(list(manager_ids)), EscalationDelegation.starts_on <= today,
            EscalationDelegation.ends_on >= today))
    out = {}
    for manager_id, delegate_id in rows:
        out.setdefault(manager_id, set()).add(delegate_id)
    return out


def _emails(user_ids):
    """``{user_id: email}`` of the active users among ``user_ids`` (``outbox.emails_of``'s rule)."""
    from flask_appbuilder.security.sqla.models import User

    if not user_ids:
        return {}
    rows = db.session.execute(select(User.id, User.email).where(User.id.in_(list(user_ids)), User.active.is_(True)))
    return {user_id: email for user_id, email in rows if email}


def _one_by_one(now, batch):
    """The batch again, one complaint after another through ``services.mark_breaches`` (each
    automatic escalation in a savepoint of its own); used only after a concurrent escalation."""
    from app.complaints import services

    found = {"checked": 0, "warned": 0, "breached": 0, "escalated": 0, "ids": set()}
    try:
        complaints = _due(now, batch)
        shared = Batch(complaints)
        for c in complaints:
            found["checked"] += 1
            found["ids"].add(c.id)
            clk = shared.clock_of(c, now)
            if c.first_response_at is None and not c.response_warned and now >= clk.response_warn:
                c.response_warned = True
                found["warned"] += 1
                _event(c, "warning", _("First response due at %(due)s", due=l10n.time_text(clk.response_due)))
                notify.breach_warning(c, "response", clk.response_due)
            if (c.status in OPEN_STATES and not clk.stopped and not c.resolution_warned
                    and now >= clk.resolution_warn):
                c.resolution_warned = True
                found["warned"] += 1
                _event(c, "warning", _("Resolution due at %(due)s", due=l10n.datetime_text(clk.resolution_due)))
                notify.breach_warning(c, "resolution", clk.resolution_due)
            breached, escalated = services.mark_breaches(c, clk, now)
            found["breached"] += breached
            found["escalated"] += escalated
            c.next_check_at = sla.next_check(c, clk)
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
    return found
