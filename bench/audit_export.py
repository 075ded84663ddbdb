"""The audit trail's exports at scale: rows per second and peak memory, at 10,000 and 100,000 events.

A fresh database gets its events appended in bulk through the trail's writer (``chain.append``,
the hash chain intact); then each export runs in a child process of its own, for an auditor:

* ``csv`` — the streamed CSV body of ``/auditeventview/export.csv`` (``AuditExport`` rows through
  ``core.exports.csv_stream``), every chunk consumed;
* ``xlsx`` — the background export job (``reports.exports.export_list``) writing the workbook.

Both read the events in keyset batches as plain rows, so peak RSS should not grow with the trail:
compare the two sizes. Each event has two changed fields, so an export has two lines per event.

Usage (from the repository root)::

    .venv/bin/python bench/audit_export.py                          # a temporary SQLite file
    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres \\
        .venv/bin/python bench/audit_export.py                      # a new PostgreSQL database
    .venv/bin/python bench/audit_export.py --events 20000 --small 2000

The last line printed is a JSON summary for scripts.
"""
import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import uuid

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import scratch_db  # noqa: E402
AUDITOR = "bench_auditor"
PASSWORD = "Bench-Auditor-Passw0rd-2026"


def _app(url, folder):
    from app import create_app

    return create_app("development", overrides={
        "SQLALCHEMY_DATABASE_URI": url, "RATELIMIT_STORAGE_URI": "memory://",
        "UPLOAD_FOLDER": os.path.join(folder, "uploads"), "EMBEDDED_REDIS_FILE": os.path.join(folder, "redis.rdb")})


def _append(count, start):
    from app.audit_trail import chain
    from app.extensions import db

    batch = 5000
    for offset in range(0, count, batch):
        rows = [{"actor_kind": "user", "actor_id": None, "actor_name": "bench", "request_id": uuid.uuid4().hex,
                 "client_addr": "10.0.0.1", "entity": "outlet", "record_id": str(start + offset + i),
                 "action": "update",
                 "changes": json.dumps({"name": [f"网点{start + offset + i}", f"=新网点{start + offset + i}"],
                                        "status": ["active", "probation"]}, ensure_ascii=False)}
                for i in range(min(batch, count - offset))]
        chain.append(db.session.connection(), rows)
        db.session.commit()


# --- the child: one export ------------------------------------------------------------------------

def _rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KB on Linux


class _Sampler:
    """The process's RSS sampled every 20 ms while an export runs: its peak during the export
    (``ru_maxrss`` alone would report the app's start-up, which costs more than the export)."""

    def __init__(self):
        import threading

        import psutil

        self._process, self.peak, self._stop = psutil.Process(), 0, threading.Event()
        self.start_rss = self._process.memory_info().rss
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, self._process.memory_info().rss)
            self._stop.wait(0.02)

    def stop(self):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._process.memory_info().rss)
        return self.start_rss / 1024 / 1024, self.peak / 1024 / 1024


def child(kind, url, folder):
    app = _app(url, folder)
    with app.app_context():
        from app.audit_trail import views
        from app.core import exports, scope
        from app.extensions import db
        from app.reports import exports as job_exports
        from app.reports.models import UserJob

        user = app.appbuilder.sm.find_user(username=AUDITOR)
        view = next(v for v in app.appbuilder.baseviews if type(v).__name__ == "AuditEventView")
        db.session.query(UserJob).count()  # connected before measuring
        sampler = _Sampler()
        started = time.perf_counter()
        if kind == "csv":
            with app.test_request_context("/auditeventview/export.csv"), scope.acting_as(user):
                export = views.AuditExport(view, {})
                lines = size = 0
                for chunk in exports.csv_stream(export.header(), export.rows(), views.EXPORT_BATCH):
                    size += len(chunk.encode("utf-8"))
                    lines += chunk.count("\n")
                lines -= 1  # the header
        else:
            job = UserJob(kind="export", entity="audit_event", label="bench", user_id=user.id, status="queued",
                          progress=0, total=0,
                          params={"view": "AuditEventView", "format": "xlsx", "args": {}, "locale": "zh"})
            db.session.add(job)
            db.session.commit()
            lines = job_exports.export_list(job.id)
            job = db.session.get(UserJob, job.id)
            size = os.path.getsize(job_exports.output_path(job.output_file))
        elapsed = time.perf_counter() - started
        before, peak = sampler.stop()
    print(json.dumps({"lines": lines, "bytes": size, "seconds": round(elapsed, 2),
                      "lines_per_s": round(lines / elapsed), "rss_before_mb": round(before, 1),
                      "peak_rss_mb": round(peak, 1), "grew_mb": round(peak - before, 1),
                      "process_max_rss_mb": round(_rss_mb(), 1)}))


def _run_child(kind, url, folder):
    result = subprocess.run([sys.executable, os.path.abspath(__file__), "--child", kind, url, folder],
                            capture_output=True, text=True, cwd=ROOT)
    lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
    if result.returncode != 0 or not lines:
        raise SystemExit(f"{kind}: the child failed\n{result.stderr[-3000:]}")
    return json.loads(lines[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--small", type=int, default=10_000, help="the first, smaller run")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(*args.child)
    url, created = scratch_db.create("audit-export-bench")
    folder = tempfile.mkdtemp(prefix="audit-export-bench-")
    summary = {"runs": []}
    try:
        app = _app(url, folder)
        with app.app_context():
            from flask_migrate import upgrade
            from sqlalchemy import func

            from app.audit_trail.models import AuditEvent
            from app.extensions import db
            from seeds import reference

            upgrade()
            reference.load(log=lambda *a: None)
            sm = app.appbuilder.sm
            sm.add_user(AUDITOR, "Bench", "Auditor", "bench-auditor@example.com", [sm.find_role("Auditor")],
                        password=PASSWORD)
            summary["database"] = db.engine.dialect.name
            have = 0
            for size in (args.small, args.events):
                started = time.perf_counter()
                _append(size - have, have)
                have = size
                total = db.session.query(func.count(AuditEvent.id)).scalar()
                db.session.remove()
                print(f"{total} events in the trail (appended in {time.perf_counter() - started:.1f}s)")
                for kind in ("csv", "xlsx"):
                    result = _run_child(kind, url, folder)
                    result.update(kind=kind, events=total)
                    summary["runs"].append(result)
                    print(f"  {kind:4s}: {result['lines']} lines in {result['seconds']:.1f}s "
                          f"({result['lines_per_s']} lines/s), RSS {result['rss_before_mb']:.0f} MB before, "
                          f"peak {result['peak_rss_mb']:.0f} MB during the export (+{result['grew_mb']:.0f} MB), "
                          f"{result['bytes'] / 1024 / 1024:.1f} MB written")
            db.session.remove()
            db.engine.dispose()
        print(json.dumps(summary))
    finally:
        scratch_db.drop(created)


if __name__ == "__main__":
    main()
