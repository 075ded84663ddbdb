"""Build a production-size database for the benchmarks, set-based.

    .venv/bin/python -m bench.fill --scale 0.01 --url postgresql://postgres@127.0.0.1:5432/bench_p1
    .venv/bin/python -m bench.fill --scale 1.0  --url postgresql://postgres@127.0.0.1:5432/bench_p100

Creates the database (an existing one is refused unless ``--force``), migrates it with the app's
migrations, loads the reference data the seeds load (roles, product categories, certification types,
settings, SLA policies, the business calendar with its holidays for the years the data spans, the
audit checklist, the parts catalogue), creates the bench users, then writes the bulk rows with
``INSERT … SELECT … FROM generate_series`` — no per-row Python. At scale ``s``:

==========================  =============================================================
outlets                     30,000·s over 8 regions (华东区 the busiest, about a quarter);
                            mostly active, some on probation, applying, suspended, terminated
engineers                   100,000·s (on duty, trainees, suspended, left; star levels),
                            with their onboarding and quarterly training records
certifications              300,000·s, three per engineer (valid, expiring, expired, revoked)
stock                       500,000·s rows: every region's central warehouse holds the whole
                            catalogue, the rest are outlets' forward warehouses; ~10 % below
                            the safety level
service orders              1,000,000·s over the last three years; times in order (dispatched,
                            appointment, arrival, completion), nothing in the future
complaints                  1,000,000·s, 100,000·s of them open. Closed ones come from a service
                            order, with response and resolution times; open ones were received
                            within about twice their resolution time, so their due times lie
                            around now, some passed, some ahead
complaint events            1–3 per complaint (received, first response, resolved or closed, or
                            escalated)
escalations                 one automatic level-1 escalation per complaint that breached while
                            open: decided (approved or rejected) for closed ones, mostly pending
                            for open ones
number_sequence             every day's counter at that day's highest number
audit events                one per complaint ("insert", acting as the command line), hash-chained
                            with ``app.audit_trail.chain`` so the trail verifies
==========================  =============================================================

Due times follow the SLA policies exactly as ``app.complaints.sla`` computes them (the default
policies count calendar time; the initial verification due time is read from the region's
business calendar for each day of receipt). The warned/breached flags and ``next_check_at`` are
those the SLA sweep would have left ten minutes before the fill, so a sweep run right after the
fill finds the complaints that came due since then.

When it is done the filler writes what it did (scale, seconds per table, row counts) as JSON into
the database's comment (``bench.common.fill_info`` reads it) and makes a frozen copy,
``<name>_template`` (no connections allowed), from which ``Context.scratch()`` clones.
"""
import argparse
import json
import os
import re
import sys
import tempfile
import time
from datetime import datetime, timedelta

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from bench import common  # noqa: E402

# (code, name, weight %): how the outlets spread over the regions, the busiest first.
REGIONS = [
    ("E", "华东区", 25), ("S", "华南区", 18), ("N", "华北区", 15), ("C", "华中区", 12),
    ("SW", "西南区", 10), ("NE", "东北区", 8), ("NW", "西北区", 7), ("XJ", "新疆区", 5),
]
BUSIEST = "E"
CITY = {"E": "上海", "S": "广州", "N": "北京", "C": "武汉", "SW": "成都", "NE": "沈阳", "NW": "西安", "XJ": "乌鲁木齐"}
# (username, role, given name, family name, region code or None)
BENCH_USERS = [
    ("bench_hq", "HQ Admin", "静", "陈", None),
    ("bench_manager", "Regional Manager", "伟", "张", BUSIEST),
    ("bench_agent", "Service Agent", "芳", "王", BUSIEST),
    ("bench_auditor", "Auditor", "洋", "刘", None),
    ("bench_admin", "Admin", "管理员", "系统", None),
]
PER_REGION = 2  # further managers and agents per region (bench_mgr_e1, bench_agent_e1, …)

COUNTS = {  # rows at scale 1.0
    "outlet": 30_000, "engineer": 100_000, "certification": 300_000, "stock": 500_000,
    "service_order": 1_000_000, "complaint": 1_000_000, "open_complaint": 100_000,
}
YEARS = 3
SWEEP_LAG = timedelta(minutes=10)  # the flags are as the sweep left them this long before the fill

COMPLAINT_TEXTS = [
    "师傅上门迟到两个小时，也没有提前电话通知", "维修后同样故障再次出现，要求重新处理", "配件费用与报价不一致",
    "安装人员态度差，未清理现场", "预约后一直无人联系", "空调维修后制冷效果仍然不好", "冰箱异响问题反复维修未解决",
    "洗衣机脱水时剧烈震动，师傅说是正常现象", "热水器漏水，存在安全隐患", "要求更换新机，网点拒绝",
]
RESOLUTIONS = ["已重新派单维修，故障排除", "已向客户道歉并退还多收费用", "已更换配件，客户确认正常",
               "已安排更换新机", "已对服务人员进行培训考核并回访客户"]
CUSTOMER_SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"


def log(*args, **kwargs):
    print(*args, **kwargs, flush=True)


def q(sql):
    """The SQL with its modulo signs escaped for psycopg's ``%(name)s`` placeholders."""
    return re.sub(r"%(?![(s%])", "%%", sql)


class Timer:
    def __init__(self):
        self.seconds = {}

    def run(self, name, conn, sql, params=None):
        started = time.perf_counter()
        with conn.cursor() as cur:
            cur.execute(q(sql), params)
            rows = cur.rowcount
        conn.commit()
        took = time.perf_counter() - started
        self.seconds[name] = round(self.seconds.get(name, 0.0) + took, 3)
        log(f"  {name:<28} {rows:>10,} rows  {took:8.2f} s")
        return rows


def counts_for(scale):
    n = {k: max(1, round(v * scale)) for k, v in COUNTS.items()}
    n["open_complaint"] = min(n["open_complaint"], n["complaint"])
    return n


# --- the database ------------------------------------------------------------------------------


def _split(url):
    plain = url.replace("postgresql+psycopg://", "postgresql://", 1).split("?", 1)[0]
    server, name = plain.rsplit("/", 1)
    if not name or "//" not in server:
        raise SystemExit(f"name the database in the URL: {url}")
    return server, name


