"""Complaint lifecycle, escalation decisions and the SLA sweep — the only code that changes them.

Pages, the API and jobs call these functions; each runs in one transaction and raises
``DomainError``s (409 wrong state, 403 not allowed, 422 invalid) that the web layer renders.
Emails are written to the ``notification`` outbox in the same transaction and sent by an rq job
after the commit.
"""
import logging
from datetime import timedelta
from decimal import Decimal

from flask_babel import gettext as _
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from app.complaints import notify, sla
from app.complaints.models import (
    Complaint, ComplaintEvent, ComplaintPause, Escalation, EscalationDelegation,
)
from app.core import clock, l10n, numbering, scope, settings
from app.core.errors import Conflict, ErrorCollector, Forbidden, Invalid
from app.core.services import (
    load, region_from_loaded, run_validators, savepoint, transaction, validates_entity,
)
from app.extensions import db

log = logging.getLogger(__name__)

OPEN_STATES = ("new", "responded", "in_progress")
REGIONAL_MANAGER = "Regional Manager"
HQ_ADMIN = "HQ Admin"


def _actor():
    return scope.acting_user()


def _name(user):
    from app.core.people import display_name

    return display_name(user, system=_("System"))


def _event(complaint, kind, actor=None, note="", at=None):
    ev = ComplaintEvent(complaint=complaint, kind=kind, actor_id=actor.id if actor else None,
                        actor_name=_name(actor) if actor else "system", note=note or "", at=at or clock.now())
    db.session.add(ev)
    return ev


def _require_state(complaint, allowed, action):
    if complaint.status not in allowed:
        from app.complaints.enums import COMPLAINT_STATUS

        raise Conflict(
            _("Cannot %(action)s a complaint that is %(state)s.", action=action,
              state=COMPLAINT_STATUS.label(complaint.status)),
            {"status": [complaint.status]},
        )


def get_complaint(complaint_id, lock=False):
    """Load a complaint within the actor's region scope (404 outside it)."""
    return load(Complaint, complaint_id, lock)


def delegated_region_ids(user, on=None):
    """Regions whose managers have named ``user`` their delegate today."""
    from app.network.models import region_user

    if user is None:
        return set()
    on = on or clock.today()
    managers = select(EscalationDelegation.manager_id).where(
        EscalationDelegation.delegate_id == user.id, EscalationDelegation.starts_on <= on,
        EscalationDelegation.ends_on >= on)
    rows = db.session.execute(select(region_user.c.region_id).where(region_user.c.user_id.in_(managers)))
    return {r[0] for r in rows}


def escalation_scope_clause(user):
    """Escalations the actor may see: their regions' (the region scope) plus the regions they
    decide for as an active delegate. ``None`` means no restriction."""
    from sqlalchemy import or_

    clause = scope.clause_for(Escalation)
    if clause is None:
        return None
    delegated = delegated_region_ids(user)
    if delegated:
        clause = or_(clause, Escalation.region_scope_clause(list(delegated)))
    return clause


def get_escalation(escalation_id, lock=False):
    """Load an escalation the actor may see: their regions' or those they decide as a delegate."""
    return load(Escalation, escalation_id, lock, clause=escalation_scope_clause(_actor()))


# --- recording ----------------------------------------------------------------------------------

def next_number(received_at):
    """``TS`` + the local day of receipt + a sequence: ``TS202612070001`` (unique under load)."""
    return numbering.take(f"TS{clock.to_local(received_at):%Y%m%d}", Complaint.number)


RECEIVED_CLOCK_SKEW = timedelta(minutes=2)
"""A time received this little ahead of the server's clock (a client's clock running fast) is now."""


def _received_at_rule(item, errors):
    """The time received: now when not given; never in the future; at most
    ``complaint.received_max_age_hours`` in the past. Checked when it is set (on recording, or
    when a write changes it), so an old complaint stays editable."""
    now = clock.now()
    if item.received_at is None:
        item.received_at = now
        return
    if item.id is not None:
        from sqlalchemy import inspect as sa_inspect

        if not sa_inspect(item).attrs.received_at.history.has_changes():
            return
    if item.received_at > now + RECEIVED_CLOCK_SKEW:
        errors.add("received_at", _("The time received cannot be in the future."))
    elif item.received_at > now:
        item.received_at = now
    else:
        max_age = settings.get("complaint.received_max_age_hours")
        if item.received_at < now - timedelta(hours=max_age):
            errors.add("received_at", _("The time received may lie at most %(hours)s hours in the past.",
                                        hours=max_age))


