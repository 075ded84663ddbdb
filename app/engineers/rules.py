"""Engineer facts computed in one place: certification status and training results.

A certificate is ``revoked`` when revoked; ``expired`` once ``expires_on`` is before today;
``expiring`` from ``expiring_days`` (setting, default 30) before its expiry date up to and
including that date; otherwise ``valid``. ``expires_on`` is the last day the certificate is
valid, so a certificate expiring today still counts: an engineer holding it is certified today.
"""
from datetime import timedelta

from dateutil.relativedelta import relativedelta
from sqlalchemy import and_, case, literal

from app.core import clock, settings


def certification_status(expires_on, revoked, today=None, expiring_days=None):
    today = today or clock.today()
    days = settings.get("certification.expiring_days") if expiring_days is None else expiring_days
    if revoked:
        return "revoked"
    if expires_on < today:
        return "expired"
    if expires_on <= today + timedelta(days=days):
        return "expiring"
    return "valid"


def certification_status_sql(model, today=None, expiring_days=None):
    """The same rule as a SQL CASE expression over ``model``'s columns."""
    today = today or clock.today()
    days = settings.get("certification.expiring_days") if expiring_days is None else expiring_days
    return case(
        (model.revoked.is_(True), literal("revoked")),
        (model.expires_on < today, literal("expired")),
        (model.expires_on <= today + timedelta(days=days), literal("expiring")),
        else_=literal("valid"),
    )


def certification_valid_clause(model, today=None):
    """Certificates that make their holder certified today (valid or expiring)."""
    today = today or clock.today()
    return and_(model.revoked.is_(False), model.expires_on >= today)


def training_thresholds():
    return {
        "theory_hours": settings.get("training.onboarding_theory_hours"),
        "practical_hours": settings.get("training.onboarding_practical_hours"),
        "mentored_orders": settings.get("training.onboarding_mentored_orders"),
        "theory_score": settings.get("training.pass_theory_score"),
        "practical_score": settings.get("training.pass_practical_score"),
    }


def training_shortfalls(record, thresholds=None):
    """The unmet items of a training record, as ``{field: (required, actual)}``.

    Every kind needs both passing scores; onboarding also needs its hours and mentored orders.
    """
    t = thresholds or training_thresholds()
    unmet = {}
    checks = [("theory_score", record.theory_score), ("practical_score", record.practical_score)]
    if record.kind == "onboarding":
        checks = [
            ("theory_hours", record.theory_hours),
            ("practical_hours", record.practical_hours),
            ("mentored_orders", record.mentored_orders),
        ] + checks
    for field, actual in checks:
        if actual is None or actual < t[field]:
            unmet[field] = (t[field], actual)
    return unmet


def training_passed(record, thresholds=None):
    return not training_shortfalls(record, thresholds)


# --- onboarding gate ----------------------------------------------------------------------------

def _number(value):
    """``Decimal('30.0')`` → ``30``, ``Decimal('12.5')`` → ``12.5``."""
    from decimal import Decimal

    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    return str(value)


def shortfall_messages(shortfalls):
    """``{field: (required, actual)}`` → ``{field: [message]}`` naming required vs actual."""
    from flask_babel import gettext as _

    labels = {
        "theory_hours": _("Theory hours"),
        "practical_hours": _("Practical hours"),
        "mentored_orders": _("Mentored orders"),
        "theory_score": _("Theory score"),
        "practical_score": _("Practical score"),
    }
    messages = {}
    for field, (required, actual) in shortfalls.items():
        if actual is None:
            text = _("%(item)s: not recorded, %(required)s required", item=labels[field],
                     required=_number(required))
        else:
            text = _("%(item)s: %(actual)s of %(required)s required", item=labels[field],
                     actual=_number(actual), required=_number(required))
        messages[field] = [text]
    return messages


def onboarding_unmet(records, thresholds=None):
    """Why a trainee may not go on duty yet, as ``{field: [message]}`` (empty: they may).

    ``records`` are the engineer's onboarding training records, most recent first. The trainee
    may go on duty when at least one of them passes under the training policy in force now
    (``training_shortfalls``); otherwise the unmet items are those of the most recent record,
    or ``onboarding`` when there is none.
    """
    from flask_babel import gettext as _

    t = thresholds or training_thresholds()
    records = list(records)
    if not records:
        return {"onboarding": [_("No onboarding training on record.")]}
    if any(not training_shortfalls(r, t) for r in records):
        return {}
    return shortfall_messages(training_shortfalls(records[0], t))


# --- quarterly refresher ------------------------------------------------------------------------

REFRESHER_REASONS = ("refresher_failed", "refresher_overdue")
REFRESHER_MONTHS = 3


class RefresherFacts:
    """What the refresher rule needs to know of one engineer's training, all dates (or None):

    * ``last_failed_quarterly`` — the latest quarterly record that did not pass;
    * ``last_passed_quarterly`` — the latest quarterly record that passed;
    * ``last_passed`` — the latest passed onboarding or quarterly record.
    """

    __slots__ = ("last_failed_quarterly", "last_passed_quarterly", "last_passed")

    def __init__(self, last_failed_quarterly=None, last_passed_quarterly=None, last_passed=None):
        self.last_failed_quarterly = last_failed_quarterly
        self.last_passed_quarterly = last_passed_quarterly
        self.last_passed = last_passed

    def with_record(self, kind, taken_on, passed):
        """These facts with one more record folded in."""
        def later(a, b):
            return b if a is None or (b is not None and b > a) else a

        facts = RefresherFacts(self.last_failed_quarterly, self.last_passed_quarterly, self.last_passed)
        if kind == "quarterly" and not passed:
            facts.last_failed_quarterly = later(facts.last_failed_quarterly, taken_on)
        if kind == "quarterly" and passed:
            facts.last_passed_quarterly = later(facts.last_passed_quarterly, taken_on)
        if kind in ("onboarding", "quarterly") and passed:
            facts.last_passed = later(facts.last_passed, taken_on)
        return facts

    @property
    def refresher_failed(self):
        """The latest quarterly result is a failure: no pass dated after the last failure
        (a pass and a failure on the same day count as a failure)."""
        return self.last_failed_quarterly is not None and (
            self.last_passed_quarterly is None or self.last_passed_quarterly <= self.last_failed_quarterly)


def refresher_due_on(facts, hire_date, grace_days):
    """The last day an engineer may work without a newer passed training: the latest passed
    onboarding-or-quarterly training (else the hire date) + 3 months + the grace days."""
    since = facts.last_passed or hire_date
    return since + relativedelta(months=REFRESHER_MONTHS) + timedelta(days=grace_days)


def refresher_verdict(status, reason, facts, hire_date, today, grace_days):
    """The quarterly-refresher rule for one engineer: the ``(status, suspension_reason)`` it
    wants, or ``None`` to leave the engineer as they are.

    * on duty (``active``): suspended ``refresher_failed`` when the latest quarterly result is a
      failure; else suspended ``refresher_overdue`` when today is after ``refresher_due_on``;
    * suspended for a refresher reason: back on duty once a passed quarterly record dated after
      the last failure exists and the engineer is not overdue;
    * anyone else (trainees, other suspensions, leavers) is never touched.
    """
    if status == "active":
        if facts.refresher_failed:
            return ("suspended", "refresher_failed")
        if today > refresher_due_on(facts, hire_date, grace_days):
            return ("suspended", "refresher_overdue")
        return None
    if status == "suspended" and reason in REFRESHER_REASONS:
        if (facts.last_passed_quarterly is not None and not facts.refresher_failed
                and today <= refresher_due_on(facts, hire_date, grace_days)):
            return ("active", None)
    return None
