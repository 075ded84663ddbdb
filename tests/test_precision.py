"""Numbers are kept exactly as entered, or refused (``app.core.precision``): a value with more
decimal places than its column keeps is a field error on the API (422), on the pages (under the
field) and in the services — never rounded into a pass. The import's side is in
``tests/test_imports.py``."""
from datetime import date
from decimal import Decimal

import pytest
from flask_babel import force_locale
from sqlalchemy import Column, Numeric

from app.core import services
from app.core.errors import Invalid
from app.engineers.models import Engineer, TrainingRecord
from app.extensions import db
from app.parts.models import Part
from tests import factories
from tests.test_pages_support import assert_form_refused, assert_saved, field_errors, fresh

PASSING = {"theory_hours": "30", "practical_hours": "50", "mentored_orders": 10, "theory_score": "80",
           "practical_score": "90"}
# just under each onboarding threshold, with one place more than the columns keep
JUST_UNDER = {"theory_hours": "29.95", "practical_hours": "49.95", "theory_score": "79.95",
              "practical_score": "89.95"}
ONE_PLACE = "Too many decimal places: this field keeps 1, and {} would be rounded when saved."
TWO_PLACES = "Too many decimal places: this field keeps 2, and {} would be rounded when saved."


@pytest.fixture
def trainee(world):
    engineer = factories.engineer(world.outlet_e, status="trainee", employee_no="E6001", name="新学员")
    db.session.commit()
    return engineer


def records_of(engineer):
    db.session.expire_all()
    return db.session.query(TrainingRecord).filter_by(engineer_id=engineer.id).all()


def activate(client, engineer):
    return client.post(f"/api/v1/engineer/{engineer.id}/activate?_l_=en", json={})


# --- the rule --------------------------------------------------------------------------------------

@pytest.mark.parametrize("value, problem", [
    ("89.9", None), ("90", None), ("30.00", None), ("1E+1", None), ("0", None), ("-0.0", None),
    ("9999.9", None), ("89.95", "places"), ("0.01", "places"), ("12.3456", "places"), ("10000", "whole"),
    ("-10000.0", "whole"),
])
def test_what_a_numeric_5_1_column_keeps(app, value, problem):
    from app.core import precision

    with app.test_request_context(), force_locale("en"):
        message = precision.value_problem(Decimal(value), 5, 1)
        if problem is None:
            assert message is None
        elif problem == "places":
            assert message == ONE_PLACE.format(precision.text(Decimal(value)))
        else:
            assert message == "Too large: at most 4 digits before the decimal point."


def test_values_are_read_exactly(app):
    from app.core import precision

    column = Column("price", Numeric(12, 2))
    with app.test_request_context(), force_locale("en"):
        assert precision.parse(12.34, column) == Decimal("12.34")  # a float: the number typed
        assert precision.parse(" 12.3400 ", column) == Decimal("12.3400")
        for raw in ("12.345", 12.345):
            with pytest.raises(ValueError, match="12.345 would be rounded"):
                precision.parse(raw, column)
        for raw in ("abc", "NaN", "Infinity", True, None, [1]):
            with pytest.raises(ValueError, match="Enter a number."):
                precision.parse(raw, column)
        assert precision.problem(Decimal("1.5"), Column("n", Numeric(6, 0))) == \
            "Enter a whole number: 1.5 would be rounded when saved."


def test_the_services_refuse_on_every_way_in(trainee, app):
    """A job or any other code saving through the services meets the same rule."""
    with app.test_request_context(), force_locale("en"):
        record = TrainingRecord(engineer=trainee, kind="onboarding", taken_on=date(2026, 1, 10),
                                **{k: Decimal(str(v)) for k, v in {**PASSING, "practical_score": "89.95"}.items()})
        with pytest.raises(Invalid) as caught:
            services.save(record)
    assert caught.value.errors == {"practical_score": [ONE_PLACE.format("89.95")]}
    db.session.rollback()
    assert records_of(trainee) == []


# --- the API ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("field", sorted(JUST_UNDER))
@pytest.mark.parametrize("as_json_number", [False, True])
def test_api_refuses_a_score_it_would_round_into_a_pass(trainee, api, field, as_json_number):
    hq = api("hq")
    value = JUST_UNDER[field]
    payload = {"engineer": trainee.id, "kind": "onboarding", "taken_on": "2026-01-10", **PASSING,
               field: float(value) if as_json_number else value}
    r = hq.post("/api/v1/training_record/?_l_=en", json=payload)
    assert r.status_code == 422, r.get_json()
    assert r.get_json() == {"message": "Validation failed.", "errors": {field: [ONE_PLACE.format(value)]}}
    assert records_of(trainee) == []
    assert activate(hq, trainee).status_code == 409
    assert fresh(Engineer, trainee.id).status == "trainee"


def test_api_put_of_89_95_is_refused_and_the_record_keeps_its_score(trainee, api):
    hq = api("hq")
    payload = {"engineer": trainee.id, "kind": "onboarding", "taken_on": "2026-01-10", **PASSING,
               "practical_score": "89.9"}
    r = hq.post("/api/v1/training_record/", json=payload)
    assert r.status_code == 201 and r.get_json()["result"]["passed"] is False
    rid = r.get_json()["id"]
    r = hq.put(f"/api/v1/training_record/{rid}?_l_=en", json={"practical_score": 89.95})
    assert r.status_code == 422
    assert r.get_json()["errors"] == {"practical_score": [ONE_PLACE.format("89.95")]}
    record = fresh(TrainingRecord, rid)
    assert (record.practical_score, record.passed) == (Decimal("89.9"), False)
    assert activate(hq, trainee).status_code == 409