@validates_entity(Complaint)
def _complaint_rules(item, errors):
    """Runs on every write of a complaint (page, API, import): owner, number, due times."""
    _received_at_rule(item, errors)
    if item.engineer is not None and item.outlet is not None and item.engineer.outlet_id != item.outlet.id:
        errors.add("engineer", _("The engineer does not work at this outlet."))
    if item.service_order is not None and item.outlet is not None and item.service_order.outlet_id != item.outlet.id:
        errors.add("service_order", _("The service order belongs to another outlet."))
    if errors:
        return
    if item.id is None:
        actor = _actor()
        if item.owner is None and item.owner_id is None and actor is not None:
            item.owner = actor
        _event(item, "received", actor, item.description[:200] if item.description else "", at=item.received_at)
    else:
        from sqlalchemy import inspect as sa_inspect

        history = sa_inspect(item).attrs.severity.history
        if history.deleted and history.added and history.deleted[0] != history.added[0]:
            _event(item, "severity_changed", _actor(), f"{history.deleted[0]} → {history.added[0]}")
    if item.outlet is not None:
        sla.recompute(item)
    if item.id is None and not item.number:
        # last of the rules: the day's counter row stays locked until the commit, so concurrent
        # recordings wait for each other only from here to the commit
        item.number = next_number(item.received_at)


def change_severity(complaint_id, severity, actor):
    with transaction():
        complaint = get_complaint(complaint_id, lock=True)
        _require_state(complaint, OPEN_STATES, _("change the severity of"))
        from app.complaints.enums import SEVERITY

        if severity not in SEVERITY:
            raise Invalid({"severity": [_("Not a valid choice.")]})
        old = complaint.severity
        complaint.severity = severity
        clk = sla.recompute(complaint)
        if old != severity:
            _event(complaint, "severity_changed", actor, f"{old} → {severity}")
        mark_breaches(complaint, clk)
    notify.dispatch()
    return complaint


# --- lifecycle ----------------------------------------------------------------------------------

def respond(complaint_id, note, actor):
    if not (note or "").strip():
        raise Invalid({"note": [_("Write the response given to the customer.")]})
    with transaction():
        c = get_complaint(complaint_id, lock=True)
        _require_state(c, ("new",), _("respond to"))
        c.status = "responded"
        c.first_response_at = clock.now()
        _event(c, "responded", actor, note)
        mark_breaches(c, sla.recompute(c))
    notify.dispatch()
    return c


def pause(complaint_id, reason, actor):
    if not (reason or "").strip():
        raise Invalid({"reason": [_("Say what the complaint is waiting for.")]})
    with transaction():
        c = get_complaint(complaint_id, lock=True)
        _require_state(c, ("responded", "in_progress"), _("pause"))
        if c.paused:
            raise Conflict(_("The complaint is already paused."), {"paused": [_("Already paused.")]})
        now = clock.now()
        mark_breaches(c, sla.recompute(c))  # a breach before the pause stays
        c.paused, c.paused_at = True, now
        db.session.add(ComplaintPause(complaint=c, started_at=now, reason=reason))
        _event(c, "paused", actor, reason)
        db.session.flush()
        db.session.expire(c, ["pauses"])
        sla.recompute(c)
    notify.dispatch()
    return c


def resume(complaint_id, actor):
    with transaction():
        c = get_complaint(complaint_id, lock=True)
        if not c.paused:
            raise Conflict(_("The complaint is not paused."), {"paused": [_("Not paused.")]})
        now = clock.now()
        for p in c.pauses:
            if p.ended_at is None:
                p.ended_at = now
        c.paused, c.paused_at = False, None
        db.session.flush()
        clk = sla.recompute(c)
        if c.resolution_breached or clk.resolution_late(now):
            note = _("The resolution was due at %(due)s; a pause after the due time does not move it.",
                     due=l10n.datetime_text(clk.resolution_due))
        else:
            note = _("New resolution due time: %(due)s", due=l10n.datetime_text(clk.resolution_due))
        _event(c, "resumed", actor, note)
        mark_breaches(c, clk)
    notify.dispatch()
    return c


