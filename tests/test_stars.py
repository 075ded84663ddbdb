"""Star levels: the formula at its edges (``engineers.stars.star_level``), the order KPIs it reads
(``orders.kpis``) and the nightly job."""
from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest

from app.core import clock
from app.engineers.models import Engineer
from app.engineers.stars import recompute_star_levels, star_level, star_settings
from app.extensions import db
from app.orders.kpis import OrderKpis, order_kpis
from app.orders.models import ServiceOrder
from tests import factories
from tests.test_engineer_lifecycle import set_setting
from tests.test_pages_support import count_queries, fresh

CONFIG = {"window_days": 90, "min_orders": 5, "weight_on_time": 30, "weight_first_time_fix": 30,
          "weight_satisfaction": 40, "thresholds": [60, 70, 80, 90]}
NOW = datetime(2026, 6, 1, 1, 0)  # 09:00 in Shanghai


def kpis(n=10, on_time=None, ftf=None, sat=None):
    """``n`` completed orders, all with known inputs: ``on_time``/``ftf`` of them good, ``sat`` the
    satisfaction total."""
    return OrderKpis(completed=n, on_time=n if on_time is None else on_time, on_time_known=n,
                     first_time_fix=n if ftf is None else ftf, first_time_fix_known=n,
                     satisfaction_sum=5 * n if sat is None else sat, satisfaction_count=n)


def only(weight):
    return {**CONFIG, "weight_on_time": 0, "weight_first_time_fix": 0, "weight_satisfaction": 0, weight: 100}


# --- the formula ---------------------------------------------------------------------------------

def test_perfect_service_is_five_stars():
    assert star_level(kpis(), CONFIG).level == 5
    assert star_level(kpis(), CONFIG).score == Decimal("100.0")


def test_worst_service_is_one_star():
    rating = star_level(kpis(on_time=0, ftf=0, sat=10), CONFIG)
    assert (rating.level, rating.score) == (1, Decimal("0.0"))


def test_weighted_mean_of_the_three_inputs():
    # on time 60 %, first-time fix 60 %, satisfaction 3.4 → (3.4 − 1) / 4 × 100 = 60 → exactly 60 → 2 stars
    rating = star_level(kpis(on_time=6, ftf=6, sat=34), CONFIG)
    assert (rating.level, rating.score) == (2, Decimal("60.0"))
    # 30 × 80 + 30 × 50 + 40 × 75 = 6900 / 100 = 69.0 → 2 stars; satisfaction 4.0 ↦ 75
    rating = star_level(kpis(on_time=8, ftf=5, sat=40), CONFIG)
    assert (rating.level, rating.score) == (2, Decimal("69.0"))


@pytest.mark.parametrize("good,stars", [(599, 1), (600, 2), (699, 2), (700, 3), (799, 3), (800, 4), (899, 4),
                                        (900, 5), (1000, 5)])
def test_each_threshold_is_reached_at_exactly_its_score(good, stars):
    rating = star_level(kpis(n=1000, on_time=good), only("weight_on_time"))
    assert rating.level == stars
    assert rating.score == Decimal(good) / 10


def test_the_score_is_rounded_half_up_to_one_decimal_before_the_thresholds():
    rating = star_level(kpis(n=10000, on_time=5995), only("weight_on_time"))  # 59.95 %
    assert (rating.level, rating.score) == (2, Decimal("60.0"))
    rating = star_level(kpis(n=10000, on_time=5994), only("weight_on_time"))  # 59.94 %
    assert (rating.level, rating.score) == (1, Decimal("59.9"))


def test_unknown_inputs_leave_the_denominator():
    k = OrderKpis(completed=8, satisfaction_sum=36, satisfaction_count=8)  # mean 4.5 ↦ 87.5
    rating = star_level(k, CONFIG)
    assert (rating.level, rating.score) == (4, Decimal("87.5"))
    # on time known (100 %), first-time fix unknown: (30 × 100 + 40 × 87.5) / 70 = 92.857… → 92.9
    k = OrderKpis(completed=8, on_time=4, on_time_known=4, satisfaction_sum=36, satisfaction_count=8)
    assert star_level(k, CONFIG).score == Decimal("92.9")
    assert star_level(OrderKpis(completed=8), CONFIG).level is None  # nothing known


def test_fewer_than_the_minimum_orders_is_not_rated():
    assert star_level(kpis(n=4), CONFIG).level is None
    assert star_level(kpis(n=4), CONFIG).score is None
    assert star_level(kpis(n=5), CONFIG).level == 5
    assert star_level(kpis(n=4), {**CONFIG, "min_orders": 4}).level == 5


