"""Create, read (list + show), update and delete of every entity through the generated pages,
as a role allowed to do it, asserting what lands in the database."""
from datetime import date, timedelta
from decimal import Decimal

import pytest

from app.complaints.models import SlaPolicy
from app.core import clock
from app.core.models import Setting
from app.engineers.models import Certification, CertificationType, Engineer, TrainingRecord
from app.extensions import db
from app.network.models import Outlet, ProductCategory, Region
from app.orders.models import ServiceOrder
from app.parts.models import Part, Stock
from tests import factories
from tests.test_pages_support import assert_saved, fresh, list_body, row_ids, show_body, text


def _read(client, view, pk, *expected):
    """The row is on the list page and its show page shows ``expected``."""
    listing = client.get(f"/{view}/list/")
    assert listing.status_code == 200
    assert pk in row_ids(listing.get_data(as_text=True))
    shown = client.get(f"/{view}/show/{pk}")
    assert shown.status_code == 200
    body = text(show_body(shown.get_data(as_text=True)))
    for value in expected:
        assert value in body, (value, body)


def _chinese(moment):
    """How a Chinese page writes a stored (UTC) time: in Beijing time, e.g. 2026年11月23日 14:30."""
    t = clock.to_local(moment)
    return f"{t.year}年{t.month}月{t.day}日 {t:%H:%M}"


def _delete(client, view, model, pk):
    resp = client.post(f"/{view}/delete/{pk}")
    assert resp.status_code in (302, 303)
    assert fresh(model, pk) is None


def test_region_crud(world, login):
    c = login("hq")
    manager = factories.user("manager_e")
    assert_saved(c.post("/regionview/add", data={"code": "N", "name": "华北区", "users": [str(manager.id)]}))
    region = db.session.query(Region).filter_by(code="N").one()
    assert [u.username for u in region.users] == ["manager_e"]
    _read(c, "regionview", region.id, "华北区", "manager_e")

    assert_saved(c.post(f"/regionview/edit/{region.id}", data={"code": "N", "name": "华北大区"}))
    region = fresh(Region, region.id)
    assert region.name == "华北大区" and region.users == []
    _delete(c, "regionview", Region, region.id)


def test_product_category_crud(app, login):
    c = login("hq")
    try:
        assert_saved(c.post("/productcategoryview/add", data={"code": "dishwasher", "name": "洗碗机"}))
        cat = db.session.query(ProductCategory).filter_by(code="dishwasher").one()
        _read(c, "productcategoryview", cat.id, "dishwasher", "洗碗机")
        assert_saved(c.post(f"/productcategoryview/edit/{cat.id}", data={"code": "dishwasher", "name": "洗碗机（嵌入式）"}))
        assert fresh(ProductCategory, cat.id).name == "洗碗机（嵌入式）"
        _delete(c, "productcategoryview", ProductCategory, cat.id)
    finally:
        db.session.query(ProductCategory).filter_by(code="dishwasher").delete()
        db.session.commit()


def test_outlet_crud(world, login):
    c = login("hq")
    ac, fridge = factories.category("air_conditioner"), factories.category("refrigerator")
    data = {"code": "SH002", "name": "上海闵行网点", "region": str(world.east.id), "status": "applying",
            "address": "上海市闵行区", "contact": "王经理", "phone": "021-5555", "email": "",
            "licence_no": "", "has_fixed_premises": "y", "product_categories": [str(ac.id), str(fridge.id)],
            "notes": ""}
    assert_saved(c.post("/outletview/add", data=data))
    outlet = db.session.query(Outlet).filter_by(code="SH002").one()
    assert outlet.region_id == world.east.id and outlet.status == "applying" and outlet.has_fixed_premises
    assert {pc.code for pc in outlet.product_categories} == {"air_conditioner", "refrigerator"}
    assert outlet.email is None and outlet.licence_no is None  # empty optional text is stored as NULL
    _read(c, "outletview", outlet.id, "上海闵行网点", "华东区")

    # A second outlet without a licence number does not clash with the first one's empty value.
    assert_saved(c.post("/outletview/add", data={**data, "code": "SH003", "name": "上海嘉定网点"}))

    edit = {**data, "name": "上海闵行旗舰网点", "status": "active", "region": str(world.west.id),
            "product_categories": [str(ac.id)], "next_audit_due_on": "2027-03-31", "last_qualified_on": "2026-03-31"}
    assert_saved(c.post(f"/outletview/edit/{outlet.id}", data=edit))
    outlet = fresh(Outlet, outlet.id)
    assert (outlet.name, outlet.status, outlet.region_id) == ("上海闵行旗舰网点", "active", world.west.id)
    assert outlet.next_audit_due_on == date(2027, 3, 31)
    assert [pc.code for pc in outlet.product_categories] == ["air_conditioner"]
    _delete(c, "outletview", Outlet, outlet.id)


