"""A believable demo network: users per role, regions, outlets, engineers, parts, stock, orders.

``flask --app wsgi seed demo [--scale N]`` calls ``load(scale=N)``. What it makes:

* the reference data (``seeds.reference``) and one user per role (``DEMO_USERS`` from
  ``seeds.demo_users``; an existing user of that name is left exactly as it is; ``manager`` and
  ``agent`` are assigned to 华东区);
* five regions (华东区 E, 华北区 N, 华南区 S, 西南区 SW, 东北区 NE), the 40 parts of the
  catalogue (22 flagged common) and every region's central-warehouse stock;
* per scale unit 50 outlets (``scale=100`` gives 5,000) with 3–8 engineers each, their
  certificates (some expiring within 30 days, some expired, a few revoked) and training records,
  the outlet's forward-warehouse stock and about 20 service orders over the last 120 days.

After the network, demo complaints (``seeds.demo_complaints``) and qualification work
(``seeds.demo_qualification``: the nightly jobs' special and annual audits, one audit waiting for
approval, one approved conditional outcome with its follow-up audit).

Every unit has the same mix (``PROFILES``): 34 healthy active outlets, 6 active ones that fail
qualification on purpose (fewer than 3 certified engineers, common-parts stock rate below 90 %,
both, or no fixed premises), 4 on probation, 2 applying, 2 suspended and 2 terminated; some annual
audits fall due within 30 days and a few are overdue.

Deterministic and idempotent: unit *u* is always generated from ``random.Random(f"{SEED}:{u}")``
and is written only when none of its outlet codes exists yet, so a second run with the same scale
adds nothing and a higher scale adds just the missing units. Dates are relative to
``clock.today()`` when a unit is written. Rows go in with bulk ``INSERT``s (a few statements per
batch of ``UNITS_PER_BATCH`` units, one commit per batch), acting as the system: no request
context and no per-row validators; derived columns (certificate status, training ``passed``) are
computed here with the same rules the services use (``app.engineers.rules``).
"""
import random
from calendar import monthrange
from datetime import datetime, time, timedelta
from decimal import Decimal
from types import SimpleNamespace

from sqlalchemy import insert, select

from app.engineers.rules import certification_status, training_passed
from seeds import demo_data as data
from seeds.demo_users import DEMO_USERS

SEED = "svc-demo-v1"
UNITS_PER_BATCH = 10


# The demo logins, one per role: ``(username, password, role)`` from ``seeds.demo_users`` (the
# launcher and the README print the same list). Display names, e-mail and regions are added here.
DEMO_USER_DETAILS = {
    # username: (given name, family name, region codes) — shown family name first: 陈静, 张伟 …
    "admin": ("管理员", "系统", ()),
    "hq": ("静", "陈", ()),
    "manager": ("伟", "张", ("E",)),
    "agent": ("芳", "王", ("E",)),
    "auditor": ("洋", "刘", ()),
}


def demo_email(username):
    return f"{username}@demo.example.com"


# --- entry point -------------------------------------------------------------------------------

def load(scale=1, log=print):
    """Load reference and demo data for ``scale`` units of 50 outlets; returns a summary dict."""
    from seeds import reference

    scale = int(scale)
    if scale < 1:
        raise ValueError("scale must be at least 1")
    reference.load(log=log)
    users_added = ensure_users(log)
    regions = ensure_regions()
    assign_user_regions(regions)
    ctx = _context(regions)
    ensure_parts(ctx)
    ensure_central_stock(ctx)
    added, skipped = ensure_units(scale, ctx, log)
    from seeds import demo_complaints

    complaints = demo_complaints.load(log=log)
    from seeds import demo_qualification

    audits = demo_qualification.load(log=log)
    summary = {"users_added": users_added, "units_added": added, "units_skipped": skipped,
               "outlets_added": added * data.OUTLETS_PER_UNIT, "complaints_added": complaints,
               "audits_opened": audits["special"] + audits["annual"]}
    log(f"demo data loaded (scale {scale}): {added} unit(s) of {data.OUTLETS_PER_UNIT} outlets added, "
        f"{skipped} already present, {users_added} user(s) added")
    return summary


# --- users, regions, parts ---------------------------------------------------------------------

