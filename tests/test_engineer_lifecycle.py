"""The onboarding gate: a trainee goes on duty only once an onboarding training passed — through
``POST /api/v1/engineer/<id>/activate``, a ``PUT``/``POST`` of the status and the page action.
The other moves of the status table: ``tests/test_engineer_status.py``."""
from datetime import date
from decimal import Decimal

import pytest

from app.core import scope
from app.core.errors import NotFound
from app.core.models import Setting
from app.core.settings import DEFINITIONS
from app.engineers import rules, services
from app.engineers.models import Engineer, TrainingRecord
from app.extensions import db
from tests import factories
from tests.test_api_scope import EDITOR, _editor_user  # noqa: F401  (fixture)
from tests.test_pages_support import assert_form_refused, flashes, fresh, show_body

PASSING = dict(theory_hours=30, practical_hours=50, mentored_orders=10, theory_score=80, practical_score=90)


def training(engineer, kind="onboarding", taken_on=date(2026, 1, 10), **values):
    """A training record written directly, ``passed`` judged as the services judge it."""
    data = {**PASSING, **values} if kind == "onboarding" else {"theory_score": 85, "practical_score": 95, **values}
    with db.session.no_autoflush:
        record = TrainingRecord(engineer=engineer, kind=kind, taken_on=taken_on,
                                **{k: (Decimal(str(v)) if isinstance(v, (int, float)) and k != "mentored_orders"
                                       else v) for k, v in data.items()})
        record.passed = rules.training_passed(record)
    db.session.add(record)
    db.session.commit()
    return record


def set_setting(key, value):
    row = db.session.query(Setting).filter_by(key=key).one_or_none()
    if row is None:
        row = Setting(key=key, value="")
        db.session.add(row)
    row.value = DEFINITIONS[key].render(value)
    db.session.commit()


@pytest.fixture
def trainee(world):
    engineer = factories.engineer(world.outlet_e, status="trainee", employee_no="E2001", name="新学员")
    db.session.commit()
    return engineer


def activate(client, engineer_id):
    return client.post(f"/api/v1/engineer/{engineer_id}/activate?_l_=en", json={})


def status_of(engineer_id):
    return fresh(Engineer, engineer_id).status


TRAINEE_REFUSED = "This engineer is Trainee and cannot become On duty."
NOT_PASSED = "The trainee has not passed onboarding training yet."


def onboarding_items(response):
    """The unmet onboarding items of a 409 refusing a trainee's move on duty; its ``status`` names
    the current status and the unmet condition."""
    assert response.status_code == 409, response.get_json()
    body = response.get_json()
    errors = dict(body["errors"])
    assert body["message"] == TRAINEE_REFUSED
    assert errors.pop("status") == [TRAINEE_REFUSED, NOT_PASSED]
    return errors


# --- the API action --------------------------------------------------------------------------

def test_activate_refused_lists_every_unmet_item_with_numbers(trainee, api):
    training(trainee, theory_hours=20, practical_hours=45.5, mentored_orders=7, theory_score=79.5,
             practical_score=60)
    r = activate(api("hq"), trainee.id)
    assert r.status_code == 409
    assert onboarding_items(r) == {
        "theory_hours": ["Theory hours: 20 of 30 required"],
        "practical_hours": ["Practical hours: 45.5 of 50 required"],
        "mentored_orders": ["Mentored orders: 7 of 10 required"],
        "theory_score": ["Theory score: 79.5 of 80 required"],
        "practical_score": ["Practical score: 60 of 90 required"],
    }
    assert status_of(trainee.id) == "trainee"


def test_only_the_unmet_items_are_listed_and_a_missing_score_says_so(trainee, api):
    training(trainee, mentored_orders=9, practical_score=None)
    r = activate(api("hq"), trainee.id)
    assert r.status_code == 409
    assert onboarding_items(r) == {
        "mentored_orders": ["Mentored orders: 9 of 10 required"],
        "practical_score": ["Practical score: not recorded, 90 required"],
    }


