"""The SLA clock of a complaint, computed in one place.

Due times come from the severity's policy and the region's business calendar, always from the
original receipt time, measured in business time when the policy says so and in calendar time
otherwise.

* response due: ``response_minutes`` after receipt. Pauses do not move it (a complaint can only
  be paused after its first response).
* resolution due: ``resolution_hours`` after receipt, plus the paused time that stopped a running
  clock. The clock stops only while it runs: a pause counts whole when it began before (or at) the
  due time it extends, and not at all when it began after: the breach had already happened, and a
  breach, once it happened, stays. An open pause that counts stops the clock up to now.
* initial verification due: the close of working hours on the N-th working day after the day of
  receipt in the region's calendar (setting ``complaint.investigation_working_days``, default 3).
  Pauses do not move it: it is the handling department's own deadline.
* warnings at ``complaint.warning_percent`` (default 75 %) of the allowed time (plus the counted
  paused time for the resolution).

A breach is a fact of the times (``Clock.response_late`` / ``Clock.resolution_late``): a first
response after the response due time, a resolution after the resolution due time, or — while still
waiting — the due time having passed. ``services.mark_breaches`` records it whenever a complaint
moves and the sweep records it for the complaints still open.
"""
from datetime import timedelta

from app.core import calendar, clock, settings


def _measure(policy, sched, a, b):
    if policy.business_time:
        return calendar.business_minutes_between(sched, a, b)
    return (b - a).total_seconds() / 60


def _add(policy, sched, start, minutes):
    if policy.business_time:
        return calendar.add_business_minutes(sched, start, minutes)
    return start + timedelta(minutes=minutes)


def late(at, due):
    """Whether something that happened (or is still awaited) at ``at`` missed ``due``."""
    return at > due


def counted_pauses(complaint, policy, sched, allowed, until):
    """``(paused minutes, stopped)``: the paused time that extends the resolution clock, and
    whether an open pause is stopping it now. Pauses are taken in order; one that began after the
    due time reached so far finds the clock already run out and counts nothing (nor do later ones)."""
    received = complaint.received_at
    due = _add(policy, sched, received, allowed)
    paused, stopped = 0.0, False
    for pause in sorted(complaint.pauses, key=lambda p: p.started_at):
        if late(pause.started_at, due):
            break
        end = pause.ended_at or until
        paused += _measure(policy, sched, pause.started_at, max(end, pause.started_at))
        stopped = stopped or pause.ended_at is None
        due = _add(policy, sched, received, allowed + paused)
    return paused, stopped


class Clock:
    """All due and warning times of one complaint at one moment."""

    def __init__(self, complaint, policy, sched, now=None, warn_percent=None, verification_days=None):
        self.complaint, self.policy, self.sched = complaint, policy, sched
        now = now or clock.now()
        received = complaint.received_at
        response_allowed = policy.response_minutes
        resolution_allowed = policy.resolution_hours * 60
        if warn_percent is None:
            warn_percent = settings.get("complaint.warning_percent")
        warn = warn_percent / 100
        self.paused_minutes, self.stopped = counted_pauses(complaint, policy, sched, resolution_allowed, now)
        self.response_due = _add(policy, sched, received, response_allowed)
        self.resolution_due = _add(policy, sched, received, resolution_allowed + self.paused_minutes)
        self.response_warn = _add(policy, sched, received, response_allowed * warn)
        self.resolution_warn = _add(policy, sched, received, resolution_allowed * warn + self.paused_minutes)
        if verification_days is None:
            verification_days = settings.get("complaint.investigation_working_days")
        self.verification_due = calendar.add_working_days(sched, received, verification_days)

    def response_late(self, now):
        """The first response came, or is still awaited, after its due time."""
        return late(self.complaint.first_response_at or now, self.response_due)

    def resolution_late(self, now):
        """The resolution came, or is still awaited (and the clock not stopped), after its due time."""
        c = self.complaint
        if c.resolved_at is not None:
            return late(c.resolved_at, self.resolution_due)
        if c.status == "closed" or self.stopped:
            return False
        return late(now, self.resolution_due)


DEFAULT_POLICIES = {"general": (10, 24), "major": (10, 48), "urgent": (10, 2)}


def _default_policy(severity):
    from app.complaints.models import SlaPolicy

    minutes, hours = DEFAULT_POLICIES[severity]
    return SlaPolicy(severity=severity, response_minutes=minutes, resolution_hours=hours, business_time=False)


def policy_for(severity):
    from app.complaints.models import SlaPolicy
    from app.extensions import db

    policy = db.session.query(SlaPolicy).filter(SlaPolicy.severity == severity).one_or_none()
    return policy if policy is not None else _default_policy(severity)


def policies():
    """``{severity: policy}`` of every severity in one query (the defaults where no row exists)."""
    from app.complaints.models import SlaPolicy
    from app.extensions import db

    stored = {p.severity: p for p in db.session.query(SlaPolicy)}
    return {severity: stored.get(severity) or _default_policy(severity) for severity in DEFAULT_POLICIES}


def recompute(complaint, sched=None, policy=None, now=None, **clock_settings):
    """Write the due times and the next check time onto ``complaint`` (no commit)."""
    sched = sched or calendar.schedule_for_region(complaint.outlet.region_id)
    c = Clock(complaint, policy or policy_for(complaint.severity), sched, now=now, **clock_settings)
    complaint.response_due_at = c.response_due
    complaint.resolution_due_at = c.resolution_due
    complaint.verification_due_at = c.verification_due
    complaint.next_check_at = next_check(complaint, c)
    return c


def next_check(complaint, c):
    """The earliest pending warning or deadline, or None when nothing is pending."""
    if complaint.status in ("resolved", "closed") or c.stopped:
        return None
    pending = []
    if complaint.first_response_at is None:
        if not complaint.response_warned:
            pending.append(c.response_warn)
        if not complaint.response_breached:
            pending.append(c.response_due)
    if not complaint.resolution_warned:
        pending.append(c.resolution_warn)
    if not complaint.resolution_breached:
        pending.append(c.resolution_due)
    return min(pending) if pending else None
