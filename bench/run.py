"""Run every benchmark module at each scale and print one table.

    .venv/bin/python -m bench.run                              # scales 0.01 and 1.0, every module
    .venv/bin/python -m bench.run --scales 0.01 --only lists,sweep
    .venv/bin/python -m bench.run --refill                     # rebuild the filled databases first

For each scale the filled database (``bench_p1`` for 0.01, ``bench_p100`` for 1.0, see
``bench/fill.py``) is built when missing (or with ``--refill``). Then every ``bench/b_<name>.py``
runs in a process of its own (its memory figures are its own, and a module that fails cannot
take the others down): ``run(ctx)`` returns rows; a module that raises (or dies) is reported as a
row with its error and the run goes on.

The table: goal | what | scale | product | best SQL | product÷best | stock FAB | stock÷product |
statements | target | met. It is printed, written to ``bench/results/latest.md`` with the machine
it ran on (cores, memory, PostgreSQL version, date), and the raw rows go to
``bench/results/latest.json``.
"""
import argparse
import glob
import importlib
import json
import os
import platform
import subprocess
import sys
import time
import traceback
from datetime import datetime, timezone

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from bench import common  # noqa: E402

RESULTS = os.path.join(ROOT, "bench", "results")
MODULE_TIMEOUT = int(os.environ.get("BENCH_MODULE_TIMEOUT", "3600"))
HEADER = ["goal", "what", "scale", "product", "best SQL", "product÷best", "stock FAB", "stock÷product",
          "statements", "target", "met"]


def modules(only=None):
    """The benchmark modules' short names (``lists`` for ``bench/b_lists.py``), filtered by ``only``."""
    names = sorted(os.path.basename(p)[2:-3] for p in glob.glob(os.path.join(ROOT, "bench", "b_*.py")))
    if only:
        wanted = {w.strip().removeprefix("b_") for w in only.split(",") if w.strip()}
        unknown = wanted - set(names)
        if unknown:
            raise SystemExit(f"no benchmark module named {', '.join(sorted(unknown))} (have: {', '.join(names)})")
        names = [n for n in names if n in wanted]
    return names


def ensure_filled(scale, refill=False, server=common.SERVER):
    """Build the scale's database when it is missing, unfinished, or ``refill``; otherwise bring it
    to the app's current migrations."""
    from bench import fill

    name = common.database_name(scale)
    if refill or common.fill_info(name, server) is None:
        fill.build(common.dsn_for(name, server), scale, force=True)
    else:
        fill.upgrade(common.dsn_for(name, server))
    return name


# --- one module in its own process ---------------------------------------------------------------


def error_row(module, exc_text):
    last = exc_text.strip().splitlines()[-1] if exc_text.strip() else "failed"
    return common.Row("?", f"{module}: ERROR", None, note=last[:300])


def child(module, scale):
    """Runs in the module's process: prints its rows as one JSON line at the end."""
    rows = []
    try:
        mod = importlib.import_module(f"bench.b_{module}")
        with common.Context(scale) as ctx:
            for row in mod.run(ctx) or []:
                rows.append(dict(row))
    except Exception:
        text = traceback.format_exc()
        sys.stderr.write(text)
        rows.append(error_row(module, text))
    finally:
        try:
            common.stop_embedded()
        except Exception:
            pass
    print("BENCH-ROWS " + json.dumps(rows, ensure_ascii=False, default=str), flush=True)


def run_module(module, scale):
    started = time.perf_counter()
    try:
        proc = subprocess.run([sys.executable, "-m", "bench.run", "--child", module, str(scale)], cwd=ROOT,
                              capture_output=True, text=True, timeout=MODULE_TIMEOUT)
    except subprocess.TimeoutExpired:
        return [common.Row("?", f"{module}: ERROR", None, note=f"no result within {MODULE_TIMEOUT} s")], None
    took = time.perf_counter() - started
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith("BENCH-ROWS "):
            return json.loads(line[len("BENCH-ROWS "):]), took
    return [error_row(module, proc.stderr or f"exit status {proc.returncode}")], took


# --- the table --------------------------------------------------------------------------------


def _number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _fmt(value, unit=""):
    if value is None or value == "":
        return ""
    if _number(value):
        if isinstance(value, float):
            text = f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.3g}" if abs(value) < 10 else f"{value:.1f}"
        else:
            text = f"{value:,}"
        return f"{text} {unit}".strip()
    return str(value)


