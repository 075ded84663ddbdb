"""The dashboard's numbers: small aggregates computed by the database, within the user's regions.

Each panel is one function returning a small dict of labels and numbers (its size depends on the
enumerations, the weeks of the period and the regions, never on the number of rows). Every figure
comes from ``COUNT`` / ``SUM(CASE …)`` / ``AVG`` in SQL, so no business row is loaded into Python;
the region scope is the same ``core.scope`` condition the lists use, so a regional manager's or
service agent's dashboard counts exactly the rows their lists show (HQ admins, auditors and admins
see every region). A user restricted to a single region sees that region's outlets in the
"regions" chart, one bar each, instead of a lone bar for the region.

What each figure counts is written once, in ``DEFINITIONS`` below: the page shows it as the tile's
tooltip and in its list of definitions, and the README repeats it. The **period** is the last
``days`` local days including today (``window_start`` … now, Asia/Shanghai); figures that describe
the network as it stands today (outlets, open audits, due audits, certificates, stock, open
complaints) say so and do not depend on it.

Complaint figures read the complaint's stored times (``received_at``, ``first_response_at``,
``resolved_at``, ``resolution_due_at``) and its breach flags (``response_breached``,
``resolution_breached``): a flag is the fact that the response or resolution came (or is still
missing) after its due time, pauses taken into account by the SLA clock that sets it.
"""
from datetime import datetime, time, timedelta

from babel.dates import format_skeleton
from flask import url_for
from flask_babel import format_decimal, format_percent, get_locale, gettext, lazy_gettext as _l
from sqlalchemy import Integer, Numeric, and_, case, cast, func, literal, null, or_, select, union_all

from app.complaints.enums import COMPLAINT_STATUS, SEVERITY
from app.complaints.models import Complaint, SlaPolicy
from app.core import clock, scope, settings
from app.engineers.models import Certification, Engineer
from app.extensions import db
from app.network.enums import OUTLET_STATUS
from app.network.models import Outlet, Region
from app.orders.models import ServiceOrder
from app.parts.models import Stock
from app.qualification.models import QualificationAudit
from app.security.roles import HQ_ADMIN

DEFAULT_WINDOW_DAYS = 90
MAX_WINDOW_DAYS = 366
CLOSED_COMPLAINT = ("resolved", "closed")
# Outlets that take service orders (DOMAIN: dispatch goes to outlets active or on probation): the
# ones a manager follows for audits, stock and the per-region count. Applying outlets are not in
# the network yet; suspended and terminated ones do not serve customers.
SERVING_OUTLET = ("active", "probation")
NOT_SERVING_OUTLET = tuple(code for code in OUTLET_STATUS.codes if code not in SERVING_OUTLET)
OUTLET_BARS = 20
"""Bars of the per-outlet chart of a single-region user: the outlets with the most open complaints."""
WEEK_SECONDS = 7 * 86400


# --- the definitions: one text per figure --------------------------------------------------------

