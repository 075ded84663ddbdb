"""Engineer status moves only along the table in ``engineers.rules`` — on every way in: the API
(``POST``/``PUT``), the pages (add, edit), the nightly refresher job and a saved retake. The
import's side is in ``tests/test_imports.py``; the onboarding gate itself in
``tests/test_engineer_lifecycle.py``."""
from datetime import date

import pytest
from flask_babel import force_locale

from app.core import clock
from app.engineers import lifecycle, rules
from app.engineers.models import Engineer
from app.extensions import db
from tests import factories
from tests.test_api_scope import EDITOR, _editor_user  # noqa: F401  (fixture)
from tests.test_engineer_lifecycle import training
from tests.test_pages_support import assert_form_refused, assert_saved, field_errors, flashes, fresh

STATUSES = ("trainee", "active", "suspended", "left")
DECLARED = {("trainee", "active"), ("trainee", "left"), ("active", "suspended"), ("active", "left"),
            ("suspended", "active"), ("suspended", "left")}


def state(engineer_id):
    row = fresh(Engineer, engineer_id)
    return row.status, row.suspension_reason


def put(client, engineer_id, **values):
    return client.put(f"/api/v1/engineer/{engineer_id}?_l_=en", json=values)


def refused(response, current, target):
    """A 409 whose ``status`` errors name the current status first; returns all the messages."""
    assert response.status_code == 409, (response.status_code, response.get_json())
    body = response.get_json()
    headline = f"This engineer is {current} and cannot become {target}."
    assert body["message"] == headline
    assert body["errors"]["status"][0] == headline
    return body["errors"]


@pytest.fixture
def trainee(world):
    engineer = factories.engineer(world.outlet_e, status="trainee", employee_no="E5001", name="新学员")
    db.session.commit()
    return engineer


def new_engineer(world, status, **kw):
    engineer = factories.engineer(world.outlet_e, status=status, employee_no=kw.pop("employee_no", "E5002"), **kw)
    db.session.commit()
    return engineer


# --- the table itself ------------------------------------------------------------------------------

def test_the_table_allows_exactly_the_declared_moves(app):
    """With every condition met, exactly the declared moves pass; every other one is refused."""
    with app.test_request_context(), force_locale("en"):
        for current in STATUSES:
            for target in STATUSES:
                if current == target:
                    continue
                for reason in ("other", "refresher_failed"):
                    facts = rules.StatusFacts(reason=reason, by_hq_admin=True,
                                              by_refresher_rule=reason != "other",
                                              retake_passed=lambda: True)
                    refusal = rules.status_refusal(current, target, facts)
                    assert (refusal is None) == ((current, target) in DECLARED), (current, target, refusal)


def test_left_is_final_and_no_move_needs_nothing_into_active(app):
    with app.test_request_context(), force_locale("en"):
        for target in ("trainee", "active", "suspended"):
            message, errors = rules.status_refusal("left", target, rules.StatusFacts(by_hq_admin=True))
            assert errors["status"][1] == "Left is final: the status no longer changes."
        # into active, each way checks its own condition: none holds by default
        for current in ("trainee", "suspended"):
            for reason in ("other", "refresher_overdue"):
                assert rules.status_refusal(current, "active", rules.StatusFacts(
                    reason=reason, onboarding_unmet=lambda: {"onboarding": ["none"]})) is not None


# --- the API: the walks around the onboarding gate ----------------------------------------------

def test_api_put_cannot_walk_a_trainee_around_onboarding(trainee, api):
    hq = api("hq")
    errors = refused(put(hq, trainee.id, status="suspended"), "Trainee", "Suspended from duty")
    assert errors == {"status": ["This engineer is Trainee and cannot become Suspended from duty.",
                                 "From Trainee an engineer can only become: On duty, Left."]}
    assert state(trainee.id) == ("trainee", None)
    errors = refused(put(hq, trainee.id, status="active"), "Trainee", "On duty")
    assert errors["onboarding"] == ["No onboarding training on record."]
    assert state(trainee.id) == ("trainee", None)


