"""An outlet's qualification evidence at its edges (``app.qualification.evidence``), and the same
facts as the outlet API shows them."""
from datetime import timedelta
from decimal import Decimal

import pytest

from app.core import clock
from app.extensions import db
from app.qualification import evidence
from tests import factories


@pytest.fixture
def outlet(app):
    east = factories.region("E", "华东区", users=["manager_e"])
    o = factories.outlet(east, code="SH100", categories=("air_conditioner",))
    db.session.commit()
    return o


def certified(outlet, n, status="active", **cert):
    engineers = []
    for _ in range(n):
        e = factories.engineer(outlet, status=status)
        factories.certification(e, **cert)
        engineers.append(e)
    db.session.commit()
    return engineers


def common_parts(n, category="air_conditioner", common=True):
    parts = [factories.part(category, common=common) for _ in range(n)]
    db.session.commit()
    return parts


def stock_up(outlet, parts, short=0, missing=0):
    """Stock ``parts`` at the outlet: the first ``short`` below safety, the next ``missing`` not at all,
    the rest exactly at the safety level (which counts as stocked)."""
    for i, part in enumerate(parts):
        if i < short:
            factories.stock(part, outlet=outlet, quantity=4, safety_level=5)
        elif i < short + missing:
            continue
        else:
            factories.stock(part, outlet=outlet, quantity=5, safety_level=5)
    db.session.commit()


def ev(outlet):
    return evidence.for_outlet(outlet.id)


# --- certified engineers ------------------------------------------------------------------------

def test_exactly_three_certified_engineers_qualify_two_do_not(outlet):
    certified(outlet, 2)
    e = ev(outlet)
    assert (e.certified_engineers, e.required_engineers, e.meets_engineers) == (2, 3, False)
    certified(outlet, 1)
    e = ev(outlet)
    assert (e.certified_engineers, e.meets_engineers) == (3, True)


@pytest.mark.parametrize("status", ["trainee", "suspended", "left"])
def test_engineers_not_on_duty_do_not_count(outlet, status):
    certified(outlet, 2)
    certified(outlet, 3, status=status)
    assert ev(outlet).certified_engineers == 2


def test_expired_and_revoked_certificates_do_not_count(outlet):
    today = clock.today()
    certified(outlet, 1, expires_on=today - timedelta(days=1))
    certified(outlet, 1, revoked=True)
    certified(outlet, 1, expires_on=today)  # expiring today: still valid today
    assert ev(outlet).certified_engineers == 1


def test_a_certificate_expiring_today_counts_and_stops_counting_tomorrow(outlet):
    today = clock.today()
    certified(outlet, 3, expires_on=today)
    assert ev(outlet).meets_engineers is True
    with clock.freeze(today + timedelta(days=1)):
        e = ev(outlet)
        assert (e.certified_engineers, e.meets_engineers) == (0, False)


def test_an_engineer_with_several_certificates_counts_once(outlet):
    (engineer,) = certified(outlet, 1)
    factories.certification(engineer, ctype=factories.cert_type("高处作业证"))
    db.session.commit()
    assert ev(outlet).certified_engineers == 1


def test_engineers_of_other_outlets_do_not_count(outlet):
    other = factories.outlet(outlet.region, code="SH101")
    certified(other, 3)
    assert ev(outlet).certified_engineers == 0
    assert evidence.for_outlet(other.id).certified_engineers == 3


def test_an_engineer_with_no_certificate_does_not_count(outlet):
    factories.engineer(outlet)
    db.session.commit()
    assert ev(outlet).certified_engineers == 0


# --- common-parts stock rate --------------------------------------------------------------------

def test_exactly_90_percent_meets(outlet):
    stock_up(outlet, common_parts(10), short=1)
    e = ev(outlet)
    assert (e.common_parts_total, e.common_parts_stocked) == (10, 9)
    assert e.stock_rate == Decimal("90.00")
    assert e.meets_stock is True


def test_just_under_90_percent_does_not_meet(outlet):
    stock_up(outlet, common_parts(19), short=2)  # 17 / 19 = 89.47 %
    e = ev(outlet)
    assert e.stock_rate == Decimal("89.47")
    assert e.meets_stock is False


def test_a_missing_stock_row_counts_as_short(outlet):
    stock_up(outlet, common_parts(10), missing=1)
    assert ev(outlet).meets_stock is True
    stock_up(outlet, common_parts(1), missing=1)  # 9 / 11
    e = ev(outlet)
    assert (e.common_parts_total, e.common_parts_stocked, e.meets_stock) == (11, 9, False)