def test_exactly_at_every_threshold_passes(trainee, api):
    training(trainee, **PASSING)
    r = activate(api("hq"), trainee.id)
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert body["id"] == trainee.id
    assert body["result"]["status"] == "active" and body["result"]["employee_no"] == "E2001"
    assert status_of(trainee.id) == "active"


def test_no_onboarding_record_at_all(trainee, api):
    training(trainee, kind="quarterly")  # a passed refresher is no onboarding
    r = activate(api("hq"), trainee.id)
    assert r.status_code == 409
    assert onboarding_items(r) == {"onboarding": ["No onboarding training on record."]}
    assert status_of(trainee.id) == "trainee"


def test_one_passed_onboarding_suffices_and_unmet_items_come_from_the_most_recent(trainee, world, api):
    hq = api("hq")
    training(trainee, taken_on=date(2025, 11, 1), theory_score=50)
    training(trainee, taken_on=date(2025, 12, 1), practical_score=70)
    r = activate(hq, trainee.id)
    assert onboarding_items(r) == {"practical_score": ["Practical score: 70 of 90 required"]}

    other = factories.engineer(world.outlet_e, status="trainee", employee_no="E2002")
    training(other, taken_on=date(2025, 11, 1))  # passed
    training(other, taken_on=date(2025, 12, 1), theory_score=10)  # a later failure does not undo it
    assert activate(hq, other.id).status_code == 200
    assert status_of(other.id) == "active"


def test_a_settings_change_moves_the_threshold(trainee, api):
    hq = api("hq")
    training(trainee, theory_hours=28)
    assert onboarding_items(activate(hq, trainee.id)) == {"theory_hours": ["Theory hours: 28 of 30 required"]}
    set_setting("training.onboarding_theory_hours", Decimal("35"))
    assert onboarding_items(activate(hq, trainee.id)) == {"theory_hours": ["Theory hours: 28 of 35 required"]}
    set_setting("training.onboarding_theory_hours", Decimal("28"))
    assert activate(hq, trainee.id).status_code == 200
    assert status_of(trainee.id) == "active"


def test_a_settings_change_can_also_refuse_a_record_that_passed_when_saved(trainee, api):
    training(trainee, practical_score=92)
    set_setting("training.pass_practical_score", Decimal("95"))
    r = activate(api("hq"), trainee.id)
    assert onboarding_items(r) == {"practical_score": ["Practical score: 92 of 95 required"]}


@pytest.mark.parametrize("status,label", [("active", "On duty"), ("suspended", "Suspended from duty"),
                                          ("left", "Left")])
def test_only_a_trainee_can_be_activated(world, api, status, label):
    engineer = factories.engineer(world.outlet_e, status=status, employee_no="E2003")
    db.session.commit()
    training(engineer)
    r = activate(api("hq"), engineer.id)
    assert r.status_code == 409
    body = r.get_json()
    assert label in body["message"] and list(body["errors"]) == ["status"]
    assert status_of(engineer.id) == status


def test_scoped_users_cannot_activate(trainee, world, api):
    west = factories.engineer(world.outlet_w, status="trainee", employee_no="W2001")
    db.session.commit()
    training(trainee)
    training(west)
    for username in ("manager_e", "agent_e", "auditor"):
        client = api(username)
        assert activate(client, trainee.id).status_code == 403, username
        assert activate(client, west.id).status_code == 403, username
    assert status_of(trainee.id) == status_of(west.id) == "trainee"


def test_activation_outside_the_region_scope_is_not_found(trainee, world, api, _editor_user):  # noqa: F811
    """A region-E user allowed to write engineers (test role) sees no engineer of region W."""
    world.east.users.append(factories.user(EDITOR))
    west = factories.engineer(world.outlet_w, status="trainee", employee_no="W2001")
    db.session.commit()
    training(west)
    training(trainee)
    editor = api(EDITOR)
    assert activate(editor, west.id).status_code == 404
    assert status_of(west.id) == "trainee"
    assert activate(editor, trainee.id).status_code == 200
    assert activate(api("hq"), 999999).status_code == 404


