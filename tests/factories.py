"""Test data builders. They write through the session directly, acting as the system."""
from datetime import date, timedelta
from decimal import Decimal

from flask_appbuilder import Model

from app.core import clock
from app.extensions import db

REFERENCE_TABLES = {"setting", "sla_policy", "product_category", "certification_type",
                    "certification_type_product_category", "audit_template_item", "alembic_version",
                    "audit_event", "audit_chain"}


def create_users(app, users, password):
    sm = app.appbuilder.sm
    for username, (role_names, _regions) in users.items():
        if sm.find_user(username=username):
            continue
        roles = [sm.find_role(r) for r in role_names]
        user = sm.add_user(username, username, "Test", f"{username}@example.com", roles, password=password)
        assert user, f"could not create {username}"


def user(username):
    from flask import current_app

    return current_app.appbuilder.sm.find_user(username=username)


def wipe_business_data():
    """Delete every business row (children first); reference data and users stay."""
    tables = [t for t in reversed(Model.metadata.sorted_tables)
              if not t.name.startswith("ab_") and t.name not in REFERENCE_TABLES]
    for table in tables:
        db.session.execute(table.delete())
    # settings back to their defaults
    from app.core.models import Setting
    from app.core.settings import DEFINITIONS

    for row in db.session.query(Setting):
        row.value = DEFINITIONS[row.key].render(DEFINITIONS[row.key].default)
    # SLA policies back to their defaults
    from app.complaints.models import SlaPolicy
    from seeds.reference import SLA_DEFAULTS

    # the audit checklist template back to its defaults
    from app.qualification.models import AuditTemplateItem
    from seeds.reference import load_audit_template

    db.session.query(AuditTemplateItem).delete()
    load_audit_template()
    defaults = {sev: (m, h, b) for sev, m, h, b, _d in SLA_DEFAULTS}
    for policy in db.session.query(SlaPolicy):
        if policy.severity in defaults:
            policy.response_minutes, policy.resolution_hours, policy.business_time = defaults[policy.severity]
    db.session.commit()


def category(code):
    from app.network.models import ProductCategory

    return db.session.query(ProductCategory).filter_by(code=code).one()


def cert_type(name="制冷与空调作业操作证"):
    from app.engineers.models import CertificationType

    return db.session.query(CertificationType).filter_by(name=name).one()


_seq = {"n": 0}


def _next():
    _seq["n"] += 1
    return _seq["n"]


def region(code, name=None, users=()):
    from app.network.models import Region

    r = Region(code=code, name=name or f"区域{code}", users=[user(u) for u in users])
    db.session.add(r)
    db.session.flush()
    return r


def outlet(region, code=None, categories=("air_conditioner",), status="active", premises=True, **kw):
    from app.network.models import Outlet

    o = Outlet(code=code or f"O{_next():05d}", name=kw.pop("name", "测试网点"), region=region,
               status=status, has_fixed_premises=premises,
               product_categories=[category(c) for c in categories], **kw)
    db.session.add(o)
    db.session.flush()
    return o


def engineer(outlet, status="active", **kw):
    from app.engineers.models import Engineer

    e = Engineer(employee_no=kw.pop("employee_no", f"E{_next():06d}"), name=kw.pop("name", "张工"),
                 outlet=outlet, hire_date=kw.pop("hire_date", date(2024, 1, 1)), status=status, **kw)
    db.session.add(e)
    db.session.flush()
    return e


def certification(engineer, expires_on=None, revoked=False, ctype=None, issued_on=None):
    from app.engineers.models import Certification
    from app.engineers.rules import certification_status

    expires_on = expires_on or clock.today() + timedelta(days=365)
    issued_on = issued_on or expires_on - timedelta(days=730)
    c = Certification(engineer=engineer, certification_type=ctype or cert_type(), number=f"C{_next():07d}",
                      issuer="应急管理局", issued_on=issued_on, expires_on=expires_on, revoked=revoked,
                      status=certification_status(expires_on, revoked))
    db.session.add(c)
    db.session.flush()
    return c


def part(category_code="air_conditioner", common=True, **kw):
    from app.parts.models import Part

    p = Part(sku=kw.pop("sku", f"P{_next():06d}"), name=kw.pop("name", "压缩机"),
             product_category=category(category_code), unit_price=Decimal("100.00"), is_common=common,
             warranty_days=90, **kw)
    db.session.add(p)
    db.session.flush()
    return p


def stock(part, outlet=None, region=None, quantity=10, safety_level=5):
    from app.parts.models import Stock

    s = Stock(part=part, outlet=outlet, region=region, quantity=quantity, safety_level=safety_level)
    db.session.add(s)
    db.session.flush()
    return s


def service_order(outlet, engineer=None, **kw):
    from app.orders.models import ServiceOrder

    o = ServiceOrder(number=kw.pop("number", f"SO{_next():08d}"), customer_name="李女士",
                     customer_phone="13800001234", customer_address="上海市", outlet=outlet, engineer=engineer,
                     product_category=kw.pop("product_category", category("air_conditioner")),
                     kind=kw.pop("kind", "repair"), status=kw.pop("status", "created"), **kw)
    db.session.add(o)
    db.session.flush()
    return o


class World:
    pass


def build_world():
    """Region E (manager_e, agent_e) and W (manager_w), one outlet each with staff and stock."""
    w = World()
    w.east = region("E", "华东区", users=["manager_e", "agent_e"])
    w.west = region("W", "华西区", users=["manager_w"])
    w.outlet_e = outlet(w.east, code="SH001", name="上海浦东网点")
    w.outlet_w = outlet(w.west, code="CD001", name="成都高新网点")
    w.engineer_e = engineer(w.outlet_e, employee_no="E1001")
    w.engineer_w = engineer(w.outlet_w, employee_no="W1001")
    w.cert_e = certification(w.engineer_e)
    w.cert_w = certification(w.engineer_w)
    # air conditioners also need working at height: on-duty engineers hold every certificate
    # their outlet's categories require, so they can be assigned to its orders
    w.height_cert_e = certification(w.engineer_e, ctype=cert_type("高处作业证"))
    w.height_cert_w = certification(w.engineer_w, ctype=cert_type("高处作业证"))
    w.training_e = None
    w.part = part(sku="AC-COMP-01")
    w.stock_e = stock(w.part, outlet=w.outlet_e)
    w.stock_w = stock(w.part, outlet=w.outlet_w)
    w.central_e = stock(w.part, region=w.east, quantity=100, safety_level=20)
    w.order_e = service_order(w.outlet_e, w.engineer_e, number="SO-E-1")
    w.order_w = service_order(w.outlet_w, w.engineer_w, number="SO-W-1")
    db.session.commit()
    return w
