"""Quarterly refresher training: the nightly job suspends engineers who failed it or are overdue,
and a passed retake — saved through the API or found by the job — puts them back on duty."""
from datetime import date

import pytest

from app.core import clock
from app.engineers.lifecycle import enforce_refresher_training
from app.engineers.models import Engineer
from app.extensions import db
from tests import factories
from tests.test_engineer_lifecycle import set_setting, training
from tests.test_pages_support import count_queries, fresh

NOTHING = {"suspended_failed": 0, "suspended_overdue": 0, "reinstated": 0}


@pytest.fixture
def world(app):
    """One outlet and no engineers (the shared world's engineers have no training on record)."""
    class World:
        pass

    w = World()
    w.outlet_e = factories.outlet(factories.region("E", "华东区"), code="SH001")
    db.session.commit()
    return w


def engineer(world, status="active", hire_date=date(2025, 1, 1), **kw):
    e = factories.engineer(world.outlet_e, status=status, hire_date=hire_date, **kw)
    db.session.commit()
    return e


def state(e):
    row = fresh(Engineer, e.id)
    return row.status, row.suspension_reason


def run(on):
    with clock.freeze(on):
        return enforce_refresher_training()


def failed(e, taken_on):
    return training(e, kind="quarterly", taken_on=taken_on, practical_score=70)


def passed(e, taken_on):
    return training(e, kind="quarterly", taken_on=taken_on)


def test_a_failed_refresher_suspends(world):
    e = engineer(world)
    training(e, taken_on=date(2026, 3, 1))  # onboarding
    failed(e, date(2026, 5, 20))
    assert run(date(2026, 6, 1)) == {**NOTHING, "suspended_failed": 1}
    assert state(e) == ("suspended", "refresher_failed")


def test_a_retake_passed_after_the_failure_keeps_the_engineer_on_duty(world):
    e = engineer(world)
    failed(e, date(2026, 5, 1))
    passed(e, date(2026, 5, 20))
    assert run(date(2026, 6, 1)) == NOTHING
    assert state(e) == ("active", None)


def test_a_pass_and_a_failure_on_the_same_day_count_as_a_failure(world):
    e = engineer(world)
    passed(e, date(2026, 5, 20))
    failed(e, date(2026, 5, 20))
    run(date(2026, 6, 1))
    assert state(e) == ("suspended", "refresher_failed")


def test_overdue_exactly_at_the_grace_edge_and_one_day_later(world):
    """Last passed training 2026-02-28 → + 3 months = 2026-05-28 → + 15 days grace = 2026-06-12."""
    e = engineer(world)
    passed(e, date(2026, 2, 28))
    assert run(date(2026, 6, 12)) == NOTHING
    assert state(e) == ("active", None)
    assert run(date(2026, 6, 13)) == {**NOTHING, "suspended_overdue": 1}
    assert state(e) == ("suspended", "refresher_overdue")


def test_the_grace_period_is_a_setting(world):
    e = engineer(world)
    passed(e, date(2026, 2, 28))
    set_setting("training.refresher_grace_days", 0)
    assert run(date(2026, 5, 28)) == NOTHING
    assert run(date(2026, 5, 29)) == {**NOTHING, "suspended_overdue": 1}


def test_onboarding_counts_as_the_latest_training_and_without_any_the_hire_date(world):
    onboarded = engineer(world, employee_no="E3001")
    training(onboarded, taken_on=date(2026, 3, 31))  # due 2026-06-30 + 15 = 2026-07-15
    never = engineer(world, employee_no="E3002", hire_date=date(2026, 1, 10))  # due 2026-04-25
    failed_onboarding = engineer(world, employee_no="E3003", hire_date=date(2026, 1, 10))
    training(failed_onboarding, taken_on=date(2026, 4, 20), theory_score=10)  # does not count
    assert run(date(2026, 4, 25)) == NOTHING
    assert run(date(2026, 4, 26)) == {**NOTHING, "suspended_overdue": 2}
    assert state(never) == state(failed_onboarding) == ("suspended", "refresher_overdue")
    assert run(date(2026, 7, 15)) == NOTHING
    assert state(onboarded) == ("active", None)
    assert run(date(2026, 7, 16))["suspended_overdue"] == 1
    assert state(onboarded) == ("suspended", "refresher_overdue")


def test_records_dated_in_the_future_do_not_count(world):
    e = engineer(world)
    failed(e, date(2026, 5, 1))
    passed(e, date(2026, 7, 1))
    run(date(2026, 6, 1))
    assert state(e) == ("suspended", "refresher_failed")