DEFINITIONS = {
    "period": _l(
        "Period: the number of days chosen at the top of the page, today included (Asia/Shanghai), "
        "from midnight of the first day up to now. Figures marked \"today\" describe the network as "
        "it stands now and do not depend on the period."),
    "breach_rate": _l(
        "SLA breach rate: of the complaints received in the period, the share whose first response or "
        "resolution came after its due time (response-breach or resolution-breach flag set; the SLA "
        "clock sets a flag as soon as the due time passes, pauses taken into account)."),
    "mean_response_minutes": _l(
        "Mean first response: over the complaints whose first response was given in the period, the "
        "mean time from receipt to the first response, in minutes (calendar time). Target: the SLA "
        "policies' first-response time, %(minutes)s."),
    "mean_resolution_hours": _l(
        "Mean resolution time: over the complaints resolved in the period, the mean time from receipt "
        "to resolution, in hours (calendar time)."),
    "complaint_resolution": _l(
        "On-time resolution rate: of the complaints whose resolution was due in the period or that were "
        "resolved in it, the share resolved by their due time (resolved, resolution-breach flag not "
        "set). A complaint neither due yet nor resolved is not counted. Target: at least %(target)s."),
    "complaint_satisfaction": _l(
        "Satisfaction with complaint handling: of the complaints resolved in the period whose customer "
        "answered, the share who said they were satisfied. Target: at least %(target)s."),
    "order_satisfaction": _l(
        "Service-order satisfaction: the mean score (1-5) of the service orders completed in the period "
        "that have a score. Target: at least %(target)s."),
    "open_audits": _l(
        "Open qualification audits, today: audits not yet approved (draft, submitted or returned)."),
    "audits_due": _l(
        "Audits due, today: outlets active or on probation whose next audit is overdue or due within "
        "%(days)s days. Applying, suspended and terminated outlets are not counted."),
    "certificates_expiring": _l(
        "Certificates expiring, today: certificates not revoked that expire between today and "
        "%(days)s days from today, held by engineers who have not left."),
    "low_stock_outlets": _l(
        "Low-stock outlets, today: outlets active or on probation with at least one part in their "
        "forward warehouse below its safety level. Central warehouses and applying, suspended or "
        "terminated outlets are not counted."),
    "complaints_by_status": _l(
        "Complaints received in the period, by their status today."),
    "complaints_by_severity": _l(
        "Complaints received in the period, by severity."),
    "outlets_by_status": _l(
        "Outlets by cooperation status, today: every outlet, whatever its status."),
    "regions": _l(
        "By region: outlets active or on probation today; complaints open today (not resolved or "
        "closed), whenever received; the SLA breach rate of the complaints received in the period, "
        "counted as the SLA breach rate tile."),
    "region_outlets": _l(
        "By outlet, for a user working on a single region: that region's outlets active or on probation "
        "today, and any other of its outlets with open complaints, one bar each: complaints received in "
        "the period, complaints open today (not resolved or closed) and the SLA breach rate of the "
        "complaints received in the period. With more than %(n)s outlets, the %(n)s with the most open "
        "complaints."),
    "trend": _l(
        "Weekly trend: complaints received and service orders completed per week (Monday to Sunday, "
        "Asia/Shanghai) for every week the period touches; a week counts all its days. The current "
        "week is partial (up to now) and is drawn dashed, labelled \"This week (to date)\"."),
}
"""Figure (tile or chart) → what it counts. ``definitions(days)`` fills in the live numbers."""

DEFINITION_ORDER = (
    "period", "breach_rate", "mean_response_minutes", "mean_resolution_hours", "complaint_resolution",
    "complaint_satisfaction", "order_satisfaction", "open_audits", "audits_due", "certificates_expiring",
    "low_stock_outlets", "complaints_by_status", "complaints_by_severity", "outlets_by_status", "regions",
    "region_outlets", "trend")


# --- helpers -------------------------------------------------------------------------------------

def _scoped(stmt, model):
    clause = scope.clause_for(model)
    return stmt if clause is None else stmt.where(clause)


def _dialect():
    return db.session.get_bind().dialect.name


def _seconds(later, earlier):
    """``later - earlier`` in seconds, as SQL (both naive UTC datetimes)."""
    if _dialect() == "postgresql":
        return func.extract("epoch", later - earlier)
    return (func.julianday(later) - func.julianday(earlier)) * 86400.0


def _weeks_since(moment, start):
    """Whole weeks from ``start`` to ``moment`` (``moment >= start``), as SQL in exact arithmetic (no
    floating-point drift at a week's boundary)."""
    if _dialect() == "postgresql":
        return func.floor(func.date_part("epoch", moment - start) / WEEK_SECONDS)
    return (cast(func.strftime("%s", moment), Integer) - cast(func.strftime("%s", start), Integer)) // WEEK_SECONDS


def _count_if(condition):
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def _int(value):
    return int(value or 0)


