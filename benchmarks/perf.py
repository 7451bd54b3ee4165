"""Speed benchmarks (not timed tests): every figure as a ratio to a floor
measured in the same run, for docs/performance.md and commit messages.

    python benchmarks/perf.py                 # every row, ~5 min on a busy 2-core machine
    python benchmarks/perf.py --quick         # one repeat per row, no fleet
    python benchmarks/perf.py --rows plan,compare8 --json out.json

The floor is ``python -c "from ortools.sat.python import cp_model"``: the time
Python needs just to start and load the CP-SAT module. It is measured next to
every run of a row (the machine's load changes during a run) and each ratio
uses the median of all floor runs; CPU seconds (user + system, from wait4) are
printed too, with their own ratio to the floor's CPU, which a loaded machine
moves less than wall time. Each row is a fresh ``planner`` process, start-up
included; the figure is the median wall time of its repeats. The planner
package is byte-compiled first, as an installed one is (``--no-compile``: as
found; see :func:`compile_bytecode`).

Rows (issue 12's table and targets):
  plan          default plan (deepseek-v3, one GB200 NVL72)           <= 1.5x
  racks16       plan --racks 16                                       <= 2x
  nodes64       plan -w llama-3.1-70b -t hgx-h100 --nodes 64          <= 2x
  compare8      compare -w llama-3.1-70b, 8 generations (default mode auto)   <= 4x
  compare_all   compare -w llama-3.1-70b --topologies all (mode auto) <= 6x
  frontier_all  frontier --topologies all
  fleet         fleet of ~100k GPUs x 20 workloads (benchmarks/fleet_scale.py files),
                --time-limit 20: wall and gap (target gap <= 1% within 20 s)
  rss           peak resident memory of the default plan               <= 150 MB
  racks_curve   plan --racks 1..32: wall per size (growth should be sub-linear)
  nodes_curve   plan -w llama-3.1-70b -t hgx-h100 --nodes 1..1024
  costmodel     candidate evaluations per second on one core (>= 1e6/s)
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
import tempfile
import time
from pathlib import Path

# no BLAS threads: the figure must not depend on the machine's core count
for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(var, "1")

GENERATIONS = "hgx-a100,hgx-h100,hgx-h200,hgx-b200,gb200-nvl72,gb300-nvl72,vr200-nvl144,rubin-ultra-nvl576"
FLOOR = [sys.executable, "-c", "from ortools.sat.python import cp_model"]
LLAMA_H100 = ["plan", "-w", "llama-3.1-70b", "-t", "hgx-h100"]
ROWS = {  # name: (planner arguments, target ratio to the floor or None)
    "plan": (["plan"], 1.5),
    "racks16": (["plan", "--racks", "16"], 2.0),
    "nodes64": ([*LLAMA_H100, "--nodes", "64"], 2.0),
    "compare8": (["compare", "-w", "llama-3.1-70b", "--topologies", GENERATIONS], 4.0),  # the default mode: auto
    "compare_all": (["compare", "-w", "llama-3.1-70b", "--topologies", "all"], 6.0),
    "frontier_all": (["frontier", "--topologies", "all"], None),
}
CURVES = {
    "racks_curve": (["plan", "--racks"], (1, 2, 4, 8, 16, 32)),
    "nodes_curve": ([*LLAMA_H100, "--nodes"], (1, 4, 16, 64, 256, 1024)),
}
TARGET_RSS_MB = 150
FLEET_TIME_LIMIT_S = 20.0


TREE: Path | None = None  # --tree: run the planner of another checkout (python -m planner.cli there)


def planner_cmd() -> list[str]:
    exe = shutil.which("planner")
    return [exe] if exe and TREE is None else [sys.executable, "-m", "planner.cli"]


def measure(args: list[str], ok_codes: tuple[int, ...] = (0,)) -> dict:
    """Wall, CPU and peak RSS of one fresh process (os.wait4 gives the child's usage)."""
    t0 = time.perf_counter()
    with tempfile.TemporaryFile() as out:
        proc = subprocess.Popen(args, stdout=out, stderr=subprocess.PIPE, cwd=TREE)
        err = proc.stderr.read() if proc.stderr else b""
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        text = out.read().decode()
    if proc.returncode not in ok_codes:
        raise SystemExit(f"{' '.join(args)} failed ({proc.returncode}): {err.decode().strip()[-300:]}")
    return {"wall_s": wall, "cpu_s": usage.ru_utime + usage.ru_stime, "rss_mb": usage.ru_maxrss / 1024, "stdout": text}


def compile_bytecode() -> Path | None:
    """Byte-compile the measured planner package, as ``pip install`` does for an
    installed one. Without it, a source checkout run with PYTHONDONTWRITEBYTECODE
    (or from a read-only tree) compiles every planner module on every start,
    ~0.05 s that no installed planner pays while the floor's own packages
    (ortools, numpy, pandas) are compiled. --no-compile measures as is."""
    import compileall
    import importlib.util

    if TREE is not None:
        root = TREE / "planner"
    else:
        spec = importlib.util.find_spec("planner")
        root = Path(spec.origin).parent if spec and spec.origin else Path("planner")
    if not compileall.compile_dir(str(root), quiet=1):
        print(f"note: could not byte-compile {root} (read-only?); measuring as found", file=sys.stderr)
        return None
    return root


class Bench:
    def __init__(self, repeats: int):
        self.repeats = repeats
        self.floor: list[float] = []
        self.floor_cpu: list[float] = []
        self.cmd = planner_cmd()

    def sample_floor(self) -> None:
        r = measure(FLOOR)
        self.floor.append(r["wall_s"])
        self.floor_cpu.append(r["cpu_s"])

    @property
    def floor_s(self) -> float:
        return statistics.median(self.floor)

    @property
    def floor_cpu_s(self) -> float:
        return statistics.median(self.floor_cpu)

    def row(self, args: list[str], repeats: int | None = None) -> dict:
        runs = []
        for _ in range(repeats or self.repeats):  # a floor next to every run: the load moves
            self.sample_floor()
            runs.append(measure([*self.cmd, *args]))
        return {
            "command": "planner " + " ".join(args),
            "wall_s": statistics.median(r["wall_s"] for r in runs),
            "cpu_s": statistics.median(r["cpu_s"] for r in runs),
            "rss_mb": max(r["rss_mb"] for r in runs),
            "repeats": len(runs),
        }


def bench_fleet(b: Bench) -> dict:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from fleet_scale import DEMANDS, write_files

    with tempfile.TemporaryDirectory() as tmp:
        inv, dem, total = write_files(Path(tmp), seed=0, scale=2.5)
        b.sample_floor()
        args = ["fleet", "--inventory", str(inv), "--demands", str(dem), "--time-limit", f"{FLEET_TIME_LIMIT_S:g}", "--json"]
        # 3: demand proven short; 4: a plan whose fraction is not proven best (it still prints the plan and its gap)
        r = measure([*b.cmd, *args], ok_codes=(0, 3, 4))
    d = json.loads(r["stdout"])
    solver = d.get("solver", d)
    return {"command": f"planner fleet ({total:,} GPUs, {len(DEMANDS)} workloads, --time-limit {FLEET_TIME_LIMIT_S:g})",
            "wall_s": r["wall_s"], "cpu_s": r["cpu_s"], "rss_mb": r["rss_mb"], "status": d.get("status"),
            "gap": solver.get("gap", d.get("gap")), "fraction_met": d.get("fraction_met")}


def bench_costmodel(seconds: float) -> dict:
    import numpy as np

    from planner.inputs.query import load_workload
    from planner.inputs.topology import build_topology
    from planner.physics.candidates import enumerate_layouts
    from planner.physics.costmodel import evaluate

    w, topo = load_workload("deepseek-v3"), build_topology("gb200-nvl72")
    L = enumerate_layouts(w, topo)
    batch = np.tile(np.geomspace(1, 4096, 256), (len(L), 1))
    evaluate(w, topo, L, batch)  # warm up
    calls, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        evaluate(w, topo, L, batch)
        calls += 1
    dt = (time.perf_counter() - t0) / calls
    return {"layouts": len(L), "candidates": int(batch.size), "ms_per_call": dt * 1e3, "evals_per_s": batch.size / dt}


def fmt_row(name: str, r: dict, floor: float, target: float | None, floor_cpu: float) -> str:
    ratio = r["wall_s"] / floor
    verdict = "" if target is None else f"  target <= {target:g}x: {'met' if ratio <= target else 'MISSED'}"
    return (f"{name:13s} {ratio:5.2f}x  {r['wall_s']:6.2f} s  CPU {r['cpu_s']:6.2f} s ({r['cpu_s'] / floor_cpu:4.2f}x the floor's)  "
            f"RSS {r['rss_mb']:4.0f} MB  {r['command']}{verdict}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="one repeat per row, no fleet, no cost-model loop")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--rows", help="comma-separated subset of: " + ", ".join([*ROWS, "fleet", "rss", *CURVES, "costmodel"]))
    ap.add_argument("--json", type=Path, help="also write the figures to this file")
    ap.add_argument("--tree", type=Path, help="measure the planner of this checkout (e.g. an export of main before a change)")
    ap.add_argument("--no-compile", action="store_true", help="do not byte-compile the planner first (see compile_bytecode)")
    opts = ap.parse_args()
    global TREE
    TREE = opts.tree.resolve() if opts.tree else None
    compiled = None if opts.no_compile else compile_bytecode()
    names = [*ROWS, "fleet", "rss", *CURVES, "costmodel"]
    wanted = opts.rows.split(",") if opts.rows else [n for n in names if not (opts.quick and n in ("fleet", "costmodel"))]
    unknown = [n for n in wanted if n not in names]
    if unknown:
        ap.error(f"unknown rows {unknown}")
    b = Bench(1 if opts.quick else opts.repeats)
    for _ in range(b.repeats):
        b.sample_floor()
    res: dict = {"machine": {"python": platform.python_version(), "cores": os.cpu_count(), "load_1min": os.getloadavg()[0]}}
    for name in wanted:
        if name in ROWS:
            res[name] = b.row(ROWS[name][0])
        elif name == "rss":
            res[name] = b.row(["plan"])
        elif name == "fleet":
            res[name] = bench_fleet(b)
        elif name in CURVES:
            prefix, sizes = CURVES[name]
            res[name] = {str(n): b.row([*prefix, str(n)], repeats=1) for n in sizes}
        elif name == "costmodel":
            res[name] = bench_costmodel(0.5 if opts.quick else 2.0)
    floor = b.floor_s
    res["floor"] = {"command": " ".join(FLOOR[1:]), "wall_s": floor, "cpu_s": b.floor_cpu_s, "runs": len(b.floor)}
    res["bytecode"] = "as found" if compiled is None else f"compiled first ({compiled})"
    print(f"floor: python -c 'from ortools.sat.python import cp_model'  {floor:.3f} s, CPU {b.floor_cpu_s:.3f} s (median of {len(b.floor)}); "
          f"load average {res['machine']['load_1min']:.1f} on {res['machine']['cores']} cores")
    print(f"planner bytecode: {res['bytecode']}")
    for name in wanted:
        r = res[name]
        if name in ROWS:
            print(fmt_row(name, r, floor, ROWS[name][1], b.floor_cpu_s))
        elif name == "rss":
            ok = "met" if r["rss_mb"] <= TARGET_RSS_MB else "MISSED"
            print(f"{'rss':13s} peak RSS of the default plan {r['rss_mb']:.0f} MB  target <= {TARGET_RSS_MB} MB: {ok}")
        elif name == "fleet":
            gap = "n/a" if r["gap"] is None else f"{r['gap']:.2%}"
            ok = "met" if r["gap"] is not None and r["gap"] <= 0.01 and r["wall_s"] <= FLEET_TIME_LIMIT_S else "MISSED"
            print(f"{'fleet':13s} {r['wall_s'] / floor:5.2f}x  {r['wall_s']:6.2f} s  status {r['status']}, gap {gap}, "
                  f"RSS {r['rss_mb']:.0f} MB  {r['command']}  target gap <= 1% within {FLEET_TIME_LIMIT_S:g} s: {ok}")
        elif name in CURVES:
            prefix, sizes = CURVES[name]
            first = r[str(sizes[0])]["wall_s"]
            print(f"{name:13s} planner {' '.join(prefix)} N  (wall as x floor; growth = wall(N) / wall({sizes[0]}))")
            for n in sizes:
                w = r[str(n)]["wall_s"]
                print(f"    N={n:<5d} {w / floor:5.2f}x  {w:6.2f} s  growth {w / first:5.2f} for {n / sizes[0]:g}x size  RSS {r[str(n)]['rss_mb']:.0f} MB")
        elif name == "costmodel":
            print(f"{'costmodel':13s} {r['evals_per_s']:.3g} candidate evaluations/s ({r['candidates']} per call, "
                  f"{r['ms_per_call']:.1f} ms)  target >= 1e6/s: {'met' if r['evals_per_s'] >= 1e6 else 'MISSED'}")
    if opts.json:
        opts.json.write_text(json.dumps(res, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
