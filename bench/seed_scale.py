"""How the demo seed scales: time ``seeds.demo.load`` at scale 1 and at scale 10, each on a fresh
database, and print the ratio (scale-10 time / scale-1 time).

The result is a ratio against a baseline measured in the same run, never an absolute time: the
scale-1 run is the baseline. A ratio near 10 means the loader is linear in the number of outlets;
well above 10 means something grows faster than the data (e.g. a per-row query or a lookup that
re-reads the growing tables). Both the whole ``load()`` and its network part alone (the units of 50
outlets, without the fixed cost of reference data, role sync and password hashing) are reported.

Usage (from the repository root)::

    .venv/bin/python bench/seed_scale.py                         # temporary SQLite files
    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres \\
        .venv/bin/python bench/seed_scale.py                     # PostgreSQL
    .venv/bin/python bench/seed_scale.py --scales 1 10 --repeat 5  # best of 5 per scale (default 3)

With a PostgreSQL ``DATABASE_URL`` the URL names the server and a database to connect to for
administration; every measurement gets its own new database next to it (``CREATE DATABASE``
rights are needed), dropped afterwards unless ``--keep``. Each measurement runs in a fresh Python
process: create the app, migrate (not timed), then time ``load(scale)``; the runs alternate
between the two scales and the best time of each is kept, which damps the noise of a busy machine
(the scale-1 network part takes only a few tenths of a second). The last line printed is a JSON
summary for scripts.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _child(url, scale):
    """Runs in the subprocess: migrate ``url``, then time the demo load; prints one JSON line."""
    sys.path.insert(0, ROOT)
    tmp = tempfile.mkdtemp(prefix="seed-bench-")
    from app import create_app

    app = create_app(os.environ.get("APP_ENV", "development"), overrides={
        "SQLALCHEMY_DATABASE_URI": url,
        "RATELIMIT_STORAGE_URI": "memory://",         # no Redis needed to seed
        "UPLOAD_FOLDER": os.path.join(tmp, "uploads"),
        "EMBEDDED_REDIS_FILE": os.path.join(tmp, "redis.rdb"),
    })
    with app.app_context():
        from flask_migrate import upgrade

        upgrade()
        from seeds import demo

        network = {"seconds": 0.0}
        ensure_units = demo.ensure_units

        def timed_units(*args, **kwargs):
            started = time.perf_counter()
            try:
                return ensure_units(*args, **kwargs)
            finally:
                network["seconds"] += time.perf_counter() - started

        demo.ensure_units = timed_units
        started = time.perf_counter()
        summary = demo.load(scale=scale, log=lambda *a, **k: None)
        total = time.perf_counter() - started
        from app.extensions import db
        from app.network.models import Outlet
        from sqlalchemy import func, select

        outlets = db.session.scalar(select(func.count(Outlet.id)))
    print(json.dumps({"scale": scale, "total": total, "network": network["seconds"], "outlets": outlets,
                      "units_added": summary["units_added"]}))


class Databases:
    """Fresh databases: temporary SQLite files, or new PostgreSQL databases next to ``url``."""

    def __init__(self, url, keep=False):
        self.url, self.keep, self.created = url, keep, []
        self.tmp = tempfile.mkdtemp(prefix="seed-bench-")

    @property
    def kind(self):
        return "postgresql" if self.url and self.url.startswith("postgresql") else "sqlite"

    def new(self):
        if self.kind == "sqlite":
            return "sqlite:///" + os.path.join(self.tmp, f"bench-{uuid.uuid4().hex[:8]}.sqlite")
        from sqlalchemy import create_engine, text
        from sqlalchemy.engine import make_url

        server = make_url(self.url.replace("postgresql://", "postgresql+psycopg://", 1))
        name = f"seed_bench_{uuid.uuid4().hex[:8]}"
        engine = create_engine(server, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        engine.dispose()
        self.created.append((server, name))
        return server.set(database=name).render_as_string(hide_password=False)

    def drop_all(self):
        if self.keep:
            for _server, name in self.created:
                print(f"kept database {name}")
            return
        from sqlalchemy import create_engine, text

        for server, name in self.created:
            engine = create_engine(server, isolation_level="AUTOCOMMIT")
            with engine.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            engine.dispose()


def measure(url, scale):
    proc = subprocess.run([sys.executable, os.path.abspath(__file__), "--child", url, str(scale)],
                          cwd=ROOT, capture_output=True, text=True)
    if proc.returncode:
        sys.stderr.write(proc.stderr)
        raise SystemExit(f"seeding scale {scale} failed (exit {proc.returncode})")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scales", nargs=2, type=int, default=[1, 10], metavar=("BASE", "BIG"),
                        help="baseline scale and the scale compared with it (default 1 10)")
    parser.add_argument("--repeat", type=int, default=3,
                        help="measure each scale N times (alternating), keep the best (default 3)")
    parser.add_argument("--keep", action="store_true", help="keep the PostgreSQL databases")
    parser.add_argument("--child", nargs=2, metavar=("URL", "SCALE"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        _child(args.child[0], int(args.child[1]))
        return 0

    databases = Databases(os.environ.get("DATABASE_URL"), keep=args.keep)
    base, big = args.scales
    print(f"seeding benchmark on {databases.kind}: scale {base} vs scale {big}, best of {args.repeat}")
    best = {}
    try:
        for _ in range(max(1, args.repeat)):
            for scale in (base, big):
                result = measure(databases.new(), scale)
                print(f"  scale {scale:>3}: {result['total']:7.2f} s total, {result['network']:7.2f} s network "
                      f"({result['outlets']} outlets)", flush=True)
                kept = best.setdefault(scale, dict(result))
                for key in ("total", "network"):         # the best of the repeats, per measure
                    kept[key] = min(kept[key], result[key])
    finally:
        databases.drop_all()
    ratio = best[big]["total"] / best[base]["total"]
    network_ratio = best[big]["network"] / best[base]["network"]
    print(f"RESULT: scale-{big} time / scale-{base} time = {ratio:.2f} (whole load); "
          f"{network_ratio:.2f} (network part; linear would be {big / base:g})")
    print(json.dumps({"database": databases.kind, "base_scale": base, "scale": big, "ratio": round(ratio, 3),
                      "network_ratio": round(network_ratio, 3), "base": best[base], "big": best[big]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