def test_weights_and_thresholds_come_from_the_settings(app):
    k = kpis(on_time=10, ftf=0, sat=10)  # on time 100 %, first-time fix 0 %, satisfaction 1 ↦ 0
    assert star_level(k, star_settings()).score == Decimal("30.0")
    set_setting("star.weight_on_time", 100)
    set_setting("star.weight_first_time_fix", 0)
    set_setting("star.weight_satisfaction", 0)
    assert star_level(k, star_settings()).level == 5
    set_setting("star.thresholds", [95, 96, 97, 98])
    assert star_level(kpis(n=100, on_time=96), star_settings()).level == 3
    assert star_level(kpis(n=100, on_time=94), star_settings()).level == 1
    set_setting("star.min_orders", 11)
    assert star_level(k, star_settings()).level is None


# --- the order KPIs --------------------------------------------------------------------------------

def completed(outlet, engineer, at=NOW - timedelta(days=10), on_time=True, ftf=True, sat=5, **kw):
    appointment = at - timedelta(hours=2)
    arrived = appointment - timedelta(minutes=5) if on_time else appointment + timedelta(minutes=1)
    if on_time is None:
        arrived = None
    return factories.service_order(outlet, engineer, status=kw.pop("status", "completed"),
                                   appointment_at=appointment, arrived_at=arrived,
                                   completed_at=at, first_time_fix=ftf, satisfaction=sat,
                                   created_at=at - timedelta(days=1), **kw)


def test_order_kpis_count_completed_orders_since_the_moment_by_group(world):
    e, o = world.engineer_e, world.outlet_e
    since = NOW - timedelta(days=90)
    completed(o, e, on_time=True, ftf=True, sat=5)
    completed(o, e, on_time=False, ftf=False, sat=3)
    completed(o, e, on_time=None, ftf=None, sat=None)
    # exactly on the appointment is on time
    order = completed(o, e)
    order.arrived_at = order.appointment_at
    completed(o, e, at=since)  # at the window's first moment: counts
    completed(o, e, at=since - timedelta(seconds=1))  # before it: does not
    completed(o, e, status="in_service")  # not completed: does not
    completed(world.outlet_w, world.engineer_w, sat=4)
    db.session.commit()

    by_engineer = order_kpis(ServiceOrder.engineer_id, [e.id, world.engineer_w.id, 999], since)
    k = by_engineer[e.id]
    assert (k.completed, k.on_time, k.on_time_known, k.first_time_fix, k.first_time_fix_known,
            k.satisfaction_sum, k.satisfaction_count) == (5, 3, 4, 3, 4, 18, 4)
    assert (k.on_time_rate, k.first_time_fix_rate, k.mean_satisfaction) == (
        Decimal("75.0"), Decimal("75.0"), Decimal("4.50"))
    assert 999 not in by_engineer
    assert by_engineer[world.engineer_w.id].mean_satisfaction == Decimal("4.00")

    by_outlet = order_kpis(ServiceOrder.outlet_id, [o.id], since)
    assert list(by_outlet) == [o.id] and by_outlet[o.id].completed == 5
    assert set(order_kpis(ServiceOrder.outlet_id, None, since)) == {o.id, world.outlet_w.id}
    assert order_kpis(ServiceOrder.outlet_id, [], since) == {}


def test_rates_are_unknown_without_data_and_rounded_half_up():
    assert OrderKpis().on_time_rate is None and OrderKpis().mean_satisfaction is None
    k = OrderKpis(completed=3, on_time=2, on_time_known=3, first_time_fix=1, first_time_fix_known=8,
                  satisfaction_sum=14, satisfaction_count=3)
    assert (k.on_time_rate, k.first_time_fix_rate, k.mean_satisfaction) == (
        Decimal("66.7"), Decimal("12.5"), Decimal("4.67"))


# --- the nightly job -------------------------------------------------------------------------------

def run():
    with clock.freeze(NOW):
        return recompute_star_levels()