def test_parts_of_categories_not_served_and_non_common_parts_are_ignored(outlet):
    stock_up(outlet, common_parts(10))
    # common parts of a category the outlet does not serve, all short
    stock_up(outlet, common_parts(5, category="refrigerator"), short=5)
    # non-common parts of its own category, all short or missing
    stock_up(outlet, common_parts(5, common=False), short=3, missing=2)
    e = ev(outlet)
    assert (e.common_parts_total, e.common_parts_stocked, e.stock_rate) == (10, 10, Decimal("100.00"))


def test_stock_elsewhere_does_not_count(outlet):
    parts = common_parts(2)
    other = factories.outlet(outlet.region, code="SH102")
    for part in parts:
        factories.stock(part, outlet=other, quantity=9, safety_level=1)
        factories.stock(part, region=outlet.region, quantity=9, safety_level=1)
    db.session.commit()
    e = ev(outlet)
    assert (e.common_parts_stocked, e.stock_rate, e.meets_stock) == (0, Decimal("0.00"), False)


def test_an_outlet_with_no_common_parts_has_no_rate_and_does_not_meet(outlet):
    common_parts(3, common=False)
    e = ev(outlet)
    assert (e.common_parts_total, e.stock_rate, e.meets_stock) == (0, None, False)
    assert e.as_dict()["stock_rate"] is None


def test_a_category_served_through_several_outlets_is_counted_per_outlet(outlet):
    other = factories.outlet(outlet.region, code="SH103", categories=("air_conditioner", "refrigerator"))
    parts = common_parts(2) + common_parts(2, category="refrigerator")
    stock_up(other, parts)
    stock_up(outlet, parts[:1])
    found = evidence.for_outlets([outlet.id, other.id])
    assert (found[outlet.id].common_parts_total, found[outlet.id].common_parts_stocked) == (2, 1)
    assert (found[other.id].common_parts_total, found[other.id].common_parts_stocked) == (4, 4)


# --- all together, thresholds from the settings --------------------------------------------------

def _set(key, value):
    from app.core.models import Setting

    db.session.query(Setting).filter_by(key=key).one().value = value
    db.session.commit()


def test_qualifies_only_when_premises_engineers_and_stock_all_hold(outlet):
    certified(outlet, 3)
    stock_up(outlet, common_parts(10), short=1)
    assert ev(outlet).qualifies is True
    outlet.has_fixed_premises = False
    db.session.commit()
    assert ev(outlet).qualifies is False


def test_thresholds_are_read_from_the_settings(outlet):
    certified(outlet, 2)
    stock_up(outlet, common_parts(10), short=2)
    e = ev(outlet)
    assert (e.meets_engineers, e.meets_stock) == (False, False)
    _set("qualification.min_certified_engineers", "2")
    _set("qualification.min_common_stock_rate", "80")
    e = ev(outlet)
    assert (e.required_engineers, e.required_stock_rate) == (2, Decimal("80"))
    assert (e.meets_engineers, e.meets_stock, e.qualifies) == (True, True, True)
    _set("qualification.min_common_stock_rate", "80.01")
    assert ev(outlet).meets_stock is False


def test_many_outlets_take_a_fixed_number_of_queries(outlet, app):
    from sqlalchemy import event

    outlets = [outlet] + [factories.outlet(outlet.region) for _ in range(5)]
    db.session.commit()
    ids = [o.id for o in outlets]
    statements = []

    def count(conn, cursor, statement, *args):
        statements.append(statement)

    engine = db.session.get_bind()
    event.listen(engine, "before_cursor_execute", count)
    try:
        found = evidence.for_outlets(ids)
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert len(statements) <= 6, statements
    assert set(found) == set(ids)


# --- through the API ----------------------------------------------------------------------------

def test_outlet_api_shows_the_evidence_and_follows_the_settings(outlet, api):
    certified(outlet, 2)
    stock_up(outlet, common_parts(10), short=1)
    hq = api("hq")
    result = hq.get(f"/api/v1/outlet/{outlet.id}").get_json()["result"]
    assert result["certified_engineers"] == 2
    assert result["common_stock_rate"] == 90.0
    assert (result["meets_engineer_threshold"], result["meets_stock_threshold"], result["qualifies"]) == (
        False, True, False)

    setting = hq.get("/api/v1/setting/?q=(filters:!((col:key,opr:eq,value:qualification.min_certified_engineers)))")
    sid = setting.get_json()["ids"][0]
    assert hq.put(f"/api/v1/setting/{sid}", json={"value": "2"}).status_code == 200
    listed = hq.get("/api/v1/outlet/").get_json()["result"]
    row = next(r for r in listed if r["id"] == outlet.id)
    assert (row["meets_engineer_threshold"], row["qualifies"]) == (True, True)


def test_outlet_api_rate_is_null_without_common_parts(outlet, api):
    result = api("manager_e").get(f"/api/v1/outlet/{outlet.id}").get_json()["result"]
    assert result["common_stock_rate"] is None
    assert result["meets_stock_threshold"] is False