def _float(value, places=2):
    return None if value is None else round(float(value), places)


def _ratio(part, whole):
    """``part / whole`` rounded to 4 places (0.6667), ``None`` when there is nothing to divide."""
    return None if not whole else round(part / whole, 4)


def percent(value):
    """A share (0.975) in the current locale ("97.5%"); "–" when undefined."""
    if value is None:
        return "–"
    return format_percent(value, "#,##0.0%")


def decimal(value, pattern="#,##0.0"):
    if value is None:
        return "–"
    return format_decimal(value, pattern)


def minutes_text(value):
    """``10分钟`` / ``10 min`` in the reader's language (CLDR's unit patterns)."""
    from babel.units import format_unit
    from flask_babel import get_locale

    return format_unit(value, "duration-minute", length="short", format="#,##0.#", locale=get_locale())


def window_start(days):
    """Naive UTC start of the period: local midnight ``days - 1`` days before today."""
    first = clock.today() - timedelta(days=days - 1)
    return clock.to_utc(datetime.combine(first, time()))


def _in_period(column, start):
    return and_(column >= start, column <= clock.now())


def _week_label(day):
    return format_skeleton("MMMd", day, locale=get_locale() or "zh")


def _link(endpoint, **args):
    return url_for(endpoint, **args)


def _serving_filter(index=1):
    """List arguments keeping outlets active or on probation (status not equal to each other code)."""
    return {f"_flt_{index}_status": list(NOT_SERVING_OUTLET)}


def _received_since(start):
    """List argument: complaints received at or after ``start`` (FAB's "greater than" on received_at)."""
    return {"_flt_1_received_at": (start - timedelta(microseconds=1)).isoformat(sep=" ")}


def _series(enumeration, counts, link):
    """Every code of ``enumeration`` in order, zero when absent: a stable, small result."""
    return {
        "codes": list(enumeration.codes),
        "labels": [enumeration.label(code) for code in enumeration.codes],
        "values": [_int(counts.get(code)) for code in enumeration.codes],
        "links": [link(code) for code in enumeration.codes],
    }


def _response_minutes_target():
    """The SLA policies' first-response minutes when they agree (the default: 10), else ``None``."""
    low, high = db.session.execute(
        select(func.min(SlaPolicy.response_minutes), func.max(SlaPolicy.response_minutes))).one()
    return low if low is not None and low == high else None


def _audit_horizon_days():
    return int(settings.get("qualification.annual_open_days_before"))


def _expiring_days():
    return int(settings.get("certification.expiring_days"))


def _target_share(key):
    return float(settings.get(key)) / 100


def definitions():
    """Every figure's definition in the current language, with today's settings filled in."""
    response = _response_minutes_target()
    values = {
        "mean_response_minutes": {
            "minutes": minutes_text(response) if response is not None else gettext("per severity")},
        "complaint_resolution": {"target": percent(_target_share("kpi.complaint_resolution_target"))},
        "complaint_satisfaction": {"target": percent(_target_share("kpi.complaint_satisfaction_target"))},
        "order_satisfaction": {"target": decimal(float(settings.get("kpi.satisfaction_target")), "0.0#")},
        "audits_due": {"days": _audit_horizon_days()},
        "certificates_expiring": {"days": _expiring_days()},
        "region_outlets": {"n": OUTLET_BARS},
    }
    return {key: str(DEFINITIONS[key]) % values.get(key, {}) for key in DEFINITION_ORDER}


# --- panels --------------------------------------------------------------------------------------

def _count_by(column, enumeration, list_view, title, where=(), link_args=None):
    """Rows of ``column``'s table counted by that column's codes, each linked to the list filtered on it."""
    model = column.class_
    stmt = _scoped(select(column, func.count()).where(*where).group_by(column), model)
    counts = dict(db.session.execute(stmt).all())
    arg = f"_flt_0_{column.key}"
    extra = link_args or {}
    result = _series(enumeration, counts, lambda code: _link(f"{list_view}.list", **{arg: code}, **extra))
    result.update(title=title, total=sum(result["values"]))
    return result


