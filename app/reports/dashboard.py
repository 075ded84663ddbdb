"""The dashboard's numbers: small aggregates computed by the database, within the user's regions.

Each panel is one function returning a small dict of labels and numbers (its size depends on the
enumerations, the 12 weeks and the regions, never on the number of rows). Every figure comes from
``COUNT`` / ``SUM(CASE …)`` / ``AVG`` in SQL, so no business row is loaded into Python; the region
scope is the same ``core.scope`` condition the lists use, so a regional manager's or service
agent's dashboard counts exactly the rows their lists show (HQ admins, auditors and admins see
every region).

Definitions (shown in the README):

* **window**: the last ``days`` local days including today (default 90), by ``received_at`` for
  complaints and ``completed_at`` for service orders;
* **SLA breach rate**: complaints received in the window with a response or a resolution breach,
  over all complaints received in the window;
* **mean first-response / resolution time**: hours from receipt to the first response / to the
  resolution, over the complaints of the window that have one (calendar hours, pauses included);
* **complaint resolution rate**: complaints of the window now resolved or closed, over all of them
  (target: setting ``kpi.complaint_resolution_target``, 98 %);
* **satisfaction with complaint handling**: complaints of the window whose customer said they were
  satisfied, over those who answered (target ``kpi.complaint_satisfaction_target``, 97 %);
* **service-order satisfaction**: mean score (1–5) of service orders completed in the window
  (target ``kpi.satisfaction_target``, 4.6);
* **trend**: complaints received and service orders completed per week (Monday to Sunday in
  Asia/Shanghai), the current week and the 11 before it.
"""
from datetime import datetime, time, timedelta

from babel.dates import format_skeleton
from flask import url_for
from flask_babel import format_decimal, format_percent, get_locale, gettext
from sqlalchemy import and_, case, func, or_, select

from app.complaints.enums import COMPLAINT_STATUS, SEVERITY
from app.complaints.models import Complaint
from app.core import clock, scope, settings
from app.engineers.models import Certification
from app.extensions import db
from app.network.enums import OUTLET_STATUS
from app.network.models import Outlet, Region
from app.orders.models import ServiceOrder
from app.parts.models import Stock
from app.qualification.models import QualificationAudit

DEFAULT_WINDOW_DAYS = 90
MAX_WINDOW_DAYS = 366
TREND_WEEKS = 12
AUDIT_DUE_DAYS = 30
CLOSED_COMPLAINT = ("resolved", "closed")


# --- helpers -------------------------------------------------------------------------------------

def _scoped(stmt, model):
    clause = scope.clause_for(model)
    return stmt if clause is None else stmt.where(clause)


def _dialect():
    return db.session.get_bind().dialect.name


def _hours(later, earlier):
    """``later - earlier`` in hours, as SQL (both naive UTC datetimes)."""
    if _dialect() == "postgresql":
        return func.extract("epoch", later - earlier) / 3600.0
    return (func.julianday(later) - func.julianday(earlier)) * 24.0


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


def window_start(days):
    """Naive UTC start of the window: local midnight ``days - 1`` days before today."""
    first = clock.today() - timedelta(days=days - 1)
    return clock.to_utc(datetime.combine(first, time()))


def _week_label(day):
    return format_skeleton("MMMd", day, locale=get_locale() or "zh")


def _link(endpoint, **args):
    return url_for(endpoint, **args)


def _series(enumeration, counts, link):
    """Every code of ``enumeration`` in order, zero when absent: a stable, small result."""
    return {
        "codes": list(enumeration.codes),
        "labels": [enumeration.label(code) for code in enumeration.codes],
        "values": [_int(counts.get(code)) for code in enumeration.codes],
        "links": [link(code) for code in enumeration.codes],
    }


# --- panels --------------------------------------------------------------------------------------

def _count_by(column, enumeration, list_view, title):
    """Rows of ``column``'s table counted by that column's codes, each linked to the list filtered on it."""
    model = column.class_
    stmt = _scoped(select(column, func.count()).group_by(column), model)
    counts = dict(db.session.execute(stmt).all())
    arg = f"_flt_0_{column.key}"
    result = _series(enumeration, counts, lambda code: _link(f"{list_view}.list", **{arg: code}))
    result.update(title=title, total=sum(result["values"]))
    return result


def complaints_by_status(days=None):
    """Complaints (all of them, as the list shows) by lifecycle status."""
    return _count_by(Complaint.status, COMPLAINT_STATUS, "ComplaintView", gettext("Complaints by status"))


def complaints_by_severity(days=None):
    return _count_by(Complaint.severity, SEVERITY, "ComplaintView", gettext("Complaints by severity"))


