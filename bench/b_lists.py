"""Every entity's list, API and page, at the filled database's size (goal "1 lists").

For each list (complaints, service orders, outlets, engineers, certifications, stock, parts,
escalations, qualification audits, audit events), as the regional manager (scoped to the busiest
region) and as the HQ admin (unscoped), page 1 and a deep page (page 400, or the last page when
there are fewer):

* the product: median milliseconds of ``GET /api/v1/<resource>/?q=(page:…,page_size:25)`` and of
  the list page ``GET /<view>/list/?page_<View>=…`` through the in-process test client signed in
  through the real login (JWT for the API, session for the page), and the statements per request;
* the best hand-written SQL for the same rows over psycopg: the page's rows in the list's order
  (with the names a page shows) plus what the page shows about the total — the count up to the
  same limit the product uses (``core.datamodel.COUNT_LIMIT``, one row past the page when deeper);
* stock Flask-AppBuilder 5.3 (``bench.stock_fab``: plain ``ModelRestApi``/``ModelView`` on the same
  model classes, on a throwaway clone of the database with its own admin user): the same requests,
  as an unscoped admin (stock FAB has no region scope), so it is compared with the HQ admin rows.

Targets: product ≤ 2× the best SQL; stock FAB ≥ 2× the product; statements ≤ 6 (API), ≤ 8 (page).

Run alone: ``.venv/bin/python -m bench.b_lists --scale 0.01`` (or ``--scale 1.0``);
``--no-stock`` skips stock FAB (which needs a clone of the database).
"""
import math
import sys

from bench.common import Row, StatementCounter, main, median_ms, sql_ms

GOAL = "1 lists"
PAGE_SIZE = 25
DEEP_PAGE = 400  # 1-based, as the user counts
API_BUDGET, PAGE_BUDGET = 6, 8
OUTLET_SCOPE = "{t}.outlet_id IN (SELECT id FROM outlet WHERE region_id = ANY(%(regions)s))"

# name, API resource, page view class, table, API order, page order, scope condition on ``t``,
# the related names a page shows: (alias, table, fk column, name column)
LISTS = [
    ("complaints", "complaint", "ComplaintView", "complaint", "received_at DESC", "received_at DESC",
     OUTLET_SCOPE, [("o", "outlet", "outlet_id", "name"), ("e", "engineer", "engineer_id", "name")]),
    ("service orders", "service_order", "ServiceOrderView", "service_order", None, "created_at DESC",
     OUTLET_SCOPE, [("o", "outlet", "outlet_id", "name"), ("e", "engineer", "engineer_id", "name")]),
    ("outlets", "outlet", "OutletView", "outlet", None, "code ASC", "{t}.region_id = ANY(%(regions)s)",
     [("r", "region", "region_id", "name")]),
    ("engineers", "engineer", "EngineerView", "engineer", None, "employee_no ASC", OUTLET_SCOPE,
     [("o", "outlet", "outlet_id", "name")]),
    ("certifications", "certification", "CertificationView", "certification", None, "expires_on ASC",
     "{t}.engineer_id IN (SELECT id FROM engineer WHERE " + OUTLET_SCOPE.format(t="engineer") + ")",
     [("e", "engineer", "engineer_id", "name"), ("ct", "certification_type", "certification_type_id", "name")]),
    ("stock", "stock", "StockView", "stock", None, "id ASC",
     "({t}.region_id = ANY(%(regions)s) OR " + OUTLET_SCOPE + ")", [("p", "part", "part_id", "name")]),
    ("parts", "part", "PartView", "part", None, "sku ASC", None, []),
    ("escalations", "escalation", "EscalationView", "escalation", "requested_at DESC", "requested_at DESC",
     "{t}.complaint_id IN (SELECT id FROM complaint WHERE " + OUTLET_SCOPE.format(t="complaint") + ")",
     [("c", "complaint", "complaint_id", "number")]),
    ("qualification audits", "qualification_audit", "QualificationAuditView", "qualification_audit",
     "due_on ASC", "due_on ASC", OUTLET_SCOPE, [("o", "outlet", "outlet_id", "name")]),
    ("audit events", "audit_event", "AuditEventView", "audit_event", "id DESC", "id DESC", None, []),
]