def drop_database(server, name):
    with common.admin_connection(server) as conn:
        for db in (common.template_name(name), name):
            conn.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')


def create_database(server, name, force=False, source=None):
    """A new empty database (or a copy of ``source``, a database already migrated with the
    reference data loaded)."""
    if common.database_exists(name, server):
        if not force:
            raise SystemExit(f"database {name} exists; pass --force to rebuild it")
        drop_database(server, name)
    import psycopg

    with common.admin_connection(server) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{common.template_name(name)}" WITH (FORCE)')
        for attempt in range(6):  # a copied database must have no other session: wait for stragglers
            try:
                conn.execute(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{source}"' if source else ""))
                return
            except psycopg.errors.ObjectInUse:
                if attempt == 5:
                    raise
                time.sleep(1)


# --- reference data and users (through the app) -------------------------------------------------


def load_reference(app, now, reference_loaded=False):
    """Migrate, then the seeds' reference data (unless ``reference_loaded``: the roles' sync is
    the slow part), regions, parts and the bench users."""
    from flask_migrate import upgrade
    from sqlalchemy import insert, select

    from app.extensions import db
    from app.network.models import ProductCategory, Region, region_user
    from seeds import demo, reference

    upgrade()
    if not reference_loaded:
        reference.load(log=lambda *a: None)
    today = (now + timedelta(hours=8)).date()
    reference.load_default_calendar(years=range(today.year - YEARS - 1, today.year + 2))
    db.session.commit()
    region_ids = {}
    for code, name, _w in REGIONS:
        rid = db.session.execute(select(Region.id).where(Region.code == code)).scalar()
        if rid is None:
            rid = db.session.execute(insert(Region.__table__).returning(Region.__table__.c.id),
                                     [{"code": code, "name": name, "created_at": now, "updated_at": now}]).scalar_one()
        region_ids[code] = rid
    db.session.commit()

    class Ctx:
        pass

    ctx = Ctx()
    ctx.now = now
    ctx.categories = {c.code: c.id for c in db.session.query(ProductCategory)}
    demo.ensure_parts(ctx)

    sm = app.appbuilder.sm
    users = list(BENCH_USERS)
    for code, _name, _w in REGIONS:
        for k in range(1, PER_REGION + 1):
            users.append((f"bench_mgr_{code.lower()}{k}", "Regional Manager", "经理" + "一二三四"[k - 1], "赵", code))
            users.append((f"bench_agent_{code.lower()}{k}", "Service Agent", "客服" + "一二三四"[k - 1], "孙", code))
    hashed = None
    links = []
    for username, role_name, given, family, region in users:
        user = sm.find_user(username=username)
        if user is None:
            role = sm.find_role(role_name)
            if hashed is None:
                user = sm.add_user(username, given, family, f"{username}@bench.example.com", [role],
                                   password=common.PASSWORD)
                hashed = user.password
            else:
                user = sm.add_user(username, given, family, f"{username}@bench.example.com", [role],
                                   hashed_password=hashed)
            if not user:
                raise RuntimeError(f"could not create {username}")
        if region:
            links.append({"region_id": region_ids[region], "user_id": user.id})
    present = set(db.session.execute(select(region_user.c.region_id, region_user.c.user_id)).all())
    links = [r for r in links if (r["region_id"], r["user_id"]) not in present]
    if links:
        db.session.execute(insert(region_user), links)
    db.session.commit()
    return region_ids


def verification_days(app, first_day, last_day, region_ids):
    """``[(local day, verification due)]`` for every day of receipt, read from the business
    calendar as ``sla.Clock`` does (every region shares the default calendar here)."""
    from app.core import calendar, clock, settings

    days = settings.get("complaint.investigation_working_days")
    sched = calendar.schedule_for_region(next(iter(region_ids.values())))
    rows = []
    day = first_day
    while day <= last_day:
        noon = clock.to_utc(datetime(day.year, day.month, day.day, 12, 0))
        rows.append((day, calendar.add_working_days(sched, noon, days)))
        day += timedelta(days=1)
    return rows


# --- bulk rows ---------------------------------------------------------------------------------


def fill_bulk(conn, n, now, region_ids, verification, timer, settings):
    """Every bulk table, set-based, in dependency order."""
    cur = conn.cursor()
    cur.execute("SELECT setseed(0.2026)")
    cur.execute("SET session_replication_role = replica")  # no FK trigger per row: the rows agree by design
    cur.execute("SET work_mem = '256MB'")
    cur.execute("SET maintenance_work_mem = '512MB'")
    conn.commit()
    p = {"now": now, "O": n["outlet"], "E": n["engineer"], "C": n["certification"], "S": n["stock"],
         "SO": n["service_order"], "CP": n["complaint"], "OP": n["open_complaint"],
         "sweep_at": now - SWEEP_LAG, "years": YEARS, "today": (now + timedelta(hours=8)).date(),
         "expiring_days": settings["expiring_days"], "warn": settings["warn_percent"] / 100.0,
         "surnames": list(CUSTOMER_SURNAMES), "given": list("伟强磊军勇杰涛明超刚华辉飞芳娜敏静艳霞玲婷"),
         "texts": COMPLAINT_TEXTS, "resolutions": RESOLUTIONS}

    # regions by weight → bucket ranges 0..99
    cur.execute("CREATE TEMP TABLE region_bucket (lo int, hi int, region_id int, city text)")
    lo = 0
    for code, _name, weight in REGIONS:
        cur.execute("INSERT INTO region_bucket VALUES (%s, %s, %s, %s)", (lo, lo + weight - 1, region_ids[code],
                                                                         CITY[code]))
        lo += weight
    # the managers and agents of each region (owners of complaints, deciders of escalations)
    cur.execute("""
        CREATE TEMP TABLE region_staff AS
        SELECT ru.region_id, r.name AS role, u.id AS user_id, u.last_name || u.first_name AS name,
               row_number() OVER (PARTITION BY ru.region_id, r.name ORDER BY u.id) - 1 AS k,
               count(*) OVER (PARTITION BY ru.region_id, r.name) AS n
          FROM region_user ru JOIN ab_user u ON u.id = ru.user_id
          JOIN ab_user_role ur ON ur.user_id = u.id JOIN ab_role r ON r.id = ur.role_id
         WHERE r.name IN ('Regional Manager', 'Service Agent')""")
    cur.execute("CREATE TEMP TABLE verification (day date PRIMARY KEY, due timestamp)")
    with cur.copy("COPY verification (day, due) FROM STDIN") as copy:
        for day, due in verification:
            copy.write_row((day, due))
    conn.commit()

    timer.run("outlet", conn, """
        INSERT INTO outlet (id, code, name, region_id, address, contact, phone, email, licence_no,
                            has_fixed_premises, status, last_qualified_on, next_audit_due_on, flag_reasons,
                            notes, created_at, updated_at)
        SELECT g, 'B' || lpad(g::text, 6, '0'),
               b.city || (ARRAY['惠民','安达','诚信','顺达','鑫源','恒通','佳美','利民'])[1 + g % 8]
                      || (ARRAY['家电服务中心','家电维修服务部','电器售后服务站','家电服务网点'])[1 + (g / 8) % 4],
               b.region_id, b.city || (ARRAY['人民路','中山路','解放路','建设路','新华路'])[1 + g % 5]
                             || (1 + g % 2999)::text || '号',
               (%(surnames)s::text[])[1 + g % 20] || (%(given)s::text[])[1 + (g / 20) % 21],
               '13' || lpad(((g::bigint * 7919) % 1000000000)::text, 9, '0'), NULL, NULL,
               s.status <> 'applying' OR g % 3 > 0, s.status,
               CASE WHEN s.status = 'applying' THEN NULL
                    WHEN s.status = 'active' THEN %(today)s::date - (10 + g % 340)
                    ELSE %(today)s::date - (380 + g % 300) END,
               CASE WHEN s.status = 'active' THEN (%(today)s::date - (10 + g % 340)) + interval '1 year'
                    WHEN s.status IN ('probation', 'applying') THEN %(today)s::date + (3 + g % 30)
                    WHEN s.status = 'suspended' THEN %(today)s::date + (g % 60 - 30)
                    ELSE NULL END::date,
               '', CASE s.status WHEN 'probation' THEN '年度复核限期整改' WHEN 'applying' THEN '新网点准入申请，待现场审核'
                                 WHEN 'suspended' THEN '客户投诉集中，暂停派单整改'
                                 WHEN 'terminated' THEN '年度复核不合格，取消合作' END,
               %(now)s - make_interval(days => 400 + g % 2500), %(now)s - make_interval(days => g % 300)
          FROM generate_series(1, %(O)s) g
          JOIN region_bucket b ON (g * 37) % 100 BETWEEN b.lo AND b.hi
          CROSS JOIN LATERAL (SELECT CASE WHEN (g * 53) % 100 < 84 THEN 'active'
                                          WHEN (g * 53) % 100 < 91 THEN 'probation'
                                          WHEN (g * 53) % 100 < 94 THEN 'applying'
                                          WHEN (g * 53) % 100 < 97 THEN 'suspended'
                                          ELSE 'terminated' END AS status) s""", p)
    # categories: the outlet's "own" one (1 + id % 6, which its orders use) plus air conditioners
    # and a third for two outlets in three
    timer.run("outlet_product_category", conn, """
        INSERT INTO outlet_product_category (outlet_id, product_category_id)
        SELECT DISTINCT o.id, pc.id
          FROM outlet o
          JOIN LATERAL (SELECT array_agg(id ORDER BY id) AS ids FROM product_category) c ON true
          CROSS JOIN LATERAL unnest(ARRAY[c.ids[1 + o.id % cardinality(c.ids)],
                                          (SELECT id FROM product_category WHERE code = 'air_conditioner'),
                                          CASE WHEN o.id % 3 > 0 THEN c.ids[1 + (o.id + 2) % cardinality(c.ids)] END])
               AS pc(id)
         WHERE pc.id IS NOT NULL""", p)

    timer.run("engineer", conn, """
        INSERT INTO engineer (id, employee_no, name, phone, email, outlet_id, hire_date, status, star_level,
                              suspension_reason, created_at, updated_at)
        SELECT g, 'BE' || lpad(g::text, 7, '0'),
               (%(surnames)s::text[])[1 + (g * 7) % 20] || (%(given)s::text[])[1 + (g * 11) % 21],
               '139' || lpad(((g::bigint * 104729) % 100000000)::text, 8, '0'), NULL, o.id,
               CASE WHEN st.status = 'trainee' THEN %(today)s::date - (7 + g % 60)
                    ELSE %(today)s::date - (120 + g % 2800) END,
               st.status,
               CASE WHEN st.status = 'trainee' THEN NULL
                    ELSE (ARRAY[1,2,3,3,3,4,4,4,4,5])[1 + (g * 13) % 10] END,
               CASE WHEN st.status = 'suspended' THEN 'other' END,
               %(now)s - make_interval(days => 7 + g % 2800), %(now)s - make_interval(days => g % 300)
          FROM generate_series(1, %(E)s) g
          JOIN outlet o ON o.id = 1 + (g - 1) % %(O)s
          CROSS JOIN LATERAL (SELECT CASE WHEN o.status = 'terminated' THEN 'left'
                                          WHEN (g * 29) % 100 < 80 THEN 'active'
                                          WHEN (g * 29) % 100 < 88 THEN 'trainee'
                                          WHEN (g * 29) % 100 < 92 THEN 'suspended'
                                          ELSE 'left' END AS status) st""", p)

    quarters = _quarter_starts(p["today"], 4)
    timer.run("training_record", conn, """
        INSERT INTO training_record (engineer_id, kind, taken_on, theory_hours, practical_hours, mentored_orders,
                                     theory_score, practical_score, passed, created_at, updated_at)
        SELECT e.id, t.kind, t.taken_on, t.th, t.ph, t.mo, t.ts, t.ps, true,
               t.taken_on + time '16:00' - interval '8 hours', t.taken_on + time '16:00' - interval '8 hours'
          FROM engineer e
          CROSS JOIN LATERAL (
                SELECT 'onboarding' AS kind, e.hire_date + (20 + e.id % 20) AS taken_on,
                       34.0 AS th, 56.0 AS ph, 12 AS mo, 92.0 AS ts, 95.0 AS ps
                 WHERE e.status <> 'trainee'
                UNION ALL
                SELECT 'quarterly', q + (7 + e.id % 60), 4.0, 4.0, 0, 90.0, 92.0
                  FROM unnest(%(quarters)s::date[]) q
                 WHERE e.status IN ('active', 'suspended') AND q + (7 + e.id % 60) < %(today)s::date
                   AND q + (7 + e.id % 60) > e.hire_date + 40) t""", dict(p, quarters=quarters))

    cur.execute("SELECT id, validity_months FROM certification_type ORDER BY id")
    types = cur.fetchall()
    timer.run("certification", conn, """
        INSERT INTO certification (engineer_id, certification_type_id, number, issuer, issued_on, expires_on, revoked,
                                   status, scan, created_at, updated_at)
        SELECT x.engineer_id, x.type_id, 'BC' || lpad(x.g::text, 9, '0'), '应急管理局',
               (x.expires_on - make_interval(months => x.months))::date, x.expires_on, x.kind = 'revoked',
               CASE WHEN x.kind = 'revoked' THEN 'revoked'
                    WHEN x.expires_on < %(today)s::date THEN 'expired'
                    WHEN x.expires_on <= %(today)s::date + %(expiring_days)s THEN 'expiring'
                    ELSE 'valid' END,
               NULL, %(now)s - make_interval(days => x.g % 700), %(now)s - make_interval(days => x.g % 300)
          FROM (SELECT g, 1 + (g - 1) % %(E)s AS engineer_id, k.kind,
                       (%(type_ids)s::int[])[1 + ((g - 1) / %(E)s) % %(ntypes)s] AS type_id,
                       (%(type_months)s::int[])[1 + ((g - 1) / %(E)s) % %(ntypes)s] AS months,
                       CASE k.kind WHEN 'expiring' THEN %(today)s::date + (g % (%(expiring_days)s + 1))
                                   WHEN 'expired' THEN %(today)s::date - (1 + g % 240)
                                   ELSE %(today)s::date + (%(expiring_days)s + 1 + g % 700) END AS expires_on
                  FROM generate_series(1, %(C)s) g
                  CROSS JOIN LATERAL (SELECT CASE WHEN (g * 17) % 100 < 80 THEN 'valid'
                                                  WHEN (g * 17) % 100 < 88 THEN 'expiring'
                                                  WHEN (g * 17) % 100 < 98 THEN 'expired'
                                                  ELSE 'revoked' END AS kind) k) x""",
              dict(p, type_ids=[t[0] for t in types], type_months=[t[1] for t in types], ntypes=len(types)))

    cur.execute("SELECT array_agg(id ORDER BY is_common DESC, sku) FROM part")
    part_ids = cur.fetchone()[0]
    central_parts = part_ids[:max(1, min(len(part_ids), n["stock"] // (2 * len(REGIONS))))]  # tiny scales: fewer
    central = len(REGIONS) * len(central_parts)
    timer.run("stock (central)", conn, """
        INSERT INTO stock (outlet_id, region_id, part_id, quantity, safety_level, created_at, updated_at)
        SELECT NULL, r.id, pt.id, CASE WHEN (r.id * 7 + pt.id) % 12 = 0 THEN (r.id + pt.id) % 10
                                       ELSE 20 + (r.id * 31 + pt.id * 7) % 300 END,
               20, %(now)s, %(now)s
          FROM region r CROSS JOIN part pt WHERE pt.id = ANY(%(central_parts)s)""", dict(p, central_parts=central_parts))
    timer.run("stock (outlets)", conn, """
        INSERT INTO stock (outlet_id, region_id, part_id, quantity, safety_level, created_at, updated_at)
        SELECT 1 + (g - 1) % %(O)s, NULL, (%(part_ids)s::int[])[1 + ((g - 1) / %(O)s) % %(nparts)s],
               CASE WHEN (g * 7) % 10 = 0 THEN g % 3 ELSE 3 + (g * 13) % 30 END, 3,
               %(now)s - make_interval(days => g % 200), %(now)s - make_interval(days => g % 30)
          FROM generate_series(1, %(stock)s) g""",
              dict(p, part_ids=part_ids, nparts=len(part_ids),
                   stock=max(0, min(n["stock"] - central, n["outlet"] * len(part_ids)))))

    cur.execute("""CREATE TEMP TABLE oc AS SELECT outlet_id, array_agg(product_category_id ORDER BY product_category_id)
                   AS ids FROM outlet_product_category GROUP BY outlet_id""")
    cur.execute("ALTER TABLE oc ADD PRIMARY KEY (outlet_id)")
    conn.commit()
    # service orders: ids follow time (order g was created at g/SO of the way through three years)
    timer.run("service_order (times)", conn, """
        CREATE TEMP TABLE so AS
        SELECT g AS id, o.id AS outlet_id,
               o.id + %(O)s * (g % (((%(E)s - o.id) / %(O)s) + 1)) AS engineer_id,
               cats.ids[1 + o.id % cardinality(cats.ids)] AS product_category_id,
               (ARRAY['install','repair','repair','maintenance','install','repair','trade_in','maintenance',
                      'repair','install'])[1 + (g * 7) % 10] AS kind,
               t.created_at,
               t.created_at + make_interval(mins => 30 + (g * 11) % 210) AS dispatched_at,
               date_trunc('hour', t.created_at) + make_interval(days => 1 + g % 3, hours => (g * 3) % 7)
                   AS appointment_at,
               date_trunc('hour', t.created_at) + make_interval(days => 1 + g % 3, hours => (g * 3) % 7)
                   + make_interval(mins => CASE WHEN (g * 19) % 100 < 87 THEN -((g * 5) % 45)
                                                ELSE 5 + (g * 7) % 120 END) AS arrived_at,
               (g * 23) % 100 < 4 AS cancelled
          FROM generate_series(1, %(SO)s) g
          JOIN outlet o ON o.id = 1 + (g::bigint * 7919) % %(O)s
          JOIN oc cats ON cats.outlet_id = o.id
          CROSS JOIN LATERAL (SELECT %(now)s - make_interval(days => %(years)s * 365)
                                     + (g - random()) / %(SO)s * make_interval(days => %(years)s * 365)
                                     AS created_at) t""", p)
    timer.run("service_order", conn, """
        INSERT INTO service_order (id, number, customer_name, customer_phone, customer_address, product_category_id,
                                   outlet_id, engineer_id, kind, status, dispatched_at, appointment_at, arrived_at,
                                   completed_at, first_time_fix, satisfaction, created_at, updated_at)
        SELECT s.id, 'SO' || to_char(s.created_at + interval '8 hours', 'YYYYMMDD')
                     || to_char(row_number() OVER (PARTITION BY (s.created_at + interval '8 hours')::date
                                                   ORDER BY s.id), 'FM9999990000'),
               (%(surnames)s::text[])[1 + s.id % 20] || (ARRAY['先生','女士'])[1 + (s.id / 20) % 2],
               '13' || lpad(((s.id::bigint * 2654435761) % 1000000000)::text, 9, '0'),
               '小区' || (1 + s.id % 300)::text || '栋' || (101 + s.id % 2000)::text || '室',
               s.product_category_id, s.outlet_id, CASE WHEN s.dispatched_at <= %(now)s THEN s.engineer_id END,
               s.kind,
               CASE WHEN s.cancelled AND s.dispatched_at <= %(now)s THEN 'cancelled'
                    WHEN s.completed_at <= %(now)s THEN 'completed'
                    WHEN s.arrived_at <= %(now)s THEN 'in_service'
                    WHEN s.dispatched_at <= %(now)s THEN 'dispatched'
                    ELSE 'created' END,
               CASE WHEN s.dispatched_at <= %(now)s THEN s.dispatched_at END,
               CASE WHEN s.dispatched_at <= %(now)s THEN s.appointment_at END,
               CASE WHEN NOT s.cancelled AND s.arrived_at <= %(now)s THEN s.arrived_at END,
               CASE WHEN NOT s.cancelled AND s.completed_at <= %(now)s THEN s.completed_at END,
               CASE WHEN NOT s.cancelled AND s.completed_at <= %(now)s THEN (s.id * 31) % 100 < 85 END,
               CASE WHEN NOT s.cancelled AND s.completed_at <= %(now)s AND (s.id * 41) % 100 < 70
                    THEN (ARRAY[5,5,5,5,5,5,5,4,4,4,3,2,1])[1 + (s.id * 43) % 13] END,
               s.created_at, LEAST(%(now)s, GREATEST(s.created_at, s.completed_at))
          FROM (SELECT *, arrived_at + make_interval(mins => 40 + (id * 13) % 150) AS completed_at FROM so) s""", p)
    cur.execute("DROP TABLE so")
    conn.commit()

    # complaints: the closed ones from service orders completed at least five days ago, spread over
    # the three years; the open ones at active outlets, received within about twice their
    # resolution time
    cur.execute("""SELECT coalesce(max(id), 0) FROM service_order
                    WHERE created_at < %(now)s - interval '10 days'""", p)
    old_orders = cur.fetchone()[0]
    cur.execute("SELECT count(*) FROM outlet WHERE status IN ('active', 'probation')")
    n_active = cur.fetchone()[0]
    closed = n["complaint"] - n["open_complaint"]
    timer.run("complaint (plan)", conn, """
        CREATE TEMP TABLE cp AS
        SELECT x.*, pol.response_minutes, pol.resolution_hours
          FROM (
            SELECT g AS id, so.outlet_id, so.id AS service_order_id, so.engineer_id, so.customer_name,
                   so.customer_phone,
                   (ARRAY['general','general','general','general','general','general','general','general',
                          'general','general','general','general','general','general','general','major','major',
                          'major','major','urgent'])[1 + (g * 7) % 20] AS severity,
                   coalesce(so.completed_at, so.created_at) + make_interval(mins => 60 + (g * 37) % 4000)
                       AS received_at,
                   false AS open
              FROM generate_series(1, %(closed)s) g
              JOIN service_order so ON so.id = 1 + ((g - 1)::bigint * %(old_orders)s) / %(closed)s
            UNION ALL
            SELECT g, ao.id, NULL, NULL,
                   (%(surnames)s::text[])[1 + g % 20] || (ARRAY['先生','女士'])[1 + (g / 20) % 2],
                   '13' || lpad(((g::bigint * 2654435761) % 1000000000)::text, 9, '0'),
                   sev.severity,
                   CASE WHEN g % 10 < 7 THEN %(now)s - random() * 2 * make_interval(hours => pol.resolution_hours)
                        ELSE %(now)s - pow(random(), 2) * interval '90 days' END,  -- a backlog, long overdue
                   true
              FROM generate_series(%(closed)s + 1, %(CP)s) g
              CROSS JOIN LATERAL (SELECT (ARRAY['general','general','general','general','general','general',
                                                'general','general','general','general','general','general',
                                                'general','general','general','major','major','major','major',
                                                'urgent'])[1 + (g * 7) % 20] AS severity) sev
              JOIN sla_policy pol ON pol.severity = sev.severity
              JOIN (SELECT id, row_number() OVER (ORDER BY id) AS rn
                      FROM outlet WHERE status IN ('active', 'probation')) ao
                ON ao.rn = 1 + (g::bigint * 7919) % %(n_active)s
          ) x JOIN sla_policy pol ON pol.severity = x.severity""",
              dict(p, closed=closed, old_orders=max(1, old_orders), n_active=max(1, n_active)))
    timer.run("complaint (times)", conn, """
        CREATE TEMP TABLE ct AS
        SELECT c.*, o.region_id,
               c.received_at + make_interval(mins => c.response_minutes) AS response_due_at,
               c.received_at + make_interval(hours => c.resolution_hours) AS resolution_due_at,
               c.received_at + make_interval(mins => c.response_minutes) * %(warn)s AS response_warn,
               c.received_at + make_interval(hours => c.resolution_hours) * %(warn)s AS resolution_warn,
               v.due AS verification_due_at,
               CASE WHEN NOT c.open THEN c.received_at + make_interval(secs => 30 + 660 * pow(random(), 2))
                    WHEN c.received_at > %(now)s - interval '20 minutes' AND c.id % 5 < 3 THEN NULL
                    WHEN c.id % 20 = 0 THEN NULL
                    ELSE GREATEST(c.received_at, LEAST(%(now)s - interval '1 minute',
                               c.received_at + make_interval(secs => 30 + 540 * random()))) END
                   AS first_response_at,
               CASE WHEN NOT c.open THEN c.received_at
                                       + make_interval(hours => c.resolution_hours) * (0.1 + 1.05 * random())
                                       + interval '15 minutes' END AS resolved_at
          FROM cp c JOIN outlet o ON o.id = c.outlet_id
          JOIN verification v ON v.day = (c.received_at + interval '8 hours')::date""", p)
    cur.execute("DROP TABLE cp")
    cur.execute(q("""
        CREATE TEMP TABLE cf AS
        SELECT t.*,
               CASE WHEN t.open THEN (CASE WHEN t.first_response_at IS NULL THEN 'new'
                                           WHEN t.id % 3 = 0 THEN 'responded' ELSE 'in_progress' END)
                    WHEN t.resolved_at > %(now)s - interval '2 days' OR t.id % 50 = 0 THEN 'resolved'
                    ELSE 'closed' END AS status,
               -- breaches: a fact of the times (as sla.Clock says), seen by the sweep at sweep_at
               coalesce(t.first_response_at, %(sweep_at)s) > t.response_due_at AS response_breached,
               coalesce(t.resolved_at, %(sweep_at)s) > t.resolution_due_at AS resolution_breached,
               -- warnings: sent by the sweep while the step was still awaited
               coalesce(t.first_response_at, %(sweep_at)s) >= t.response_warn AS response_warned,
               coalesce(t.resolved_at, %(sweep_at)s) >= t.resolution_warn AS resolution_warned
          FROM ct t"""), p)
    cur.execute("DROP TABLE ct")
    conn.commit()
    timer.run("complaint", conn, """
        INSERT INTO complaint (id, number, customer_name, customer_phone, channel, outlet_id, service_order_id,
                               engineer_id, severity, description, owner_id, status, received_at,
                               first_response_at, resolved_at, closed_at, resolution, customer_notified,
                               customer_satisfied, response_due_at, resolution_due_at, verification_due_at,
                               response_breached, resolution_breached, response_warned, resolution_warned,
                               paused, paused_at, next_check_at, created_at, updated_at)
        SELECT f.id, 'TS' || to_char(f.received_at + interval '8 hours', 'YYYYMMDD')
                     || to_char(row_number() OVER (PARTITION BY (f.received_at + interval '8 hours')::date
                                                   ORDER BY f.received_at, f.id), 'FM9999990000'),
               f.customer_name, f.customer_phone,
               (ARRAY['phone','phone','phone','app','app','web','email','in_person'])[1 + (f.id * 3) % 8],
               f.outlet_id, f.service_order_id, f.engineer_id, f.severity, (%(texts)s::text[])[1 + f.id % 10],
               ow.user_id, f.status, f.received_at, f.first_response_at,
               CASE WHEN f.status IN ('resolved', 'closed') THEN f.resolved_at END,
               f.closed_at,
               CASE WHEN f.status IN ('resolved', 'closed') THEN (%(resolutions)s::text[])[1 + f.id % 5] END,
               f.status = 'closed', CASE WHEN f.status = 'closed' THEN f.id % 10 < 8 END,
               f.response_due_at, f.resolution_due_at, f.verification_due_at,
               f.response_breached, f.resolution_breached, f.response_warned, f.resolution_warned,
               false, NULL,
               CASE WHEN f.open THEN NULLIF(LEAST(
                        CASE WHEN f.first_response_at IS NULL AND NOT f.response_warned THEN f.response_warn END,
                        CASE WHEN f.first_response_at IS NULL AND NOT f.response_breached THEN f.response_due_at END,
                        CASE WHEN NOT f.resolution_warned THEN f.resolution_warn END,
                        CASE WHEN NOT f.resolution_breached THEN f.resolution_due_at END), NULL) END,
               f.received_at, coalesce(f.closed_at, f.resolved_at, f.first_response_at, f.received_at)
          FROM (SELECT cf.*, CASE WHEN cf.status = 'closed'
                                  THEN LEAST(%(now)s, cf.resolved_at + make_interval(hours => 1 + cf.id % 47)) END
                                  AS closed_at
                  FROM cf) f
          LEFT JOIN region_staff ow ON ow.region_id = f.region_id AND ow.role = 'Service Agent'
                                    AND ow.k = f.id % ow.n""", p)

    # the automatic level-1 escalation of a complaint that breached while open (at the breach)
    timer.run("escalation", conn, """
        INSERT INTO escalation (complaint_id, parent_id, level, reason, remedy, compensation_amount, request_comment,
                                auto_key, requested_by_id, requested_at, status, decided_by_id, decided_at, comment,
                                created_at, updated_at)
        SELECT e.id, NULL, 1, 'sla_breach', NULL, NULL, 'SLA 超时自动升级', 'sla_breach', NULL, e.at, e.status,
               CASE WHEN e.status <> 'pending' THEN m.user_id END,
               CASE WHEN e.status <> 'pending' THEN e.decided_at END,
               CASE e.status WHEN 'approved' THEN '同意升级处理' WHEN 'rejected' THEN '客户已接受处理方案，无需升级' END,
               e.at, coalesce(CASE WHEN e.status <> 'pending' THEN e.decided_at END, e.at)
          FROM (SELECT c.id, c.region_id, c.at,
                       CASE WHEN NOT c.open THEN (CASE WHEN c.id % 5 < 3 THEN 'approved' ELSE 'rejected' END)
                            WHEN c.status = 'in_progress' AND c.id % 10 = 0
                                 AND c.at + interval '30 minutes' < %(now)s THEN 'approved'
                            ELSE 'pending' END AS status,
                       LEAST(%(now)s - interval '1 minute', c.at + make_interval(mins => 10 + c.id % 170)) AS decided_at
                  FROM (SELECT cf.*, LEAST(CASE WHEN cf.response_breached THEN cf.response_due_at END,
                                           CASE WHEN cf.resolution_breached THEN cf.resolution_due_at END) AS at
                          FROM cf) c
                 WHERE (c.response_breached OR c.resolution_breached)
                   AND (c.open OR c.at < coalesce(c.resolved_at, c.at))) e
          LEFT JOIN region_staff m ON m.region_id = e.region_id AND m.role = 'Regional Manager'
                                  AND m.k = e.id % m.n""", p)

    timer.run("complaint_event", conn, """
        INSERT INTO complaint_event (complaint_id, at, kind, actor_id, actor_name, note)
        SELECT c.id, ev.at, ev.kind, ev.actor_id, ev.actor_name, ev.note
          FROM complaint c
          LEFT JOIN region_staff ow ON ow.user_id = c.owner_id AND ow.role = 'Service Agent'
          LEFT JOIN escalation e ON e.complaint_id = c.id
          CROSS JOIN LATERAL (
                SELECT c.received_at AS at, 'received' AS kind, c.owner_id AS actor_id,
                       coalesce(ow.name, 'system') AS actor_name, left(c.description, 200) AS note
                UNION ALL
                SELECT c.first_response_at, 'responded', c.owner_id, coalesce(ow.name, 'system'), '已致电客户，正在处理'
                 WHERE c.first_response_at IS NOT NULL
                UNION ALL
                SELECT CASE WHEN c.status = 'closed' THEN c.closed_at WHEN c.status = 'resolved' THEN c.resolved_at
                            ELSE e.requested_at END,
                       CASE WHEN c.status = 'closed' THEN 'closed' WHEN c.status = 'resolved' THEN 'resolved'
                            ELSE 'escalated' END,
                       CASE WHEN c.status IN ('closed', 'resolved') THEN c.owner_id END,
                       CASE WHEN c.status IN ('closed', 'resolved') THEN coalesce(ow.name, 'system') ELSE 'system' END,
                       CASE WHEN c.status = 'resolved' THEN c.resolution WHEN c.status = 'closed' THEN ''
                            ELSE e.request_comment END
                 WHERE c.status IN ('closed', 'resolved') OR e.id IS NOT NULL) ev""", p)

    timer.run("number_sequence", conn, """
        INSERT INTO number_sequence (prefix, value)
        SELECT left(number, 10), max(substr(number, 11)::bigint) FROM complaint GROUP BY 1
        UNION ALL
        SELECT left(number, 10), max(substr(number, 11)::bigint) FROM service_order GROUP BY 1
        ON CONFLICT (prefix) DO UPDATE SET value = GREATEST(number_sequence.value, excluded.value)""", p)
    cur.execute("DROP TABLE cf")
    conn.commit()
    cur.execute("SET session_replication_role = DEFAULT")
    conn.commit()


def _quarter_starts(today, count):
    from seeds.demo import _quarter_starts as starts

    return starts(today, count)


def fill_audit(conn, timer, now):
    """One ``insert`` event per complaint, acting as the command line, chained after the trail's
    current head with ``app.audit_trail.chain.digest``; written with COPY in batches."""
    from app.audit_trail import chain

    started = time.perf_counter()
    cur = conn.cursor()
    cur.execute("SELECT last_id, last_hash FROM audit_chain WHERE id = 1 FOR UPDATE")
    head = cur.fetchone()
    if head is None:
        last_id, last_hash = 0, chain.GENESIS
    else:
        last_id, last_hash = head
    import psycopg

    source = psycopg.connect(conn.info.dsn)  # its own connection: no other statement may run on one in COPY
    read = source.cursor(name="audit_source")
    read.itersize = 20000
    read.execute("SELECT id, number, status, severity, outlet_id FROM complaint ORDER BY id")
    written = 0
    with conn.cursor() as out:
        with out.copy("COPY audit_event (id, at, actor_kind, actor_id, actor_name, request_id, client_addr, "
                      "entity, record_id, action, changes, prev_hash, hash) FROM STDIN") as copy:
            for cid, number, status, severity, outlet_id in read:
                last_id += 1
                row = {"id": last_id, "at": now, "actor_kind": "cli", "actor_id": None,
                       "actor_name": "cli:bench.fill", "request_id": "", "client_addr": "",
                       "entity": "complaint", "record_id": str(cid), "action": "insert",
                       "changes": json.dumps({"number": [None, number], "status": [None, status],
                                              "severity": [None, severity], "outlet_id": [None, outlet_id]},
                                             ensure_ascii=False, sort_keys=True)}
                row["prev_hash"] = last_hash
                digest = chain.digest(row)
                copy.write_row((row["id"], row["at"], row["actor_kind"], row["actor_id"], row["actor_name"],
                                row["request_id"], row["client_addr"], row["entity"], row["record_id"],
                                row["action"], row["changes"], last_hash, digest))
                last_hash = digest
                written += 1
    read.close()
    source.close()
    cur.execute("""INSERT INTO audit_chain (id, last_id, last_hash, touched_at) VALUES (1, %s, %s, %s)
                   ON CONFLICT (id) DO UPDATE SET last_id = excluded.last_id, last_hash = excluded.last_hash,
                                                  touched_at = excluded.touched_at""", (last_id, last_hash, now))
    conn.commit()
    took = time.perf_counter() - started
    timer.seconds["audit_event"] = round(took, 3)
    log(f"  {'audit_event':<28} {written:>10,} rows  {took:8.2f} s")


def finish(conn, timer):
    """Sequences past the highest ids, statistics."""
    cur = conn.cursor()
    cur.execute("""SELECT s.relname, t.relname, a.attname
                     FROM pg_class s JOIN pg_depend d ON d.objid = s.oid
                     JOIN pg_class t ON t.oid = d.refobjid
                     JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = d.refobjsubid
                    WHERE s.relkind = 'S' AND d.deptype IN ('a', 'i')""")
    for seq, table, column in cur.fetchall():
        cur.execute(f'SELECT setval(\'"{seq}"\', GREATEST(1, (SELECT coalesce(max("{column}"), 0) FROM "{table}")), '
                    f'(SELECT count(*) > 0 FROM "{table}"))')
    conn.commit()
    started = time.perf_counter()
    conn.autocommit = True
    cur.execute("VACUUM ANALYZE")
    conn.autocommit = False
    timer.seconds["vacuum analyze"] = round(time.perf_counter() - started, 3)
    log(f"  {'vacuum analyze':<28} {'':>10}       {timer.seconds['vacuum analyze']:8.2f} s")


def table_rows(conn):
    cur = conn.cursor()
    rows = {}
    for table in ("region", "outlet", "engineer", "training_record", "certification", "stock", "service_order",
                  "complaint", "complaint_event", "escalation", "number_sequence", "audit_event", "ab_user"):
        cur.execute(f"SELECT count(*) FROM {table}")
        rows[table] = cur.fetchone()[0]
    cur.execute("SELECT count(*) FROM complaint WHERE status NOT IN ('resolved', 'closed')")
    rows["open complaints"] = cur.fetchone()[0]
    cur.execute("SELECT pg_database_size(current_database())")
    rows["database bytes"] = cur.fetchone()[0]
    conn.commit()
    return rows


def build(url, scale, force=False, audit=True, template=True, source=None, app_overrides=None, keep_app=False):
    """Create and fill the database at ``url``; returns what was recorded in its comment.

    ``source``: start from a copy of this database (migrated, reference data loaded) instead of an
    empty one. ``keep_app``: return ``(info, app)``, the app bound to the new database left open."""
    import psycopg

    from app.core import clock

    server, name = _split(url)
    started = time.perf_counter()
    log(f"filling {name} at scale {scale:g} on {server}")
    create_database(server, name, force=force, source=source)
    n = counts_for(scale)
    now = clock.now().replace(microsecond=0)
    timer = Timer()
    tmp = tempfile.mkdtemp(prefix="bench-fill-")
    app = common.make_app(common.url_for(name, server), tmp=tmp, overrides=app_overrides)
    try:
        with app.app_context():
            t0 = time.perf_counter()
            region_ids = load_reference(app, now, reference_loaded=source is not None)
            timer.seconds["migrate + reference + users"] = round(time.perf_counter() - t0, 3)
            log(f"  {'migrate + reference + users':<28} {'':>10}       {timer.seconds['migrate + reference + users']:8.2f} s")
            from app.core import settings

            today = (now + timedelta(hours=8)).date()
            verification = verification_days(app, today - timedelta(days=YEARS * 365 + 30), today + timedelta(days=1),
                                             region_ids)
            knobs = {"expiring_days": settings.get("certification.expiring_days"),
                     "warn_percent": settings.get("complaint.warning_percent")}
        common.dispose(app)
        with psycopg.connect(common.dsn_for(name, server)) as conn:
            fill_bulk(conn, n, now, region_ids, verification, timer, knobs)
            if audit:
                fill_audit(conn, timer, now)
            finish(conn, timer)
            rows = table_rows(conn)
    finally:
        common.dispose(app)
        if not keep_app:
            from app.core import queue

            queue.stop_embedded()
    seconds = round(time.perf_counter() - started, 1)
    info = {"complete": True, "scale": scale, "seconds": seconds, "tables": timer.seconds, "rows": rows,
            "filled_at": now.isoformat() + "Z", "counts": n}
    with common.admin_connection(server) as conn:
        from psycopg import sql

        conn.execute(sql.SQL("COMMENT ON DATABASE {} IS {}").format(sql.Identifier(name),
                                                                   sql.Literal(json.dumps(info))))
        if template:
            tpl = common.template_name(name)
            conn.execute(f'DROP DATABASE IF EXISTS "{tpl}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{tpl}" TEMPLATE "{name}" STRATEGY FILE_COPY')
            conn.execute(f'ALTER DATABASE "{tpl}" ALLOW_CONNECTIONS false')
    log(f"{name}: filled in {seconds:.1f} s — " + ", ".join(f"{k} {v:,}" for k, v in rows.items()))
    return (info, app) if keep_app else info


def upgrade(url):
    """Bring a filled database to the app's current migrations (new indexes, say) and refresh its
    frozen copy; returns True when something was migrated. A refill is not needed for that."""
    import psycopg

    from flask_migrate import upgrade as migrate

    server, name = _split(url)
    with psycopg.connect(common.dsn_for(name, server)) as conn:
        before = conn.execute("SELECT version_num FROM alembic_version").fetchone()[0]
    tmp = tempfile.mkdtemp(prefix="bench-upgrade-")
    app = common.make_app(common.url_for(name, server), tmp=tmp)
    try:
        with app.app_context():
            migrate()
    finally:
        common.dispose(app)
    with psycopg.connect(common.dsn_for(name, server)) as conn:
        after = conn.execute("SELECT version_num FROM alembic_version").fetchone()[0]
        conn.execute("ANALYZE")
    if after == before:
        return False
    log(f"{name}: migrated {before} → {after}")
    with common.admin_connection(server) as conn:
        tpl = common.template_name(name)
        conn.execute(f'DROP DATABASE IF EXISTS "{tpl}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{tpl}" TEMPLATE "{name}" STRATEGY FILE_COPY')
        conn.execute(f'ALTER DATABASE "{tpl}" ALLOW_CONNECTIONS false')
    return True


def main(argv=None):
    parser = argparse.ArgumentParser(description="Build a production-size benchmark database (PostgreSQL).")
    parser.add_argument("--scale", type=float, default=0.01, help="1.0 = production size (default 0.01)")
    parser.add_argument("--url", help="database to create (default: bench_p<scale×100> on BENCH_PG)")
    parser.add_argument("--force", action="store_true", help="drop and rebuild an existing database")
    parser.add_argument("--no-audit", action="store_true", help="no audit events")
    parser.add_argument("--upgrade", action="store_true",
                        help="only migrate an existing filled database to the current migrations")
    args = parser.parse_args(argv)
    url = args.url or common.dsn_for(common.database_name(args.scale))
    if not url.startswith("postgresql"):
        raise SystemExit("the filler writes PostgreSQL SQL: give a postgresql:// URL")
    if args.upgrade:
        upgrade(url)
        return 0
    build(url, args.scale, force=args.force, audit=not args.no_audit)
    return 0


if __name__ == "__main__":
    sys.exit(main())