def test_engineer_crud(world, login):
    c = login("hq")
    data = {"employee_no": "E2001", "name": "李工", "phone": "13900000000", "email": "",
            "outlet": str(world.outlet_e.id), "hire_date": "2025-06-01", "status": "trainee"}
    assert_saved(c.post("/engineerview/add", data=data))
    eng = db.session.query(Engineer).filter_by(employee_no="E2001").one()
    assert (eng.outlet_id, eng.hire_date, eng.status) == (world.outlet_e.id, date(2025, 6, 1), "trainee")
    _read(c, "engineerview", eng.id, "李工", "SH001 上海浦东网点")

    assert_saved(c.post(f"/engineerview/edit/{eng.id}", data={**data, "name": "李师傅", "outlet": str(world.outlet_w.id)}))
    eng = fresh(Engineer, eng.id)
    assert (eng.name, eng.outlet_id) == ("李师傅", world.outlet_w.id)
    _delete(c, "engineerview", Engineer, eng.id)


def test_certification_type_crud(app, login):
    c = login("hq")
    wm = factories.category("washing_machine")
    try:
        assert_saved(c.post("/certificationtypeview/add", data={
            "name": "洗衣机品牌认证", "validity_months": "24", "product_categories": [str(wm.id)]}))
        ct = db.session.query(CertificationType).filter_by(name="洗衣机品牌认证").one()
        assert ct.validity_months == 24 and [pc.code for pc in ct.product_categories] == ["washing_machine"]
        _read(c, "certificationtypeview", ct.id, "洗衣机品牌认证", "24")
        assert_saved(c.post(f"/certificationtypeview/edit/{ct.id}", data={
            "name": "洗衣机品牌认证", "validity_months": "36"}))
        ct = fresh(CertificationType, ct.id)
        assert ct.validity_months == 36 and ct.product_categories == []
        _delete(c, "certificationtypeview", CertificationType, ct.id)
    finally:
        db.session.query(CertificationType).filter_by(name="洗衣机品牌认证").delete()
        db.session.commit()


def test_certification_crud(world, login):
    c = login("hq")
    ct = factories.cert_type()
    today = clock.today()
    data = {"engineer": str(world.engineer_e.id), "certification_type": str(ct.id), "number": "T-2026-001",
            "issuer": "应急管理局", "issued_on": (today - timedelta(days=700)).isoformat(),
            "expires_on": (today + timedelta(days=10)).isoformat()}
    assert_saved(c.post("/certificationview/add", data=data))
    cert = db.session.query(Certification).filter_by(number="T-2026-001").one()
    assert cert.engineer_id == world.engineer_e.id and not cert.revoked
    assert cert.status == "expiring"  # derived by the service on save
    _read(c, "certificationview", cert.id, "T-2026-001", "E1001")

    assert_saved(c.post(f"/certificationview/edit/{cert.id}", data={**data, "revoked": "y"}))
    cert = fresh(Certification, cert.id)
    assert cert.revoked and cert.status == "revoked"
    _delete(c, "certificationview", Certification, cert.id)