def test_a_passed_retake_saved_through_the_api_reinstates_at_once(world, api):
    e = engineer(world)
    failed(e, date(2026, 5, 20))
    run(date(2026, 6, 1))
    assert state(e) == ("suspended", "refresher_failed")
    hq = api("hq")
    payload = {"engineer": e.id, "kind": "quarterly", "theory_hours": 4, "practical_hours": 4,
               "mentored_orders": 0, "theory_score": 85}
    with clock.freeze(date(2026, 6, 3)):
        r = hq.post("/api/v1/training_record/", json={**payload, "taken_on": "2026-06-02", "practical_score": 80})
        assert r.status_code == 201 and r.get_json()["result"]["passed"] is False
        assert state(e) == ("suspended", "refresher_failed")  # a failed retake changes nothing
        r = hq.post("/api/v1/training_record/", json={**payload, "taken_on": "2026-06-03", "practical_score": 95})
        assert r.status_code == 201 and r.get_json()["result"]["passed"] is True
    assert state(e) == ("active", None)
    assert run(date(2026, 6, 4)) == NOTHING  # the job agrees


def test_a_retake_reinstates_an_overdue_engineer_too(world, api):
    e = engineer(world)
    passed(e, date(2026, 1, 5))
    run(date(2026, 6, 1))
    assert state(e) == ("suspended", "refresher_overdue")
    with clock.freeze(date(2026, 6, 2)):
        r = api("hq").post("/api/v1/training_record/", json={
            "engineer": e.id, "kind": "quarterly", "taken_on": "2026-06-02", "theory_score": 90,
            "practical_score": 90})
        assert r.status_code == 201
    assert state(e) == ("active", None)


def test_a_retake_dated_before_the_failure_does_not_reinstate(world, api):
    e = engineer(world)
    failed(e, date(2026, 5, 20))
    run(date(2026, 6, 1))
    with clock.freeze(date(2026, 6, 2)):
        r = api("hq").post("/api/v1/training_record/", json={
            "engineer": e.id, "kind": "quarterly", "taken_on": "2026-05-10", "theory_score": 90,
            "practical_score": 95})
        assert r.status_code == 201
    assert state(e) == ("suspended", "refresher_failed")


def test_the_job_reinstates_after_a_retake_written_elsewhere(world):
    e = engineer(world)
    failed(e, date(2026, 5, 20))
    run(date(2026, 6, 1))
    passed(e, date(2026, 6, 5))  # e.g. an import that bypassed the services
    assert run(date(2026, 6, 6)) == {**NOTHING, "reinstated": 1}
    assert state(e) == ("active", None)


def test_the_job_is_idempotent(world):
    a = engineer(world, employee_no="E3001")
    failed(a, date(2026, 5, 20))
    b = engineer(world, employee_no="E3002", hire_date=date(2025, 6, 1))
    c = engineer(world, employee_no="E3003", status="suspended", suspension_reason="refresher_failed")
    failed(c, date(2026, 4, 1))
    passed(c, date(2026, 5, 1))
    before = db.session.query(Engineer).count()
    assert run(date(2026, 6, 1)) == {"suspended_failed": 1, "suspended_overdue": 1, "reinstated": 1}
    assert [state(x) for x in (a, b, c)] == [("suspended", "refresher_failed"), ("suspended", "refresher_overdue"),
                                             ("active", None)]
    updated = {x.id: fresh(Engineer, x.id).updated_at for x in (a, b, c)}
    assert run(date(2026, 6, 1)) == NOTHING
    assert {x.id: fresh(Engineer, x.id).updated_at for x in (a, b, c)} == updated
    assert db.session.query(Engineer).count() == before


@pytest.mark.parametrize("status,reason", [("suspended", "other"), ("suspended", None), ("left", None),
                                           ("trainee", None)])
def test_engineers_off_duty_for_another_reason_are_never_touched(world, api, status, reason):
    e = engineer(world, status=status, suspension_reason=reason)
    failed(e, date(2026, 5, 1))
    passed(e, date(2026, 5, 10))
    assert run(date(2026, 6, 1)) == NOTHING
    failed(e, date(2026, 5, 20))
    assert run(date(2026, 9, 1)) == NOTHING
    with clock.freeze(date(2026, 9, 2)):
        r = api("hq").post("/api/v1/training_record/", json={
            "engineer": e.id, "kind": "quarterly", "taken_on": "2026-09-02", "theory_score": 90,
            "practical_score": 95})
        assert r.status_code == 201
    assert state(e) == (status, reason)


def test_the_job_reads_with_a_fixed_number_of_queries(world):
    def queries_for(n, offset):
        for i in range(n):
            e = factories.engineer(world.outlet_e, employee_no=f"Q{offset + i:05d}")
            db.session.commit()
            failed(e, date(2026, 5, 1))
        with count_queries() as counter:
            run(date(2026, 6, 1))
        return counter["n"]

    few = queries_for(2, 0)
    many = queries_for(30, 100)
    assert many == few <= 5  # setting, facts, update
    assert db.session.query(Engineer).filter_by(suspension_reason="refresher_failed").count() == 32