def ensure_users(log=print):
    """Create the demo users that do not exist yet; returns how many were created."""
    from flask import current_app

    sm = current_app.appbuilder.sm
    created = 0
    for username, password, role_name in DEMO_USERS:
        if sm.find_user(username=username):
            continue
        role = sm.find_role(role_name)
        if role is None:
            raise RuntimeError(f"role {role_name!r} is missing; run `flask --app wsgi roles sync`")
        first, last, _regions = DEMO_USER_DETAILS.get(username, (username, role_name, ()))
        user = sm.add_user(username, first, last, demo_email(username), [role], password=password)
        if not user:
            log(f"WARNING: could not create demo user {username!r} (is {demo_email(username)} taken?)")
            continue
        created += 1
    return created


def ensure_regions():
    """The five demo regions by code (an existing region of the same name is reused); {code: id}."""
    from app.extensions import db
    from app.network.models import Region

    now = _now()
    by_code = {code: rid for rid, code in db.session.execute(select(Region.id, Region.code))}
    by_name = {name: rid for rid, name in db.session.execute(select(Region.id, Region.name))}
    result = {}
    for code, name, _per_unit in data.REGIONS:
        rid = by_code.get(code) or by_name.get(name)
        if rid is None:
            rid = db.session.execute(
                insert(Region.__table__).returning(Region.__table__.c.id),
                [{"code": code, "name": name, "created_at": now, "updated_at": now}],
            ).scalar_one()
        result[code] = rid
    db.session.commit()
    return result


def assign_user_regions(regions):
    """Link each demo user to its regions when the link is missing."""
    from flask import current_app

    from app.extensions import db
    from app.network.models import region_user

    sm = current_app.appbuilder.sm
    links = set(db.session.execute(select(region_user.c.region_id, region_user.c.user_id)).all())
    rows = []
    for username, (_first, _last, codes) in DEMO_USER_DETAILS.items():
        user = sm.find_user(username=username) if codes else None
        if not user:
            continue
        for code in codes:
            if (regions[code], user.id) not in links:
                rows.append({"region_id": regions[code], "user_id": user.id})
    if rows:
        db.session.execute(insert(region_user), rows)
    db.session.commit()


def ensure_parts(ctx):
    """Insert the catalogue parts whose SKU is missing, then load every part into ``ctx``."""
    from app.core import settings
    from app.extensions import db
    from app.parts.models import Part

    existing = set(db.session.execute(select(Part.sku)).scalars())
    warranty = settings.get("part.default_warranty_days")
    rows = [
        {"sku": sku, "name": name, "product_category_id": ctx.categories[cat], "unit_price": Decimal(price),
         "is_common": common, "warranty_days": warranty, "created_at": ctx.now, "updated_at": ctx.now}
        for sku, name, cat, price, common, _days in data.PARTS
        if sku not in existing and cat in ctx.categories
    ]
    if rows:
        db.session.execute(insert(Part.__table__), rows)
    db.session.commit()
    ctx.parts = [
        SimpleNamespace(id=pid, sku=sku, category_id=cid, common=bool(common), price=price)
        for pid, sku, cid, common, price in db.session.execute(
            select(Part.id, Part.sku, Part.product_category_id, Part.is_common, Part.unit_price).order_by(Part.sku)
        )
    ]
    ctx.parts_by_category = {}
    for p in ctx.parts:
        ctx.parts_by_category.setdefault(p.category_id, []).append(p)


def ensure_central_stock(ctx):
    """Every region's central warehouse holds every part; a few are below the safety level."""
    from app.extensions import db
    from app.parts.models import Stock

    present = set(db.session.execute(
        select(Stock.region_id, Stock.part_id).where(Stock.region_id.isnot(None))
    ).all())
    rows = []
    for code, _name, _n in data.REGIONS:
        rid = ctx.regions[code]
        for p in ctx.parts:
            if (rid, p.id) in present:
                continue
            rng = random.Random(f"{SEED}:central:{code}:{p.sku}")
            safety = rng.choice([10, 20, 20, 30, 40, 50]) if p.common else rng.choice([5, 10, 10, 20])
            quantity = rng.randint(0, safety - 1) if rng.random() < 0.08 else safety + rng.randint(0, 8 * safety)
            rows.append({"region_id": rid, "outlet_id": None, "part_id": p.id, "quantity": quantity,
                         "safety_level": safety, "created_at": ctx.now, "updated_at": ctx.now})
    if rows:
        db.session.execute(insert(Stock.__table__), rows)
    db.session.commit()


