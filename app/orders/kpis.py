"""Service-order KPIs per engineer or per outlet, in one grouped query.

Over the orders *completed* (status ``completed``) since a moment:

* **on-time arrival rate** — arrived no later than the appointment, among the orders with both
  times recorded;
* **first-time-fix rate** — among the orders whose ``first_time_fix`` is recorded;
* **mean satisfaction** (1–5) — among the orders with a satisfaction score.

Rates are percentages with one decimal, the mean has two (half up); ``None`` when nothing is known.
"""
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy import and_, case, func, select

from app.orders.models import ServiceOrder

ONE_DECIMAL = Decimal("0.1")
TWO_DECIMALS = Decimal("0.01")


def _ratio(part, whole, scale, places):
    if not whole:
        return None
    return (Decimal(part) * scale / Decimal(whole)).quantize(places, rounding=ROUND_HALF_UP)


@dataclass
class OrderKpis:
    completed: int = 0
    on_time: int = 0
    on_time_known: int = 0
    first_time_fix: int = 0
    first_time_fix_known: int = 0
    satisfaction_sum: int = 0
    satisfaction_count: int = 0

    @property
    def on_time_rate(self):
        """Percent of the orders with both times whose arrival was no later than the appointment."""
        return _ratio(self.on_time, self.on_time_known, 100, ONE_DECIMAL)

    @property
    def first_time_fix_rate(self):
        """Percent of the orders with ``first_time_fix`` recorded that were fixed the first time."""
        return _ratio(self.first_time_fix, self.first_time_fix_known, 100, ONE_DECIMAL)

    @property
    def mean_satisfaction(self):
        """Mean satisfaction score (1–5) of the orders that have one."""
        return _ratio(self.satisfaction_sum, self.satisfaction_count, 1, TWO_DECIMALS)


def _int(value):
    return int(value or 0)


def order_kpis(group_column, ids, since):
    """``{group id: OrderKpis}`` of the orders completed at or after ``since`` (naive UTC),
    grouped by ``group_column`` (``ServiceOrder.engineer_id``, ``ServiceOrder.outlet_id``…).

    ``ids`` limits the groups (``None``: every group). Ids absent from the result have no such
    orders. One grouped query.
    """
    from app.extensions import db

    if ids is not None:
        ids = list(ids)
        if not ids:
            return {}
    so = ServiceOrder
    both_times = and_(so.arrived_at.isnot(None), so.appointment_at.isnot(None))
    query = (
        select(
            group_column,
            func.count(),
            func.sum(case((and_(both_times, so.arrived_at <= so.appointment_at), 1), else_=0)),
            func.sum(case((both_times, 1), else_=0)),
            func.sum(case((so.first_time_fix.is_(True), 1), else_=0)),
            func.count(so.first_time_fix),
            func.sum(so.satisfaction),
            func.count(so.satisfaction),
        )
        .where(so.status == "completed", so.completed_at >= since, group_column.isnot(None))
        .group_by(group_column)
    )
    if ids is not None:
        query = query.where(group_column.in_(ids))
    return {
        row[0]: OrderKpis(*(_int(v) for v in row[1:]))
        for row in db.session.execute(query)
    }