def test_training_record_crud(world, login):
    c = login("hq")
    data = {"engineer": str(world.engineer_e.id), "kind": "onboarding", "taken_on": "2026-01-10",
            "theory_hours": "30", "practical_hours": "50", "mentored_orders": "10",
            "theory_score": "85", "practical_score": "92"}
    assert_saved(c.post("/trainingrecordview/add", data=data))
    rec = db.session.query(TrainingRecord).filter_by(engineer_id=world.engineer_e.id).one()
    assert rec.kind == "onboarding" and rec.passed is True and rec.practical_score == Decimal("92")
    _read(c, "trainingrecordview", rec.id, "E1001", "2026年1月10日")

    assert_saved(c.post(f"/trainingrecordview/edit/{rec.id}", data={**data, "practical_score": "70"}))
    rec = fresh(TrainingRecord, rec.id)
    assert rec.practical_score == Decimal("70") and rec.passed is False  # re-judged on save
    _delete(c, "trainingrecordview", TrainingRecord, rec.id)


def test_part_crud(world, login):
    c = login("hq")
    cat = factories.category("refrigerator")
    data = {"sku": "RF-FAN-01", "name": "冷凝风机", "product_category": str(cat.id), "unit_price": "120.50",
            "is_common": "y", "warranty_days": "90"}
    assert_saved(c.post("/partview/add", data=data))
    part = db.session.query(Part).filter_by(sku="RF-FAN-01").one()
    assert part.unit_price == Decimal("120.50") and part.is_common and part.product_category_id == cat.id
    _read(c, "partview", part.id, "RF-FAN-01", "冷凝风机")

    edit = {k: v for k, v in data.items() if k != "is_common"}
    assert_saved(c.post(f"/partview/edit/{part.id}", data={**edit, "unit_price": "99"}))
    part = fresh(Part, part.id)
    assert part.unit_price == Decimal("99.00") and part.is_common is False
    _delete(c, "partview", Part, part.id)


def test_stock_crud(world, login):
    c = login("hq")
    part = factories.part(sku="AC-VALVE-02", name="四通阀")
    db.session.commit()
    assert_saved(c.post("/stockview/add", data={"part": str(part.id), "outlet": str(world.outlet_e.id),
                                                "quantity": "3", "safety_level": "5"}))
    stock = db.session.query(Stock).filter_by(part_id=part.id).one()
    assert (stock.outlet_id, stock.region_id, stock.quantity, stock.safety_level) == (world.outlet_e.id, None, 3, 5)
    _read(c, "stockview", stock.id, "AC-VALVE-02", "SH001")

    assert_saved(c.post(f"/stockview/edit/{stock.id}", data={"part": str(part.id), "region": str(world.east.id),
                                                             "quantity": "30", "safety_level": "5"}))
    stock = fresh(Stock, stock.id)
    assert (stock.outlet_id, stock.region_id, stock.quantity) == (None, world.east.id, 30)
    _delete(c, "stockview", Stock, stock.id)


def _local(moment):
    """A naive UTC moment as typed into a form, in Beijing time."""
    return clock.to_local(moment).strftime("%Y-%m-%dT%H:%M")


def test_service_order_crud_as_agent(world, login):
    agent = login("agent_e")
    base = clock.now().replace(second=0, microsecond=0) + timedelta(hours=1)
    data = {"number": "SO-E-100", "customer_name": "陈先生", "customer_phone": "13700000000",
            "customer_address": "上海市浦东新区", "product_category": str(factories.category("air_conditioner").id),
            "outlet": str(world.outlet_e.id), "engineer": str(world.engineer_e.id), "kind": "install",
            "status": "dispatched", "dispatched_at": _local(base),
            "appointment_at": clock.to_local(base + timedelta(days=1)).strftime("%Y-%m-%d %H:%M")}
    assert_saved(agent.post("/serviceorderview/add", data=data))
    order = db.session.query(ServiceOrder).filter_by(number="SO-E-100").one()
    assert (order.outlet_id, order.engineer_id, order.kind, order.status) == (
        world.outlet_e.id, world.engineer_e.id, "install", "dispatched")
    # typed in Beijing time, stored as naive UTC
    assert order.dispatched_at == base
    assert order.appointment_at == base + timedelta(days=1)
    _read(agent, "serviceorderview", order.id, "SO-E-100", "陈先生",
          _chinese(base))

    assert_saved(agent.post(f"/serviceorderview/edit/{order.id}", data={
        **data, "status": "completed", "arrived_at": _local(base + timedelta(hours=20)),
        "completed_at": _local(base + timedelta(hours=22)),
        "first_time_fix": "y", "satisfaction": "5"}))
    order = fresh(ServiceOrder, order.id)
    assert order.status == "completed" and order.satisfaction == 5 and order.first_time_fix is True
    assert order.completed_at == base + timedelta(hours=22)

    # The edit form shows the stored times back in Beijing time.
    form = agent.get(f"/serviceorderview/edit/{order.id}").get_data(as_text=True)
    assert f'value="{_local(base)}"' in form

    # Agents may not delete orders; an HQ admin may.
    assert agent.post(f"/serviceorderview/delete/{order.id}").status_code == 403
    assert fresh(ServiceOrder, order.id) is not None
    _delete(login("hq"), "serviceorderview", ServiceOrder, order.id)