# --- the network, unit by unit -----------------------------------------------------------------

def ensure_units(scale, ctx, log=print):
    """Write the units ``0 .. scale-1`` whose outlets do not exist yet; returns (added, present)."""
    from app.extensions import db
    from app.network.models import Outlet

    existing = set(db.session.execute(select(Outlet.code)).scalars())
    added = skipped = 0
    batch = []
    for unit in range(scale):
        rng, outlets = plan_outlets(unit, ctx)
        codes = [o.code for o in outlets]
        present = sum(code in existing for code in codes)
        if present:
            skipped += 1
            if present < len(codes):
                log(f"WARNING: demo unit {unit} is partly present ({present}/{len(codes)} outlet codes "
                    f"exist); left alone")
            continue
        batch.append(plan_details(rng, outlets, ctx))
        if len(batch) >= UNITS_PER_BATCH:
            added += _write(batch)
            log(f"  units written: {added} ({added * data.OUTLETS_PER_UNIT} outlets)")
            batch = []
    if batch:
        added += _write(batch)
    return added, skipped


def _write(plans):
    """Insert the planned rows of several units in one transaction (a few statements per table)."""
    from app.engineers.models import Certification, Engineer, TrainingRecord
    from app.extensions import db
    from app.network.models import Outlet, outlet_product_category
    from app.orders.models import ServiceOrder
    from app.parts.models import Stock

    session = db.session
    try:
        ot = Outlet.__table__
        outlet_ids = {}
        for code, oid in session.execute(insert(ot).returning(ot.c.code, ot.c.id),
                                         [r for p in plans for r in p["outlets"]]):
            outlet_ids[code] = oid
        session.execute(insert(outlet_product_category), [
            {"outlet_id": outlet_ids[code], "product_category_id": cid}
            for p in plans for code, cid in p["outlet_categories"]
        ])
        et = Engineer.__table__
        engineer_rows = [r for p in plans for r in p["engineers"]]
        for r in engineer_rows:
            r["outlet_id"] = outlet_ids[r.pop("outlet_code")]
        engineer_ids = {}
        for no, eid in session.execute(insert(et).returning(et.c.employee_no, et.c.id), engineer_rows):
            engineer_ids[no] = eid
        for key, table in (("certifications", Certification.__table__), ("trainings", TrainingRecord.__table__)):
            rows = [r for p in plans for r in p[key]]
            for r in rows:
                r["engineer_id"] = engineer_ids[r.pop("employee_no")]
            if rows:
                session.execute(insert(table), rows)
        stock_rows = [r for p in plans for r in p["stock"]]
        for r in stock_rows:
            r["outlet_id"] = outlet_ids[r.pop("outlet_code")]
        if stock_rows:
            session.execute(insert(Stock.__table__), stock_rows)
        order_rows = [r for p in plans for r in p["orders"]]
        for r in order_rows:
            r["outlet_id"] = outlet_ids[r.pop("outlet_code")]
            no = r.pop("employee_no")
            r["engineer_id"] = engineer_ids[no] if no else None
        if order_rows:
            session.execute(insert(ServiceOrder.__table__), order_rows)
        session.commit()
    except Exception:
        session.rollback()
        raise
    return len(plans)


# --- planning: pure functions of (unit, reference data, today) ----------------------------------

def plan_outlets(unit, ctx):
    """The unit's random generator and its 50 outlets' identities (codes are known before writing)."""
    rng = random.Random(f"{SEED}:{unit}")
    outlets = []
    for region_index, (rcode, _rname, per_unit) in enumerate(data.REGIONS):
        cities = data.CITIES[rcode]
        weights = [c[4] for c in cities]
        for i in range(per_unit):
            seq = unit * per_unit + i + 1
            city_code, province, city, area_phone, _w, districts = rng.choices(cities, weights)[0]
            district, short, area_code = rng.choice(districts)
            outlets.append(SimpleNamespace(
                code=f"{city_code}{seq:05d}", region_code=rcode, region_index=region_index, seq=seq,
                province=province, city=city, area_phone=area_phone, district=district, short=short,
                area_code=area_code,
            ))
    return rng, outlets


