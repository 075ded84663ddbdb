"""Star level (星级) 1–5 of engineers, recomputed nightly from their recent service orders."""
import logging
from dataclasses import dataclass
from datetime import timedelta
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy import select, update

from app.core import clock, settings
from app.core.services import transaction
from app.engineers.models import Engineer

log = logging.getLogger(__name__)

STAR_COLUMNS = ("star_level", "star_score", "star_orders", "star_on_time_rate", "star_first_time_fix_rate",
                "star_satisfaction")


def star_settings():
    """The star policy in force (settings ``star.*``)."""
    return {
        "window_days": settings.get("star.window_days"),
        "min_orders": settings.get("star.min_orders"),
        "weight_on_time": settings.get("star.weight_on_time"),
        "weight_first_time_fix": settings.get("star.weight_first_time_fix"),
        "weight_satisfaction": settings.get("star.weight_satisfaction"),
        "thresholds": settings.get("star.thresholds"),
    }


@dataclass
class StarRating:
    level: int | None
    score: Decimal | None


def star_level(inputs, config):
    """The star level of one engineer from ``inputs`` (an ``orders.kpis.OrderKpis`` of the orders
    they completed in the last ``window_days``) under ``config`` (``star_settings()``).

    * on-time rate = arrived ≤ appointment among orders with both times, in %;
      first-time-fix rate = fixed the first time among orders where it is recorded, in %;
      satisfaction = mean score 1–5, mapped to 0–100 as ``(mean − 1) / 4 × 100``;
    * score = (w_on_time × on-time rate + w_ftf × first-time-fix rate + w_sat × satisfaction)
      / (sum of the weights of the inputs that are known), from the exact rates, rounded half up
      to one decimal; weights are the settings ``star.weight_*``;
    * stars = 1 + the number of ``star.thresholds`` (default 60, 70, 80, 90) the score reaches
      (a score equal to a threshold reaches it);
    * not rated (level and score ``None``) with fewer than ``star.min_orders`` completed orders,
      or when no weighted input is known.
    """
    if inputs is None or inputs.completed < config["min_orders"]:
        return StarRating(None, None)
    parts = []
    if inputs.on_time_known:
        parts.append((config["weight_on_time"], Decimal(inputs.on_time) * 100 / inputs.on_time_known))
    if inputs.first_time_fix_known:
        parts.append((config["weight_first_time_fix"],
                      Decimal(inputs.first_time_fix) * 100 / inputs.first_time_fix_known))
    if inputs.satisfaction_count:
        mean = Decimal(inputs.satisfaction_sum) / inputs.satisfaction_count
        parts.append((config["weight_satisfaction"], (mean - 1) / 4 * 100))
    weights = sum(w for w, _value in parts)
    if not weights:
        return StarRating(None, None)
    score = (sum(Decimal(w) * value for w, value in parts) / weights).quantize(Decimal("0.1"), ROUND_HALF_UP)
    level = 1 + sum(1 for t in config["thresholds"] if score >= t)
    return StarRating(min(level, 5), score)


def star_values(inputs, config):
    """The engineer's ``star_*`` columns for these inputs (``inputs`` ``None``: no orders)."""
    from app.orders.kpis import OrderKpis

    inputs = inputs or OrderKpis()
    rating = star_level(inputs, config)
    return {
        "star_level": rating.level,
        "star_score": rating.score,
        "star_orders": inputs.completed,
        "star_on_time_rate": inputs.on_time_rate,
        "star_first_time_fix_rate": inputs.first_time_fix_rate,
        "star_satisfaction": inputs.mean_satisfaction,
    }


def recompute_star_levels():
    """Nightly: every engineer's star level and its inputs from the service orders they completed
    in the last ``star.window_days`` days (leavers keep their last values).

    One grouped query for the order aggregates, one for the engineers' stored values, one batched
    UPDATE by primary key of the rows whose values change (``star_computed_on`` = today on
    those); re-running changes nothing. Returns ``{"engineers", "rated", "updated"}``.
    """
    from app.orders.kpis import order_kpis
    from app.orders.models import ServiceOrder

    config = star_settings()
    today = clock.today()
    since = clock.now() - timedelta(days=config["window_days"])
    with transaction() as session:
        kpis = order_kpis(ServiceOrder.engineer_id, None, since)
        columns = [getattr(Engineer, c) for c in STAR_COLUMNS]
        rows = session.execute(
            select(Engineer.id, Engineer.star_computed_on, *columns).where(Engineer.status != "left"))
        changes, rated, total = [], 0, 0
        for row in rows:
            total += 1
            pk, computed_on, stored = row[0], row[1], dict(zip(STAR_COLUMNS, row[2:]))
            values = star_values(kpis.get(pk), config)
            if values["star_level"] is not None:
                rated += 1
            if values != stored or computed_on is None:
                changes.append({"id": pk, **values, "star_computed_on": today})
        if changes:
            session.execute(update(Engineer), changes)
    result = {"engineers": total, "rated": rated, "updated": len(changes)}
    log.info("star levels recomputed: %s", result)
    return result


# --- how a star level reads ----------------------------------------------------------------------

PENDING, NOT_RATED, RATED = "pending", "not_rated", "rated"


def rating_state(engineer):
    """Whether an engineer's star level may be shown, from the figures it rests on:

    * ``pending`` — never computed (no ``star_computed_on``), or a level stored without the score it
      comes from (set by hand or by an import): shown as "to be computed", never as stars;
    * ``not_rated`` — computed, but too few completed orders (or no known input) for a level;
    * ``rated`` — computed, with its score and inputs.
    """
    if engineer.star_computed_on is None:
        return PENDING
    if engineer.star_level is None:
        return NOT_RATED
    return RATED if engineer.star_score is not None else PENDING
