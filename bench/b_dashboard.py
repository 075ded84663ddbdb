"""The dashboard and the home panels at the filled database's size (goal "2 dashboard").

For the HQ admin and the regional manager (scoped to the busiest region), and for the service agent's
home panels:

* the whole dashboard page as a browser loads it: ``GET /`` (the page with the user's "today"
  panels) and the eight ``GET /api/v1/dashboard/<panel>?days=90`` requests its script makes, through
  the in-process test client signed in through the real sign-in page: median milliseconds and the
  statements run (target: 500 ms on the whole);
* each dashboard panel's figures: the product's statements (captured while the panel is computed for
  that user, with their parameters) replayed over psycopg, against the best hand-written SQL
  computing the same figures in the same scope (target: at most twice the hand-written SQL);
* each home panel of the role (one ``COUNT`` and one limited query) the same way.

Run alone: ``.venv/bin/python -m bench.b_dashboard --scale 0.01`` (or ``--scale 1.0``).
"""
from datetime import datetime, time, timedelta

from bench.common import Row, StatementCounter, main, median_ms, sql_ms

GOAL = "2 dashboard"
DAYS = 90
PAGE_TARGET_MS = 500.0
RATIO_TARGET = 2.0
PANELS = ("complaints_by_status", "complaints_by_severity", "outlets_by_status", "sla", "targets",
          "attention", "trend", "regions")
CLOSED = "('resolved', 'closed')"
OPEN = "('new', 'responded', 'in_progress')"


def _n(ctx, heavy, light):
    return heavy if ctx.scale >= 0.5 else light


class _Capture(StatementCounter):
    """Statements with their parameters, to replay them over psycopg."""

    def _before(self, conn, cursor, statement, parameters, context, executemany):
        self.statements.append((statement, parameters))


def _replay_ms(ctx, statements, n):
    return sum(sql_ms(ctx.dsn, sql, params, n=n, warmup=1) for sql, params in statements)


# --- the hand-written SQL ------------------------------------------------------------------------

def _scope(alias, regions):
    """The scope condition on a table with ``outlet_id`` (``alias``) for a region list, or nothing."""
    if regions is None:
        return ""
    return f" AND {alias}.outlet_id IN (SELECT id FROM outlet WHERE region_id = ANY(%(regions)s))"


