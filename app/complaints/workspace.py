"""The complaint page as the agent's workspace: which actions the complaint's state offers, the
SLA clock as the agent reads it (due, remaining, overdue), and a failed action's typed values and
errors for the page to show again.

What the page offers follows the states the services accept (``complaints.services``); the services
stay the judges: a stale page that offers an action the state no longer allows gets their refusal.
"""
from babel.units import format_unit
from flask_babel import get_locale
from flask_babel import gettext as _

from app.complaints.enums import COMPLAINT_STATUS, ESCALATION_REASON, REMEDY, SEVERITY
from app.complaints.services import OPEN_STATES
from app.core import clock
from app.core.errors import Invalid

ACTIONS = ("respond", "pause", "resume", "resolve", "close", "escalate")
SOON_MINUTES = 60


class Failure:
    """A refused action: what was typed and what the service said, per field."""

    def __init__(self, action, form, exc):
        self.action = action
        self.values = {key: form.get(key, "") for key in form.keys() if key != "csrf_token"}
        self.message = str(exc.message)
        self.errors = {field: [str(m) for m in messages] for field, messages in exc.errors.items()}


def _pending(complaint):
    return [e for e in complaint.escalations if e.status == "pending"]


def available_actions(complaint):
    """``{action: None}`` for the actions the state allows, and ``{action: reason}`` for those
    held back by something the agent should know (a pause, a pending escalation)."""
    status, paused = complaint.status, complaint.paused
    pending = _pending(complaint)
    offered = {}
    if status == "new":
        offered["respond"] = None
    if status in ("responded", "in_progress"):
        if paused:
            offered["resume"] = None
        else:
            offered["pause"] = None
            if any(not e.auto_key for e in pending):
                offered["resolve"] = _("Resolve after the pending escalation is decided.")
            else:
                offered["resolve"] = None
    if status == "resolved":
        offered["close"] = None
    if status in OPEN_STATES:
        offered["escalate"] = _("An escalation is already waiting for a decision.") if pending else None
    return offered


def duration_text(minutes):
    """``2小时 15分钟`` / ``2 hr 15 min``: days and hours, or hours and minutes (CLDR's units)."""
    minutes = max(int(minutes), 0)
    loc = get_locale()

    def unit(value, name):
        return format_unit(value, f"duration-{name}", length="short", locale=loc)

    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    if days:
        parts = [unit(days, "day")] + ([unit(hours, "hour")] if hours else [])
    elif hours:
        parts = [unit(hours, "hour")] + ([unit(mins, "minute")] if mins else [])
    else:
        parts = [unit(mins, "minute")]
    return " ".join(parts)


def _clock_row(key, label, due, done_at, breached, now, stopped=False):
    """One SLA line: ``state`` is ``met``, ``late``, ``stopped``, ``overdue``, ``soon`` or ``running``."""
    row = {"key": key, "label": label, "due": due, "done_at": done_at, "text": ""}
    if done_at is not None:
        row["state"] = "late" if breached or (due is not None and done_at > due) else "met"
        row["text"] = _("Late") if row["state"] == "late" else _("On time")
    elif stopped:
        row["state"] = "stopped"
        row["text"] = _("Clock stopped while paused")
    elif due is None:
        row["state"] = "running"
    elif now > due or breached:
        row["state"] = "overdue"
        row["text"] = _("Overdue by %(time)s", time=duration_text((now - due).total_seconds() / 60)) \
            if now > due else _("Breached")
    else:
        minutes = (due - now).total_seconds() / 60
        row["state"] = "soon" if minutes <= SOON_MINUTES else "running"
        row["text"] = _("Remaining: %(time)s", time=duration_text(minutes))
    return row


def sla_rows(complaint, now=None):
    """The first response and resolution clocks as the agent reads them, plus the initial
    verification deadline."""
    now = now or clock.now()
    c = complaint
    closed_unresolved = c.status == "closed" and c.resolved_at is None
    rows = [
        _clock_row("response", _("First response time limit"), c.response_due_at, c.first_response_at,
                   c.response_breached, now),
        _clock_row("resolution", _("Resolution time limit"), c.resolution_due_at, c.resolved_at, c.resolution_breached,
                   now, stopped=c.paused or closed_unresolved),
    ]
    if c.verification_due_at is not None:
        rows.append({"key": "verification", "label": _("Initial verification"), "due": c.verification_due_at,
                     "done_at": None, "state": "info", "text": ""})
    return rows


def page_context(complaint, can_write, failed=None):
    """Template variables of the workspace part of the complaint page."""
    actions = available_actions(complaint) if can_write else {}
    return {
        "complaint": complaint,
        "actions": actions,
        "sla_rows": sla_rows(complaint),
        "pending_escalations": _pending(complaint),
        "failed": failed,
        "orphan_failure": failed if failed is not None and failed.action not in actions else None,
        "ESCALATION_REASON": ESCALATION_REASON,
        "REMEDY": REMEDY,
        "COMPLAINT_STATUS": COMPLAINT_STATUS,
        "SEVERITY": SEVERITY,
    }


def satisfied_choice(value):
    """The close form's yes/no answer as a bool; refused when neither was chosen."""
    answer = {"yes": True, "no": False}.get((value or "").strip())
    if answer is None:
        raise Invalid({"customer_satisfied": [_("Choose whether the customer is satisfied.")]})
    return answer