# Every unit's 50 outlets get these (status, weakness) profiles, shuffled. A weakness is what makes
# the outlet fail qualification: "engineers" (fewer than 3 certified), "stock" (common-parts stock
# rate below 90 %), "both", or "premises" (no fixed premises).
PROFILES = (
    [("active", None)] * 34
    + [("active", "engineers")] * 2 + [("active", "stock")] * 2 + [("active", "both"), ("active", "premises")]
    + [("probation", "engineers"), ("probation", "stock"), ("probation", "stock"), ("probation", "both")]
    + [("applying", None)] * 2
    + [("suspended", "stock"), ("suspended", None)]
    + [("terminated", "both")] * 2
)
ENGINEER_COUNTS = ([3, 4, 5, 6, 7, 8], [8, 16, 22, 22, 18, 14])
EXTRA_ENGINEERS = ([("active", "random"), ("trainee", "none"), ("suspended", "random"), ("left", "random")],
                   [72, 10, 8, 10])
FAILING_ENGINEERS = ([("trainee", "none"), ("left", "random"), ("suspended", "random"), ("active", "expired"),
                      ("active", "revoked")], [3, 2, 2, 3, 1])
CERT_STATES = (["valid", "expiring", "expired", "revoked"], [80, 8, 10, 2])
STARS = ([1, 2, 3, 4, 5], [2, 8, 35, 40, 15])
ORDER_KINDS = (["install", "repair", "maintenance", "trade_in"], [35, 40, 15, 10])
SATISFACTION = {False: ([5, 4, 3, 2, 1], [76, 17, 4, 2, 1]),   # mean ≈ 4.65
                True: ([5, 4, 3, 2, 1], [60, 25, 9, 4, 2])}    # struggling outlets, mean ≈ 4.37
SLOTS = [9, 10, 11, 14, 15, 16, 17]


def plan_details(rng, outlets, ctx):
    """Every row of one unit, keyed by natural keys (outlet code, employee number) until written."""
    plan = {"outlets": [], "outlet_categories": [], "engineers": [], "certifications": [], "trainings": [],
            "stock": [], "orders": []}
    profiles = list(PROFILES)
    rng.shuffle(profiles)
    for o, (status, weak) in zip(outlets, profiles):
        o.status, o.weak = status, weak
        _plan_outlet(rng, o, ctx, plan)
        engineers = _plan_engineers(rng, o, ctx, plan)
        _plan_stock(rng, o, ctx, plan)
        _plan_orders(rng, o, engineers, ctx, plan)
    return plan


