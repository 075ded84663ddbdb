"""Engineer facts computed in one place: certification status, training results and the moves
of an engineer's status.

A certificate is ``revoked`` when revoked; ``expired`` once ``expires_on`` is before today;
``expiring`` from ``expiring_days`` (setting, default 30) before its expiry date up to and
including that date; otherwise ``valid``. ``expires_on`` is the last day the certificate is
valid, so a certificate expiring today still counts: an engineer holding it is certified today.

Engineer status (``STATUS_TRANSITIONS``)
----------------------------------------
An engineer's status moves only along this table, whatever the way in (pages, the API, the
Excel import, the refresher job, the training-record rule); each move into ``active`` checks its
own condition:

==============  ==============  ==========================================================
from            to              condition
==============  ==============  ==========================================================
(new)           ``trainee``     none: every new engineer starts here
``trainee``     ``active``      an onboarding training that passes the training policy in
                                force (``onboarding_unmet``); a new engineer may be created
                                ``active`` only when an import brings such a record with it
``active``      ``suspended``   by the quarterly refresher rule (reason ``refresher_failed``
                                / ``refresher_overdue``), or by hand by an HQ admin
                                (reason ``other``)
``suspended``   ``active``      a refresher suspension: a passed quarterly retake
                                (``refresher_verdict``); a suspension by hand: lifted by an
                                HQ admin
``trainee``,    ``left``        none (any → ``left``)
``active``,
``suspended``
``left``        —               final: an engineer who left does not come back (a
                                returning engineer is added again, as a new trainee)
==============  ==============  ==========================================================

"HQ admin" is a user holding the ``HQ Admin`` role, or ``Admin`` (the superuser). A new engineer
is judged as a trainee moving to the status it is created with (so it can be created ``trainee``,
``left``, or ``active`` with a passed onboarding record; never ``suspended``). Anything else is
refused with a ``Conflict`` (409) whose ``errors["status"]`` names the current status, then each
unmet condition; an unmet onboarding also lists its items (``theory_score``, …, ``onboarding``).
"""
from datetime import timedelta

from dateutil.relativedelta import relativedelta
from sqlalchemy import and_, case, literal

from app.core import clock, settings
from app.security import roles


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


# --- engineer status: the transition table ------------------------------------------------------

NEW_ENGINEER_STATUS = "trainee"
HQ_ROLES = frozenset({roles.HQ_ADMIN, roles.ADMIN})

ONBOARDING_PASSED = "onboarding_passed"
SUSPENSION_ALLOWED = "suspension_allowed"
SUSPENSION_LIFTED = "suspension_lifted"

# {from: {to: condition}}; ``None``: the move needs nothing more. See the module docstring.
STATUS_TRANSITIONS = {
    "trainee": {"active": ONBOARDING_PASSED, "left": None},
    "active": {"suspended": SUSPENSION_ALLOWED, "left": None},
    "suspended": {"active": SUSPENSION_LIFTED, "left": None},
    "left": {},
}


def holds_hq_role(user):
    """Whether ``user`` may decide for HQ (``HQ Admin``, or the ``Admin`` superuser)."""
    return user is not None and any(role.name in HQ_ROLES for role in getattr(user, "roles", ()))


class StatusFacts:
    """What the conditions of one status move know. ``onboarding_unmet`` and ``retake_passed``
    are callables, asked only when a condition needs them (they query the database).

    * ``reason`` — the suspension reason at stake: of the suspension being lifted, or of the one
      being made;
    * ``by_hq_admin`` — an HQ admin asks for the move;
    * ``by_refresher_rule`` — the quarterly refresher rule makes the move (the job, or a retake saved);
    * ``onboarding_unmet()`` — ``{field: [message]}`` of the unmet onboarding items (empty: passed);
    * ``retake_passed()`` — the refresher rule would put this suspended engineer back on duty.
    """

    def __init__(self, reason=None, by_hq_admin=False, by_refresher_rule=False, onboarding_unmet=None,
                 retake_passed=None):
        self.reason = reason
        self.by_hq_admin = by_hq_admin
        self.by_refresher_rule = by_refresher_rule
        self.onboarding_unmet = onboarding_unmet or dict
        self.retake_passed = retake_passed or (lambda: False)


def _onboarding_passed(facts):
    from flask_babel import gettext as _

    unmet = facts.onboarding_unmet()
    return ([_("The trainee has not passed onboarding training yet.")], unmet) if unmet else ([], {})


def _suspension_allowed(facts):
    from flask_babel import gettext as _

    if facts.reason in REFRESHER_REASONS:
        if facts.by_refresher_rule:
            return [], {}
        return [_("Only the quarterly refresher rule suspends an engineer for the refresher.")], {}
    if facts.by_hq_admin:
        return [], {}
    return [_("Only an HQ admin can suspend an engineer by hand.")], {}


def _suspension_lifted(facts):
    from flask_babel import gettext as _

    if facts.reason in REFRESHER_REASONS:
        if facts.retake_passed():
            return [], {}
        return [_("Suspended for the quarterly refresher: back on duty only once a retake has passed "
                  "(dated after the last failure, and the refresher not overdue).")], {}
    if facts.by_hq_admin:
        return [], {}
    return [_("Only an HQ admin can lift a suspension made by hand.")], {}


CONDITIONS = {
    ONBOARDING_PASSED: _onboarding_passed,
    SUSPENSION_ALLOWED: _suspension_allowed,
    SUSPENSION_LIFTED: _suspension_lifted,
}


def status_refusal(current, target, facts):
    """Why an engineer may not move from ``current`` to ``target`` now: ``None`` when they may
    (or nothing moves), else ``(message, errors)`` for a ``Conflict`` — ``errors["status"]`` names
    the current status, then each unmet condition; a condition's items follow under their own
    fields."""
    from flask_babel import gettext as _

    from app.engineers.enums import ENGINEER_STATUS

    if current == target:
        return None
    label = ENGINEER_STATUS.label
    headline = _("This engineer is %(current)s and cannot become %(target)s.",
                 current=label(current), target=label(target))
    targets = STATUS_TRANSITIONS.get(current, {})
    if target not in targets:
        if targets:
            why = _("From %(current)s an engineer can only become: %(targets)s.", current=label(current),
                    targets=", ".join(label(t) for t in targets))
        else:
            why = _("%(current)s is final: the status no longer changes.", current=label(current))
        return headline, {"status": [headline, why]}
    condition = targets[target]
    if condition is None:
        return None
    messages, details = CONDITIONS[condition](facts)
    if not messages:
        return None
    return headline, {"status": [headline] + messages, **details}