def complaints_by_status(days=DEFAULT_WINDOW_DAYS):
    """Complaints received in the period by their lifecycle status now."""
    start = window_start(days)
    return _count_by(Complaint.status, COMPLAINT_STATUS, "ComplaintView",
                     gettext("Complaints by status, received in the last %(days)s days", days=days),
                     where=[_in_period(Complaint.received_at, start)], link_args=_received_since(start))


def complaints_by_severity(days=DEFAULT_WINDOW_DAYS):
    """Complaints received in the period by severity."""
    start = window_start(days)
    return _count_by(Complaint.severity, SEVERITY, "ComplaintView",
                     gettext("Complaints by severity, received in the last %(days)s days", days=days),
                     where=[_in_period(Complaint.received_at, start)], link_args=_received_since(start))


def outlets_by_status(days=None):
    """Every outlet by its cooperation status today (the period does not apply)."""
    return _count_by(Outlet.status, OUTLET_STATUS, "OutletView", gettext("Outlets by cooperation status, today"))


def _breached():
    return or_(Complaint.response_breached.is_(True), Complaint.resolution_breached.is_(True))


def sla(days=DEFAULT_WINDOW_DAYS):
    """SLA breach rate of the period's complaints, mean first response (minutes) and resolution (hours)."""
    start = window_start(days)
    # Three reads, one per time (each an index-only range read of that time's index), added up in one
    # statement: a complaint counts in each figure whose time falls in the period, as in one pass.
    zero, one, none = literal(0), literal(1), cast(null(), Numeric)
    received_rows = _scoped(select(
        one.label("received"), case((_breached(), 1), else_=0).label("breached"),
        none.label("response_s"), zero.label("responded"), none.label("resolution_s"),
        zero.label("resolved"),
    ).where(_in_period(Complaint.received_at, start)), Complaint)
    responded_rows = _scoped(select(
        zero, zero, _seconds(Complaint.first_response_at, Complaint.received_at), one, none, zero,
    ).where(_in_period(Complaint.first_response_at, start)), Complaint)
    resolved_rows = _scoped(select(
        zero, zero, none, zero, _seconds(Complaint.resolved_at, Complaint.received_at), one,
    ).where(_in_period(Complaint.resolved_at, start)), Complaint)
    rows = union_all(received_rows, responded_rows, resolved_rows).subquery()
    stmt = select(func.sum(rows.c.received), func.sum(rows.c.breached), func.avg(rows.c.response_s),
                  func.sum(rows.c.responded), func.avg(rows.c.resolution_s), func.sum(rows.c.resolved))
    received, breached, response_s, responded, resolution_s, resolved = db.session.execute(stmt).one()
    received, breached = _int(received), _int(breached)
    rate = _ratio(breached, received)
    response_minutes = None if response_s is None else _float(float(response_s) / 60)
    resolution_hours = None if resolution_s is None else _float(float(resolution_s) / 3600)
    target = _response_minutes_target()
    return {
        "title": gettext("Complaint SLA, last %(days)s days", days=days),
        "days": days,
        "received": received,
        "breached": breached,
        "breach_rate": rate,
        "breach_rate_display": percent(rate),
        "responded": _int(responded),
        "mean_response_minutes": response_minutes,
        "mean_response_minutes_display": decimal(response_minutes),
        "response_target_minutes": target,
        "response_target_display": None if target is None else minutes_text(target),
        "response_met": None if response_minutes is None or target is None else response_minutes <= target,
        "resolved": _int(resolved),
        "mean_resolution_hours": resolution_hours,
        "mean_resolution_hours_display": decimal(resolution_hours),
        "labels": {
            "breach_rate": gettext("SLA breach rate"),
            "mean_response_minutes": gettext("Mean first response (minutes)"),
            "mean_resolution_hours": gettext("Mean resolution time (hours)"),
            "received": gettext("Complaints received"),
            "responded": gettext("Complaints responded to"),
            "resolved": gettext("Complaints resolved"),
        },
    }


