"""The SLA clock of a complaint, computed in one place.

Due times come from the severity's policy and the region's business calendar, always from the
original receipt time: ``due = receipt + allowed time + all paused time``, measured in business
time when the policy says so and in calendar time otherwise. Every pause counts (the
``complaint_pause`` rows), so resuming gives back the whole paused time, and changing severity
simply recomputes. While a complaint is paused its resolution clock is stopped: the sweep skips it.

* response due: ``response_minutes`` after receipt (not affected by pauses: a complaint can only
  be paused after its first response);
* resolution due: ``resolution_hours`` after receipt, plus paused time;
* initial verification due: the end of the N-th working day after receipt (setting
  ``complaint.investigation_working_days``, default 3), plus paused working time;
* warnings at ``complaint.warning_percent`` (default 75 %) of the allowed time.
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


def paused_minutes(complaint, policy, sched, until=None):
    """Total paused time (every pause; an open pause counts up to ``until``)."""
    until = until or clock.now()
    total = 0.0
    for pause in complaint.pauses:
        end = pause.ended_at or until
        total += _measure(policy, sched, pause.started_at, end)
    return total


def paused_working_minutes(complaint, sched, until=None):
    until = until or clock.now()
    return sum(calendar.business_minutes_between(sched, p.started_at, p.ended_at or until)
               for p in complaint.pauses)


class Clock:
    """All due and warning times of one complaint at one moment."""

    def __init__(self, complaint, policy, sched):
        self.complaint, self.policy, self.sched = complaint, policy, sched
        received = complaint.received_at
        paused = paused_minutes(complaint, policy, sched)
        response_allowed = policy.response_minutes
        resolution_allowed = policy.resolution_hours * 60
        warn = settings.get("complaint.warning_percent") / 100
        self.response_due = _add(policy, sched, received, response_allowed)
        self.resolution_due = _add(policy, sched, received, resolution_allowed + paused)
        self.response_warn = _add(policy, sched, received, response_allowed * warn)
        self.resolution_warn = _add(policy, sched, received, resolution_allowed * warn + paused)
        days = settings.get("complaint.investigation_working_days")
        base = calendar.add_working_days(sched, received, days)
        extra = paused_working_minutes(complaint, sched)
        self.verification_due = calendar.add_business_minutes(sched, base, extra) if extra else base


def policy_for(severity):
    from app.complaints.models import SlaPolicy
    from app.extensions import db

    policy = db.session.query(SlaPolicy).filter(SlaPolicy.severity == severity).one_or_none()
    if policy is None:
        from app.complaints.models import SlaPolicy as P

        defaults = {"general": (10, 24), "major": (10, 48), "urgent": (10, 2)}
        minutes, hours = defaults[severity]
        policy = P(severity=severity, response_minutes=minutes, resolution_hours=hours, business_time=False)
    return policy


def recompute(complaint, sched=None):
    """Write the due times and the next check time onto ``complaint`` (no commit)."""
    sched = sched or calendar.schedule_for_region(complaint.outlet.region_id)
    c = Clock(complaint, policy_for(complaint.severity), sched)
    complaint.response_due_at = c.response_due
    complaint.resolution_due_at = c.resolution_due
    complaint.verification_due_at = c.verification_due
    complaint.next_check_at = next_check(complaint, c)
    return c


def next_check(complaint, c):
    """The earliest pending warning or deadline, or None when nothing is pending."""
    if complaint.status in ("resolved", "closed") or complaint.paused:
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
