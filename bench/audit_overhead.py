"""What the audit trail costs a write: the same writes timed with the trail's listeners on and
off, in the same process, and the ratio (with / without) printed.

Two workloads on a fresh database:

* ``orm``: N outlet edits through the services (``core.services.save``), one transaction each —
  what a page or API write does;
* ``bulk``: one ``UPDATE`` statement touching N certificates — what the nightly jobs do.

With the listeners off the rows still change but nothing is recorded; the difference is the
trail: the diff, the chain head taken, the hash, the insert (and, for a bulk statement, the
affected rows read before and after). Runs alternate on/off and the best of ``--repeat`` is kept.

Usage (from the repository root)::

    .venv/bin/python bench/audit_overhead.py                       # a temporary SQLite file
    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres \\
        .venv/bin/python bench/audit_overhead.py                   # a new PostgreSQL database
    .venv/bin/python bench/audit_overhead.py --rows 500 --repeat 5

The last line printed is a JSON summary for scripts.
"""
import argparse
import json
import os
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import scratch_db  # noqa: E402


def _listeners(on):
    from sqlalchemy import event
    from sqlalchemy.orm import Session

    from app.audit_trail import capture

    if on:
        capture.install()
    elif event.contains(Session, "after_flush", capture._after_flush):
        event.remove(Session, "after_flush", capture._after_flush)
        event.remove(Session, "do_orm_execute", capture._on_execute)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=300)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    url, created = scratch_db.create("audit-bench")
    tmp = tempfile.mkdtemp(prefix="audit-bench-")
    from app import create_app

    app = create_app("development", overrides={
        "SQLALCHEMY_DATABASE_URI": url, "RATELIMIT_STORAGE_URI": "memory://",
        "UPLOAD_FOLDER": os.path.join(tmp, "uploads"), "EMBEDDED_REDIS_FILE": os.path.join(tmp, "redis.rdb")})
    try:
        with app.app_context():
            from flask_migrate import upgrade
            from sqlalchemy import update

            from app.core import services
            from app.engineers.models import Certification
            from app.extensions import db
            from app.network.models import Outlet
            from seeds import demo

            upgrade()
            demo.load(scale=1, log=lambda *a: None)
            outlets = db.session.query(Outlet).order_by(Outlet.id).limit(args.rows).all()
            cert_ids = [c for (c,) in db.session.query(Certification.id).order_by(Certification.id).limit(args.rows)]

            def orm(tag):
                for o in outlets:
                    o.notes = f"{tag}-{o.id}"
                    services.save(o)

            def bulk(tag):
                db.session.execute(update(Certification).where(Certification.id.in_(cert_ids))
                                   .values(issuer=f"bench-{tag}"))
                db.session.commit()

            best = {}
            for round_no in range(args.repeat):
                for on in (True, False):
                    _listeners(on)
                    for name, work in (("orm", orm), ("bulk", bulk)):
                        started = time.perf_counter()
                        work(f"{round_no}-{on}")
                        elapsed = time.perf_counter() - started
                        key = (name, on)
                        best[key] = min(best.get(key, elapsed), elapsed)
            _listeners(True)
            summary = {"database": db.engine.dialect.name, "rows": len(outlets), "bulk_rows": len(cert_ids)}
            for name in ("orm", "bulk"):
                ratio = best[(name, True)] / best[(name, False)]
                summary[f"{name}_ratio"] = round(ratio, 2)
                print(f"{name:5s}: with the trail {best[(name, True)]:.3f}s, without {best[(name, False)]:.3f}s,"
                      f" ratio {ratio:.2f}")
            db.session.remove()
            db.engine.dispose()
        print(json.dumps(summary))
    finally:
        scratch_db.drop(created)


if __name__ == "__main__":
    main()