def best_dashboard(regions, single_region):
    """Panel → list of hand-written statements computing the same figures."""
    c = _scope("c", regions)
    so = _scope("so", regions)
    window = "c.received_at >= %(start)s AND c.received_at <= %(now)s"
    out = {
        "complaints_by_status": [
            f"SELECT c.status, count(*) FROM complaint c WHERE {window}{c} GROUP BY 1"],
        "complaints_by_severity": [
            f"SELECT c.severity, count(*) FROM complaint c WHERE {window}{c} GROUP BY 1"],
        "outlets_by_status": [
            "SELECT o.status, count(*) FROM outlet o"
            + (" WHERE o.region_id = ANY(%(regions)s)" if regions is not None else "") + " GROUP BY 1"],
        "sla": [
            f"SELECT (SELECT count(*) FROM complaint c WHERE {window}{c}),"
            f" (SELECT count(*) FROM complaint c WHERE {window}{c}"
            "   AND (c.response_breached OR c.resolution_breached)),"
            " (SELECT avg(extract(epoch FROM c.first_response_at - c.received_at)) FROM complaint c"
            f"   WHERE c.first_response_at >= %(start)s AND c.first_response_at <= %(now)s{c}),"
            " (SELECT avg(extract(epoch FROM c.resolved_at - c.received_at)) FROM complaint c"
            f"   WHERE c.resolved_at >= %(start)s AND c.resolved_at <= %(now)s{c})",
            "SELECT min(response_minutes), max(response_minutes) FROM sla_policy"],
        "targets": [
            "SELECT count(*), count(*) FILTER (WHERE c.resolved_at <= %(now)s AND NOT c.resolution_breached),"
            " count(*) FILTER (WHERE c.resolved_at >= %(start)s AND c.resolved_at <= %(now)s"
            "   AND c.customer_satisfied IS NOT NULL),"
            " count(*) FILTER (WHERE c.resolved_at >= %(start)s AND c.resolved_at <= %(now)s"
            "   AND c.customer_satisfied)"
            " FROM complaint c WHERE ((c.resolution_due_at >= %(start)s AND c.resolution_due_at <= %(now)s)"
            f"   OR (c.resolved_at >= %(start)s AND c.resolved_at <= %(now)s)){c}",
            "SELECT avg(so.satisfaction), count(so.satisfaction) FROM service_order so"
            f" WHERE so.completed_at >= %(start)s AND so.completed_at <= %(now)s{so}"],
        "attention": [
            "SELECT count(*) FROM qualification_audit c WHERE c.is_open" + c,
            "SELECT count(*) FILTER (WHERE o.next_audit_due_on < %(today)s), count(*) FILTER"
            " (WHERE o.next_audit_due_on >= %(today)s) FROM outlet o WHERE o.status IN ('active', 'probation')"
            " AND o.next_audit_due_on <= %(audit_horizon)s"
            + (" AND o.region_id = ANY(%(regions)s)" if regions is not None else ""),
            "SELECT count(*) FROM certification ce JOIN engineer e ON e.id = ce.engineer_id"
            " WHERE NOT ce.revoked AND e.status <> 'left' AND ce.expires_on >= %(today)s"
            " AND ce.expires_on <= %(cert_horizon)s" + _scope("e", regions),
            "SELECT count(DISTINCT s.outlet_id) FROM stock s JOIN outlet o ON o.id = s.outlet_id"
            " WHERE o.status IN ('active', 'probation') AND s.quantity < s.safety_level"
            + (" AND o.region_id = ANY(%(regions)s)" if regions is not None else "")],
        "trend": [
            "SELECT date_trunc('week', c.received_at + interval '8 hours'), count(*) FROM complaint c"
            f" WHERE c.received_at >= %(week0)s AND c.received_at < %(now)s{c} GROUP BY 1",
            "SELECT date_trunc('week', so.completed_at + interval '8 hours'), count(*) FROM service_order so"
            f" WHERE so.completed_at >= %(week0)s AND so.completed_at < %(now)s{so} GROUP BY 1"],
    }
    breached = "(c.response_breached OR c.resolution_breached)"
    counted = f"(c.status NOT IN {CLOSED} OR ({window}))"
    if single_region:
        out["regions"] = [
            f"SELECT o.id, o.code, o.name, count(*) FILTER (WHERE c.status NOT IN {CLOSED}) AS open_now,"
            f" count(*) FILTER (WHERE {window}) AS received, count(*) FILTER (WHERE {window} AND {breached}),"
            " count(*) OVER ()"
            f" FROM outlet o LEFT JOIN complaint c ON c.outlet_id = o.id AND {counted}"
            " WHERE o.region_id = ANY(%(regions)s) GROUP BY o.id"
            " HAVING o.status IN ('active', 'probation') OR count(*) FILTER"
            f" (WHERE c.status NOT IN {CLOSED}) > 0 ORDER BY open_now DESC, received DESC, o.code LIMIT 20",
            "SELECT name FROM region WHERE id = ANY(%(regions)s)"]
    else:
        out["regions"] = [
            "SELECT r.id, r.code, r.name, count(o.id) FROM region r LEFT JOIN outlet o ON o.region_id = r.id"
            " AND o.status IN ('active', 'probation')"
            + (" WHERE r.id = ANY(%(regions)s)" if regions is not None else "")
            + " GROUP BY r.id ORDER BY r.code",
            f"SELECT o.region_id, count(*) FILTER (WHERE c.status NOT IN {CLOSED}),"
            f" count(*) FILTER (WHERE {window}), count(*) FILTER (WHERE {window} AND {breached})"
            f" FROM complaint c JOIN outlet o ON o.id = c.outlet_id WHERE {counted}{c} GROUP BY 1"]
    return out


