"""The SLA sweep at the filled database's size (goal "3 sweep").

In a clone of the filled database (``ctx.scratch()``), exactly ``DUE`` (1,000) open complaints come
due at once among the 100,000·scale open ones: each was received 11 minutes ago with no first
response, so the sweep warns its owner, marks the response breach, escalates it to level 1 and
emails the region's managers (3 timeline events, 1 escalation, 2 emails, the complaint's update and
the audit trail's events each). Every other open complaint's next check is moved past the run.

* **the sweep**: the product's job function (``app.complaints.jobs.sla_sweep``) run in-process, its
  median milliseconds over ``RUNS`` runs (the same 1,000 complaints made due again before each
  run) and the statements it ran; target ≤ 1 s;
* **the best SQL**: the same change written by hand, set-based, in one transaction (rolled back):
  the ``UPDATE … FROM`` of those rows' flags and next check, the ``INSERT … SELECT`` of their
  timeline events, escalations and emails, and of their audit rows (hashes computed by the database);
* **nothing due**: a sweep finding nothing (the due-time range read through its index): its cost
  must not follow the number of open complaints, compare the two scales.

Run alone: ``.venv/bin/python -m bench.b_sweep --scale 0.01`` (or ``--scale 1.0``).
"""
import time
from datetime import timedelta

from bench.common import Row, StatementCounter, main

GOAL = "3 sweep"
DUE = 1000
RUNS = 3
TARGET_MS = 1000.0


def _make_due(conn, now, ids=None):
    """Make ``DUE`` open complaints come due at ``now`` (the same ones again when ``ids`` is given) and
    move every other pending check past the run; returns their ids."""
    with conn.cursor() as cur:
        if ids is None:
            cur.execute("""SELECT id FROM complaint WHERE status IN ('new', 'responded', 'in_progress')
                            AND NOT paused ORDER BY id LIMIT %s""", (DUE,))
            ids = [r[0] for r in cur.fetchall()]
            if len(ids) < DUE:
                raise RuntimeError(f"only {len(ids)} open complaints")
        received = now - timedelta(minutes=11)
        cur.execute("""UPDATE complaint SET next_check_at = %(later)s
                        WHERE next_check_at <= %(later)s AND id <> ALL(%(ids)s)""",
                    {"later": now + timedelta(days=2), "ids": ids})
        cur.execute("DELETE FROM escalation WHERE complaint_id = ANY(%(ids)s) AND level = 2", {"ids": ids})
        cur.execute("DELETE FROM escalation WHERE complaint_id = ANY(%(ids)s)", {"ids": ids})
        cur.execute("DELETE FROM complaint_pause WHERE complaint_id = ANY(%(ids)s)", {"ids": ids})
        cur.execute("""UPDATE complaint c
                          SET status = 'new', first_response_at = NULL, received_at = %(received)s,
                              response_due_at = %(received)s + make_interval(mins => p.response_minutes),
                              resolution_due_at = %(received)s + make_interval(hours => p.resolution_hours),
                              response_warned = false, response_breached = false,
                              resolution_warned = false, resolution_breached = false,
                              paused = false, paused_at = NULL, next_check_at = %(due)s
                         FROM sla_policy p
                        WHERE p.severity = c.severity AND c.id = ANY(%(ids)s)""",
                    {"received": received, "due": now - timedelta(minutes=1), "ids": ids})
    conn.commit()
    return ids


BEST_SQL = """
WITH due AS (
    SELECT c.id, c.owner_id, c.number, c.received_at, p.response_minutes, p.resolution_hours, o.region_id
      FROM complaint c JOIN sla_policy p ON p.severity = c.severity JOIN outlet o ON o.id = c.outlet_id
     WHERE c.next_check_at IS NOT NULL AND c.next_check_at <= %(now)s
     ORDER BY c.next_check_at LIMIT %(n)s FOR UPDATE OF c SKIP LOCKED
), upd AS (
    UPDATE complaint c
       SET response_warned = true, response_breached = true, updated_at = %(now)s,
           next_check_at = d.received_at + make_interval(hours => d.resolution_hours) * 0.75
      FROM due d WHERE c.id = d.id
    RETURNING c.id
), ev AS (
    INSERT INTO complaint_event (complaint_id, at, kind, actor_name, note)
    SELECT d.id, %(now)s, k.kind, 'system', k.kind || ' ' || d.number
      FROM due d CROSS JOIN (VALUES ('warning'), ('breached'), ('escalated')) k(kind)
    RETURNING id, complaint_id, kind
), esc AS (
    INSERT INTO escalation (complaint_id, level, reason, auto_key, requested_at, status, request_comment,
                            created_at, updated_at)
    SELECT d.id, 1, 'sla_breach', 'sla_breach', %(now)s, 'pending', 'auto', %(now)s, %(now)s FROM due d
    RETURNING id, complaint_id
), mail AS (
    INSERT INTO notification (created_at, recipients, subject, body, topic, complaint_id, attempts)
    SELECT %(now)s, coalesce(u.email, ''), 'SLA ' || d.number, 'body ' || d.number, t.topic, d.id, 0
      FROM due d CROSS JOIN (VALUES ('warning_response'), ('escalation_new')) t(topic)
      LEFT JOIN ab_user u ON u.id = d.owner_id
    RETURNING id
), changes AS (
    SELECT 'complaint' AS entity, id::text AS record_id, 'update' AS action,
           '{"response_breached":[false,true],"response_warned":[false,true]}' AS changes FROM upd
    UNION ALL SELECT 'complaint_event', id::text, 'insert',
           json_build_object('complaint_id', json_build_array(NULL, complaint_id), 'kind',
                             json_build_array(NULL, kind))::text FROM ev
    UNION ALL SELECT 'escalation', id::text, 'insert',
           json_build_object('complaint_id', json_build_array(NULL, complaint_id))::text FROM esc
), numbered AS (
    SELECT h.last_id + row_number() OVER (ORDER BY entity, record_id) AS id, ch.*
      FROM changes ch CROSS JOIN audit_chain h WHERE h.id = 1
)
INSERT INTO audit_event (id, at, actor_kind, actor_id, actor_name, request_id, client_addr, entity, record_id,
                         action, changes, prev_hash, hash)
SELECT id, %(now)s, 'job', NULL, 'job:sla_sweep', '', '', entity, record_id, action, changes,
       encode(sha256(convert_to((id - 1)::text, 'UTF8')), 'hex'),
       encode(sha256(convert_to(id::text || changes, 'UTF8')), 'hex')
  FROM numbered
"""