def _count_limit():
    from app.core import datamodel

    return datamodel.COUNT_LIMIT


def _where(scope, regions, alias="t"):
    if scope is None or regions is None:
        return ""
    return " WHERE " + scope.format(t=alias)


def best_sql(table, order, scope, regions, related, page, shows_names):
    """``[(sql, params)]``: the page's rows and the bounded count the page shows."""
    where = _where(scope, regions)
    joins, names = "", ""
    if shows_names:
        for alias, rtable, fk, name in related:
            joins += f" LEFT JOIN {rtable} {alias} ON {alias}.id = t.{fk}"
            names += f", {alias}.{name} AS {alias}_{name}"
    order_by = f" ORDER BY t.{order}, t.id" if order else ""
    params = {"regions": list(regions) if regions is not None else None,
              "limit": PAGE_SIZE, "offset": page * PAGE_SIZE,
              "cap": max(_count_limit(), (page + 1) * PAGE_SIZE) + 1}
    rows = f"SELECT t.*{names} FROM {table} t{joins}{where}{order_by} LIMIT %(limit)s OFFSET %(offset)s"
    count = f"SELECT count(*) FROM (SELECT t.id FROM {table} t{where} LIMIT %(cap)s) s"
    return [(rows, params), (count, params)]


def _regions(app, username):
    from app.core import scope
    from app.extensions import db
    from flask_appbuilder.security.sqla.models import User
    from sqlalchemy import select

    with app.app_context():
        user = db.session.scalar(select(User).where(User.username == username))
        if scope.is_unrestricted(user):
            return None
        return sorted(scope.user_region_ids(user))


def _rows_in_scope(ctx, table, scope, regions, cap):
    import psycopg

    with psycopg.connect(ctx.dsn, autocommit=True) as conn:
        return conn.execute(f"SELECT count(*) FROM (SELECT 1 FROM {table} t{_where(scope, regions)} LIMIT %(cap)s) s",
                            {"regions": regions, "cap": cap}).fetchone()[0]


def _deep(ctx, table, scope, regions):
    """0-based index of the deep page: page 400, or the last page when there are fewer."""
    n = _rows_in_scope(ctx, table, scope, regions, DEEP_PAGE * PAGE_SIZE + 1)
    return max(0, min(DEEP_PAGE, math.ceil(n / PAGE_SIZE)) - 1)


def _engine(app):
    db = app.extensions.get("stock_fab_db")
    if db is None:
        from app.extensions import db
    with app.app_context():
        return db.engine


SLOW_MS = 5000.0
"""A request slower than this is timed once (stock FAB's list pages load whole related tables into
their search form's dropdowns: seconds, or minutes at production size)."""


def _measure(app, client, url, headers, n):
    import time

    engine = _engine(app)
    with StatementCounter(engine) as counter:
        started = time.perf_counter()
        resp = client.get(url, headers=headers)
        first = (time.perf_counter() - started) * 1000.0
    if first > SLOW_MS:
        return first, counter.count, resp.status_code
    with StatementCounter(engine) as counter:  # the first request of a process also warms caches
        client.get(url, headers=headers)
    ms = median_ms(lambda: client.get(url, headers=headers), n=n, warmup=0)
    return ms, counter.count, resp.status_code


def api_url(resource, page):
    return f"/api/v1/{resource}/?q=(page:{page},page_size:{PAGE_SIZE})"


def page_url(view, page):
    return f"/{view.lower()}/list/?page_{view}={page}&psize_{view}={PAGE_SIZE}"


