"""Complaint pages: recording a complaint from the form, its timeline, the desk's scope."""
from app.complaints import services
from app.complaints.models import Complaint
from app.core import clock
from app.extensions import db
from seeds.reference import load_default_calendar
from tests import factories
from tests.test_complaints_lifecycle import new_complaint
from tests.test_pages_support import assert_saved, field_errors


def test_agent_records_a_complaint_on_the_form(world, login):
    load_default_calendar(years=[clock.today().year])
    db.session.commit()
    agent = login("agent_e")
    data = {"customer_name": "钱先生", "customer_phone": "13500000000", "channel": "phone",
            "outlet": str(world.outlet_e.id), "severity": "major", "description": "冰箱噪音大"}
    assert_saved(agent.post("/complaintview/add", data=data))
    c = db.session.query(Complaint).one()
    assert c.owner.username == "agent_e" and c.status == "new" and c.response_due_at is not None
    html = agent.get(f"/complaintview/show/{c.id}").get_data(as_text=True)
    assert 'id="complaint-timeline"' in html and 'data-kind="received"' in html


def test_bad_form_input_lands_on_the_field(world, login):
    agent = login("agent_e")
    resp = agent.post("/complaintview/add", data={"customer_name": "钱先生", "customer_phone": "135",
                                                   "channel": "phone", "outlet": str(world.outlet_w.id),
                                                   "severity": "general", "description": "x"})
    assert resp.status_code == 200
    assert field_errors(resp.get_data(as_text=True), "outlet")
    assert db.session.query(Complaint).count() == 0


def test_desk_shows_only_the_managers_regions(world, login):
    c = new_complaint(world)
    services.escalate(c.id, "severity", "repair", None, "", factories.user("agent_e"))
    east = login("manager_e").get("/desk/").get_data(as_text=True)
    west = login("manager_w").get("/desk/").get_data(as_text=True)
    assert c.number in east and 'class="form-inline decide-approve"' in east
    assert c.number not in west
    # an agent has no desk
    assert login("agent_e").get("/desk/").status_code in (302, 403)