def outlets_by_status(days=None):
    return _count_by(Outlet.status, OUTLET_STATUS, "OutletView", gettext("Outlets by cooperation status"))


def _breached():
    return or_(Complaint.response_breached.is_(True), Complaint.resolution_breached.is_(True))


def sla(days=DEFAULT_WINDOW_DAYS):
    """SLA breach rate and mean first-response / resolution hours of the window's complaints."""
    start = window_start(days)
    stmt = _scoped(select(
        func.count(),
        _count_if(_breached()),
        func.avg(_hours(Complaint.first_response_at, Complaint.received_at)),
        func.avg(_hours(Complaint.resolved_at, Complaint.received_at)),
    ).where(Complaint.received_at >= start), Complaint)
    received, breached, response_hours, resolution_hours = db.session.execute(stmt).one()
    received, breached = _int(received), _int(breached)
    rate = _ratio(breached, received)
    response_hours, resolution_hours = _float(response_hours), _float(resolution_hours)
    return {
        "title": gettext("Complaint SLA, last %(days)s days", days=days),
        "days": days,
        "received": received,
        "breached": breached,
        "breach_rate": rate,
        "breach_rate_display": percent(rate),
        "mean_response_hours": response_hours,
        "mean_response_hours_display": decimal(response_hours),
        "mean_resolution_hours": resolution_hours,
        "mean_resolution_hours_display": decimal(resolution_hours),
        "labels": {
            "breach_rate": gettext("SLA breach rate"),
            "mean_response_hours": gettext("Mean first response (hours)"),
            "mean_resolution_hours": gettext("Mean resolution time (hours)"),
            "received": gettext("Complaints received"),
        },
    }


def _target(value, target, display, target_display, label, higher_is_better=True, count=0):
    met = None if value is None else (value >= target if higher_is_better else value <= target)
    return {"value": value, "display": display, "target": target, "target_display": target_display,
            "met": met, "label": label, "count": count}


def targets(days=DEFAULT_WINDOW_DAYS):
    """Complaint resolution rate, complaint satisfaction and service-order satisfaction vs targets."""
    start = window_start(days)
    complaint_stmt = _scoped(select(
        func.count(),
        _count_if(Complaint.status.in_(CLOSED_COMPLAINT)),
        _count_if(Complaint.customer_satisfied.is_(True)),
        func.count(Complaint.customer_satisfied),
    ).where(Complaint.received_at >= start), Complaint)
    received, resolved, satisfied, answered = db.session.execute(complaint_stmt).one()
    order_stmt = _scoped(select(func.avg(ServiceOrder.satisfaction), func.count(ServiceOrder.satisfaction))
                         .where(ServiceOrder.completed_at >= start), ServiceOrder)
    mean_score, scored = db.session.execute(order_stmt).one()

    resolution_target = float(settings.get("kpi.complaint_resolution_target")) / 100
    satisfaction_target = float(settings.get("kpi.complaint_satisfaction_target")) / 100
    score_target = float(settings.get("kpi.satisfaction_target"))
    resolution_rate = _ratio(_int(resolved), _int(received))
    satisfaction_rate = _ratio(_int(satisfied), _int(answered))
    mean_score = _float(mean_score, 3)
    return {
        "title": gettext("Targets, last %(days)s days", days=days),
        "days": days,
        "items": {
            "complaint_resolution": _target(
                resolution_rate, resolution_target, percent(resolution_rate), percent(resolution_target),
                gettext("Complaint resolution rate"), count=_int(received)),
            "complaint_satisfaction": _target(
                satisfaction_rate, satisfaction_target, percent(satisfaction_rate), percent(satisfaction_target),
                gettext("Satisfaction with complaint handling"), count=_int(answered)),
            "order_satisfaction": _target(
                mean_score, score_target, decimal(mean_score, "0.00"), decimal(score_target, "0.0#"),
                gettext("Mean service-order satisfaction (1-5)"), count=_int(scored)),
        },
        "target_label": gettext("Target"),
    }