def run(ctx, stock=True):
    app = ctx.app()
    n = 5 if ctx.scale >= 0.5 else 10
    rows, measured = [], {}
    for role in ("manager", "hq"):
        regions = _regions(app, ctx.users[role])
        client = ctx.client(role, app)
        headers = ctx.api_headers(role, app)
        for name, resource, view, table, api_order, page_order, scope, related in LISTS:
            deep = _deep(ctx, table, scope, regions)
            for label, page in (("page 1", 0), (f"page {deep + 1}", deep)):
                for kind, url, hdrs, order, budget in (
                        ("API", api_url(resource, page), headers, api_order, API_BUDGET),
                        ("page", page_url(view, page), {}, page_order, PAGE_BUDGET)):
                    ms, statements, status = _measure(app, client, url, hdrs, n)
                    what = f"{name} {kind} {label} ({role})"
                    if status != 200:
                        rows.append(Row(GOAL, what, None, note=f"status {status}"))
                        continue
                    best = sum(sql_ms(ctx.dsn, sql, params, n=n, warmup=1) for sql, params in
                               best_sql(table, order, scope, regions, related, page, kind == "page"))
                    measured[(name, kind, label, role)] = ms
                    rows.append(Row(GOAL, what, round(ms, 2), best=round(best, 2), statements=statements,
                                    target=f"≤2× best, ≤{budget} statements",
                                    ok=ms <= 2 * best and statements <= budget))
    if stock:
        try:
            rows.extend(stock_rows(ctx, measured, n))
        except Exception as exc:  # the baseline failing must not hide the product's rows
            rows.append(Row(GOAL, "stock FAB baseline", None, note=f"ERROR {type(exc).__name__}: {exc}"))
    return rows


STOCK_PAGES_AT_SIZE = ("complaints", "service orders")
"""At production size a stock FAB list page loads whole related tables (a million service orders)
into its search form and takes minutes: there only these lists' first pages are timed (once)."""


def stock_rows(ctx, measured, n):
    """Stock FAB's rows, measured in a process of its own: the product's app, loaded in this one,
    installs session-wide listeners (the audit trail's) that must not see stock FAB's writes."""
    import multiprocessing

    with multiprocessing.get_context("spawn").Pool(1) as pool:
        timings = pool.apply(_stock_timings, (ctx.scale, ctx.server, ctx.database, n))
    out = []
    for name, kind, label, ms, statements, status in timings:
        product = measured.get((name, kind, label, "hq"))
        out.append(Row(GOAL, f"{name} {kind} {label} (stock FAB vs hq)", product, stock=round(ms, 2),
                       statements=statements, target="stock ≥ 2× product",
                       ok=None if product is None or status != 200 else ms >= 2 * product,
                       note="" if status == 200 else f"stock status {status}"))
    return out


def _stock_timings(scale, server, database, n):
    """In the child: stock FAB on a clone (it writes its own admin user and permissions there);
    ``[(name, kind, label, ms, statements, status)]``."""
    from bench import stock_fab
    from bench.common import Context

    out = []
    big = scale >= 0.5
    with Context(scale, server=server, database=database) as ctx, ctx.scratch() as url:
        app = stock_fab.create(url)
        client, headers = stock_fab.sign_in(app)
        for name, resource, _view, table, _api_order, _page_order, _scope, _related in LISTS:
            deep = _deep(ctx, table, None, None)
            for label, page in (("page 1", 0), (f"page {deep + 1}", deep)):
                for kind, url_ in (("API", stock_fab.api_url(resource, page, PAGE_SIZE)),
                                   ("page", stock_fab.page_url(resource, page, PAGE_SIZE))):
                    if big and kind == "page" and (name not in STOCK_PAGES_AT_SIZE or page):
                        continue
                    ms, statements, status = _measure(app, client, url_, headers if kind == "API" else {}, n)
                    out.append((name, kind, label, ms, statements, status))
        stock_fab.dispose(app)
    return out


if __name__ == "__main__":
    argv = [a for a in sys.argv[1:] if a != "--no-stock"]
    main((lambda ctx: run(ctx, stock=False)) if "--no-stock" in sys.argv else run, argv=argv, description=__doc__)