def _plan_outlet(rng, o, ctx, plan):
    today = ctx.today
    if o.weak == "premises":
        premises = False
    elif o.status in ("applying", "terminated"):
        premises = rng.random() < 0.7
    else:
        premises = True

    cats = [c for c, share in data.CATEGORY_SHARE.items() if c in ctx.categories and rng.random() < share]
    if not cats:
        cats = [rng.choice([c for c in data.CATEGORY_SHARE if c in ctx.categories])]
    o.category_ids = [ctx.categories[c] for c in cats]

    last_qualified = due = None
    notes = None
    if o.status == "active":
        r = rng.random()
        days = rng.randint(10, 330) if r < 0.80 else rng.randint(335, 364) if r < 0.94 else rng.randint(366, 400)
        last_qualified = today - timedelta(days=days)
        due = add_months(last_qualified, 12)
    elif o.status == "probation":
        last_qualified = today - timedelta(days=rng.randint(380, 700))
        due = today + timedelta(days=rng.randint(3, 30))
        notes = "年度复核限期整改：" + {"engineers": "持证工程师不足3人", "stock": "常用配件库存率低于90%",
                                       "both": "持证工程师不足、常用配件库存不足"}.get(o.weak, "服务质量待提升")
    elif o.status == "applying":
        due = today + timedelta(days=rng.randint(5, 40))
        notes = "新网点准入申请，待现场审核"
    elif o.status == "suspended":
        last_qualified = today - timedelta(days=rng.randint(200, 500))
        due = today + timedelta(days=rng.randint(-30, 45))
        notes = rng.choice(["客户投诉集中，暂停派单整改", "资质复核未通过，暂停合作", "网点搬迁，暂停服务"])
    else:
        last_qualified = today - timedelta(days=rng.randint(400, 900))
        notes = "年度复核不合格，取消合作"
    if o.status == "applying":
        joined = today - timedelta(days=rng.randint(3, 45))
    else:
        joined = min(today - timedelta(days=rng.randint(400, 3000)), last_qualified - timedelta(days=30))
    o.joined = joined

    name = o.city + o.short + (rng.choice(data.TRADE_NAMES) if rng.random() < 0.55 else "") + rng.choice(
        data.OUTLET_SUFFIXES)
    if o.province == o.city + "市":             # 直辖市: 上海市浦东新区…
        place = o.province + o.district
    else:
        place = f"{o.province}{o.city}市{o.district}"
    address = f"{place}{rng.choice(data.STREETS)}{rng.randint(1, 2999)}号{rng.choice(data.PREMISES)}"
    phone = _mobile(rng) if rng.random() < 0.6 else f"{o.area_phone}-{rng.randint(2, 8)}{rng.randint(0, 9999999):07d}"
    created = _utc(ctx, datetime.combine(joined, time(10, 0)))
    plan["outlets"].append({
        "code": o.code, "name": name, "region_id": ctx.regions[o.region_code], "address": address,
        "contact": _person(rng), "phone": phone, "email": None,
        "licence_no": licence_no(o.area_code, o.region_index, o.seq), "has_fixed_premises": premises,
        "status": o.status, "last_qualified_on": last_qualified, "next_audit_due_on": due, "notes": notes,
        "created_at": created, "updated_at": created,
    })
    plan["outlet_categories"].extend((o.code, cid) for cid in o.category_ids)


def _plan_engineers(rng, o, ctx, plan):
    """Engineers with certificates and training; returns [(employee_no, status)]."""
    if o.status == "terminated":
        specs = [("left", "random")] * rng.randint(3, 5)
    elif o.status == "applying":
        specs = [("trainee", "none") if rng.random() < 0.5 else ("active", "valid") for _ in range(rng.randint(3, 5))]
    elif o.weak in ("engineers", "both"):
        certified = _pick(rng, ([0, 1, 2], [1, 3, 5]))
        total = rng.randint(3, 6)
        specs = [("active", "valid")] * certified + [_pick(rng, FAILING_ENGINEERS) for _ in range(total - certified)]
    else:
        total = _pick(rng, ENGINEER_COUNTS)
        specs = [("active", "valid")] * 3 + [_pick(rng, EXTRA_ENGINEERS) for _ in range(total - 3)]
    rng.shuffle(specs)

    types = [t for t in ctx.cert_types if not t.categories or t.categories.intersection(o.category_ids)]
    result = []
    for j, (status, cert_mode) in enumerate(specs):
        no = f"{o.code}{j + 1:02d}"
        if status == "trainee":
            hire = ctx.today - timedelta(days=rng.randint(7, 75))
            star = None
        else:
            hire = ctx.today - timedelta(days=rng.randint(120, 3000))
            star = _pick(rng, STARS)
        created = _utc(ctx, datetime.combine(hire, time(9, 0)))
        plan["engineers"].append({
            "outlet_code": o.code, "employee_no": no, "name": _person(rng, male=rng.random() < 0.92),
            "phone": _mobile(rng), "email": None, "hire_date": hire, "status": status, "star_level": star,
            "created_at": created, "updated_at": created,
        })
        if cert_mode != "none" and types:
            _plan_certifications(rng, o, no, cert_mode, types, ctx, plan)
        _plan_training(rng, no, status, hire, ctx, plan)
        result.append((no, status))
    return result


