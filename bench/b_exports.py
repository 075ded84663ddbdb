"""The exports at the filled database's size (goal "4 exports").

For the complaint list and the service-order list, all rows, as the HQ admin (who sees every region
and full phone numbers):

* **CSV** through the real route (``GET /<view>/export.csv``, the streamed response read chunk by
  chunk through the in-process test client signed in through the real sign-in page): rows/s, the
  milliseconds until the first byte (BOM and header) arrives, and the process's peak RSS;
* **XLSX** through the real job function (``reports.exports.export_list`` of a ``user_job`` row made
  as the list's "Export Excel" button makes it, run in-process — no worker — so its memory is
  measurable): rows/s and peak RSS;
* the best SQL: ``COPY (SELECT the same columns, related records' labels joined, in the list's
  order) TO STDOUT (FORMAT csv)`` over psycopg, rows/s.

Each export runs in a child process of its own (``--child``) on a scratch clone of the filled
database (signing in and the job write), twice at 1 % (the second run is measured: the first
warms the process up), once at full size: wall time, and the process's CPU time in the note
(which a busy machine inflates less); peak RSS is that
process's ``ru_maxrss``, the app loaded and signed in included (its size before the export is in
the note). Targets: CSV ≥ 50,000 rows/s
and ≥ 40 % of COPY, the first byte within 200 ms; XLSX ≥ 15,000 rows/s; both ≤ 200 MB.

Run alone: ``.venv/bin/python -m bench.b_exports --scale 0.01`` (or ``--scale 1.0``).
"""
import json
import os
import subprocess
import sys
import time

from bench.common import Row, main, plain_dsn

GOAL = "4 exports"
RUNS = {0.01: 2}
"""Exports per child process by scale (default 1); the last is measured (the first warms the
process up, which only matters at small scales)."""
CSV_RATE, COPY_SHARE, XLSX_RATE, FIRST_BYTE_MS, PEAK_MB = 50000, 0.40, 15000, 200.0, 200.0

LISTS = {
    "complaints": {
        "view": "ComplaintView", "path": "/complaintview/export.csv", "table": "complaint",
        "copy": """
            SELECT c.number, c.customer_name, c.customer_phone, c.channel, o.code || ' ' || o.name,
                   so.number, e.employee_no || ' ' || e.name, c.severity, c.description,
                   u.first_name || ' ' || u.last_name, c.status, c.received_at, c.first_response_at,
                   c.response_due_at, c.resolution_due_at, c.verification_due_at, c.response_breached,
                   c.resolution_breached, c.paused, c.resolved_at, c.resolution, c.closed_at,
                   c.customer_satisfied
            FROM complaint c JOIN outlet o ON o.id = c.outlet_id
            LEFT JOIN service_order so ON so.id = c.service_order_id
            LEFT JOIN engineer e ON e.id = c.engineer_id
            LEFT JOIN ab_user u ON u.id = c.owner_id
            ORDER BY c.received_at DESC NULLS LAST, c.id"""},
    "service orders": {
        "view": "ServiceOrderView", "path": "/serviceorderview/export.csv", "table": "service_order",
        "copy": """
            SELECT so.number, so.customer_name, so.customer_phone, so.customer_address, pc.name,
                   o.code || ' ' || o.name, e.employee_no || ' ' || e.name, so.kind, so.status,
                   so.created_at, so.dispatched_at, so.appointment_at, so.arrived_at, so.completed_at,
                   so.first_time_fix, so.satisfaction, so.updated_at
            FROM service_order so JOIN outlet o ON o.id = so.outlet_id
            LEFT JOIN product_category pc ON pc.id = so.product_category_id
            LEFT JOIN engineer e ON e.id = so.engineer_id
            ORDER BY so.created_at DESC NULLS LAST, so.id"""},
}


# --- the best SQL --------------------------------------------------------------------------------

def copy_rate(dsn, sql):
    """``(rows, seconds)`` of ``COPY (sql) TO STDOUT (FORMAT csv)``, every byte read."""
    import psycopg

    with psycopg.connect(plain_dsn(dsn), autocommit=True) as conn, conn.cursor() as cur:
        started = time.perf_counter()
        rows = 0
        with cur.copy(f"COPY ({sql}) TO STDOUT (FORMAT csv)") as copy:
            for data in copy:
                rows += bytes(data).count(b"\n")
        return rows, time.perf_counter() - started


# --- one export in a child process ---------------------------------------------------------------

