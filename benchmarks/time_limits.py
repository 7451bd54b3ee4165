"""Does --time-limit cover the whole command? Wall time of each command, start-up
included, against its limit (not a timed test: it prints figures).

    python benchmarks/time_limits.py                 # limits 1 and 5 s on every row
    python benchmarks/time_limits.py --limits 1,5,10 --rows plan,fleet
    python benchmarks/time_limits.py --big           # also the 100k-GPU fleet (benchmarks/fleet_scale.py files), 60 s

Each row runs a fresh ``planner`` process with ``--time-limit T --json`` and
prints: its wall time (from before the process starts to after it exits), the
ratio wall/T (target <= 1, i.e. the limit means what it says), the exit code
(0 a plan; 4 no plan within the limit, one line), the plan's status and what
stopped the search (``proof`` and ``work limit`` are reproducible; ``wall-clock
limit`` means the deadline fired on this machine), and the stderr line if any.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PLANNER = [sys.executable, "-m", "planner.cli"]
EXAMPLES = ["--inventory", str(ROOT / "examples" / "inventory.yaml"), "--demands", str(ROOT / "examples" / "demands.yaml")]
ROWS = {
    "plan": ["plan"],
    "racks16": ["plan", "--racks", "16"],
    "nodes64": ["plan", "-w", "llama-3.1-70b", "-t", "hgx-h100", "--nodes", "64"],
    "demand": ["plan", "-w", "llama-3.1-70b", "-t", "hgx-h200", "--nodes", "16", "--demand-tps", "40000"],
    "disagg": ["plan", "--racks", "4", "--mode", "disagg"],
    "compare_all": ["compare", "-w", "llama-3.1-70b", "--topologies", "all"],
    "compare_demand": ["compare", "-w", "llama-3.1-70b", "--demand-tps", "100000"],
    "frontier_all": ["frontier", "--topologies", "all"],
    "fleet": ["fleet", *EXAMPLES],
}

# no BLAS threads: the figure must not depend on the machine's core count
for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(var, "1")


def run(args: list[str], limit_s: float) -> dict:
    t = time.perf_counter()
    p = subprocess.run([*PLANNER, *args, "--time-limit", f"{limit_s:g}", "--json"], cwd=ROOT, capture_output=True, text=True)
    wall = time.perf_counter() - t
    status = stopped = "-"
    try:
        doc = json.loads(p.stdout)
        solver = doc.get("solver") or doc.get("model") or {}
        status, stopped = doc.get("status", "-"), solver.get("stopped_by", "-")
        if doc.get("rows"):  # compare: the rows' statuses
            plans = [r for r in doc["rows"] if r.get("feasible")]
            status = f"{len(plans)}/{len(doc['rows'])} rows"
    except ValueError:
        pass
    err = p.stderr.strip().splitlines()
    return {"wall_s": wall, "exit": p.returncode, "status": status, "stopped_by": stopped, "stderr": err[-1] if err else ""}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--limits", default="1,5", help="comma-separated --time-limit values, s")
    ap.add_argument("--rows", help="comma-separated subset of: " + ", ".join(ROWS))
    ap.add_argument("--big", action="store_true", help="also the 100k-GPU fleet of benchmarks/fleet_scale.py at --time-limit 60")
    ap.add_argument("--json", type=Path, help="also write the figures here")
    opts = ap.parse_args()
    limits = [float(x) for x in opts.limits.split(",")]
    rows = {k: ROWS[k] for k in (opts.rows.split(",") if opts.rows else ROWS)}
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(f"{'row':15s} {'limit':>6s} {'wall':>7s} {'wall/limit':>10s} {'exit':>4s}  {'status':12s} {'stopped by':17s} stderr")
    out, over = [], 0
    folder = tempfile.TemporaryDirectory()
    if opts.big:
        sys.path.insert(0, str(ROOT / "benchmarks"))
        from fleet_scale import write_files

        inv, dem, _ = write_files(Path(folder.name), 0, 2.5)
        rows["fleet_100k"] = ["fleet", "--inventory", str(inv), "--demands", str(dem)]
    for name, args in rows.items():
        for limit_s in ([60.0] if name == "fleet_100k" else limits):
            r = run(args, limit_s)
            over += r["wall_s"] > limit_s
            out.append({"row": name, "limit_s": limit_s, **r})
            print(f"{name:15s} {limit_s:5g}s {r['wall_s']:6.2f}s {r['wall_s'] / limit_s:9.2f}x {r['exit']:4d}  {r['status']:12s} "
                  f"{r['stopped_by']:17s} {r['stderr'][:110]}", flush=True)
    print(f"over the limit: {over} of {len(out)} runs (target 0)")
    if opts.json:
        opts.json.write_text(json.dumps(out, indent=2))
    folder.cleanup()
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main())