def test_the_job_rates_from_the_window_and_stores_the_inputs(world):
    e, o = world.engineer_e, world.outlet_e
    for i in range(4):
        completed(o, e, at=NOW - timedelta(days=89), on_time=i < 3, ftf=i < 2, sat=4)
    completed(o, e, at=NOW - timedelta(days=1), on_time=True, ftf=True, sat=5)
    for _ in range(3):  # outside the 90-day window: ignored
        completed(o, e, at=NOW - timedelta(days=91), on_time=False, ftf=False, sat=1)
    db.session.commit()

    assert run() == {"engineers": 2, "rated": 1, "updated": 2}
    row = fresh(Engineer, e.id)
    # on time 4/5 = 80 %, first-time fix 3/5 = 60 %, satisfaction 4.2 ↦ 80 → (2400 + 1800 + 3200) / 100 = 74.0
    assert (row.star_orders, row.star_on_time_rate, row.star_first_time_fix_rate, row.star_satisfaction) == (
        5, Decimal("80.0"), Decimal("60.0"), Decimal("4.20"))
    assert (row.star_score, row.star_level, row.star_computed_on) == (Decimal("74.0"), 3, date(2026, 6, 1))
    unrated = fresh(Engineer, world.engineer_w.id)
    assert (unrated.star_level, unrated.star_score, unrated.star_orders, unrated.star_on_time_rate) == (
        None, None, 0, None)
    assert unrated.star_computed_on == date(2026, 6, 1)


def test_the_job_is_idempotent_and_writes_only_changed_rows(world):
    e, o = world.engineer_e, world.outlet_e
    for _ in range(5):
        completed(o, e)
    db.session.commit()
    assert run()["updated"] == 2
    assert fresh(Engineer, e.id).star_level == 5
    assert run() == {"engineers": 2, "rated": 1, "updated": 0}

    completed(o, e, on_time=False, ftf=False, sat=1)
    db.session.commit()
    assert run()["updated"] == 1
    assert fresh(Engineer, e.id).star_orders == 6
    assert run()["updated"] == 0


def test_falling_below_the_minimum_clears_the_rating(world):
    e, o = world.engineer_e, world.outlet_e
    for _ in range(5):
        completed(o, e, at=NOW - timedelta(days=80))
    db.session.commit()
    run()
    assert fresh(Engineer, e.id).star_level == 5
    with clock.freeze(NOW + timedelta(days=11)):  # the orders have left the window
        assert recompute_star_levels()["updated"] == 1
    row = fresh(Engineer, e.id)
    assert (row.star_level, row.star_score, row.star_orders) == (None, None, 0)


def test_the_weights_in_the_settings_drive_the_job(world):
    e, o = world.engineer_e, world.outlet_e
    for _ in range(5):
        completed(o, e, on_time=True, ftf=False, sat=1)
    db.session.commit()
    run()
    assert (fresh(Engineer, e.id).star_score, fresh(Engineer, e.id).star_level) == (Decimal("30.0"), 1)
    set_setting("star.weight_first_time_fix", 0)
    set_setting("star.weight_satisfaction", 0)
    assert run()["updated"] == 1
    assert (fresh(Engineer, e.id).star_score, fresh(Engineer, e.id).star_level) == (Decimal("100.0"), 5)
    set_setting("star.window_days", 7)
    run()
    assert fresh(Engineer, e.id).star_orders == 0


def test_leavers_keep_their_last_rating(world):
    world.engineer_w.status, world.engineer_w.star_level = "left", 4
    db.session.commit()
    assert run()["engineers"] == 1
    assert fresh(Engineer, world.engineer_w.id).star_level == 4


def test_the_job_runs_a_fixed_number_of_queries(world):
    def queries_with(n, offset):
        for i in range(n):
            e = factories.engineer(world.outlet_e, employee_no=f"S{offset + i:05d}")
            completed(world.outlet_e, e)
        db.session.commit()
        with count_queries() as counter:
            run()
        return counter["n"]

    # settings, orders, engineers, update — plus the audit trail's six: the changed rows read before and
    # after the bulk UPDATE, the chain head taken, read and moved, the events inserted
    assert queries_with(2, 0) == queries_with(40, 100) <= 16


def test_the_nightly_lifecycle_jobs_are_scheduled_after_the_certificate_refresh(app):
    from rq.cron import CronScheduler

    from app import jobs
    from app.core import queue

    assert jobs.recompute_star_levels is recompute_star_levels
    scheduler = CronScheduler(connection=queue.connection(app))
    scheduler.load_config_from_file("app.schedule")
    registered = {(j.func_name, j.cron) for j in scheduler.get_jobs()}
    assert ("app.engineers.lifecycle.enforce_refresher_training", "15 16 * * *") in registered
    assert ("app.engineers.stars.recompute_star_levels", "20 16 * * *") in registered