def test_the_service_loads_within_the_actor_scope(trainee, world):
    west = factories.engineer(world.outlet_w, status="trainee", employee_no="W2001")
    db.session.commit()
    training(west)
    with scope.acting_as(factories.user("manager_e")), pytest.raises(NotFound):
        services.activate(west.id)
    db.session.rollback()
    assert status_of(west.id) == "trainee"


# --- every other write path ----------------------------------------------------------------------

def test_put_of_the_status_is_gated_like_the_action(trainee, api):
    hq = api("hq")
    r = hq.put(f"/api/v1/engineer/{trainee.id}?_l_=en", json={"status": "active"})
    assert r.status_code == 409
    assert onboarding_items(r) == {"onboarding": ["No onboarding training on record."]}
    assert status_of(trainee.id) == "trainee"
    training(trainee, theory_score=70)
    r = hq.put(f"/api/v1/engineer/{trainee.id}?_l_=en", json={"status": "active", "name": "改名"})
    assert onboarding_items(r) == {"theory_score": ["Theory score: 70 of 80 required"]}
    assert fresh(Engineer, trainee.id).name == "新学员"  # nothing half-written
    training(trainee, taken_on=date(2026, 2, 1))
    r = hq.put(f"/api/v1/engineer/{trainee.id}", json={"status": "active"})
    assert r.status_code == 200 and r.get_json()["result"]["status"] == "active"


def test_creating_an_engineer_on_duty_is_refused(world, api):
    hq = api("hq")
    payload = {"employee_no": "E2009", "name": "王工", "outlet": world.outlet_e.id, "hire_date": "2026-01-01"}
    r = hq.post("/api/v1/engineer/?_l_=en", json={**payload, "status": "active"})
    assert r.status_code == 409
    assert onboarding_items(r) == {"onboarding": ["No onboarding training on record."]}
    assert db.session.query(Engineer).filter_by(employee_no="E2009").count() == 0
    r = hq.post("/api/v1/engineer/", json=payload)
    assert r.status_code == 201 and r.get_json()["result"]["status"] == "trainee"


def test_other_changes_are_not_rechecked(world, api):
    """Engineers already on duty (no training on record) can still be edited; an HQ admin lifts a
    suspension made by hand; neither is a trainee going on duty."""
    hq = api("hq")
    assert hq.put(f"/api/v1/engineer/{world.engineer_e.id}", json={"name": "张师傅", "status": "active"}
                  ).status_code == 200
    suspended = factories.engineer(world.outlet_e, status="suspended", employee_no="E2004",
                                   suspension_reason="other")
    db.session.commit()
    r = hq.put(f"/api/v1/engineer/{suspended.id}", json={"status": "active"})
    assert r.status_code == 200
    eng = fresh(Engineer, suspended.id)
    assert (eng.status, eng.suspension_reason) == ("active", None)  # the reason goes with the suspension


def test_page_edit_of_the_status_is_gated(trainee, world, login):
    c = login("hq")
    c.post("/language/", data={"locale": "en"})
    data = {"employee_no": "E2001", "name": "新学员", "phone": "", "email": "", "outlet": str(world.outlet_e.id),
            "hire_date": "2024-01-01", "status": "active"}
    training(trainee, mentored_orders=3)
    html = assert_form_refused(c.post(f"/engineerview/edit/{trainee.id}", data=data))
    assert any("Mentored orders: 3 of 10 required" in f for f in flashes(html))
    assert status_of(trainee.id) == "trainee"


# --- the page action -----------------------------------------------------------------------------