def _plan_certifications(rng, o, no, mode, types, ctx, plan):
    chosen = [t for t in types if rng.random() < (0.75 if t.categories else 0.6)]
    if not chosen:
        chosen = [rng.choice(types)]
    for k, t in enumerate(chosen):
        if mode == "valid":
            state = ("valid" if rng.random() < 0.88 else "expiring") if k == 0 else _pick(rng, CERT_STATES)
        elif mode == "expired":
            state = "expired"
        elif mode == "revoked":
            state = "revoked" if k == 0 else "expired"
        else:
            state = _pick(rng, CERT_STATES)
        lifetime = (add_months(ctx.today, t.months) - ctx.today).days
        if state == "expiring":
            expires = ctx.today + timedelta(days=rng.randint(0, ctx.expiring_days))
        elif state == "expired":
            expires = ctx.today - timedelta(days=rng.randint(1, 240))
        else:   # valid, or revoked while it would still be valid
            expires = ctx.today + timedelta(days=rng.randint(ctx.expiring_days + 1, max(ctx.expiring_days + 1,
                                                                                        lifetime - 1)))
        issued = add_months(expires, -t.months)
        revoked = state == "revoked"
        prefix = "T" if t.categories else "PP"
        issuer = f"{o.province}应急管理局" if t.categories else data.ISSUER_HQ
        created = _utc(ctx, datetime.combine(min(issued, ctx.today), time(11, 0)))
        plan["certifications"].append({
            "employee_no": no, "certification_type_id": t.id, "number": f"{prefix}{issued:%Y}{no}{k}",
            "issuer": issuer, "issued_on": issued, "expires_on": expires, "revoked": revoked,
            "status": certification_status(expires, revoked, ctx.today, ctx.expiring_days), "scan": None,
            "created_at": created, "updated_at": created,
        })


def _plan_training(rng, no, status, hire, ctx, plan):
    today = ctx.today

    def record(kind, taken, theory_h, practical_h, mentored, theory, practical):
        values = {"kind": kind, "theory_hours": Decimal(theory_h), "practical_hours": Decimal(practical_h),
                  "mentored_orders": mentored, "theory_score": Decimal(theory) / 10,
                  "practical_score": Decimal(practical) / 10}
        created = _utc(ctx, datetime.combine(taken, time(16, 0)))
        plan["trainings"].append(dict(
            values, employee_no=no, taken_on=taken, created_at=created, updated_at=created,
            passed=training_passed(SimpleNamespace(**values), ctx.thresholds),
        ))

    if status == "trainee":
        if (today - hire).days >= 25:
            taken = hire + timedelta(days=rng.randint(20, min(40, (today - hire).days)))
            record("onboarding", taken, rng.randint(24, 34), rng.randint(30, 55), rng.randint(4, 11),
                   rng.randint(700, 950), rng.randint(780, 950))
        return
    onboarding = hire + timedelta(days=rng.randint(20, 40))
    if rng.random() < 0.06:     # failed the first attempt, passed the retake
        record("onboarding", onboarding - timedelta(days=14), rng.randint(30, 34), rng.randint(50, 55),
               rng.randint(10, 12), rng.randint(650, 790), rng.randint(800, 890))
    record("onboarding", onboarding, rng.randint(30, 36), rng.randint(50, 60), rng.randint(10, 15),
           rng.randint(800, 980), rng.randint(900, 990))
    quarters = [q for q in _quarter_starts(today, 4)]
    if status == "left":
        quarters = quarters[:rng.randint(0, 2)]
    taken_dates = []
    for qs in quarters:
        lo, hi = qs + timedelta(days=7), min(qs + timedelta(days=75), today - timedelta(days=1))
        if lo > hi:
            continue
        taken = lo + timedelta(days=rng.randint(0, (hi - lo).days))
        if taken > onboarding:
            taken_dates.append(taken)
    for i, taken in enumerate(taken_dates):
        failed = status == "suspended" and i == len(taken_dates) - 1
        theory = rng.randint(600, 790) if failed else rng.randint(800, 990)
        record("quarterly", taken, rng.randint(4, 8), rng.randint(4, 8), 0, theory,
               rng.randint(750, 890) if failed else rng.randint(900, 995))
    if status == "active" and rng.random() < 0.25:
        taken = max(onboarding + timedelta(days=1), today - timedelta(days=rng.randint(10, 150)))
        if taken < today:
            record("new_product", taken, rng.randint(2, 4), rng.randint(2, 4), 0, rng.randint(820, 1000),
                   rng.randint(900, 1000))


