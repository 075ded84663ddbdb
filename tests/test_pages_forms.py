"""Form errors land on the field that caused them, never as a 500, and leave nothing behind."""
from datetime import timedelta

from app.complaints.models import SlaPolicy
from app.core import clock
from app.engineers.models import Certification, Engineer
from app.extensions import db
from app.network.models import Outlet
from app.orders.models import ServiceOrder
from app.parts.models import Stock
from tests import factories
from tests.test_pages_support import assert_form_refused, field_errors, fresh


def _engineer_form(world, **overrides):
    data = {"employee_no": "E3001", "name": "周工", "phone": "13500000000", "outlet": str(world.outlet_e.id),
            "hire_date": "2025-01-01", "status": "trainee"}
    data.update(overrides)
    return data


def test_duplicate_code_is_an_error_on_the_code_field(world, login):
    c = login("hq")
    html = assert_form_refused(c.post("/engineerview/add", data=_engineer_form(world, employee_no="E1001")))
    assert field_errors(html, "employee_no")
    assert field_errors(html, "name") == []
    assert db.session.query(Engineer).filter_by(employee_no="E1001").count() == 1
    # the form keeps what the user typed
    assert 'value="周工"' in html and f'<option selected value="{world.outlet_e.id}">' in html


def test_duplicate_hidden_by_scope_is_still_a_field_error(world, login):
    """The order number exists in region W, which the agent cannot see: the database refuses it,
    the service turns the refusal into an error on the number field."""
    agent = login("agent_e")
    data = {"number": "SO-W-1", "customer_name": "钱先生", "customer_phone": "13300000000",
            "customer_address": "上海", "product_category": str(factories.category("air_conditioner").id),
            "outlet": str(world.outlet_e.id), "kind": "repair", "status": "created"}
    html = assert_form_refused(agent.post("/serviceorderview/add", data=data))
    assert field_errors(html, "number")
    assert db.session.query(ServiceOrder).filter_by(number="SO-W-1").one().outlet_id == world.outlet_w.id
    assert db.session.query(ServiceOrder).count() == 2


def test_duplicate_enumeration_value_is_a_field_error(app, login):
    c = login("hq")
    html = assert_form_refused(c.post("/slapolicyview/add", data={
        "severity": "general", "response_minutes": "5", "resolution_hours": "5"}))
    assert field_errors(html, "severity")
    assert db.session.query(SlaPolicy).filter_by(severity="general").one().response_minutes == 10


def test_expiry_before_issue_is_a_field_error(world, login):
    c = login("hq")
    today = clock.today()
    data = {"engineer": str(world.engineer_e.id), "certification_type": str(factories.cert_type().id),
            "number": "BAD-1", "issuer": "x", "issued_on": today.isoformat(),
            "expires_on": (today - timedelta(days=1)).isoformat()}
    html = assert_form_refused(c.post("/certificationview/add", data=data))
    assert field_errors(html, "expires_on")
    assert field_errors(html, "issued_on") == []
    assert db.session.query(Certification).filter_by(number="BAD-1").count() == 0

    # the same on edit: the stored certificate is unchanged
    cert = world.cert_e
    before = (cert.issued_on, cert.expires_on)
    data.update(number=cert.number, issued_on=cert.expires_on.isoformat(), expires_on=cert.issued_on.isoformat())
    html = assert_form_refused(c.post(f"/certificationview/edit/{cert.id}", data=data))
    assert field_errors(html, "expires_on")
    cert = fresh(Certification, cert.id)
    assert (cert.issued_on, cert.expires_on) == before


def test_stock_needs_exactly_one_warehouse(world, login):
    c = login("hq")
    part = factories.part(sku="AC-X")
    db.session.commit()
    html = assert_form_refused(c.post("/stockview/add", data={
        "part": str(part.id), "outlet": str(world.outlet_e.id), "region": str(world.east.id),
        "quantity": "1", "safety_level": "1"}))
    assert field_errors(html, "outlet") and field_errors(html, "region")
    html = assert_form_refused(c.post("/stockview/add", data={"part": str(part.id), "quantity": "1",
                                                               "safety_level": "1"}))
    assert field_errors(html, "outlet")
    assert db.session.query(Stock).filter_by(part_id=part.id).count() == 0


def test_range_and_type_errors_are_field_errors(world, login):
    c = login("hq")
    html = assert_form_refused(c.post("/trainingrecordview/add", data={
        "engineer": str(world.engineer_e.id), "kind": "quarterly", "taken_on": "2026-01-01",
        "theory_hours": "1", "practical_hours": "1", "mentored_orders": "0",
        "theory_score": "120", "practical_score": "95"}))
    assert field_errors(html, "theory_score")  # out of range: the entity rules answer
    assert field_errors(html, "practical_score") == []
    html = assert_form_refused(c.post("/trainingrecordview/add", data={
        "engineer": str(world.engineer_e.id), "kind": "quarterly", "taken_on": "2026-01-01",
        "theory_score": "80", "practical_score": "abc"}))
    assert field_errors(html, "practical_score")  # not a number: the form answers
    html = assert_form_refused(c.post("/engineerview/add", data=_engineer_form(world, hire_date="not a date",
                                                                               status="flying")))
    assert field_errors(html, "hire_date") and field_errors(html, "status")
    assert db.session.query(Engineer).count() == 2


def test_invalid_setting_value_is_a_field_error(app, login):
    from app.core.models import Setting

    c = login("hq")
    row = db.session.query(Setting).filter_by(key="qualification.min_certified_engineers").one()
    html = assert_form_refused(c.post(f"/settingview/edit/{row.id}", data={"value": "three"}))
    assert field_errors(html, "value")
    assert fresh(Setting, row.id).value == "3"


def test_delete_still_in_use_is_refused_with_a_message(world, login):
    c = login("hq")
    resp = c.post(f"/outletview/delete/{world.outlet_e.id}", follow_redirects=True)
    assert resp.status_code == 200
    assert 'alert alert-danger' in resp.get_data(as_text=True)
    assert fresh(Outlet, world.outlet_e.id) is not None
    assert fresh(Engineer, world.engineer_e.id) is not None


def test_text_is_trimmed(world, login):
    c = login("hq")
    resp = c.post("/engineerview/add", data=_engineer_form(world, employee_no="  E3002 ", name=" 吴工 "))
    assert resp.status_code in (302, 303)
    eng = db.session.query(Engineer).filter_by(employee_no="E3002").one()
    assert eng.name == "吴工"
