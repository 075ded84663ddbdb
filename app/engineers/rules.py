"""Engineer facts computed in one place: certification status and training results.

A certificate is ``revoked`` when revoked; ``expired`` once ``expires_on`` is before today;
``expiring`` from ``expiring_days`` (setting, default 30) before its expiry date up to and
including that date; otherwise ``valid``. ``expires_on`` is the last day the certificate is
valid, so a certificate expiring today still counts: an engineer holding it is certified today.
"""
from datetime import timedelta

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