def test_api_create_as_suspended_is_refused_and_a_leaver_never_comes_back(world, api):
    hq = api("hq")
    payload = {"employee_no": "E5009", "name": "王工", "outlet": world.outlet_e.id, "hire_date": "2026-01-01"}
    r = hq.post("/api/v1/engineer/?_l_=en", json={**payload, "status": "suspended"})
    refused(r, "Trainee", "Suspended from duty")
    assert db.session.query(Engineer).filter_by(employee_no="E5009").count() == 0

    r = hq.post("/api/v1/engineer/?_l_=en", json={**payload, "status": "left"})
    assert r.status_code == 201, r.get_json()
    pk = r.get_json()["id"]
    for target, label in (("active", "On duty"), ("suspended", "Suspended from duty"), ("trainee", "Trainee")):
        errors = refused(put(hq, pk, status=target), "Left", label)
        assert errors["status"][1] == "Left is final: the status no longer changes."
    assert state(pk) == ("left", None)
    # other fields of a leaver can still be corrected
    assert put(hq, pk, name="王师傅").status_code == 200


def test_engineers_created_off_duty_without_training_cannot_be_set_on_duty(world, api):
    """Rows that predate the table (written directly): the table judges their next move."""
    hq = api("hq")
    suspended = new_engineer(world, "suspended", employee_no="E5003", suspension_reason="refresher_failed")
    errors = refused(put(hq, suspended.id, status="active"), "Suspended from duty", "On duty")
    assert "retake" in errors["status"][1]
    assert state(suspended.id) == ("suspended", "refresher_failed")
    left = new_engineer(world, "left", employee_no="E5004")
    refused(put(hq, left.id, status="active"), "Left", "On duty")
    assert state(left.id) == ("left", None)


def test_an_engineer_on_duty_does_not_go_back_to_trainee(world, api):
    errors = refused(put(api("hq"), world.engineer_e.id, status="trainee"), "On duty", "Trainee")
    assert errors["status"][1] == "From On duty an engineer can only become: Suspended from duty, Left."
    assert state(world.engineer_e.id) == ("active", None)


# --- suspensions by hand: HQ admins only --------------------------------------------------------

@pytest.mark.parametrize("username", ["hq", "admin"])
def test_an_hq_admin_suspends_by_hand_and_lifts_it(world, api, username):
    client = api(username)
    e = world.engineer_e
    assert put(client, e.id, status="suspended").status_code == 200
    assert state(e.id) == ("suspended", "other")
    assert put(client, e.id, name="张工").status_code == 200  # still suspended, for the same reason
    assert state(e.id) == ("suspended", "other")
    assert put(client, e.id, status="active").status_code == 200
    assert state(e.id) == ("active", None)


def test_others_allowed_to_edit_engineers_neither_suspend_nor_lift(world, api, _editor_user):  # noqa: F811
    """A region-E user allowed to write engineers (test role) is no HQ admin."""
    world.east.users.append(factories.user(EDITOR))
    db.session.commit()
    editor = api(EDITOR)
    e = world.engineer_e
    errors = refused(put(editor, e.id, status="suspended"), "On duty", "Suspended from duty")
    assert errors["status"][1] == "Only an HQ admin can suspend an engineer by hand."
    assert state(e.id) == ("active", None)

    assert put(api("hq"), e.id, status="suspended").status_code == 200
    errors = refused(put(editor, e.id, status="active"), "Suspended from duty", "On duty")
    assert errors["status"][1] == "Only an HQ admin can lift a suspension made by hand."
    assert state(e.id) == ("suspended", "other")
    # leaving needs nothing more
    assert put(editor, e.id, status="left").status_code == 200
    assert state(e.id) == ("left", None)


# --- refresher suspensions: only a passed retake lifts them -------------------------------------

