"""Performance benchmarks (not timed tests): figures for docs/performance.md.

    python benchmarks/perf.py            # everything, ~30 s
    python benchmarks/perf.py --quick    # fewer repeats
    python benchmarks/perf.py --json out.json

1. Cost-model throughput: (layout, batch) candidates evaluated per second by
   ``costmodel.evaluate`` on one core (target >= 1e6/s).
2. ``planner plan`` end to end for deepseek-v3 on gb200-nvl72, a fresh
   interpreter each time, start-up included (target < 1.5 s).
3. ``planner compare`` across 8 rack generations, if the command exists (target < 5 s).
4. Peak resident memory of each command, and where start-up time goes (-X importtime).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

# one core, no BLAS threads: the figure must not depend on the machine's core count
for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(var, "1")

GENERATIONS = "hgx-a100,hgx-h100,hgx-h200,hgx-b200,gb200-nvl72,gb300-nvl72,vr200-nvl144,rubin-ultra-nvl576"
TARGETS = {"evals_per_s": 1e6, "plan_s": 1.5, "compare_s": 5.0}


def pin_one_core() -> str:
    if hasattr(os, "sched_setaffinity"):
        cpu = min(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {cpu})
        return f"pinned to CPU {cpu}"
    return "not pinned"


def bench_costmodel(seconds: float) -> dict:
    import numpy as np

    from planner.physics.candidates import enumerate_layouts
    from planner.physics.costmodel import evaluate, max_feasible_batch
    from planner.inputs.topology import build_topology
    from planner.inputs.query import load_workload

    w, topo = load_workload("deepseek-v3"), build_topology("gb200-nvl72")
    L = enumerate_layouts(w, topo)
    out = {"layouts": len(L)}
    for label, batch in (
        ("grid_256", np.tile(np.geomspace(1, 4096, 256), (len(L), 1))),  # layouts x 256 batches
        ("one_per_layout", np.full(len(L), 64.0)),  # the shape max_feasible_batch evaluates
    ):
        evaluate(w, topo, L, batch)  # warm up
        calls, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < seconds:
            evaluate(w, topo, L, batch)
            calls += 1
        dt = (time.perf_counter() - t0) / calls
        out[label] = {"candidates": int(batch.size), "ms_per_call": dt * 1e3, "evals_per_s": batch.size / dt}
    t0 = time.perf_counter()
    max_feasible_batch(w, topo, L)
    out["max_feasible_batch_ms"] = (time.perf_counter() - t0) * 1e3
    return out


def planner_cmd() -> list[str]:
    exe = shutil.which("planner")
    return [exe] if exe else [sys.executable, "-m", "planner.cli"]


def run_child(args: list[str]) -> tuple[float, float, int]:
    """(wall s, CPU s, peak RSS MB) of one fresh process."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    err = proc.stderr.read().decode() if proc.stderr else ""
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed ({proc.returncode}): {err.strip()[:300]}")
    return wall, usage.ru_utime + usage.ru_stime, int(usage.ru_maxrss / 1024)


def bench_command(args: list[str], repeats: int) -> dict:
    runs = [run_child(args) for _ in range(repeats)]
    walls = [r[0] for r in runs]
    return {
        "command": " ".join(["planner", *args[len(planner_cmd()):]]),
        "repeats": repeats,
        "wall_s_min": min(walls),
        "wall_s_median": statistics.median(walls),
        "cpu_s_median": statistics.median(r[1] for r in runs),
        "peak_rss_mb": max(r[2] for r in runs),
    }


HEAVY = ("ortools.sat.python.cp_model", "pandas", "networkx", "numpy", "pydantic", "typer", "rich", "yaml")