def ratio(a, b):
    if _number(a) and _number(b) and b:
        return a / b
    return None


def table_lines(rows):
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    for r in rows:
        unit = r.get("unit") or ""
        pb, sp = ratio(r.get("product"), r.get("best")), ratio(r.get("stock"), r.get("product"))
        met = {True: "yes", False: "NO", None: ""}.get(r.get("ok"), str(r.get("ok")))
        what = str(r.get("what", ""))
        if r.get("note"):
            what += f" ({r['note']})"
        cells = [r.get("goal", ""), what, _fmt(r.get("scale")), _fmt(r.get("product"), unit),
                 _fmt(r.get("best"), unit), f"{pb:.2f}" if pb is not None else "",
                 _fmt(r.get("stock"), unit), f"{sp:.2f}" if sp is not None else "",
                 _fmt(r.get("statements")), r.get("target") or "", met]
        lines.append("| " + " | ".join(str(c).replace("|", "\\|").replace("\n", " ") for c in cells) + " |")
    return lines


def machine(server=common.SERVER):
    info = {"cores": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform(),
            "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")}
    try:
        with open("/proc/meminfo") as fh:
            kb = int(next(line for line in fh if line.startswith("MemTotal")).split()[1])
        info["ram_gb"] = round(kb / 1024 / 1024, 1)
    except (OSError, StopIteration, ValueError):
        info["ram_gb"] = None
    try:
        with common.admin_connection(server) as conn:
            info["postgresql"] = conn.execute("SHOW server_version").fetchone()[0]
            info["shared_buffers"] = conn.execute("SHOW shared_buffers").fetchone()[0]
    except Exception as exc:
        info["postgresql"] = f"unreachable: {exc}"
    try:
        with open("/proc/cpuinfo") as fh:
            info["cpu"] = next(line.split(":", 1)[1].strip() for line in fh if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return info


def write_results(rows, info, path=RESULTS):
    os.makedirs(path, exist_ok=True)
    lines = ["# Benchmark results", "",
             f"Machine: {info.get('cores')} cores ({info.get('cpu', 'unknown CPU')}), {info.get('ram_gb')} GB RAM, "
             f"PostgreSQL {info.get('postgresql')} (shared_buffers {info.get('shared_buffers', '?')}), "
             f"Python {info.get('python')}; run {info.get('date')}.", "",
             "Ratios are measured in the same run on the same database: product÷best is the product's time "
             "over the best hand-written SQL's (1.00 = as fast as the best SQL), stock÷product is the stock "
             "Flask-AppBuilder app's over the product's (above 1 = the product is faster).", ""]
    lines += table_lines(rows)
    with open(os.path.join(path, "latest.md"), "w", encoding="utf-8") as fh:
        fh.write("\n".join(lines) + "\n")
    with open(os.path.join(path, "latest.json"), "w", encoding="utf-8") as fh:
        json.dump({"machine": info, "rows": rows}, fh, ensure_ascii=False, indent=1, default=str)


def main(argv=None):
    parser = argparse.ArgumentParser(description="Run the benchmark modules and print one table.")
    parser.add_argument("--scales", type=float, nargs="+", default=list(common.SCALES))
    parser.add_argument("--only", help="comma-separated module names (lists,sweep … for bench/b_lists.py …)")
    parser.add_argument("--refill", action="store_true", help="rebuild the filled databases first")
    parser.add_argument("--child", nargs=2, metavar=("MODULE", "SCALE"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args.child[0], float(args.child[1]))
        return 0
    names = modules(args.only)
    rows = []
    for scale in args.scales:
        try:
            ensure_filled(scale, refill=args.refill)
        except Exception as exc:
            traceback.print_exc()
            rows.append(dict(common.Row("7 growth", f"fill at scale {scale:g}: ERROR", None, note=str(exc)[:300]),
                             scale=scale, module="fill"))
            continue
        for name in names:
            print(f"scale {scale:g}: {name} …", file=sys.stderr, flush=True)
            module_rows, took = run_module(name, scale)
            for row in module_rows:
                rows.append(dict(row, scale=scale, module=name, module_seconds=round(took or 0, 1)))
    info = machine()
    write_results(rows, info)
    print("\n".join(table_lines(rows)))
    print(f"\n(written to {os.path.relpath(os.path.join(RESULTS, 'latest.md'), ROOT)} and latest.json)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
