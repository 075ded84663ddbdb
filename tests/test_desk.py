"""The escalation desk's page: the complaint's number opens the complaint, people by name, approving
only through the confirmation step, rejecting only with a reason (the error on its field); and
PUBLIC_BASE_URL, the base of the links in emails (tests/test_complaints_email.py checks the links)."""
import html as html_lib
import re

import pytest

import config
from app.complaints import services
from app.complaints.models import Escalation
from app.core.people import display_name
from app.extensions import db
from tests import factories
from tests.auth_support import zh
from tests.test_complaints_lifecycle import new_complaint


def _status(esc_id):
    db.session.expire_all()
    return db.session.get(Escalation, esc_id)


def _card(page, esc_id):
    """The desk's card of one escalation."""
    match = re.search(rf'<div class="panel panel-default desk-item" id="escalation-{esc_id}".*?(?=<div class="panel '
                      rf'panel-default desk-item"|\Z)', page, re.S)
    assert match, f"escalation {esc_id} not on the desk"
    return match.group(0)


def test_desk_links_the_number_and_shows_people_by_name(world, login):
    agent, manager = factories.user("agent_e"), factories.user("manager_e")
    c = new_complaint(world, severity="major")
    first = services.escalate(c.id, "compensation", "compensation", "3000", "客户要求赔偿", agent)
    services.approve(first.id, "同意，报总部", manager)  # over ¥2,000: HQ decides level 2
    level2 = db.session.query(Escalation).filter_by(parent_id=first.id).one()

    card = _card(login("hq").get("/desk/").get_data(as_text=True), level2.id)
    assert f'<a href="/complaintview/show/{c.id}" class="complaint-link"' in card
    assert re.search(rf'class="complaint-link"[^>]*>{c.number}</a>', card)
    requested = re.search(r'<dd class="requested-by">(.*?)</dd>', card).group(1)
    decided = re.search(r'<dd class="decided-by">(.*?)</dd>', card).group(1)
    assert html_lib.unescape(requested) == display_name(agent) != agent.username
    assert html_lib.unescape(decided) == display_name(manager)


def test_approving_takes_the_confirmation_step(world, login):
    c = new_complaint(world)
    esc = services.escalate(c.id, "severity", "repair", None, "需要高级工程师", factories.user("agent_e"))
    manager = login("manager_e")

    # the desk's Approve: the confirmation page, with the comment typed so far; nothing approved
    resp = manager.post(f"/desk/{esc.id}/approve", data={"comment": "同意派高级工程师"})
    page = resp.get_data(as_text=True)
    assert resp.status_code == 200 and 'id="confirm-approval"' in page
    assert 'name="confirmed" value="1"' in page and 'value="同意派高级工程师"' in page
    assert f'href="/desk/#escalation-{esc.id}"' in page  # Cancel: back to its card
    assert manager.get(f"/desk/{esc.id}/approve").status_code == 200
    assert _status(esc.id).status == "pending"

    # the confirmation page's button approves
    resp = manager.post(f"/desk/{esc.id}/approve", data={"comment": "同意派高级工程师", "confirmed": "1"})
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/desk/")
    done = _status(esc.id)
    assert (done.status, done.comment, done.decided_by.username) == ("approved", "同意派高级工程师", "manager_e")

    # decided: the confirmation page is not offered again
    resp = manager.get(f"/desk/{esc.id}/approve")
    assert resp.status_code == 302 and "/desk/" in resp.headers["Location"]


def test_rejecting_without_a_reason_shows_the_error_on_the_field(world, login):
    c = new_complaint(world)
    esc = services.escalate(c.id, "severity", "repair", None, "", factories.user("agent_e"))
    manager = login("manager_e")

    resp = manager.post(f"/desk/{esc.id}/reject", data={"comment": "   "})
    assert resp.status_code == 200
    card = _card(resp.get_data(as_text=True), esc.id)
    group = re.search(r'<div class="form-group has-error">(.*?)</div>', card, re.S).group(1)
    assert f'id="reject-comment-{esc.id}"' in group and 'value="   "' in group and 'aria-invalid="true"' in group
    error = re.search(rf'id="reject-comment-{esc.id}-error">(.*?)</span>', group).group(1)
    assert html_lib.unescape(error) == zh(manager.application, "Give the reason for rejecting.")
    assert _status(esc.id).status == "pending"

    resp = manager.post(f"/desk/{esc.id}/reject", data={"comment": "理由不足"})
    assert resp.status_code == 302
    assert (_status(esc.id).status, _status(esc.id).comment) == ("rejected", "理由不足")


def test_public_base_url_comes_from_the_environment_and_must_be_an_address(monkeypatch):
    """The base of every link in an email (``core.links``): settable in production, refused when malformed."""
    monkeypatch.setenv("PUBLIC_BASE_URL", "https://service.example.cn/aftersales/")
    assert config.load("development")["PUBLIC_BASE_URL"] == "https://service.example.cn/aftersales"
    monkeypatch.setenv("PUBLIC_BASE_URL", "service.example.cn")
    with pytest.raises(config.ConfigError, match="PUBLIC_BASE_URL"):
        config.load("development")
    monkeypatch.delenv("PUBLIC_BASE_URL")
    assert config.load("development")["PUBLIC_BASE_URL"] == "http://127.0.0.1:5000"


def test_a_delegate_sees_another_regions_number_unlinked(world, login):
    """manager_e decides for region W as manager_w's delegate but cannot open W's complaints: the
    card names the complaint without a link that would only answer 404."""
    from app.complaints.models import Complaint, EscalationDelegation
    from app.core import clock, scope
    from app.core.services import save

    with scope.acting_as(factories.user("hq")):
        west = Complaint(customer_name="李女士", customer_phone="13900001111", channel="phone",
                         outlet=world.outlet_w, severity="general", description="洗衣机漏水",
                         received_at=clock.now())
        save(west)
    east = new_complaint(world)
    for c, agent in ((west, "hq"), (east, "agent_e")):
        services.escalate(c.id, "severity", "repair", None, "需要高级工程师", factories.user(agent))
    db.session.add(EscalationDelegation(manager=factories.user("manager_w"), delegate=factories.user("manager_e"),
                                        starts_on=clock.today(), ends_on=clock.today()))
    db.session.commit()
    manager = login("manager_e")
    page = manager.get("/desk/").get_data(as_text=True)
    [w_esc] = db.session.query(Escalation).filter_by(complaint_id=west.id).all()
    [e_esc] = db.session.query(Escalation).filter_by(complaint_id=east.id).all()
    assert f'href="/complaintview/show/{east.id}"' in _card(page, e_esc.id)
    west_card = _card(page, w_esc.id)
    assert west.number in west_card and "/complaintview/show/" not in west_card
    assert manager.get(f"/complaintview/show/{west.id}").status_code == 404