def test_settings_crud(app, login):
    c = login("hq")
    key = "certification.expiring_days"
    row = db.session.query(Setting).filter_by(key=key).one()
    db.session.delete(row)
    db.session.commit()

    assert_saved(c.post("/settingview/add", data={"key": key, "value": "45"}))
    row = db.session.query(Setting).filter_by(key=key).one()
    assert row.value == "45"
    _read(c, "settingview", row.id, key, "45")

    assert_saved(c.post(f"/settingview/edit/{row.id}", data={"value": "20"}))
    assert fresh(Setting, row.id).value == "20"

    # Settings are edited, never deleted: HQ admins hold no delete right on them.
    assert c.post(f"/settingview/delete/{row.id}").status_code == 403
    assert fresh(Setting, row.id) is not None


def test_sla_policy_crud(app, login):
    c = login("hq")
    urgent = db.session.query(SlaPolicy).filter_by(severity="urgent").one()
    original = (urgent.response_minutes, urgent.resolution_hours, urgent.business_time, urgent.description)
    try:
        _delete(c, "slapolicyview", SlaPolicy, urgent.id)
        assert_saved(c.post("/slapolicyview/add", data={
            "severity": "urgent", "response_minutes": "5", "resolution_hours": "2", "description": "紧急"}))
        urgent = db.session.query(SlaPolicy).filter_by(severity="urgent").one()
        assert (urgent.response_minutes, urgent.resolution_hours, urgent.business_time) == (5, 2, False)
        _read(c, "slapolicyview", urgent.id, "紧急")
        assert_saved(c.post(f"/slapolicyview/edit/{urgent.id}", data={
            "severity": "urgent", "response_minutes": "10", "resolution_hours": "3", "business_time": "y",
            "description": "紧急投诉"}))
        urgent = fresh(SlaPolicy, urgent.id)
        assert (urgent.response_minutes, urgent.resolution_hours, urgent.business_time) == (10, 3, True)
    finally:
        db.session.rollback()
        row = db.session.query(SlaPolicy).filter_by(severity="urgent").one_or_none()
        if row is None:
            row = SlaPolicy(severity="urgent")
            db.session.add(row)
        row.response_minutes, row.resolution_hours, row.business_time, row.description = original
        db.session.commit()


@pytest.mark.parametrize("view", ["regionview", "outletview", "productcategoryview", "engineerview",
                                  "certificationtypeview", "certificationview", "trainingrecordview", "partview",
                                  "stockview", "serviceorderview", "settingview", "slapolicyview"])
def test_every_page_renders(world, login, view):
    db.session.add(TrainingRecord(engineer_id=world.engineer_e.id, kind="quarterly", taken_on=date(2026, 1, 5),
                                  theory_score=90, practical_score=95, passed=True))
    db.session.commit()
    c = login("hq")
    for url in (f"/{view}/list/", f"/{view}/add"):
        resp = c.get(url)
        assert resp.status_code == 200, url
    pks = row_ids(c.get(f"/{view}/list/").get_data(as_text=True))
    assert pks, view
    assert c.get(f"/{view}/show/{pks[0]}").status_code == 200
    assert c.get(f"/{view}/edit/{pks[0]}").status_code == 200


def test_list_shows_related_records_by_name_and_linked(world, login):
    c = login("hq")
    body = list_body(c.get("/engineerview/list/").get_data(as_text=True))
    assert f'<a href="/outletview/show/{world.outlet_e.id}">SH001 上海浦东网点</a>' in body
    assert f'<a href="/regionview/show/{world.east.id}">华东区</a>' in body