def _target(value, target, display, target_display, label, higher_is_better=True, count=0):
    met = None if value is None else (value >= target if higher_is_better else value <= target)
    return {"value": value, "display": display, "target": target, "target_display": target_display,
            "met": met, "label": label, "count": count}


def targets(days=DEFAULT_WINDOW_DAYS):
    """On-time resolution rate, complaint satisfaction and service-order satisfaction vs targets."""
    start = window_start(days)
    now = clock.now()
    resolved_in = _in_period(Complaint.resolved_at, start)
    considered = or_(_in_period(Complaint.resolution_due_at, start), resolved_in)
    on_time = and_(Complaint.resolved_at.isnot(None), Complaint.resolved_at <= now,
                   Complaint.resolution_breached.is_(False))
    answered = and_(resolved_in, Complaint.customer_satisfied.isnot(None))
    complaint_stmt = _scoped(select(
        _count_if(considered),
        _count_if(and_(considered, on_time)),
        _count_if(answered),
        _count_if(and_(answered, Complaint.customer_satisfied.is_(True))),
    ).where(considered), Complaint)
    due, resolved_on_time, answers, satisfied = (_int(v) for v in db.session.execute(complaint_stmt).one())
    completed_in = _in_period(ServiceOrder.completed_at, start)
    order_stmt = _scoped(select(func.avg(ServiceOrder.satisfaction), func.count(ServiceOrder.satisfaction))
                         .where(completed_in), ServiceOrder)
    mean_score, scored = db.session.execute(order_stmt).one()

    resolution_target = _target_share("kpi.complaint_resolution_target")
    satisfaction_target = _target_share("kpi.complaint_satisfaction_target")
    score_target = float(settings.get("kpi.satisfaction_target"))
    resolution_rate = _ratio(resolved_on_time, due)
    satisfaction_rate = _ratio(satisfied, answers)
    mean_score = _float(mean_score, 3)
    return {
        "title": gettext("Targets, last %(days)s days", days=days),
        "days": days,
        "items": {
            "complaint_resolution": _target(
                resolution_rate, resolution_target, percent(resolution_rate), percent(resolution_target),
                gettext("On-time complaint resolution rate"), count=due),
            "complaint_satisfaction": _target(
                satisfaction_rate, satisfaction_target, percent(satisfaction_rate), percent(satisfaction_target),
                gettext("Satisfaction with complaint handling"), count=answers),
            "order_satisfaction": _target(
                mean_score, score_target, decimal(mean_score, "0.00"), decimal(score_target, "0.0#"),
                gettext("Mean service-order satisfaction (1-5)"), count=_int(scored)),
        },
        "on_time": resolved_on_time,
        "satisfied": satisfied,
        "target_label": gettext("Target"),
    }