def test_page_action_refuses_with_the_unmet_items_then_activates(trainee, login):
    c = login("hq")
    c.post("/language/", data={"locale": "en"})
    training(trainee, theory_hours=12, practical_score=89)
    resp = c.post(f"/engineerview/action/activate/{trainee.id}")
    assert resp.status_code in (302, 303)
    html = c.get(resp.headers["Location"]).get_data(as_text=True)
    messages = " ".join(flashes(html))
    assert "Theory hours: 12 of 30 required" in messages and "Practical score: 89 of 90 required" in messages
    assert status_of(trainee.id) == "trainee"

    training(trainee, taken_on=date(2026, 3, 1))
    resp = c.post(f"/engineerview/action/activate/{trainee.id}")
    html = c.get(resp.headers["Location"]).get_data(as_text=True)
    assert any("is now on duty" in f for f in flashes(html, "success"))
    assert status_of(trainee.id) == "active"

    resp = c.post(f"/engineerview/action/activate/{trainee.id}")
    html = c.get(resp.headers["Location"]).get_data(as_text=True)
    assert any("Only a trainee can be put on duty" in f for f in flashes(html))


def test_page_action_is_offered_to_writers_only_and_scoped(trainee, world, login):
    training(trainee)
    hq = login("hq")
    assert "btn-action-EngineerView.action-activate" in hq.get(f"/engineerview/show/{trainee.id}").get_data(
        as_text=True)
    auditor = login("auditor")
    assert "btn-action-EngineerView.action-activate" not in auditor.get(
        f"/engineerview/show/{trainee.id}").get_data(as_text=True)
    auditor.post(f"/engineerview/action/activate/{trainee.id}")
    manager = login("manager_e")
    manager.post(f"/engineerview/action/activate/{trainee.id}")
    assert status_of(trainee.id) == "trainee"
    assert hq.post("/engineerview/action/activate/999999").status_code == 404


def test_show_page_and_api_carry_the_star_level_inputs(world, login, api):
    e = world.engineer_e
    e.star_level, e.star_score, e.star_orders = 4, Decimal("84.5"), 12
    e.star_on_time_rate, e.star_first_time_fix_rate, e.star_satisfaction = Decimal("91.7"), Decimal("75.0"), \
        Decimal("4.58")
    e.star_computed_on = date(2026, 3, 1)
    db.session.commit()
    c = login("hq")
    c.post("/language/", data={"locale": "en"})
    body = show_body(c.get(f"/engineerview/show/{e.id}").get_data(as_text=True))
    for text in ("Star score", "84.5", "Completed orders (star window)", "On-time arrival rate", "91.7%",
                 "First-time-fix rate", "75.0%", "Mean satisfaction", "4.58", "Star level computed on",
                 "Mar 1, 2026", "★★★★"):
        assert text in body, text
    row = api("auditor").get(f"/api/v1/engineer/{e.id}").get_json()["result"]
    assert (row["star_level"], row["star_score"], row["star_orders"], row["star_computed_on"]) == (
        4, "84.5", 12, "2026-03-01")
    assert (row["star_on_time_rate"], row["star_first_time_fix_rate"], row["star_satisfaction"]) == (
        "91.7", "75.0", "4.58")
    listed = api("hq").get("/api/v1/engineer/?q=(page_size:100)").get_json()["result"]
    assert {"star_score", "star_orders", "star_computed_on"} <= set(listed[0])
    # the inputs are computed, not written
    r = api("hq").put(f"/api/v1/engineer/{e.id}", json={"star_score": "99.0"})
    assert r.status_code == 422 and "star_score" in r.get_json()["errors"]
    # nor is the level itself: the nightly job owns it
    for payload in ({"star_level": 5}, {"name": "改名", "star_level": 5}):
        r = api("hq").put(f"/api/v1/engineer/{e.id}", json=payload)
        assert r.status_code == 422 and "star_level" in r.get_json()["errors"], r.get_json()
    db.session.expire_all()
    assert e.star_level == 4 and e.name != "改名"  # nothing of either request was written