def test_a_refresher_suspension_is_lifted_only_by_a_passed_retake(world, api):
    e = new_engineer(world, "active", employee_no="E5005", hire_date=date(2025, 1, 1))
    training(e, taken_on=date(2026, 3, 1))  # onboarding
    training(e, kind="quarterly", taken_on=date(2026, 5, 20), practical_score=70)  # failed
    hq = api("hq")
    with clock.freeze(date(2026, 6, 1)):
        assert lifecycle.enforce_refresher_training()["suspended_failed"] == 1
        assert state(e.id) == ("suspended", "refresher_failed")
        errors = refused(put(hq, e.id, status="active"), "Suspended from duty", "On duty")  # even by HQ
        assert errors["status"][1].startswith("Suspended for the quarterly refresher")
        assert state(e.id) == ("suspended", "refresher_failed")
        # a retake written outside the services (no immediate reinstatement): HQ may now lift it
        training(e, kind="quarterly", taken_on=date(2026, 5, 30))
        assert put(hq, e.id, status="active").status_code == 200
    assert state(e.id) == ("active", None)


def test_the_refresher_job_moves_only_along_the_table(world, monkeypatch):
    """Whatever its verdict says, the job cannot make an undeclared move (here: on duty → trainee)."""
    suspended = new_engineer(world, "suspended", employee_no="E5006", suspension_reason="refresher_overdue")
    on_duty = new_engineer(world, "active", employee_no="E5007")
    monkeypatch.setattr(rules, "refresher_verdict", lambda status, *a: {
        "suspended": ("active", None), "active": ("trainee", None)}.get(status))
    with clock.freeze(date(2026, 6, 1)):
        counts = lifecycle.enforce_refresher_training()
    assert counts["reinstated"] == 1  # suspended → active: declared, the verdict being the retake
    assert state(suspended.id) == ("active", None)
    assert state(on_duty.id) == ("active", None)  # active → trainee: not declared, not written


# --- the pages ------------------------------------------------------------------------------------

def status_errors(html):
    """The messages under the form's status field, as one text."""
    return " ".join(field_errors(html, "status"))


def _form(engineer, **values):
    data = {"employee_no": engineer.employee_no, "name": engineer.name, "phone": engineer.phone or "",
            "email": "", "outlet": str(engineer.outlet_id), "hire_date": engineer.hire_date.isoformat(),
            "status": engineer.status}
    data.update(values)
    return data


def test_page_edit_walk_is_a_form_error_not_a_500(trainee, login):
    c = login("hq")
    c.post("/language/", data={"locale": "en"})
    html = assert_form_refused(c.post(f"/engineerview/edit/{trainee.id}", data=_form(trainee, status="suspended")))
    assert status_errors(html) == ("This engineer is Trainee and cannot become Suspended from duty. "
                                   "From Trainee an engineer can only become: On duty, Left.")
    assert any("This engineer is Trainee" in f for f in flashes(html))
    assert state(trainee.id) == ("trainee", None)


def test_page_add_as_suspended_is_refused_and_as_trainee_saved(world, login):
    c = login("hq")
    c.post("/language/", data={"locale": "en"})
    data = {"employee_no": "E5010", "name": "赵工", "phone": "", "email": "", "outlet": str(world.outlet_e.id),
            "hire_date": "2026-01-01", "status": "suspended"}
    html = assert_form_refused(c.post("/engineerview/add", data=data))
    assert status_errors(html).startswith("This engineer is Trainee and cannot become Suspended from duty.")
    assert db.session.query(Engineer).filter_by(employee_no="E5010").count() == 0
    html = assert_form_refused(c.post("/engineerview/add", data={**data, "status": "active"}))
    assert status_errors(html) == ("This engineer is Trainee and cannot become On duty. "
                                   "The trainee has not passed onboarding training yet.")
    assert any("No onboarding training on record." in f for f in flashes(html))
    assert_saved(c.post("/engineerview/add", data={**data, "status": "trainee"}))
    assert db.session.query(Engineer).filter_by(employee_no="E5010").one().status == "trainee"


def test_page_edit_of_a_leaver_back_on_duty_is_refused(world, login):
    leaver = new_engineer(world, "left", employee_no="E5008")
    c = login("hq")
    c.post("/language/", data={"locale": "en"})
    html = assert_form_refused(c.post(f"/engineerview/edit/{leaver.id}", data=_form(leaver, status="active")))
    assert status_errors(html) == ("This engineer is Left and cannot become On duty. "
                                   "Left is final: the status no longer changes.")
    assert state(leaver.id) == ("left", None)
