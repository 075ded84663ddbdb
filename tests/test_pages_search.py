"""Search filters on the list pages: low stock, certificate expiry, region, outlet, status, audits."""
from datetime import timedelta

from app.core import clock
from app.extensions import db
from tests import factories
from tests.test_pages_support import list_body, row_ids


def _ids(client, url):
    resp = client.get(url)
    assert resp.status_code == 200, url
    return sorted(row_ids(resp.get_data(as_text=True)))


def test_low_stock_filter(world, login):
    low_e = factories.stock(factories.part(sku="AC-LOW"), outlet=world.outlet_e, quantity=1, safety_level=4)
    at_level = factories.stock(factories.part(sku="AC-EQ"), outlet=world.outlet_e, quantity=4, safety_level=4)
    low_w = factories.stock(factories.part(sku="AC-LOW-W"), outlet=world.outlet_w, quantity=0, safety_level=2)
    db.session.commit()
    hq, manager = login("hq"), login("manager_e")
    assert _ids(hq, "/stockview/list/?_flt_0_low=1") == sorted([low_e.id, low_w.id])
    assert _ids(manager, "/stockview/list/?_flt_0_low=1") == [low_e.id]
    high = _ids(hq, "/stockview/list/?_flt_0_low=0")
    assert at_level.id in high and low_e.id not in high and world.stock_e.id in high
    # the list flags the low rows
    body = list_body(hq.get("/stockview/list/?_flt_0_low=1").get_data(as_text=True))
    assert body.count('class="label label-danger"') == 2


def test_certification_expiry_filters(world, login):
    today = clock.today()
    soon = factories.certification(world.engineer_e, expires_on=today + timedelta(days=10))
    today_cert = factories.certification(world.engineer_e, expires_on=today)
    later = factories.certification(world.engineer_e, expires_on=today + timedelta(days=45))
    expired = factories.certification(world.engineer_e, expires_on=today - timedelta(days=3))
    factories.certification(world.engineer_e, expires_on=today + timedelta(days=5), revoked=True)
    soon_w = factories.certification(world.engineer_w, expires_on=today + timedelta(days=20))
    db.session.commit()
    hq = login("hq")
    assert _ids(hq, "/certificationview/list/?_flt_0_expires_within=30") == sorted(
        [soon.id, today_cert.id, soon_w.id])
    assert _ids(hq, "/certificationview/list/?_flt_0_expires_within=60") == sorted(
        [soon.id, today_cert.id, later.id, soon_w.id])
    assert _ids(login("manager_e"), "/certificationview/list/?_flt_0_expires_within=30") == sorted(
        [soon.id, today_cert.id])
    assert _ids(hq, "/certificationview/list/?_flt_0_expired=1") == [expired.id]
    assert expired.id not in _ids(hq, "/certificationview/list/?_flt_0_expired=0")
    # status (as stored, translated in the list) and a malformed value (ignored, not a 500)
    assert _ids(hq, "/certificationview/list/?_flt_0_status=expiring") == sorted([soon.id, today_cert.id, soon_w.id])
    assert hq.get("/certificationview/list/?_flt_0_expires_within=abc").status_code == 200
    assert hq.get("/certificationview/list/?_flt_9_expires_within=3").status_code == 200


def test_region_and_outlet_filters(world, login):
    hq = login("hq")
    assert _ids(hq, f"/engineerview/list/?_flt_0_region={world.west.id}") == [world.engineer_w.id]
    assert _ids(hq, f"/engineerview/list/?_flt_0_outlet={world.outlet_e.id}") == [world.engineer_e.id]
    assert _ids(hq, f"/engineerview/list/?_flt_1_outlet={world.outlet_e.id}") == [world.engineer_w.id]  # is not
    assert _ids(hq, f"/certificationview/list/?_flt_0_outlet={world.outlet_w.id}") == sorted(
        [world.cert_w.id, world.height_cert_w.id])
    assert _ids(hq, f"/serviceorderview/list/?_flt_0_region={world.east.id}") == [world.order_e.id]
    assert _ids(hq, f"/stockview/list/?_flt_0_any_region={world.east.id}") == sorted(
        [world.stock_e.id, world.central_e.id])
    assert _ids(hq, f"/outletview/list/?_flt_0_region={world.west.id}") == [world.outlet_w.id]
    # a manager filtering by the other region gets nothing, not the other region's rows
    assert _ids(login("manager_e"), f"/engineerview/list/?_flt_0_region={world.west.id}") == []


def test_status_and_flag_filters(world, login):
    trainee = factories.engineer(world.outlet_e, status="trainee", employee_no="E1002")
    world.outlet_w.has_fixed_premises = False
    db.session.commit()
    hq = login("hq")
    assert _ids(hq, "/engineerview/list/?_flt_0_status=trainee") == [trainee.id]
    assert _ids(hq, "/engineerview/list/?_flt_1_status=trainee") == sorted([world.engineer_e.id, world.engineer_w.id])
    assert _ids(hq, "/outletview/list/?_flt_0_has_fixed_premises=0") == [world.outlet_w.id]
    assert _ids(hq, "/engineerview/list/?_flt_0_name=张") == sorted([world.engineer_e.id, world.engineer_w.id,
                                                                     trainee.id])


def test_next_audit_due_filter(world, login):
    today = clock.today()
    world.outlet_e.next_audit_due_on = today + timedelta(days=20)
    world.outlet_w.next_audit_due_on = today + timedelta(days=90)
    overdue = factories.outlet(world.east, code="SH099", next_audit_due_on=today - timedelta(days=1))
    db.session.commit()
    hq = login("hq")
    assert _ids(hq, "/outletview/list/?_flt_0_audit_due=30") == sorted([world.outlet_e.id, overdue.id])
    html = list_body(hq.get("/outletview/list/").get_data(as_text=True))
    assert 'label label-danger' in html and 'label label-warning' in html  # overdue / due soon flags


def test_active_filter_keeps_chosen_record_in_search_form(world, login):
    html = login("hq").get(f"/engineerview/list/?_flt_0_outlet={world.outlet_e.id}").get_data(as_text=True)
    # the AJAX box of the active filter carries the chosen outlet so it shows by name
    assert "SH001 \\u4e0a\\u6d77\\u6d66\\u4e1c\\u7f51\\u70b9" in html or "SH001 上海浦东网点" in html