def attention(days=None):
    """What needs doing today: audits open or due, certificates expiring, outlets short of stock."""
    today = clock.today()
    horizon = _audit_horizon_days()
    expiring_days = _expiring_days()
    open_audits = db.session.execute(_scoped(
        select(func.count()).select_from(QualificationAudit).where(QualificationAudit.is_open.is_(True)),
        QualificationAudit)).scalar()
    due = db.session.execute(_scoped(select(
        _count_if(Outlet.next_audit_due_on < today),
        _count_if(Outlet.next_audit_due_on >= today),
    ).select_from(Outlet).where(Outlet.status.in_(SERVING_OUTLET),
                                Outlet.next_audit_due_on <= today + timedelta(days=horizon)), Outlet)).one()
    expiring = db.session.execute(_scoped(
        select(func.count()).select_from(Certification)
        .join(Engineer, Engineer.id == Certification.engineer_id)
        .where(Certification.revoked.is_(False), Engineer.status != "left",
               Certification.expires_on >= today,
               Certification.expires_on <= today + timedelta(days=expiring_days)),
        Certification)).scalar()
    low_stock_outlets = db.session.execute(_scoped(
        select(func.count(func.distinct(Stock.outlet_id))).select_from(Stock)
        .join(Outlet, Outlet.id == Stock.outlet_id)
        .where(Outlet.status.in_(SERVING_OUTLET), Stock.quantity < Stock.safety_level),
        Outlet)).scalar()
    overdue, due_soon = _int(due[0]), _int(due[1])
    return {
        "title": gettext("Needs attention, today"),
        "items": {
            "open_audits": {"value": _int(open_audits), "label": gettext("Open qualification audits"),
                            "link": _link("QualificationAuditView.list", _flt_1_status="approved")},
            "audits_due": {"value": overdue + due_soon, "overdue": overdue, "due_soon": due_soon,
                           "label": gettext("Outlets due for audit within %(n)s days or overdue", n=horizon),
                           "detail": gettext("%(n)s overdue", n=overdue),
                           "link": _link("OutletView.list", _flt_0_audit_due=horizon, **_serving_filter())},
            "certificates_expiring": {"value": _int(expiring),
                                      "label": gettext("Certificates expiring within %(n)s days",
                                                       n=expiring_days),
                                      "link": _link("CertificationView.list", _flt_0_expires_within=expiring_days)},
            "low_stock_outlets": {"value": _int(low_stock_outlets),
                                  "label": gettext("Outlets with stock below the safety level"),
                                  "link": _link("StockView.list", _flt_0_low=1)},
        },
    }


def week_starts(days=DEFAULT_WINDOW_DAYS):
    """Mondays (local dates) of every week the period touches, the current week last."""
    today = clock.today()
    monday = today - timedelta(days=today.weekday())
    first = today - timedelta(days=days - 1)
    first_monday = first - timedelta(days=first.weekday())
    weeks = (monday - first_monday).days // 7 + 1
    return [first_monday + timedelta(weeks=i) for i in range(weeks)]


def _weekly(column, bounds, model):
    """Rows of ``model`` whose ``column`` falls in each ``[bounds[i], bounds[i + 1])``, in one pass.

    Weeks of exactly seven days (a time zone without daylight saving, like Asia/Shanghai) are
    grouped by their number since ``bounds[0]``: one small GROUP BY instead of a CASE per week for
    every row; otherwise each week is a ``SUM(CASE …)`` column."""
    weeks = len(bounds) - 1
    in_range = (column >= bounds[0], column < bounds[-1])
    if all((bounds[i + 1] - bounds[i]).total_seconds() == WEEK_SECONDS for i in range(weeks - 1)):
        week = _weeks_since(column, bounds[0])
        stmt = _scoped(select(week, func.count()).where(*in_range).group_by(week), model)
        counts = [0] * weeks
        for number, count in db.session.execute(stmt).all():
            counts[min(max(int(number), 0), weeks - 1)] += _int(count)
        return counts
    buckets = [_count_if(and_(column >= bounds[i], column < bounds[i + 1])) for i in range(weeks)]
    stmt = _scoped(select(*buckets).where(*in_range), model)
    return [_int(v) for v in db.session.execute(stmt).one()]


def trend(days=DEFAULT_WINDOW_DAYS):
    """Complaints received and service orders completed per local week; the current week up to now."""
    starts = week_starts(days)
    bounds = [clock.to_utc(datetime.combine(d, time())) for d in starts]
    bounds.append(clock.now())  # the current week ends now: it is partial
    received = _weekly(Complaint.received_at, bounds, Complaint)
    completed = _weekly(ServiceOrder.completed_at, bounds, ServiceOrder)
    partial_label = gettext("This week (to date)")
    return {
        "title": gettext("Weekly trend, last %(days)s days", days=days),
        "days": days,
        "weeks": [d.isoformat() for d in starts],
        "labels": [_week_label(d) for d in starts[:-1]] + [partial_label],
        "partial_index": len(starts) - 1,
        "partial_label": partial_label,
        "partial_note": gettext("Partial week: counted up to now, not a full week."),
        "series": [
            {"key": "complaints_received", "name": gettext("Complaints received"), "values": received},
            {"key": "orders_completed", "name": gettext("Service orders completed"), "values": completed},
        ],
    }