def _child(spec):
    """Run one export (``spec``: kind, list, scale, url) and print its figures as JSON."""
    from bench.common import Context, peak_rss_mb

    info = LISTS[spec["list"]]
    with Context(spec["scale"]) as ctx:
        app = ctx.app(spec["url"])
        client = ctx.client("hq", app)
        with app.app_context():
            from app.extensions import db
            from sqlalchemy import text

            total = db.session.execute(text(f"SELECT count(*) FROM {info['table']}")).scalar()
            db.session.remove()
        before = peak_rss_mb()
        if spec["kind"] == "csv":
            for _ in range(RUNS.get(spec["scale"], 1)):  # the last run is measured
                started, cpu = time.perf_counter(), time.process_time()
                response = client.get(info["path"])
                first, head = None, b""
                lines = size = 0
                for chunk in response.response:
                    if not chunk:
                        continue
                    if first is None:
                        first = time.perf_counter() - started
                    data = chunk.encode() if isinstance(chunk, str) else chunk
                    if len(head) < 300:
                        head += data[:300]
                    lines += data.count(b"\n")
                    size += len(data)
                response.close()
                seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
            result = {"rows": lines - 1, "seconds": seconds, "cpu": cpu, "first_ms": (first or 0) * 1000,
                      "status": response.status_code, "type": response.mimetype, "mb": size / 1e6,
                      "head": head[:300].decode("utf-8", "replace")}
        else:
            from flask_appbuilder.security.sqla.models import User

            from app.reports import exports
            from app.reports.models import UserJob

            for _ in range(RUNS.get(spec["scale"], 1)):
                with app.app_context():
                    user = db.session.query(User).filter_by(username=ctx.users["hq"]).one()
                    job = UserJob(kind="export", entity=info["table"], label=spec["list"], user_id=user.id,
                                  status="queued", progress=0, total=0,
                                  params={"view": info["view"], "format": "xlsx", "args": {}, "locale": "zh"})
                    db.session.add(job)
                    db.session.commit()
                    started, cpu = time.perf_counter(), time.process_time()
                    rows = exports.export_list(job.id)
                    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
                    job = db.session.get(UserJob, job.id)
                    path = os.path.join(app.config["UPLOAD_FOLDER"], job.output_file)
                    result = {"rows": rows, "seconds": seconds, "cpu": cpu, "status": job.status,
                              "mb": os.path.getsize(path) / 1e6}
                    os.remove(path)
                    db.session.remove()
        result.update(total=total, before_mb=before, peak_mb=peak_rss_mb())
    print("RESULT " + json.dumps(result), flush=True)


def _run_child(spec):
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    proc = subprocess.run([sys.executable, "-m", "bench.b_exports", "--child", json.dumps(spec)],
                          cwd=here, capture_output=True, text=True, timeout=3600)
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    raise RuntimeError(f"export child failed ({proc.returncode}): {proc.stderr[-3000:]}")


# --- the benchmark -------------------------------------------------------------------------------

def run(ctx):
    rows = []
    with ctx.scratch() as url:
        for name, info in LISTS.items():
            copy_rows, copy_seconds = copy_rate(url, info["copy"])
            best = copy_rows / copy_seconds
            csv = _run_child({"kind": "csv", "list": name, "scale": ctx.scale, "url": url})
            rate = csv["rows"] / csv["seconds"]
            if csv["status"] != 200 or csv["type"] != "text/csv":
                raise RuntimeError(f"the CSV export answered {csv['status']} {csv['type']}: {csv['head']!r}")
            note = (f"{csv['rows']:,} rows ({csv['total']:,} in the table) in {csv['seconds']:.1f} s "
                    f"({csv['rows'] / csv['cpu']:,.0f} rows per CPU second), {csv['mb']:.0f} MB; "
                    f"COPY {copy_rows:,} rows in {copy_seconds:.1f} s")
            rows.append(Row(GOAL, f"CSV {name} (hq, all rows), rows/s", round(rate), best=round(best),
                            unit="rows/s", target=f">= {CSV_RATE:,} rows/s and >= {COPY_SHARE:.0%} of COPY",
                            ok=rate >= CSV_RATE and rate >= COPY_SHARE * best and csv["rows"] == csv["total"],
                            note=note))
            rows.append(Row(GOAL, f"CSV {name}: first byte", round(csv["first_ms"], 1), unit="ms",
                            target=f"<= {FIRST_BYTE_MS:.0f} ms", ok=csv["first_ms"] <= FIRST_BYTE_MS))
            rows.append(Row(GOAL, f"CSV {name}: peak RSS", round(csv["peak_mb"], 1), unit="MB",
                            target=f"<= {PEAK_MB:.0f} MB", ok=csv["peak_mb"] <= PEAK_MB,
                            note=f"{csv['before_mb']:.0f} MB before the export (app loaded, signed in)"))
            xlsx = _run_child({"kind": "xlsx", "list": name, "scale": ctx.scale, "url": url})
            rate = xlsx["rows"] / xlsx["seconds"]
            rows.append(Row(GOAL, f"XLSX {name} (job, in-process), rows/s", round(rate), best=round(best),
                            unit="rows/s", target=f">= {XLSX_RATE:,} rows/s",
                            ok=rate >= XLSX_RATE and xlsx["status"] == "done" and xlsx["rows"] == xlsx["total"],
                            note=f"{xlsx['rows']:,} rows in {xlsx['seconds']:.1f} s ({xlsx['rows'] / xlsx['cpu']:,.0f} "
                                 f"rows per CPU second), {xlsx['mb']:.0f} MB file"))
            rows.append(Row(GOAL, f"XLSX {name}: peak RSS", round(xlsx["peak_mb"], 1), unit="MB",
                            target=f"<= {PEAK_MB:.0f} MB", ok=xlsx["peak_mb"] <= PEAK_MB,
                            note=f"{xlsx['before_mb']:.0f} MB before the export (app loaded)"))
    return rows


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--child":
        _child(json.loads(sys.argv[2]))
    else:
        main(run, description=__doc__)