def import_profile() -> dict[str, float]:
    """Cumulative import time (ms) of the third-party packages a plan loads, and of
    everything a plan imports (``total``), from ``python -X importtime``."""
    code = "import planner.cli.main, planner.api, planner.cli.render; from ortools.sat.python import cp_model"
    res = subprocess.run([sys.executable, "-X", "importtime", "-c", code], capture_output=True, text=True)
    cumulative: dict[str, int] = {}
    total = 0
    for line in res.stderr.splitlines():
        parts = line.split("|")
        if len(parts) != 3 or not parts[1].strip().isdigit():
            continue
        name, us = parts[2].strip(), int(parts[1])
        cumulative[name] = max(cumulative.get(name, 0), us)
        if parts[2].startswith(" ") and not parts[2].startswith("  "):  # a top-level import of the -c code
            total += us
    out = {name: cumulative[name] / 1e3 for name in HEAVY if name in cumulative}
    return {**dict(sorted(out.items(), key=lambda kv: -kv[1])), "total": total / 1e3}


def has_compare() -> bool:
    res = subprocess.run([*planner_cmd(), "compare", "--help"], capture_output=True, text=True)
    return res.returncode == 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer repeats, shorter timing loops")
    ap.add_argument("--json", type=Path, help="also write the figures to this file")
    opts = ap.parse_args()
    repeats, seconds = (3, 0.5) if opts.quick else (7, 2.0)
    cmd = planner_cmd()
    results: dict = {
        "machine": {"python": platform.python_version(), "cpu": platform.processor() or platform.machine(), "cores": os.cpu_count()},
    }
    # fresh processes first, while this one is small (a forked child's peak RSS counts the parent's pages)
    results["plan"] = bench_command([*cmd, "plan", "-w", "deepseek-v3", "-t", "gb200-nvl72"], repeats)
    results["plan_json"] = bench_command([*cmd, "plan", "-w", "deepseek-v3", "-t", "gb200-nvl72", "--json"], repeats)
    results["evaluate"] = bench_command([*cmd, "evaluate", "-w", "deepseek-v3", "-t", "gb200-nvl72", "--tp", "1", "--dp-attn", "8", "--ep", "8", "--pp", "2"], repeats)
    results["startup_help"] = bench_command([*cmd, "--help"], repeats)
    if has_compare():
        results["compare"] = bench_command([*cmd, "compare", "-w", "deepseek-v3", "--topologies", GENERATIONS], max(2, repeats // 2))
    results["imports_ms"] = import_profile()
    results["costmodel"] = {"affinity": pin_one_core(), **bench_costmodel(seconds)}

    cm = results["costmodel"]
    print(f"cost model, one core ({cm['affinity']}), deepseek-v3 x gb200-nvl72, {cm['layouts']} layouts")
    for label in ("grid_256", "one_per_layout"):
        r = cm[label]
        print(f"  {label:15s} {r['candidates']:>8d} candidates  {r['ms_per_call']:8.2f} ms/call  {r['evals_per_s']:.3g} evals/s")
    print(f"  max_feasible_batch over all layouts: {cm['max_feasible_batch_ms']:.1f} ms")
    for key in ("plan", "plan_json", "evaluate", "startup_help", "compare"):
        if key in results:
            r = results[key]
            print(f"{r['command']}\n  wall min {r['wall_s_min']:.2f} s, median {r['wall_s_median']:.2f} s, "
                  f"CPU {r['cpu_s_median']:.2f} s, peak RSS {r['peak_rss_mb']} MB")
    print("start-up imports (cumulative ms): " + ", ".join(f"{k} {v:.0f}" for k, v in results["imports_ms"].items()))
    checks = {
        "evals_per_s": cm["grid_256"]["evals_per_s"] >= TARGETS["evals_per_s"],
        "plan_s": results["plan"]["wall_s_median"] < TARGETS["plan_s"],
    }
    if "compare" in results:
        checks["compare_s"] = results["compare"]["wall_s_median"] < TARGETS["compare_s"]
    print("targets: " + ", ".join(f"{k} {'met' if ok else 'MISSED'} ({TARGETS[k]:g})" for k, ok in checks.items()))
    if opts.json:
        opts.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
