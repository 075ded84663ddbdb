"""An outlet's qualification evidence, computed from live data in one place.

* certified engineers: engineers of the outlet in status ``active`` holding at least one
  certificate that is not revoked and not expired today (``engineers.rules``);
* common-parts stock rate: of the parts flagged *common* in the product categories the outlet
  serves, the share whose quantity at the outlet's forward warehouse is at least its safety
  level (a part with no stock row counts as short). With no common parts in its categories the
  rate is undefined (``None``) and the stock criterion is not met.

Thresholds are settings (``qualification.min_certified_engineers``, default 3;
``qualification.min_common_stock_rate``, default 90 %); both are met at exactly the threshold.
Everything is computed for many outlets with a fixed number of grouped queries.
"""
from dataclasses import asdict, dataclass
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy import and_, exists, func, select

from app.core import clock, settings
from app.engineers.models import Certification, Engineer
from app.engineers.rules import certification_valid_clause
from app.extensions import db
from app.network.models import Outlet, outlet_product_category
from app.parts.models import Part, Stock


@dataclass
class Evidence:
    outlet_id: int
    certified_engineers: int
    required_engineers: int
    common_parts_total: int
    common_parts_stocked: int
    stock_rate: Decimal | None
    required_stock_rate: Decimal
    has_fixed_premises: bool
    meets_engineers: bool
    meets_stock: bool

    @property
    def qualifies(self):
        return self.has_fixed_premises and self.meets_engineers and self.meets_stock

    def as_dict(self):
        data = asdict(self)
        data["stock_rate"] = float(self.stock_rate) if self.stock_rate is not None else None
        data["required_stock_rate"] = float(self.required_stock_rate)
        data["qualifies"] = self.qualifies
        return data


def certified_engineer_query(outlet_ids, today=None):
    valid = certification_valid_clause(Certification, today)
    return (
        select(Engineer.outlet_id, func.count(Engineer.id))
        .where(Engineer.outlet_id.in_(outlet_ids), Engineer.status == "active")
        .where(exists().where(Certification.engineer_id == Engineer.id, valid))
        .group_by(Engineer.outlet_id)
    )


def _common_parts_counts(outlet_ids):
    base, stocked = _common_parts_queries(outlet_ids)
    totals = dict(db.session.execute(base).all())
    ok = dict(db.session.execute(stocked).all())
    return totals, ok


def _common_parts_queries(outlet_ids):
    opc = outlet_product_category
    base = (
        select(opc.c.outlet_id, func.count(func.distinct(Part.id)))
        .select_from(opc)
        .join(Part, and_(Part.product_category_id == opc.c.product_category_id, Part.is_common.is_(True)))
        .where(opc.c.outlet_id.in_(outlet_ids))
        .group_by(opc.c.outlet_id)
    )
    stocked = base.join(
        Stock,
        and_(
            Stock.outlet_id == opc.c.outlet_id,
            Stock.part_id == Part.id,
            Stock.quantity >= Stock.safety_level,
        ),
    )
    return base, stocked


def _facts(outlet_ids, today):
    """Premises, certified engineers, common parts and common parts stocked per outlet: the
    grouped queries above in one round trip (``UNION ALL``, each row tagged with its fact)."""
    from sqlalchemy import Integer, cast, literal, union_all

    base, stocked = _common_parts_queries(outlet_ids)
    parts_count = func.count(func.distinct(Part.id))
    opc_outlet = outlet_product_category.c.outlet_id
    parts = [
        select(literal("p"), Outlet.id, cast(Outlet.has_fixed_premises, Integer)).where(Outlet.id.in_(outlet_ids)),
        certified_engineer_query(outlet_ids, today).with_only_columns(
            literal("c"), Engineer.outlet_id, func.count(Engineer.id)),
        base.with_only_columns(literal("t"), opc_outlet, parts_count),
        stocked.with_only_columns(literal("s"), opc_outlet, parts_count),
    ]
    facts = {"p": {}, "c": {}, "t": {}, "s": {}}
    for fact, oid, value in db.session.execute(union_all(*parts)).all():
        facts[fact][oid] = value
    return facts["p"], facts["c"], facts["t"], facts["s"]