def _single_region():
    """The region id of a user restricted to exactly one region, else ``None``."""
    ids = scope.current_region_ids()
    return next(iter(ids)) if ids is not None and len(ids) == 1 else None


def _outlet_counts(start, outlets=None):
    """Per outlet: complaints open now, received in the period, and of those breached — as a subquery
    (``outlet_id``, ``open_now``, ``received``, ``breached``) over two index-only reads: the open
    complaints (their partial index) and the period's complaints (the received-time index, which
    carries the outlet and the breach flags). A complaint counts in the first for "open" and in the
    second for "received" and "breached", exactly as one pass over every complaint would count it.
    ``outlets`` (a subquery of outlet ids) narrows both reads."""
    zero, one = literal(0), literal(1)
    open_rows = select(Complaint.outlet_id.label("outlet_id"), one.label("open_now"), zero.label("received"),
                       zero.label("breached")).where(Complaint.status.not_in(CLOSED_COMPLAINT))
    received_rows = select(Complaint.outlet_id, zero, one, case((_breached(), 1), else_=0)).where(
        _in_period(Complaint.received_at, start))
    if outlets is not None:
        open_rows = open_rows.where(Complaint.outlet_id.in_(outlets))
        received_rows = received_rows.where(Complaint.outlet_id.in_(outlets))
    rows = union_all(open_rows, received_rows).subquery()
    return (select(rows.c.outlet_id, func.sum(rows.c.open_now).label("open_now"),
                   func.sum(rows.c.received).label("received"), func.sum(rows.c.breached).label("breached"))
            .group_by(rows.c.outlet_id).subquery())


def _region_outlets(region_id, days):
    """One region's outlets (those serving today, and any other with open complaints): complaints
    received in the period, open now, and the period's SLA breach rate, per outlet."""
    start = window_start(days)
    counts = _outlet_counts(start, select(Outlet.id).where(Outlet.region_id == region_id))
    open_now = func.coalesce(counts.c.open_now, 0)
    received_in = func.coalesce(counts.c.received, 0)
    stmt = _scoped(
        select(Outlet.id, Outlet.code, Outlet.name, open_now, received_in, func.coalesce(counts.c.breached, 0),
               func.count().over())
        .outerjoin(counts, counts.c.outlet_id == Outlet.id)
        .where(Outlet.region_id == region_id, or_(Outlet.status.in_(SERVING_OUTLET), open_now > 0))
        .order_by(open_now.desc(), received_in.desc(), Outlet.code)
        .limit(OUTLET_BARS), Outlet)
    rows = sorted(db.session.execute(stmt).all(), key=lambda row: row[1])
    region_name = db.session.execute(select(Region.name).where(Region.id == region_id)).scalar() or ""
    total = _int(rows[0][6]) if rows else 0
    if total > len(rows):
        title = gettext("By outlet in %(region)s, last %(days)s days: the %(shown)s of %(total)s outlets with "
                        "the most open complaints", region=region_name, days=days, shown=len(rows), total=total)
    else:
        title = gettext("By outlet in %(region)s, last %(days)s days", region=region_name, days=days)
    result = {"title": title, "days": days, "per_outlet": True, "total_outlets": total, "ids": [], "codes": [],
              "labels": [], "open_complaints": [], "received": [], "breach_rate": [], "breach_rate_display": [],
              "links": [],
              "names": {"received": gettext("Complaints received"),
                        "open_complaints": gettext("Open complaints"),
                        "breach_rate": gettext("SLA breach rate")}}
    for outlet_id, code, name, open_count, received, breached, _total in rows:
        rate = _ratio(_int(breached), _int(received))
        result["ids"].append(outlet_id)
        result["codes"].append(code)
        result["labels"].append(name)
        result["open_complaints"].append(_int(open_count))
        result["received"].append(_int(received))
        result["breach_rate"].append(rate)
        result["breach_rate_display"].append(percent(rate))
        result["links"].append(_link("ComplaintView.list", _flt_0_outlet=outlet_id))
    return result


