"""The engineer's page: the status moves it offers follow the status table (each with what it
still needs), and a star level reads with the figures it was computed from, or "to be computed"."""
import re
from datetime import date
from decimal import Decimal

from app.engineers.models import Engineer
from app.extensions import db
from tests import factories
from tests.test_pages_support import flashes, fresh, list_body, show_body


def _moves(html):
    """``{target status: "yes"|"no"}`` of the status panel."""
    return dict(re.findall(r'class="list-group-item status-move" data-target="(\w+)" data-allowed="(\w+)"', html))


def test_the_moves_offered_follow_the_status(world, login):
    outlet = world.outlet_e
    trainee = factories.engineer(outlet, status="trainee", employee_no="T1", name="新学员")
    suspended = factories.engineer(outlet, status="suspended", suspension_reason="refresher_failed",
                                   employee_no="S1", name="停岗工")
    leaver = factories.engineer(outlet, status="left", employee_no="L1", name="离职工")
    db.session.commit()
    hq = login("hq")
    hq.post("/language/", data={"locale": "en"})

    def page(engineer):
        return hq.get(f"/engineerview/show/{engineer.id}").get_data(as_text=True)

    html = page(world.engineer_e)  # on duty: never offered "activate"
    assert _moves(html) == {"suspended": "yes", "left": "yes"}
    assert "action-activate" not in html and "action/activate" not in html
    assert 'href="/engineerview/action/suspend/%d"' % world.engineer_e.id in html

    html = page(trainee)  # the onboarding is missing: said, not offered
    assert _moves(html) == {"active": "no", "left": "yes"}
    assert "No onboarding training on record." in html and "action/activate" not in html

    html = page(suspended)  # a refresher suspension is lifted by a passed retake only
    assert _moves(html) == {"active": "no", "left": "yes"}
    assert "once a retake has passed" in html and "action/reinstate" not in html

    html = page(leaver)
    assert _moves(html) == {} and 'id="status-final"' in html
    # judging the moves wrote nothing
    assert [fresh(Engineer, e.id).status for e in (world.engineer_e, trainee, suspended, leaver)] == [
        "active", "trainee", "suspended", "left"]

    # a move opens its confirmation page first, then the POST makes it through the status rule
    confirm = hq.get(f"/engineerview/action/suspend/{world.engineer_e.id}")
    assert confirm.status_code == 405 and 'id="confirm-action"' in confirm.get_data(as_text=True)
    assert fresh(Engineer, world.engineer_e.id).status == "active"
    resp = hq.post(f"/engineerview/action/suspend/{world.engineer_e.id}")
    assert resp.status_code == 302
    eng = fresh(Engineer, world.engineer_e.id)
    assert (eng.status, eng.suspension_reason) == ("suspended", "other")
    assert _moves(page(eng)) == {"active": "yes", "left": "yes"}  # a suspension by hand: HQ lifts it
    resp = hq.post(f"/engineerview/action/suspend/{eng.id}", follow_redirects=True)
    assert any("cannot become" in f for f in flashes(resp.get_data(as_text=True)))
    hq.post(f"/engineerview/action/reinstate/{trainee.id}")  # reinstating is for suspended engineers
    assert fresh(Engineer, trainee.id).status == "trainee"

    # read-only users see no moves
    assert 'id="engineer-status"' not in login("auditor").get(f"/engineerview/show/{trainee.id}").get_data(
        as_text=True)


def test_a_star_level_shows_its_inputs_or_to_be_computed(world, login):
    outlet = world.outlet_e
    unbacked = factories.engineer(outlet, employee_no="X1", star_level=5)  # a level nothing computed
    rated = factories.engineer(outlet, employee_no="X2", star_level=4, star_score=Decimal("84.5"), star_orders=12,
                               star_on_time_rate=Decimal("91.7"), star_first_time_fix_rate=Decimal("75.0"),
                               star_satisfaction=Decimal("4.58"), star_computed_on=date(2026, 3, 1))
    few = factories.engineer(outlet, employee_no="X3", star_orders=2, star_computed_on=date(2026, 3, 1))
    db.session.commit()
    c = login("hq")
    c.post("/language/", data={"locale": "en"})

    body = show_body(c.get(f"/engineerview/show/{unbacked.id}").get_data(as_text=True))
    assert 'data-stars="pending"' in body and "To be computed" in body and "★" not in body

    body = show_body(c.get(f"/engineerview/show/{rated.id}").get_data(as_text=True))
    stars = re.search(r'<span class="app-stars" data-stars="4" title="([^"]*)"', body)
    assert stars and "★★★★" in body
    for figure in ("Star score: 84.5", "Completed orders (star window): 12", "On-time arrival rate: 91.7%",
                   "First-time-fix rate: 75.0%", "Mean satisfaction: 4.58"):
        assert figure in stars.group(1), figure

    body = show_body(c.get(f"/engineerview/show/{few.id}").get_data(as_text=True))
    assert "Not rated (completed orders: 2, at least 5 needed)" in body

    listed = list_body(c.get("/engineerview/list/?_flt_2_employee_no=X&_oc_EngineerView=star_level"
                             "&_od_EngineerView=desc").get_data(as_text=True))
    assert listed.count('data-stars="pending"') == 1 and listed.count('data-stars="4"') == 1
    assert listed.count('data-stars="none"') == 1 and "★★★★★" not in listed