def rate(stocked, total):
    if not total:
        return None
    return (Decimal(stocked) * 100 / Decimal(total)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def for_outlets(outlet_ids, today=None):
    """``{outlet_id: Evidence}`` for the given outlets."""
    outlet_ids = list(outlet_ids)
    if not outlet_ids:
        return {}
    today = today or clock.today()
    required_engineers = settings.get("qualification.min_certified_engineers")
    required_rate = Decimal(settings.get("qualification.min_common_stock_rate"))
    premises, certified, totals, stocked = _facts(outlet_ids, today)
    result = {}
    for oid in outlet_ids:
        if oid not in premises:
            continue
        total, ok = totals.get(oid, 0), stocked.get(oid, 0)
        count = certified.get(oid, 0)
        result[oid] = Evidence(
            outlet_id=oid,
            certified_engineers=count,
            required_engineers=required_engineers,
            common_parts_total=total,
            common_parts_stocked=ok,
            stock_rate=rate(ok, total),
            required_stock_rate=required_rate,
            has_fixed_premises=bool(premises[oid]),
            meets_engineers=count >= required_engineers,
            # exact comparison, no rounding: stocked/total >= required%
            meets_stock=bool(total) and Decimal(ok) * 100 >= required_rate * total,
        )
    return result


def for_outlet(outlet_id, today=None):
    return for_outlets([outlet_id], today).get(outlet_id)


# --- drill-down: why the numbers are what they are ---------------------------------------------

def engineer_breakdown(outlet_id, today=None):
    """Every engineer of the outlet (except those who left) with whether they count and why.

    ``reason``: ``certified`` (counts), ``not_on_duty`` (status other than active) or
    ``no_valid_certificate`` (on duty, but every certificate is expired or revoked, or none).
    Two queries whatever the outlet's size.
    """
    from app.engineers.rules import certification_status

    today = today or clock.today()
    engineers = db.session.execute(
        select(Engineer.id, Engineer.employee_no, Engineer.name, Engineer.status)
        .where(Engineer.outlet_id == outlet_id, Engineer.status != "left")
        .order_by(Engineer.employee_no)
    ).all()
    certs = {}
    if engineers:
        from app.engineers.models import CertificationType

        rows = db.session.execute(
            select(Certification.engineer_id, Certification.number, CertificationType.name,
                   Certification.expires_on, Certification.revoked)
            .join(CertificationType, CertificationType.id == Certification.certification_type_id)
            .where(Certification.engineer_id.in_([e.id for e in engineers]))
            .order_by(Certification.expires_on.desc())
        ).all()
        for r in rows:
            certs.setdefault(r.engineer_id, []).append({
                "number": r.number, "type": r.name, "expires_on": r.expires_on.isoformat(),
                "status": certification_status(r.expires_on, bool(r.revoked), today),
            })
    result = []
    for e in engineers:
        held = certs.get(e.id, [])
        valid = [c for c in held if c["status"] in ("valid", "expiring")]
        if e.status != "active":
            reason = "not_on_duty"
        elif not valid:
            reason = "no_valid_certificate"
        else:
            reason = "certified"
        result.append({"id": e.id, "employee_no": e.employee_no, "name": e.name, "status": e.status,
                       "counts": reason == "certified", "reason": reason, "certificates": held})
    return result


def parts_breakdown(outlet_id):
    """The common parts of the categories the outlet serves, with the forward-warehouse stock:
    ``quantity`` and ``safety_level`` (``None`` and ``missing`` without a stock row: short), the
    ``shortfall`` below the safety level and ``ok``."""
    from app.network.models import ProductCategory

    opc = outlet_product_category
    rows = db.session.execute(
        select(Part.id, Part.sku, Part.name, ProductCategory.name.label("category"), Stock.quantity,
               Stock.safety_level)
        .select_from(opc)
        .join(Part, and_(Part.product_category_id == opc.c.product_category_id, Part.is_common.is_(True)))
        .join(ProductCategory, ProductCategory.id == Part.product_category_id)
        .outerjoin(Stock, and_(Stock.outlet_id == opc.c.outlet_id, Stock.part_id == Part.id))
        .where(opc.c.outlet_id == outlet_id)
        .order_by(Part.sku)
    ).all()
    result = []
    for r in rows:
        missing = r.quantity is None
        shortfall = None if missing else max(r.safety_level - r.quantity, 0)
        result.append({"id": r.id, "sku": r.sku, "name": r.name, "category": r.category,
                       "quantity": r.quantity, "safety_level": r.safety_level, "shortfall": shortfall,
                       "missing": missing, "ok": not missing and r.quantity >= r.safety_level})
    return result