@pytest.mark.parametrize("score, passes", [("89.9", False), ("90.0", True), ("90", True), ("90.00", True)])
def test_the_passed_flag_and_the_gate_agree(trainee, api, score, passes):
    hq = api("hq")
    r = hq.post("/api/v1/training_record/", json={"engineer": trainee.id, "kind": "onboarding",
                                                  "taken_on": "2026-01-10", **PASSING, "practical_score": score})
    assert r.status_code == 201, r.get_json()
    assert r.get_json()["result"]["passed"] is passes
    (record,) = records_of(trainee)
    assert record.practical_score == Decimal(score) and record.passed is passes
    assert activate(hq, trainee).status_code == (200 if passes else 409)


def test_api_price_with_three_places_is_refused(world, api):
    hq = api("hq")
    payload = {"sku": "P-PREC-1", "name": "温控器", "product_category": factories.category("air_conditioner").id,
               "is_common": False, "warranty_days": 90}
    for price in ("12.345", 12.345):
        r = hq.post("/api/v1/part/?_l_=en", json={**payload, "unit_price": price})
        assert r.status_code == 422
        assert r.get_json()["errors"] == {"unit_price": [TWO_PLACES.format("12.345")]}
    assert db.session.query(Part).filter_by(sku="P-PREC-1").count() == 0
    r = hq.post("/api/v1/part/", json={**payload, "unit_price": "12.34"})
    assert r.status_code == 201 and r.get_json()["result"]["unit_price"] == "12.34"
    pk = r.get_json()["id"]
    r = hq.put(f"/api/v1/part/{pk}?_l_=en", json={"unit_price": "12.349"})
    assert r.status_code == 422 and list(r.get_json()["errors"]) == ["unit_price"]
    assert fresh(Part, pk).unit_price == Decimal("12.34")


def test_api_special_values_are_refused(world, api):
    r = api("hq").put(f"/api/v1/part/{world.part.id}?_l_=en", json={"unit_price": "NaN"})
    assert r.status_code == 422
    assert r.get_json()["errors"] == {"unit_price": ["Special numeric values (nan or infinity) are not permitted."]}
    r = api("hq").put(f"/api/v1/part/{world.part.id}?_l_=en", json={"unit_price": "12,5"})
    assert r.status_code == 422 and r.get_json()["errors"] == {"unit_price": ["Not a valid number."]}
    assert fresh(Part, world.part.id).unit_price == Decimal("100.00")


# --- the pages -------------------------------------------------------------------------------------

def _page(login):
    c = login("hq")
    c.post("/language/", data={"locale": "en"})
    return c


def test_page_refuses_each_score_it_would_round_into_a_pass(trainee, login):
    c = _page(login)
    data = {"engineer": str(trainee.id), "kind": "onboarding", "taken_on": "2026-01-10",
            **{k: str(v) for k, v in PASSING.items()}, **JUST_UNDER}
    html = assert_form_refused(c.post("/trainingrecordview/add", data=data))
    for field, value in JUST_UNDER.items():
        assert field_errors(html, field) == [ONE_PLACE.format(value)], field
    assert field_errors(html, "mentored_orders") == []
    assert records_of(trainee) == []
    r = c.post(f"/engineerview/action/activate/{trainee.id}")
    assert r.status_code in (302, 303)
    assert fresh(Engineer, trainee.id).status == "trainee"


def test_page_edit_keeps_the_stored_score(trainee, login):
    c = _page(login)
    data = {"engineer": str(trainee.id), "kind": "onboarding", "taken_on": "2026-01-10",
            **{k: str(v) for k, v in PASSING.items()}, "practical_score": "89.9"}
    assert_saved(c.post("/trainingrecordview/add", data=data))
    (record,) = records_of(trainee)
    assert record.passed is False
    html = assert_form_refused(c.post(f"/trainingrecordview/edit/{record.id}",
                                      data={**data, "practical_score": "89.95"}))
    assert field_errors(html, "practical_score") == [ONE_PLACE.format("89.95")]
    assert 'value="89.95"' in html  # what was entered stays in the field, to be corrected
    record = fresh(TrainingRecord, record.id)
    assert (record.practical_score, record.passed) == (Decimal("89.9"), False)


def test_page_price_with_three_places_is_refused(world, login):
    c = _page(login)
    data = {"sku": "P-PREC-2", "name": "温控器", "product_category": str(factories.category("refrigerator").id),
            "unit_price": "12.345", "warranty_days": "90"}
    html = assert_form_refused(c.post("/partview/add", data=data))
    assert field_errors(html, "unit_price") == [TWO_PLACES.format("12.345")]
    assert db.session.query(Part).filter_by(sku="P-PREC-2").count() == 0
    assert_saved(c.post("/partview/add", data={**data, "unit_price": "12.340"}))
    assert db.session.query(Part).filter_by(sku="P-PREC-2").one().unit_price == Decimal("12.34")
