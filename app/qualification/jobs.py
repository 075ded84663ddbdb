"""Periodic qualification work: open annual audits before they are due, and flag outlets that
drop below a computed criterion (opening one special audit). Both idempotent."""
import logging
from datetime import timedelta

from flask_babel import force_locale, gettext as _
from sqlalchemy import exists, select
from sqlalchemy.exc import IntegrityError

from app.core import clock, l10n, settings
from app.core.services import savepoint, transaction
from app.extensions import db
from app.network.models import Outlet
from app.qualification import evidence, services
from app.qualification.models import QualificationAudit

log = logging.getLogger(__name__)

IN_NETWORK = ("active", "probation", "suspended")
CHECKED = ("active", "probation")
BATCH = 1000


def _no_open_audit():
    return ~exists().where(QualificationAudit.outlet_id == Outlet.id, QualificationAudit.is_open.is_(True))


def _try_open(outlet, kind, **kwargs):
    """Open an audit in a SAVEPOINT: a concurrent opener (a user, another job run) wins quietly."""
    try:
        with savepoint():
            services.build_audit(outlet, kind, None, **kwargs)
            db.session.flush()
        return True
    except IntegrityError:
        return False


def open_annual_audits():
    """Open a draft annual audit for each outlet in the network whose next audit falls due within
    ``qualification.annual_open_days_before`` days (overdue ones included) and that has no open
    audit. Returns the number opened; a second run opens nothing."""
    horizon = clock.today() + timedelta(days=settings.get("qualification.annual_open_days_before"))
    opened = 0
    with transaction():
        outlets = db.session.execute(
            select(Outlet).where(Outlet.status.in_(IN_NETWORK), Outlet.next_audit_due_on.isnot(None),
                                 Outlet.next_audit_due_on <= horizon, _no_open_audit())
            .order_by(Outlet.next_audit_due_on, Outlet.id)
        ).scalars().all()
        with force_locale("zh"):
            for outlet in outlets:
                note = _("Annual review due on %(due)s.", due=l10n.date_text(outlet.next_audit_due_on))
                opened += _try_open(outlet, "annual", due_on=outlet.next_audit_due_on, origin="schedule",
                                    trigger_note=note)
    log.info("annual audits opened: %s", opened)
    return opened


def _reasons(ev):
    reasons = []
    if not ev.meets_engineers:
        reasons.append("engineers")
    if not ev.meets_stock:
        reasons.append("stock")
    return reasons


def _note(ev, reasons):
    parts = []
    if "engineers" in reasons:
        parts.append(_("certified engineers %(n)s < %(required)s", n=ev.certified_engineers,
                       required=ev.required_engineers))
    if "stock" in reasons:
        rate = "-" if ev.stock_rate is None else f"{ev.stock_rate}%"
        parts.append(_("common-parts stock rate %(rate)s < %(required)s%%", rate=rate,
                       required=ev.required_stock_rate))
    return _("Dropped below the qualification threshold: %(what)s.", what="; ".join(parts))


def check_outlet_qualification():
    """Flag active and probation outlets that miss a computed criterion (certified engineers,
    common-parts stock rate) and open one special audit when an outlet newly drops below (or
    misses one more criterion) and has no open audit; clear the flag of outlets that meet both
    again. Returns counts; a second run changes nothing."""
    counts = {"checked": 0, "flagged": 0, "cleared": 0, "opened": 0}
    today = clock.today()
    last_id = 0
    while True:
        with transaction():
            outlets = db.session.execute(
                select(Outlet).where(Outlet.status.in_(CHECKED), Outlet.id > last_id)
                .order_by(Outlet.id).limit(BATCH)
            ).scalars().all()
            if not outlets:
                break
            last_id = outlets[-1].id
            facts = evidence.for_outlets([o.id for o in outlets], today)
            with force_locale("zh"):
                for outlet in outlets:
                    counts["checked"] += 1
                    ev = facts[outlet.id]
                    reasons = _reasons(ev)
                    before = set(filter(None, (outlet.flag_reasons or "").split(",")))
                    if not reasons:
                        if outlet.flagged_on is not None or before:
                            outlet.flagged_on, outlet.flag_reasons = None, ""
                            counts["cleared"] += 1
                        continue
                    if set(reasons) == before and outlet.flagged_on is not None:
                        continue  # already flagged for exactly this
                    newly = set(reasons) - before
                    outlet.flag_reasons = ",".join(reasons)
                    if outlet.flagged_on is None:
                        outlet.flagged_on = today
                    counts["flagged"] += 1
                    if newly and services.open_audit_of(outlet.id) is None:
                        counts["opened"] += _try_open(outlet, "special", origin="threshold",
                                                      trigger_note=_note(ev, reasons))
    log.info("outlet qualification check: %s", counts)
    return counts
