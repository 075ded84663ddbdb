"""The audit checklist: what each metric measures, and its value for outlets right now.

Computed items decide qualification when they are required (thresholds are settings, both met at
exactly the threshold):

* ``certified_engineers`` — engineers on duty holding a certificate valid today
  (``evidence``) ≥ ``qualification.min_certified_engineers`` (3);
* ``stock_rate`` — common-parts stock rate ≥ ``qualification.min_common_stock_rate`` (90 %);
  undefined (no common part applies) is not met.

KPIs are informative, over service orders completed in the last ``qualification.kpi_window_days``
(90) days: ``on_time_rate`` (arrived no later than the appointment, of the orders with both) ≥
``kpi.on_time_arrival_target``; ``first_time_fix_rate`` ≥ ``kpi.first_time_fix_target``;
``mean_satisfaction`` ≥ ``kpi.satisfaction_target``; ``complaint_rate`` (complaints received in the
window per 100 completed orders) < ``kpi.complaint_rate_limit``. No data → no verdict.

On-site items are answered by the auditor; one may confirm an outlet fact (``has_fixed_premises``),
written back to the outlet when the audit is approved.
"""
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select

from app.core import clock, settings
from app.extensions import db
from app.qualification import evidence


@dataclass(frozen=True)
class Metric:
    kind: str
    label: object
    target_setting: str
    higher_is_better: bool = True
    unit: str = ""


METRICS = {
    "certified_engineers": Metric("computed", _l("Certified engineers"), "qualification.min_certified_engineers"),
    "stock_rate": Metric("computed", _l("Common-parts stock rate"), "qualification.min_common_stock_rate",
                         unit="%"),
    "on_time_rate": Metric("kpi", _l("On-time arrival rate"), "kpi.on_time_arrival_target", unit="%"),
    "first_time_fix_rate": Metric("kpi", _l("First-time-fix rate"), "kpi.first_time_fix_target", unit="%"),
    "mean_satisfaction": Metric("kpi", _l("Mean satisfaction"), "kpi.satisfaction_target"),
    "complaint_rate": Metric("kpi", _l("Complaint rate (per 100 orders)"), "kpi.complaint_rate_limit",
                             higher_is_better=False, unit="%"),
}

ONSITE_BINDINGS = {"has_fixed_premises": _l("Confirms the outlet's fixed premises")}


@dataclass
class Value:
    actual: Decimal | None
    target: Decimal
    met: bool | None
    details: dict = field(default_factory=dict)


def _dec(value, places="0.01"):
    if value is None:
        return None
    return Decimal(value).quantize(Decimal(places), rounding=ROUND_HALF_UP)


def _verdict(metric, actual, target):
    if actual is None:
        return None
    return actual >= target if metric.higher_is_better else actual < target


def _complaints_since(outlet_ids, since):
    from app.complaints.models import Complaint

    rows = db.session.execute(
        select(Complaint.outlet_id, func.count(Complaint.id))
        .where(Complaint.outlet_id.in_(outlet_ids), Complaint.received_at >= since)
        .group_by(Complaint.outlet_id)
    ).all()
    return dict(rows)


def live_values(outlet_ids, today=None):
    """``{outlet_id: {metric: Value}}`` for every metric, from live data: a fixed number of grouped
    queries for any number of outlets (no drill-down details; see ``drilldown``)."""
    from app.orders.kpis import order_kpis
    from app.orders.models import ServiceOrder

    outlet_ids = list(outlet_ids)
    if not outlet_ids:
        return {}
    today = today or clock.today()
    facts = evidence.for_outlets(outlet_ids, today)
    window = settings.get("qualification.kpi_window_days")
    since = clock.to_utc(datetime.combine(today - timedelta(days=window), time(0, 0)))
    kpis = order_kpis(ServiceOrder.outlet_id, outlet_ids, since)
    complaints = _complaints_since(outlet_ids, since)
    targets = {code: Decimal(str(settings.get(m.target_setting))) for code, m in METRICS.items()}
    result = {}
    for oid, ev in facts.items():
        k = kpis.get(oid)
        completed = k.completed if k else 0
        complaint_count = complaints.get(oid, 0)
        actual = {
            "certified_engineers": Decimal(ev.certified_engineers),
            "stock_rate": ev.stock_rate,
            "on_time_rate": k.on_time_rate if k else None,
            "first_time_fix_rate": k.first_time_fix_rate if k else None,
            "mean_satisfaction": k.mean_satisfaction if k else None,
            "complaint_rate": _dec(Decimal(complaint_count) * 100 / completed) if completed else None,
        }
        details = {
            "certified_engineers": {},
            "stock_rate": {"stocked": ev.common_parts_stocked, "total": ev.common_parts_total},
            "on_time_rate": {"on_time": k.on_time if k else 0, "known": k.on_time_known if k else 0},
            "first_time_fix_rate": {"fixed": k.first_time_fix if k else 0,
                                    "known": k.first_time_fix_known if k else 0},
            "mean_satisfaction": {"rated": k.satisfaction_count if k else 0},
            "complaint_rate": {"complaints": complaint_count, "orders": completed},
        }
        values = {}
        for code, metric in METRICS.items():
            if code == "certified_engineers":
                met = ev.meets_engineers
            elif code == "stock_rate":
                met = ev.meets_stock  # exact comparison, undefined rate not met
            else:
                met = _verdict(metric, actual[code], targets[code])
            d = dict(details[code])
            if metric.kind == "kpi":
                d["window_days"] = window
            values[code] = Value(actual[code], targets[code], met, d)
        result[oid] = values
    return result