def best_home(regions):
    """Home panel → hand-written statements (its count and its first ten rows)."""
    c = _scope("c", regions)
    esc_cols = ("e.id, e.level, e.reason, e.remedy, e.compensation_amount, e.requested_at, c.id, c.number,"
                " c.severity, c.resolution_due_at, o.name, r.name")
    esc_from = (" FROM escalation e JOIN complaint c ON c.id = e.complaint_id JOIN outlet o ON o.id = c.outlet_id"
                " JOIN region r ON r.id = o.region_id")
    esc_where = " WHERE e.status = 'pending' AND (e.requested_by_id IS NULL OR e.requested_by_id <> %(uid)s)"
    esc_order = " ORDER BY coalesce(c.resolution_due_at, e.requested_at), e.id LIMIT 10"
    cols = ("c.id, c.number, c.customer_name, c.severity, c.status, c.first_response_at, c.response_due_at,"
            " c.resolution_due_at, c.paused, c.response_breached, c.resolution_breached, o.name")
    due = "CASE WHEN c.first_response_at IS NULL THEN c.response_due_at ELSE c.resolution_due_at END"
    mine = f" WHERE c.owner_id = %(uid)s AND c.status IN {OPEN}"
    breached = ("(c.response_breached OR c.resolution_breached OR (c.first_response_at IS NULL"
                " AND c.response_due_at < %(now)s) OR (NOT c.paused AND c.resolution_due_at < %(now)s))")
    warned = ("((c.first_response_at IS NULL AND c.response_warned) OR"
              " (NOT c.paused AND c.resolution_warned))")
    response = ("(c.response_due_at >= %(today_start)s AND c.response_due_at < %(now)s"
                " AND (c.response_breached OR c.first_response_at IS NULL))")
    resolution = ("(c.resolution_due_at >= %(today_start)s AND c.resolution_due_at < %(now)s"
                  f" AND (c.resolution_breached OR (c.resolved_at IS NULL AND c.status IN {OPEN}"
                  " AND NOT c.paused)))")
    when = f"CASE WHEN {resolution} THEN c.resolution_due_at ELSE c.response_due_at END"
    return {
        "my_complaints": [
            f"SELECT count(*) FROM complaint c{mine}{c}",
            f"SELECT {cols} FROM complaint c JOIN outlet o ON o.id = c.outlet_id{mine}{c}"
            f" ORDER BY {due} IS NULL, {due}, c.id LIMIT 10"],
        "my_warnings": [
            f"SELECT count(*) FROM complaint c{mine} AND ({breached} OR {warned}){c}",
            f"SELECT {cols} FROM complaint c JOIN outlet o ON o.id = c.outlet_id{mine} AND ({breached} OR {warned}){c}"
            f" ORDER BY CASE WHEN {breached} THEN 0 ELSE 1 END, {due} IS NULL, {due}, c.id LIMIT 10"],
        "escalations_waiting": [
            f"SELECT count(*){esc_from}{esc_where} AND e.level = 1 AND o.region_id = ANY(%(regions)s)",
            f"SELECT {esc_cols}{esc_from}{esc_where} AND e.level = 1 AND o.region_id = ANY(%(regions)s){esc_order}"],
        "breaches_today": [
            f"SELECT count(*) FROM complaint c WHERE ({response} OR {resolution}){c}",
            f"SELECT {cols}, {when}, u.first_name, u.last_name, u.username FROM complaint c"
            " JOIN outlet o ON o.id = c.outlet_id LEFT JOIN ab_user u ON u.id = c.owner_id"
            f" WHERE ({response} OR {resolution}){c} ORDER BY {when} DESC, c.id LIMIT 10"],
        "audits_to_approve": [
            "SELECT count(*) FROM qualification_audit a WHERE a.status = 'submitted'"
            " AND (a.auditor_id IS NULL OR a.auditor_id <> %(uid)s)",
            "SELECT a.id, a.number, a.kind, a.outcome, a.submitted_at, o.code, o.name, u.first_name, u.last_name,"
            " u.username FROM qualification_audit a JOIN outlet o ON o.id = a.outlet_id"
            " LEFT JOIN ab_user u ON u.id = a.auditor_id WHERE a.status = 'submitted'"
            " AND (a.auditor_id IS NULL OR a.auditor_id <> %(uid)s) ORDER BY a.submitted_at, a.id LIMIT 10"],
        "level2_escalations": [
            f"SELECT count(*){esc_from}{esc_where} AND e.level = 2",
            f"SELECT {esc_cols}{esc_from}{esc_where} AND e.level = 2{esc_order}"],
        "flagged_outlets": [
            "SELECT count(*) FROM outlet o WHERE o.flagged_on IS NOT NULL AND o.status IN ('active', 'probation')",
            "SELECT o.id, o.code, o.name, o.status, o.flagged_on, o.flag_reasons, r.name FROM outlet o"
            " JOIN region r ON r.id = o.region_id WHERE o.flagged_on IS NOT NULL"
            " AND o.status IN ('active', 'probation') ORDER BY o.flagged_on, o.code LIMIT 10"],
    }


# --- the run -------------------------------------------------------------------------------------