def regions(days=DEFAULT_WINDOW_DAYS):
    """Per region: outlets serving today, complaints open now, SLA breach rate of the period's complaints.

    A user restricted to a single region sees that region's outlets instead, one bar each
    (``_region_outlets``)."""
    single = _single_region()
    if single is not None:
        return _region_outlets(single, days)
    start = window_start(days)
    region_stmt = _scoped(
        select(Region.id, Region.code, Region.name, func.count(Outlet.id))
        .outerjoin(Outlet, and_(Outlet.region_id == Region.id, Outlet.status.in_(SERVING_OUTLET)))
        .group_by(Region.id, Region.code, Region.name)
        .order_by(Region.code), Region)
    rows = db.session.execute(region_stmt).all()
    counts = _outlet_counts(start)
    complaint_stmt = _scoped(
        select(Outlet.region_id, func.sum(counts.c.open_now), func.sum(counts.c.received),
               func.sum(counts.c.breached))
        .join(Outlet, Outlet.id == counts.c.outlet_id)
        .group_by(Outlet.region_id), Outlet)
    stats = {row[0]: row[1:] for row in db.session.execute(complaint_stmt).all()}
    result = {"title": gettext("By region, last %(days)s days", days=days), "days": days, "per_outlet": False,
              "ids": [], "codes": [], "labels": [], "outlets": [], "open_complaints": [], "received": [],
              "breach_rate": [], "breach_rate_display": [], "links": [],
              "names": {"outlets": gettext("Outlets active or on probation"),
                        "open_complaints": gettext("Open complaints"),
                        "breach_rate": gettext("SLA breach rate")}}
    for region_id, code, name, outlets in rows:
        open_count, received, breached = (_int(v) for v in stats.get(region_id, (0, 0, 0)))
        rate = _ratio(breached, received)
        result["ids"].append(region_id)
        result["codes"].append(code)
        result["labels"].append(name)
        result["outlets"].append(_int(outlets))
        result["open_complaints"].append(open_count)
        result["received"].append(received)
        result["breach_rate"].append(rate)
        result["breach_rate_display"].append(percent(rate))
        result["links"].append(_link("OutletView.list", _flt_0_region=region_id, **_serving_filter()))
    return result


PANELS = {
    "complaints_by_status": complaints_by_status,
    "complaints_by_severity": complaints_by_severity,
    "outlets_by_status": outlets_by_status,
    "sla": sla,
    "targets": targets,
    "attention": attention,
    "trend": trend,
    "regions": regions,
}
"""Panel name (``GET /api/v1/dashboard/<name>``) → function ``(days) -> dict``."""


# --- the page ------------------------------------------------------------------------------------

def _is_hq_admin(user):
    return user is not None and any(role.name == HQ_ADMIN for role in user.roles)


def calendar_notices(user=None):
    """For HQ admins: one warning per year (this one or the next) whose holidays are not confirmed."""
    user = scope.acting_user() if user is None else user
    if not _is_hq_admin(user):
        return []
    from app.core.calendar_services import unconfirmed_years

    link = _link("CalendarDayView.list")
    return [{"year": year, "link": link,
             "text": gettext("The %(year)s holiday arrangement is not confirmed yet", year=year)}
            for year in unconfirmed_years()]


def page_context():
    """What the page shell needs besides the API: the definitions (tooltips), whether the regions
    chart shows one region's outlets, and the user's "today" section (``reports.home``)."""
    from app.reports import home

    return {"definitions": definitions(), "single_region": _single_region() is not None,
            "today": home.sections()}