def resolve(complaint_id, resolution, actor):
    if not (resolution or "").strip():
        raise Invalid({"resolution": [_("Describe how the complaint was resolved.")]})
    with transaction():
        c = get_complaint(complaint_id, lock=True)
        _require_state(c, ("responded", "in_progress"), _("resolve"))
        if c.paused:
            raise Conflict(_("Resume the complaint before resolving it."), {"paused": [_("Paused.")]})
        if any(e.status == "pending" and not e.auto_key for e in c.escalations):
            raise Conflict(_("An escalation of this complaint is still pending."),
                           {"status": [_("Escalation pending.")]})
        c.status, c.resolved_at, c.resolution = "resolved", clock.now(), resolution
        _event(c, "resolved", actor, resolution)
        mark_breaches(c, sla.recompute(c))
    return c


def close(complaint_id, customer_satisfied, actor):
    if not isinstance(customer_satisfied, bool):
        raise Invalid({"customer_satisfied": [_("Say whether the customer is satisfied (true or false).")]})
    with transaction():
        c = get_complaint(complaint_id, lock=True)
        _require_state(c, ("resolved",), _("close"))
        c.status, c.closed_at = "closed", clock.now()
        c.customer_notified, c.customer_satisfied = True, customer_satisfied
        _event(c, "notified", actor, _("Customer satisfied") if customer_satisfied else _("Customer not satisfied"))
        _event(c, "closed", actor)
    return c


# --- escalation ---------------------------------------------------------------------------------

def needs_level2(complaint, remedy, amount):
    threshold = Decimal(settings.get("escalation.level2_compensation_threshold"))
    if amount is not None and Decimal(amount) > threshold:
        return True
    return complaint.severity == "urgent" and remedy in ("refund", "replacement")


def _validate_request(reason, remedy, amount):
    from app.complaints.enums import ESCALATION_REASON, REMEDY

    errors = ErrorCollector()
    if reason not in ESCALATION_REASON:
        errors.add("reason", _("Not a valid choice. Choose one of: %(codes)s.", codes=", ".join(ESCALATION_REASON.codes)))
    if remedy is not None and remedy not in REMEDY:
        errors.add("remedy", _("Not a valid choice. Choose one of: %(codes)s.", codes=", ".join(REMEDY.codes)))
    value = None
    if amount is not None and amount != "":
        from app.core import precision

        try:
            value = Decimal(str(amount))
            if not value.is_finite():
                raise ValueError
        except Exception:
            errors.add("compensation_amount", _("Enter an amount in yuan."))
        else:
            if value < 0 or value > Decimal("100000000"):
                errors.add("compensation_amount", _("Enter an amount between 0 and 100,000,000."))
            else:
                try:  # exactly what the column keeps: ¥12.345 is refused, not rounded
                    value = precision.parse(value, Escalation.__table__.c.compensation_amount)
                except ValueError as exc:
                    errors.add("compensation_amount", str(exc))
    if remedy == "compensation" and value is None and not errors.errors.get("compensation_amount"):
        errors.add("compensation_amount", _("A compensation remedy needs an amount."))
    errors.raise_if_any()
    return value


def escalate(complaint_id, reason, remedy, amount, comment, actor):
    amount = _validate_request(reason, remedy, amount)
    with transaction():
        c = get_complaint(complaint_id, lock=True)
        _require_state(c, OPEN_STATES, _("escalate"))
        if any(e.status == "pending" for e in c.escalations):
            raise Conflict(_("An escalation of this complaint is already pending."),
                           {"complaint": [_("Escalation pending.")]})
        esc = Escalation(complaint=c, level=1, reason=reason, remedy=remedy, compensation_amount=amount,
                         request_comment=comment or "", requested_by_id=actor.id if actor else None,
                         requested_at=clock.now(), status="pending")
        db.session.add(esc)
        db.session.flush()
        _event(c, "escalated", actor, comment or "")
        notify.new_escalation(esc)
    notify.dispatch()
    return esc


def _region_manager_ids(region_id):
    return {user_id for _region, user_id, _email in scope.region_members([region_id], REGIONAL_MANAGER)}