def drilldown(outlet_id, today=None):
    """The lists behind the computed items: which engineers count and why the others do not,
    which common parts are short and by how much."""
    return {
        "certified_engineers": {"engineers": evidence.engineer_breakdown(outlet_id, today)},
        "stock_rate": {"parts": evidence.parts_breakdown(outlet_id)},
    }


def _num(value):
    return None if value is None else float(value)


def item_view(item, value=None, breakdown=None):
    """One checklist line as pages and the API show it: live ``value`` for an open audit, the
    frozen columns for a submitted one."""
    row = {
        "code": item.code, "label": item.label, "kind": item.kind, "metric": item.metric,
        "required": bool(item.required) and item.kind != "kpi",
        "evidence_required": bool(item.evidence_required), "guidance": item.guidance or "",
        "answer": getattr(item, "answer", None), "note": getattr(item, "note", "") or "",
        "files": [file_view(f) for f in getattr(item, "files", []) or []],
    }
    if item.kind == "onsite":
        row.update(actual=None, target=None,
                   met=None if row["answer"] is None else row["answer"] == "yes", details={})
    elif value is not None:
        details = dict(value.details)
        if breakdown and item.metric in breakdown:
            details.update(breakdown[item.metric])
        row.update(actual=_num(value.actual), target=_num(value.target), met=value.met, details=details)
    else:
        row.update(actual=_num(getattr(item, "actual", None)), target=_num(getattr(item, "target", None)),
                   met=getattr(item, "met", None), details=getattr(item, "details", None) or {})
    return row


def file_view(f):
    return {"id": f.id, "filename": f.filename, "content_type": f.content_type, "size": f.size,
            "uploaded_at": f.uploaded_at.isoformat() if f.uploaded_at else None}


def qualifies(rows):
    """All required lines met (an unanswered on-site item is not met)."""
    return all(r["met"] is True for r in rows if r["required"])


QUALIFIES, DOES_NOT_QUALIFY, AWAITING_ONSITE = "qualifies", "does_not_qualify", "awaiting_onsite"


def unanswered(rows):
    """The required on-site lines not answered yet."""
    return [r for r in rows if r["required"] and r["kind"] == "onsite" and r["answer"] is None]


def verdict(rows):
    """What the checklist says of the outlet so far:

    * ``does_not_qualify`` — a required line is known not to be met (a computed criterion missed,
      or an on-site item answered no), whatever is still unanswered;
    * ``awaiting_onsite`` — nothing required has failed, but a required on-site item is not
      answered yet: the outlet cannot be judged before the on-site check;
    * ``qualifies`` — every required line is met.
    """
    required = [r for r in rows if r["required"]]
    if any(r["met"] is False for r in required):
        return DOES_NOT_QUALIFY
    if unanswered(rows):
        return AWAITING_ONSITE
    return QUALIFIES if qualifies(rows) else DOES_NOT_QUALIFY


def suggested_outcome(rows):
    """The outcome the submission form proposes: none until every required on-site item is
    answered; then ``pass`` when the outlet qualifies, else ``conditional`` (the auditor may
    choose ``fail``)."""
    if unanswered(rows):
        return None
    return "pass" if qualifies(rows) else "conditional"
