"""Engineer facts at their edges (``app.engineers.rules``): certification status, training results,
and the stock low flag — directly and as the API shows them, with time under control."""
from datetime import date, timedelta
from decimal import Decimal
from types import SimpleNamespace

import pytest

from app.core import clock
from app.engineers import rules
from app.engineers.models import Certification
from app.extensions import db
from tests import factories

DAY = date(2026, 6, 15)


@pytest.mark.parametrize("offset, revoked, status", [
    (-1, False, "expired"),
    (0, False, "expiring"),
    (1, False, "expiring"),
    (30, False, "expiring"),
    (31, False, "valid"),
    (365, False, "valid"),
    (365, True, "revoked"),
    (-10, True, "revoked"),
])
def test_certification_status_edges(app, offset, revoked, status):
    assert rules.certification_status(DAY + timedelta(days=offset), revoked, today=DAY, expiring_days=30) == status


def test_certification_status_sql_agrees_with_python(world):
    offsets = [-400, -1, 0, 1, 29, 30, 31, 400]
    with clock.freeze(DAY):
        certs = [factories.certification(world.engineer_e, expires_on=DAY + timedelta(days=o), revoked=False)
                 for o in offsets]
        certs.append(factories.certification(world.engineer_e, expires_on=DAY + timedelta(days=5), revoked=True))
        db.session.commit()
        sql = dict(db.session.execute(db.select(Certification.id, rules.certification_status_sql(Certification))).all())
        for c in certs:
            assert sql[c.id] == rules.certification_status(c.expires_on, c.revoked), c.expires_on


def _status_via_api(client, cert_id):
    r = client.get(f"/api/v1/certification/{cert_id}")
    assert r.status_code == 200
    return r.get_json()["result"]["status"]


def test_certification_status_in_the_api_at_its_edges(world, api):
    with clock.freeze(DAY):
        cases = {
            "expiring": factories.certification(world.engineer_e, expires_on=DAY),
            "expiring+30": factories.certification(world.engineer_e, expires_on=DAY + timedelta(days=30)),
            "valid+31": factories.certification(world.engineer_e, expires_on=DAY + timedelta(days=31)),
            "expired": factories.certification(world.engineer_e, expires_on=DAY - timedelta(days=1)),
            "revoked": factories.certification(world.engineer_e, expires_on=DAY + timedelta(days=300), revoked=True),
        }
        db.session.commit()
        client = api("manager_e")
        got = {name: _status_via_api(client, c.id) for name, c in cases.items()}
        assert got == {"expiring": "expiring", "expiring+30": "expiring", "valid+31": "valid",
                       "expired": "expired", "revoked": "revoked"}
        listed = client.get("/api/v1/certification/?q=(page_size:100)").get_json()["result"]
        by_id = {row["id"]: row["status"] for row in listed}
        assert all(by_id[c.id] == got[name] for name, c in cases.items())

    # the next day, without the nightly refresh: today's expiring certificate is expired
    with clock.freeze(DAY + timedelta(days=1)):
        assert _status_via_api(client, cases["expiring"].id) == "expired"
        assert _status_via_api(client, cases["valid+31"].id) == "expiring"
        # the live filter agrees with the displayed status
        import prison

        q = prison.dumps({"filters": [{"col": "status", "opr": "status_now", "value": "expired"}], "page_size": 100})
        ids = set(client.get(f"/api/v1/certification/?q={q}").get_json()["ids"])
        assert ids == {cases["expiring"].id, cases["expired"].id}


def test_expiring_window_comes_from_the_settings(world, api):
    from app.core.models import Setting

    with clock.freeze(DAY):
        cert = factories.certification(world.engineer_e, expires_on=DAY + timedelta(days=31))
        db.session.commit()
        client = api("hq")
        assert _status_via_api(client, cert.id) == "valid"
        db.session.query(Setting).filter_by(key="certification.expiring_days").one().value = "31"
        db.session.commit()
        assert _status_via_api(client, cert.id) == "expiring"


def test_certification_written_through_the_api_stores_its_status(world, api):
    with clock.freeze(DAY):
        r = api("hq").post("/api/v1/certification/", json={
            "engineer": world.engineer_e.id, "certification_type": factories.cert_type().id, "number": "C-API",
            "issued_on": str(DAY - timedelta(days=700)), "expires_on": str(DAY + timedelta(days=10))})
        assert r.status_code == 201, r.get_json()
        assert r.get_json()["result"]["status"] == "expiring"
        assert db.session.get(Certification, r.get_json()["id"]).status == "expiring"
        r = api("hq").put(f"/api/v1/certification/{r.get_json()['id']}", json={"revoked": True})
        assert r.get_json()["result"]["status"] == "revoked"