def active_delegate_ids(manager_ids, on=None):
    on = on or clock.today()
    if not manager_ids:
        return set()
    rows = db.session.execute(
        select(EscalationDelegation.delegate_id).where(
            EscalationDelegation.manager_id.in_(manager_ids),
            EscalationDelegation.starts_on <= on,
            EscalationDelegation.ends_on >= on,
        )
    )
    return {r[0] for r in rows}


def level1_decider_ids(complaint):
    managers = _region_manager_ids(complaint.outlet.region_id)
    return managers | active_delegate_ids(managers)


def _has_role(user, name):
    return any(r.name == name for r in user.roles)


def check_can_decide(esc, user):
    if user is None:
        raise Forbidden()
    if esc.requested_by_id == user.id:
        raise Forbidden(_("You cannot decide an escalation you requested."),
                        {"escalation": [_("Requested by you.")]})
    if esc.level == 1:
        if user.id not in level1_decider_ids(esc.complaint):
            raise Forbidden(_("Only a regional manager of this region, or their delegate, decides level 1."))
    elif not _has_role(user, HQ_ADMIN):
        raise Forbidden(_("Only an HQ admin decides level 2."))


def _decide(escalation_id, actor, approve, comment):
    if not approve and not (comment or "").strip():
        raise Invalid({"comment": [_("Give the reason for rejecting.")]})
    with transaction():
        esc = get_escalation(escalation_id, lock=True)
        if esc.status != "pending":
            from app.complaints.enums import ESCALATION_STATUS

            raise Conflict(_("This escalation was already decided (%(status)s).",
                             status=ESCALATION_STATUS.label(esc.status)), {"status": [esc.status]})
        check_can_decide(esc, actor)
        now = clock.now()
        # compare-and-set: exactly one decision wins even where FOR UPDATE is not supported
        won = db.session.execute(
            update(Escalation)
            .where(Escalation.id == esc.id, Escalation.status == "pending")
            .values(status="approved" if approve else "rejected", decided_by_id=actor.id, decided_at=now,
                    comment=comment or "", updated_at=now)
            .execution_options(synchronize_session=False)
        ).rowcount
        if won != 1:
            raise Conflict(_("This escalation was already decided by someone else."), {"status": ["decided"]})
        db.session.refresh(esc)
        c = esc.complaint
        if approve:
            _event(c, "approved", actor, comment or "")
            if esc.level == 1 and needs_level2(c, esc.remedy, esc.compensation_amount):
                nxt = Escalation(complaint=c, parent_id=esc.id, level=2, reason=esc.reason, remedy=esc.remedy,
                                 compensation_amount=esc.compensation_amount,
                                 request_comment=esc.request_comment, requested_by_id=esc.requested_by_id,
                                 requested_at=now, status="pending")
                db.session.add(nxt)
                db.session.flush()
                _event(c, "escalated", actor, _("Level 2 approval by HQ needed."))
                notify.new_escalation(nxt)
            else:
                if c.status in ("new", "responded"):
                    c.status = "in_progress"
                    if c.first_response_at is None:
                        c.first_response_at = now
                mark_breaches(c, sla.recompute(c))
        else:
            _event(c, "rejected", actor, comment)
        notify.decision(esc)
    notify.dispatch()
    return esc


def approve(escalation_id, comment, actor):
    return _decide(escalation_id, actor, True, comment)


def reject(escalation_id, comment, actor):
    return _decide(escalation_id, actor, False, comment)


# --- delegations: who may be named, who is offered --------------------------------------------

def deciders_clause(region_ids=None):
    """Active users who may decide escalations of ``region_ids`` (``None``: of any region): HQ
    admins, and regional managers assigned to one of those regions."""
    from flask_appbuilder.security.sqla.models import Role, User, assoc_user_role
    from sqlalchemy import and_, or_

    from app.network.models import region_user

    def holding(role_name):
        return User.id.in_(select(assoc_user_role.c.user_id)
                           .join(Role, Role.id == assoc_user_role.c.role_id).where(Role.name == role_name))

    members = select(region_user.c.user_id)
    if region_ids is not None:
        members = members.where(region_user.c.region_id.in_(list(region_ids)))
    return and_(User.active.is_(True), or_(holding(HQ_ADMIN), and_(holding(REGIONAL_MANAGER), User.id.in_(members))))