def _params(app, user, regions):
    from app.core import clock, settings
    from app.reports import dashboard

    with app.app_context():
        now = clock.now()
        today = clock.today()
        return {
            "now": now, "start": dashboard.window_start(DAYS), "today": today, "uid": user.id,
            "regions": None if regions is None else sorted(regions),
            "week0": clock.to_utc(datetime.combine(dashboard.week_starts(DAYS)[0], time())),
            "today_start": clock.to_utc(datetime.combine(today, time())),
            "audit_horizon": today + timedelta(days=int(settings.get("qualification.annual_open_days_before"))),
            "cert_horizon": today + timedelta(days=int(settings.get("certification.expiring_days"))),
        }


def _user(app, username):
    from flask_appbuilder.security.sqla.models import User

    from app.core import scope
    from app.extensions import db

    with app.app_context():
        user = db.session.query(User).filter_by(username=username).one()
        regions = None if scope.is_unrestricted(user) else scope.user_region_ids(user)
        db.session.expunge(user)
        return user, regions


def _captured(app, user, fn):
    """The statements ``fn()`` runs when computed for ``user`` in a request (second run: warm)."""
    from app.core import scope
    from app.extensions import db

    with app.test_request_context("/"):
        user = db.session.merge(user, load=True)
        with scope.acting_as(user):
            fn(user)
            with _Capture(db.engine) as capture:
                fn(user)
        db.session.rollback()
    return capture.statements


def _ratio_row(ctx, what, product_statements, best_sql, params, n, note=""):
    product = _replay_ms(ctx, product_statements, n)
    best = sum(sql_ms(ctx.dsn, sql, params, n=n, warmup=1) for sql in best_sql) if best_sql else None
    ok = None if best is None else product <= RATIO_TARGET * max(best, 0.05)
    return Row(GOAL, what, round(product, 2), None if best is None else round(best, 2),
               statements=len(product_statements), target=f"<= {RATIO_TARGET:g}x best SQL", ok=ok, note=note)


def _page_row(ctx, app, role, n):
    client = ctx.client(role, app=app)
    urls = ["/"] + [f"/api/v1/dashboard/{name}?days={DAYS}" for name in PANELS]

    def load():
        for url in urls:
            resp = client.get(url)
            if resp.status_code != 200:
                raise RuntimeError(f"{url} answered {resp.status_code} for {role}")

    from app.extensions import db

    load()
    with app.app_context():
        engine = db.engine
    with StatementCounter(engine) as counter:
        load()
    ms = median_ms(load, n=n, warmup=1)
    return Row(GOAL, f"dashboard page + 8 panel requests ({role})", round(ms, 1), statements=counter.count,
               target=f"<= {PAGE_TARGET_MS:g} ms", ok=ms <= PAGE_TARGET_MS)


def _index_note(ctx):
    """Says so when the filled database predates the dashboard's indexes (migration 0013)."""
    import psycopg

    with psycopg.connect(ctx.dsn) as conn:
        found = conn.execute("SELECT 1 FROM pg_indexes WHERE indexname = 'ix_complaint_open_outlet'").fetchone()
    return "" if found else "database without the 0013 indexes: refill it"


def run(ctx):
    from app.reports import dashboard, home

    app = ctx.app()
    n_page, n_sql = _n(ctx, 5, 10), _n(ctx, 5, 10)
    note = _index_note(ctx)
    rows = []
    for role in ("hq", "manager"):
        rows.append(dict(_page_row(ctx, app, role, n_page), note=note))
        user, regions = _user(app, ctx.users[role])
        params = _params(app, user, regions)
        single = regions is not None and len(regions) == 1
        best = best_dashboard(regions, single)
        for name in PANELS:
            statements = _captured(app, user, lambda u, name=name: dashboard.PANELS[name](DAYS))
            rows.append(_ratio_row(ctx, f"panel {name} ({role})", statements, best[name], params, n_sql))
    home_best = None
    for role, keys in (("hq", ("audits_to_approve", "level2_escalations", "flagged_outlets")),
                       ("manager", ("escalations_waiting", "breaches_today")),
                       ("agent", ("my_complaints", "my_warnings"))):
        user, regions = _user(app, ctx.users[role])
        params = _params(app, user, regions)
        home_best = best_home(regions)
        for key in keys:
            statements = _captured(app, user, lambda u, key=key: home.panel(key, u))
            rows.append(_ratio_row(ctx, f"home {key} ({role})", statements, home_best[key], params, n_sql))
    return rows


if __name__ == "__main__":
    main(run, description=__doc__)
