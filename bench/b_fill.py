"""What the other figures were measured on: the filled database at this scale — how long the fill
took (``bench/fill.py``, set-based SQL) and how many rows each big table holds.

    .venv/bin/python -m bench.b_fill --scale 0.01
"""
import sys

from bench.common import Row, main
from bench.fill import counts_for

GOAL = "7 growth"
TABLES = [  # (table in the fill record, what it is called, the count it must have at the scale)
    ("outlet", "outlets", "outlet"),
    ("engineer", "engineers", "engineer"),
    ("certification", "certifications", "certification"),
    ("stock", "stock rows", "stock"),
    ("service_order", "service orders", "service_order"),
    ("complaint", "complaints", "complaint"),
    ("open complaints", "open complaints", "open_complaint"),
    ("complaint_event", "complaint events", None),
    ("escalation", "escalations", None),
    ("audit_event", "audit events", None),
]


def run(ctx):
    info = ctx.info()
    if info is None:
        raise RuntimeError(f"{ctx.database} has no fill record: python -m bench.fill --scale {ctx.scale:g}")
    expected = counts_for(ctx.scale)
    rows = info.get("rows", {})
    out = [Row(GOAL, "fill: whole database, set-based (bench/fill.py)", info["seconds"], unit="s",
               note=f"filled {info.get('filled_at', '')}; slowest steps: " + ", ".join(
                   f"{k} {v:.1f} s" for k, v in sorted(info.get("tables", {}).items(), key=lambda kv: -kv[1])[:3]))]
    size = rows.get("database bytes")
    if size:
        out.append(Row(GOAL, "database size", round(size / 1024 / 1024, 1), unit="MB"))
    for key, label, count_key in TABLES:
        if key not in rows:
            continue
        want = expected.get(count_key) if count_key else None
        out.append(Row(GOAL, f"rows: {label}", rows[key], unit="rows",
                       target=f"= {want:,}" if want is not None else "",
                       ok=(rows[key] == want) if want is not None else None))
    return out


if __name__ == "__main__":
    main(run, sys.argv[1:], description=__doc__.split("\n\n")[0])