def may_decide_for(delegate, manager):
    """Whether ``delegate`` can decide what ``manager`` delegates: an active HQ admin, or an
    active regional manager sharing one of the manager's regions."""
    if delegate is None or not delegate.active:
        return False
    if _has_role(delegate, HQ_ADMIN):
        return True
    return _has_role(delegate, REGIONAL_MANAGER) and bool(
        scope.user_region_ids(delegate) & scope.user_region_ids(manager))


@scope.related_rule(EscalationDelegation, "delegate")
def offered_delegates(actor):
    """A delegation's delegate is chosen among the deciders of the actor's regions (everyone's
    for unrestricted users), never the actor themselves."""
    from flask_appbuilder.security.sqla.models import User

    if actor is None or scope.is_unrestricted(actor):
        return deciders_clause()
    return deciders_clause(scope.current_region_ids()) & (User.id != actor.id)


@scope.related_rule(EscalationDelegation, "manager")
def offered_managers(actor):
    """Delegating managers: the regional managers of the actor's regions (any region's for
    unrestricted users)."""
    from flask_appbuilder.security.sqla.models import Role, User, assoc_user_role

    from app.network.models import region_user

    members = select(region_user.c.user_id)
    if actor is not None and not scope.is_unrestricted(actor):
        members = members.where(region_user.c.region_id.in_(list(scope.current_region_ids() or ())))
    managers = (select(assoc_user_role.c.user_id).join(Role, Role.id == assoc_user_role.c.role_id)
                .where(Role.name == REGIONAL_MANAGER))
    return User.id.in_(members) & User.id.in_(managers)


@validates_entity(EscalationDelegation)
def _delegation_rules(item, errors):
    manager = item.manager
    if manager is None:
        return
    if not _has_role(manager, REGIONAL_MANAGER) or not scope.user_region_ids(manager):
        errors.add("manager", _("Only a regional manager assigned to a region can delegate."))
    if item.delegate_id is not None and item.delegate_id == item.manager_id or (
            item.delegate is not None and item.delegate is manager):
        errors.add("delegate", _("Choose someone else as delegate."))
    elif item.delegate_id is not None or item.delegate is not None:
        from flask_appbuilder.security.sqla.models import User

        delegate = item.delegate if item.delegate is not None else db.session.get(User, item.delegate_id)
        if not may_decide_for(delegate, manager):
            errors.add("delegate", _("The delegate must be able to decide these escalations: a regional "
                                     "manager of the same region, or an HQ admin."))
    if item.starts_on and item.ends_on and item.ends_on < item.starts_on:
        errors.add("ends_on", _("The end date must not be before the start date."))


# --- the SLA sweep -------------------------------------------------------------------------------

def sweep(now=None, batch=500):
    """Mark warnings and breaches that came due and escalate breaches once. Returns counts.

    Set-based, ``batch`` complaints per transaction, reading only those whose ``next_check_at``
    has passed (an index range): ``complaints.sweep``.
    """
    from app.complaints import sweep as sla_sweep

    return sla_sweep.run(now=now, batch=batch)


def mark_breaches(c, clk, now=None):
    """Record the breaches the times make a fact (the rule is ``sla.Clock.*_late``), whatever a
    sweep saw. A complaint still open when it breaches is escalated automatically (once); one
    already resolved is marked, not escalated. Returns ``(newly breached, escalated)`` as 0/1."""
    now = now or clock.now()
    newly = 0
    if not c.response_breached and clk.response_late(now):
        c.response_breached, newly = True, 1
        _event(c, "breached", None, _("No first response in time."), at=now)
    if not c.resolution_breached and clk.resolution_late(now):
        c.resolution_breached, newly = True, 1
        _event(c, "breached", None, _("Not resolved in time."), at=now)
    escalated = 1 if newly and c.status in OPEN_STATES and _auto_escalate(c, now) else 0
    c.next_check_at = sla.next_check(c, clk)
    return newly, escalated