# --- training -----------------------------------------------------------------------------------

def record(kind="onboarding", **kw):
    values = dict(theory_hours=Decimal(30), practical_hours=Decimal(50), mentored_orders=10,
                  theory_score=Decimal(80), practical_score=Decimal(90))
    values.update(kw)
    return SimpleNamespace(kind=kind, **values)


@pytest.mark.parametrize("kind, changes, passed", [
    ("onboarding", {}, True),
    ("onboarding", {"theory_score": Decimal("79.9")}, False),
    ("onboarding", {"practical_score": Decimal("89.9")}, False),
    # never rounded into a pass (the columns refuse such values: tests/test_precision.py)
    ("onboarding", {"practical_score": Decimal("89.95")}, False),
    ("onboarding", {"theory_score": Decimal("79.95")}, False),
    ("onboarding", {"theory_hours": Decimal("29.95")}, False),
    ("onboarding", {"practical_hours": Decimal("49.95")}, False),
    ("onboarding", {"theory_hours": Decimal("29.9")}, False),
    ("onboarding", {"practical_hours": Decimal("49.5")}, False),
    ("onboarding", {"mentored_orders": 9}, False),
    ("onboarding", {"theory_score": None}, False),
    ("quarterly", {"theory_hours": 0, "practical_hours": 0, "mentored_orders": 0}, True),
    ("quarterly", {"practical_score": Decimal("89.9")}, False),
    ("new_product", {"theory_hours": 0, "theory_score": Decimal("100")}, True),
])
def test_training_pass_edges(app, kind, changes, passed):
    assert rules.training_passed(record(kind, **changes)) is passed


def test_training_shortfalls_name_the_unmet_items(app):
    unmet = rules.training_shortfalls(record(mentored_orders=9, practical_score=Decimal(85)))
    assert set(unmet) == {"mentored_orders", "practical_score"}
    assert unmet["mentored_orders"] == (10, 9)


def test_training_passed_through_the_api_follows_the_settings(world, api):
    from app.core.models import Setting

    hq = api("hq")
    payload = {"engineer": world.engineer_e.id, "kind": "onboarding", "taken_on": "2026-01-10",
               "theory_hours": "30", "practical_hours": "50", "mentored_orders": 10,
               "theory_score": "80", "practical_score": "90"}
    r = hq.post("/api/v1/training_record/", json=payload)
    assert r.status_code == 201 and r.get_json()["result"]["passed"] is True
    rid = r.get_json()["id"]
    r = hq.put(f"/api/v1/training_record/{rid}", json={"practical_score": 89.5})
    assert r.get_json()["result"]["passed"] is False
    db.session.query(Setting).filter_by(key="training.pass_practical_score").one().value = "85"
    db.session.commit()
    r = hq.put(f"/api/v1/training_record/{rid}", json={"taken_on": "2026-01-11"})
    assert r.get_json()["result"]["passed"] is True


# --- stock low flag -----------------------------------------------------------------------------

def test_stock_low_flag_in_the_api(world, api):
    hq = api("hq")
    at_level = factories.stock(factories.part(sku="P-LOW-1"), outlet=world.outlet_e, quantity=5, safety_level=5)
    below = factories.stock(factories.part(sku="P-LOW-2"), outlet=world.outlet_e, quantity=4, safety_level=5)
    zero = factories.stock(factories.part(sku="P-LOW-3"), outlet=world.outlet_e, quantity=0, safety_level=0)
    db.session.commit()
    low = {s.id: hq.get(f"/api/v1/stock/{s.id}").get_json()["result"]["low"] for s in (at_level, below, zero)}
    assert low == {at_level.id: False, below.id: True, zero.id: False}
    rows = {r["id"]: r["low"] for r in hq.get("/api/v1/stock/?q=(page_size:100)").get_json()["result"]}
    assert rows[below.id] is True and rows[at_level.id] is False
    r = hq.put(f"/api/v1/stock/{at_level.id}", json={"quantity": 4})
    assert r.get_json()["result"]["low"] is True