def attention(days=None):
    """What needs doing: audits open or due, certificates expiring, outlets short of stock."""
    today = clock.today()
    expiring_days = int(settings.get("certification.expiring_days"))
    open_audits = db.session.execute(_scoped(
        select(func.count()).select_from(QualificationAudit).where(QualificationAudit.is_open.is_(True)),
        QualificationAudit)).scalar()
    due = db.session.execute(_scoped(select(
        _count_if(Outlet.next_audit_due_on < today),
        _count_if(and_(Outlet.next_audit_due_on >= today,
                       Outlet.next_audit_due_on <= today + timedelta(days=AUDIT_DUE_DAYS))),
    ).select_from(Outlet).where(Outlet.next_audit_due_on.isnot(None)), Outlet)).one()
    expiring = db.session.execute(_scoped(
        select(func.count()).select_from(Certification).where(
            Certification.revoked.is_(False), Certification.expires_on >= today,
            Certification.expires_on <= today + timedelta(days=expiring_days)),
        Certification)).scalar()
    low_stock_outlets = db.session.execute(_scoped(
        select(func.count(func.distinct(Stock.outlet_id))).where(
            Stock.outlet_id.isnot(None), Stock.quantity < Stock.safety_level),
        Stock)).scalar()
    overdue, due_soon = _int(due[0]), _int(due[1])
    return {
        "title": gettext("Needs attention"),
        "items": {
            "open_audits": {"value": _int(open_audits), "label": gettext("Open qualification audits"),
                            "link": _link("QualificationAuditView.list", _flt_1_status="approved")},
            "audits_due": {"value": overdue + due_soon, "overdue": overdue, "due_soon": due_soon,
                           "label": gettext("Outlets due for audit within %(n)s days or overdue",
                                            n=AUDIT_DUE_DAYS),
                           "detail": gettext("%(n)s overdue", n=overdue),
                           "link": _link("OutletView.list", _flt_0_audit_due=AUDIT_DUE_DAYS)},
            "certificates_expiring": {"value": _int(expiring),
                                      "label": gettext("Certificates expiring within %(n)s days",
                                                       n=expiring_days),
                                      "link": _link("CertificationView.list", _flt_0_expires_within=expiring_days)},
            "low_stock_outlets": {"value": _int(low_stock_outlets),
                                  "label": gettext("Outlets with stock below the safety level"),
                                  "link": _link("StockView.list", _flt_0_low=1)},
        },
    }


def week_starts(weeks=TREND_WEEKS):
    """Mondays (local dates) of the current week and the ``weeks - 1`` before it."""
    today = clock.today()
    monday = today - timedelta(days=today.weekday())
    return [monday - timedelta(weeks=weeks - 1 - i) for i in range(weeks)]


def _weekly(column, bounds, stmt_where, model):
    buckets = [_count_if(and_(column >= bounds[i], column < bounds[i + 1])) for i in range(len(bounds) - 1)]
    stmt = _scoped(select(*buckets).where(column >= bounds[0], column < bounds[-1], *stmt_where), model)
    return [_int(v) for v in db.session.execute(stmt).one()]


def trend(days=None):
    """Complaints received and service orders completed per local week, the last 12 weeks."""
    starts = week_starts()
    bounds = [clock.to_utc(datetime.combine(d, time())) for d in starts]
    bounds.append(clock.to_utc(datetime.combine(starts[-1] + timedelta(weeks=1), time())))
    received = _weekly(Complaint.received_at, bounds, [], Complaint)
    completed = _weekly(ServiceOrder.completed_at, bounds, [ServiceOrder.status == "completed"], ServiceOrder)
    return {
        "title": gettext("Weekly trend, last %(n)s weeks", n=TREND_WEEKS),
        "weeks": [d.isoformat() for d in starts],
        "labels": [_week_label(d) for d in starts],
        "series": [
            {"key": "complaints_received", "name": gettext("Complaints received"), "values": received},
            {"key": "orders_completed", "name": gettext("Service orders completed"), "values": completed},
        ],
    }


def regions(days=DEFAULT_WINDOW_DAYS):
    """Per region: outlets, complaints open now, SLA breach rate of the window's complaints."""
    start = window_start(days)
    region_stmt = _scoped(
        select(Region.id, Region.code, Region.name, func.count(Outlet.id))
        .outerjoin(Outlet, Outlet.region_id == Region.id)
        .group_by(Region.id, Region.code, Region.name)
        .order_by(Region.code), Region)
    rows = db.session.execute(region_stmt).all()
    in_window = Complaint.received_at >= start
    complaint_stmt = _scoped(
        select(Outlet.region_id,
               _count_if(Complaint.status.not_in(CLOSED_COMPLAINT)),
               _count_if(in_window),
               _count_if(and_(in_window, _breached())))
        .join(Outlet, Outlet.id == Complaint.outlet_id)
        .group_by(Outlet.region_id), Outlet)
    stats = {row[0]: row[1:] for row in db.session.execute(complaint_stmt).all()}
    result = {"title": gettext("By region"), "days": days, "ids": [], "codes": [], "labels": [],
              "outlets": [], "open_complaints": [], "received": [], "breach_rate": [],
              "breach_rate_display": [], "links": [],
              "names": {"outlets": gettext("Outlets"), "open_complaints": gettext("Open complaints"),
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
        result["links"].append(_link("OutletView.list", _flt_0_region=region_id))
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