def _best_ms(dsn, now):
    """The hand-written change, in one transaction, rolled back after each run: median ms."""
    import statistics

    import psycopg

    times = []
    with psycopg.connect(dsn) as conn:
        for _ in range(RUNS):
            started = time.perf_counter()
            with conn.cursor() as cur:
                cur.execute(BEST_SQL, {"now": now, "n": DUE})
                rows = cur.rowcount
            times.append((time.perf_counter() - started) * 1000.0)
            conn.rollback()
    return statistics.median(times), rows


def _explain(dsn, now):
    import psycopg

    with psycopg.connect(dsn) as conn:
        plan = conn.execute("""EXPLAIN SELECT id FROM complaint WHERE next_check_at IS NOT NULL
                                AND next_check_at <= %s ORDER BY next_check_at LIMIT 500""", (now,)).fetchall()
    return " ".join(r[0].strip() for r in plan)


def run(ctx):
    import statistics

    import psycopg

    from app.complaints import jobs
    from app.core import clock
    from app.extensions import db

    rows = []
    with ctx.scratch() as url:
        dsn = url.replace("postgresql+psycopg://", "postgresql://", 1)
        app = ctx.app(url)
        with psycopg.connect(dsn) as conn:
            now = clock.now()
            ids = _make_due(conn, now)
            with conn.cursor() as cur:
                cur.execute("SELECT count(*) FROM complaint WHERE status IN ('new', 'responded', 'in_progress')")
                open_count = cur.fetchone()[0]
            conn.commit()
            conn.autocommit = True
            conn.execute("ANALYZE complaint")
            conn.autocommit = False
            plan = _explain(dsn, now)
            with app.app_context():  # the queue's connection up before the clock starts
                from app.core import queue

                queue.connection(app).ping()
            best, best_rows = _best_ms(dsn, now)

            times, cpus, counted, results = [], [], [], []
            for i in range(RUNS):
                if i:
                    now = clock.now()
                    _make_due(conn, now, ids)
                with app.app_context():
                    with StatementCounter(db.engine) as counter:
                        started, cpu = time.perf_counter(), time.process_time()
                        result = jobs.sla_sweep()
                        times.append((time.perf_counter() - started) * 1000.0)
                        cpus.append((time.process_time() - cpu) * 1000.0)
                    db.session.remove()
                counted.append(counter.count)
                results.append(result)
            with app.app_context():
                with StatementCounter(db.engine) as idle_counter:
                    started = time.perf_counter()
                    idle = jobs.sla_sweep()
                    idle_ms = (time.perf_counter() - started) * 1000.0
                db.session.remove()
                queue.get_queue(queue.NOTIFY).empty()  # no worker here: drop the send jobs queued
        product = statistics.median(times)
        ok = all(r["checked"] == DUE and r["escalated"] == DUE for r in results)
        rows.append(Row(GOAL, f"sweep: {DUE:,} due of {open_count:,} open (warn, breach, escalate, 2 emails each)",
                        round(product, 1), best=round(best, 1), statements=max(counted), target=f"≤ {TARGET_MS:g} ms",
                        ok=ok and product <= TARGET_MS,
                        note=f"runs {[round(t) for t in times]} ms, of which Python CPU "
                             f"{[round(t) for t in cpus]} ms; counts {results[-1]}; best SQL wrote "
                             f"{best_rows} audit rows"))
        rows.append(Row(GOAL, f"sweep: nothing due of {open_count:,} open", round(idle_ms, 2),
                        statements=idle_counter.count, target="same at both scales", ok=idle["checked"] == 0,
                        note=f"due selection plan: {plan[:160]}"))
    return rows


if __name__ == "__main__":
    main(run, description=__doc__)