class sweep_context:
    """What a batch of complaints shares: calendars by region, policies by severity, settings —
    read once per batch instead of once per complaint."""

    def __init__(self, complaints):
        from app.core import calendar

        self.schedules = {}
        for region_id in {c.outlet.region_id for c in complaints}:
            self.schedules[region_id] = calendar.schedule_for_region(region_id)
        self.policies = {}
        self.warn_percent = settings.get("complaint.warning_percent")
        self.verification_days = settings.get("complaint.investigation_working_days")

    def for_complaint(self, c):
        if c.severity not in self.policies:
            self.policies[c.severity] = sla.policy_for(c.severity)
        return {"sched": self.schedules[c.outlet.region_id], "policy": self.policies[c.severity],
                "warn_percent": self.warn_percent, "verification_days": self.verification_days}


def _auto_escalate(c, now):
    if c.status not in OPEN_STATES:
        return False
    if any(e.level == 1 and e.status in ("pending", "approved") for e in c.escalations):
        return False
    exists = db.session.execute(
        select(Escalation.id).where(Escalation.complaint_id == c.id, Escalation.level == 1,
                                    Escalation.auto_key == "sla_breach")
    ).first()
    if exists:
        return False
    esc = Escalation(complaint_id=c.id, level=1, reason="sla_breach", auto_key="sla_breach", requested_at=now,
                     status="pending", request_comment=_("Escalated automatically after an SLA breach."))
    try:
        with savepoint():
            db.session.add(esc)
            db.session.flush()
    except IntegrityError:
        return False
    db.session.expire(c, ["escalations"])
    _event(c, "escalated", None, esc.request_comment)
    notify.new_escalation(esc)
    return True


__all__ = [
    "respond", "pause", "resume", "resolve", "close", "escalate", "approve", "reject", "sweep",
    "change_severity", "run_validators",
]


def timeline(complaint):
    """The complaint's events in the order they happened."""
    return sorted(complaint.events, key=lambda e: (e.at, e.id or 0))


def check_delegation_owner(item, actor):
    """A manager delegates their own approvals; HQ admins may record a delegation for anyone."""
    if item.manager is None and item.manager_id is None and actor is not None:
        item.manager = actor
    if actor is None or scope.is_unrestricted(actor):
        return
    manager_id = item.manager.id if item.manager is not None else item.manager_id
    if manager_id != actor.id:
        raise Forbidden(_("You can only delegate your own approvals."), {"manager": [_("Not you.")]})


def recompute_breaches(batch=1000, log=None):
    """Recompute every complaint's due times and mark the breaches its times make a fact (for
    complaints recorded before a breach was marked at the moment of a late response or
    resolution). Flags already set stay; nothing is escalated after the fact. Idempotent.
    Returns ``{"checked", "response_breached", "resolution_breached"}``."""
    counts = {"checked": 0, "response_breached": 0, "resolution_breached": 0}
    now = clock.now()
    last_id = 0
    while True:
        with transaction():
            complaints = (db.session.query(Complaint).filter(Complaint.id > last_id)
                          .order_by(Complaint.id).limit(batch).all())
            if not complaints:
                break
            context = sweep_context(complaints)
            for c in complaints:
                counts["checked"] += 1
                clk = sla.recompute(c, now=now, **context.for_complaint(c))
                if not c.response_breached and clk.response_late(now) and c.first_response_at is not None:
                    c.response_breached = True
                    counts["response_breached"] += 1
                    _event(c, "breached", None, _("No first response in time."), at=now)
                if not c.resolution_breached and clk.resolution_late(now) and c.resolved_at is not None:
                    c.resolution_breached = True
                    counts["resolution_breached"] += 1
                    _event(c, "breached", None, _("Not resolved in time."), at=now)
                c.next_check_at = sla.next_check(c, clk)
            last_id = complaints[-1].id
        if log:
            log(f"{counts['checked']} complaints checked")
    return counts


@region_from_loaded(Complaint)
def _complaint_region(item):
    """A complaint lies in its outlet's region: known without a query when the outlet is loaded."""
    from sqlalchemy import inspect as sa_inspect

    outlet = sa_inspect(item).dict.get("outlet")
    if outlet is None:
        return None
    state = sa_inspect(outlet)
    if state.identity is None or state.identity[0] != sa_inspect(item).dict.get("outlet_id"):
        return None
    return state.dict.get("region_id")