def _plan_stock(rng, o, ctx, plan):
    """Forward-warehouse stock: every common part of the outlet's categories, some others."""
    parts = [p for cid in o.category_ids for p in ctx.parts_by_category.get(cid, [])]
    common = [p for p in parts if p.common]
    total = len(common)
    if o.status == "terminated":
        shortages = total
    elif o.weak in ("stock", "both"):
        low = total // 10 + 1
        shortages = min(total, rng.randint(low, max(low, total * 2 // 5)))
    elif o.status == "applying":
        shortages = rng.randint(0, total // 3)
    else:
        allowed = total // 10      # still ≥ 90 %
        shortages = rng.randint(1, allowed) if allowed and rng.random() < 0.35 else 0
    short = {p.id for p in rng.sample(common, shortages)}
    for p in parts:
        if p.common:
            safety = rng.choice([1, 2, 2]) if p.price >= 500 else rng.choice([2, 3, 3, 4, 5, 6])
            quantity = rng.randint(0, safety - 1) if p.id in short else safety + rng.randint(0, 12)
        elif rng.random() < 0.4:
            safety = rng.randint(0, 2)
            quantity = rng.randint(0, 6)
        else:
            continue
        plan["stock"].append({"outlet_code": o.code, "region_id": None, "part_id": p.id, "quantity": quantity,
                              "safety_level": safety, "created_at": ctx.now, "updated_at": ctx.now})


def _plan_orders(rng, o, engineers, ctx, plan):
    """About 20 service orders over the last 120 days (fewer for suspended outlets)."""
    if o.status == "active":
        count, newest, oldest = rng.randint(16, 26), 0, 120
    elif o.status == "probation":
        count, newest, oldest = rng.randint(12, 22), 0, 120
    elif o.status == "suspended":
        count, newest, oldest = rng.randint(5, 10), 45, 120
    else:
        return
    staff = [no for no, s in engineers if s == "active"] or [no for no, s in engineers if s != "trainee"]
    weak = o.status != "active" or o.weak in ("engineers", "both")
    on_time_share, fix_share = (0.9, 0.86) if weak else (0.98, 0.95)
    local_now = ctx.local_now.replace(second=0, microsecond=0)
    for i in range(count):
        created = local_now - timedelta(days=newest, minutes=rng.randint(30, (oldest - newest) * 1440))
        if not 8 <= created.hour < 21:
            created = created.replace(hour=rng.randint(8, 20))
            if created > local_now:
                created -= timedelta(days=1)
        kind = _pick(rng, ORDER_KINDS)
        dispatched = created + timedelta(minutes=rng.randint(5, 120))
        if kind == "repair" and created.hour < 12 and rng.random() < 0.5:
            day = 0
        else:
            day = {"install": rng.randint(1, 3), "repair": rng.randint(1, 2), "maintenance": rng.randint(1, 5),
                   "trade_in": rng.randint(1, 4)}[kind]
        slot = rng.choice(SLOTS)
        if day == 0 and slot <= dispatched.hour + 1:
            day, slot = 1, rng.choice(SLOTS)
        appointment = datetime.combine(created.date() + timedelta(days=day), time(slot))
        if rng.random() < on_time_share:
            arrived = appointment - timedelta(minutes=rng.randint(5, 40))
        else:
            arrived = appointment + timedelta(minutes=rng.randint(5, 120))
        completed = arrived + timedelta(minutes=rng.randint(60, 180) if kind == "install" else rng.randint(30, 150))
        engineer = rng.choice(staff) if staff else None
        fix = satisfaction = None
        if engineer is None:
            status, dispatched = "created", None
        elif rng.random() < 0.025:
            status = "cancelled"
        elif completed <= local_now:
            status = "completed"
            fix = rng.random() < fix_share
            if rng.random() < 0.9:
                satisfaction = _pick(rng, SATISFACTION[weak])
        elif arrived <= local_now:
            status = "in_service"
        elif dispatched <= local_now:
            status = "dispatched"
        else:
            status = "created"
            dispatched = None
        if status in ("created", "cancelled"):
            arrived = completed = None
            if status == "created":
                appointment = None
                engineer = None
        elif status == "dispatched":
            arrived = completed = None
        elif status == "in_service":
            completed = None
        last = completed or arrived or dispatched or created
        plan["orders"].append({
            "number": f"SO{created:%Y%m%d}{o.code}{i + 1:03d}", "customer_name": rng.choice(data.SURNAMES) + (
                "先生" if rng.random() < 0.55 else "女士"),
            "customer_phone": _mobile(rng), "customer_address": _home_address(rng, o),
            "product_category_id": rng.choice(o.category_ids), "outlet_code": o.code, "employee_no": engineer,
            "kind": kind, "status": status, "created_at": _utc(ctx, created), "updated_at": _utc(ctx, last),
            "dispatched_at": _utc(ctx, dispatched), "appointment_at": _utc(ctx, appointment),
            "arrived_at": _utc(ctx, arrived), "completed_at": _utc(ctx, completed), "first_time_fix": fix,
            "satisfaction": satisfaction,
        })


# --- helpers -----------------------------------------------------------------------------------

def _context(regions):
    from app.core import clock, settings
    from app.engineers.models import CertificationType
    from app.engineers.rules import training_thresholds
    from app.extensions import db
    from app.network.models import ProductCategory

    now = clock.now()
    local = clock.to_local(now)
    ctx = SimpleNamespace(
        now=now, today=clock.today(), local_now=local.replace(tzinfo=None), utc_offset=local.utcoffset(),
        regions=regions, expiring_days=settings.get("certification.expiring_days"),
        thresholds=training_thresholds(),
        categories={code: cid for cid, code in db.session.execute(select(ProductCategory.id, ProductCategory.code))},
    )
    ctx.cert_types = [
        SimpleNamespace(id=t.id, months=t.validity_months, categories={c.id for c in t.product_categories})
        for t in db.session.query(CertificationType).order_by(CertificationType.id)
    ]
    return ctx


def _now():
    from app.core import clock

    return clock.now()


def _utc(ctx, local):
    return None if local is None else local - ctx.utc_offset


def _pick(rng, choices_and_weights):
    values, weights = choices_and_weights
    return rng.choices(values, weights)[0]


def _person(rng, male=None):
    male = rng.random() < 0.5 if male is None else male
    firsts, seconds = data.GIVEN["male" if male else "female"]
    given = rng.choice(seconds) if rng.random() < 0.3 else rng.choice(firsts) + rng.choice(seconds)
    return rng.choice(data.SURNAMES) + given


def _mobile(rng):
    return f"1{rng.choice('3578')}{rng.randint(0, 9)}{rng.randint(0, 99999999):08d}"


def _home_address(rng, o):
    place = o.province + o.district if o.province == o.city + "市" else f"{o.city}市{o.district}"
    return (f"{place}{rng.choice(data.ESTATES)}{rng.randint(1, 30)}栋{rng.randint(1, 4)}单元"
            f"{rng.randint(1, 28)}{rng.randint(1, 4):02d}室")


def _quarter_starts(today, count):
    """The first days of the current quarter and the ``count - 1`` before it, oldest first."""
    year, q = today.year, (today.month - 1) // 3
    starts = []
    for _ in range(count):
        starts.append(today.replace(year=year, month=q * 3 + 1, day=1))
        q -= 1
        if q < 0:
            year, q = year - 1, 3
    return sorted(starts)


def add_months(day, months):
    y, m = divmod(day.month - 1 + months, 12)
    year, month = day.year + y, m + 1
    return day.replace(year=year, month=month, day=min(day.day, monthrange(year, month)[1]))


_USCC_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_WEIGHTS = [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28]


def licence_no(area_code, region_index, seq):
    """A unique, well-formed unified social credit code (统一社会信用代码) for demo outlet ``seq``.

    91 (enterprise) + the district's area code + "MA" + seven characters derived one-to-one from
    (region, seq) + the GB 32100 check character.
    """
    base = len(_USCC_CHARS)
    span = base ** 7
    value = ((region_index * 10_000_000 + seq) * 7_368_787_411 + 123_456_789) % span   # bijective: 31 ∤ factor
    body = ""
    for _ in range(7):
        value, digit = divmod(value, base)
        body = _USCC_CHARS[digit] + body
    code = f"91{area_code}MA{body}"
    total = sum(_USCC_CHARS.index(ch) * w for ch, w in zip(code, _USCC_WEIGHTS))
    return code + _USCC_CHARS[(base - total % base) % base]


__all__ = ["DEMO_USERS", "DEMO_USER_DETAILS", "load"]
