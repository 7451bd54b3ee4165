"""How fast does planner sweep answer a 2,000-scenario study, per core, on the
process pool and on Ray, against a serial loop of `planner plan` CLI calls?

    python benchmarks/sweep.py                 # 2,000 scenarios, pool and Ray, CLI sample of 12
    python benchmarks/sweep.py --cli-sample 6 --no-ray

The floor is measured in the same run: a sample of the study's scenarios run
one by one as `planner plan --json` processes (what a shell loop does; each call
starts an interpreter and loads its files), extrapolated to the whole study.
The CLI answers are also checked against the sweep's rows (same $/Mtok).
Figures are wall-clock on whatever else the machine is doing: the load average
is printed with them. Target (issue 15): >= 20x per core over the CLI loop.
"""

from __future__ import annotations

import argparse
import os
import resource
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pyarrow.parquet as pq
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from planner.analysis.sweep import load_study, run_study  # noqa: E402
from planner.analysis.sweep.run import default_workers  # noqa: E402

# 5 workloads x 5 inventories x 2 traffic shapes x 4 TPOT tiers x 5 demands x 2 prices = 2,000
STUDY = {
    "name": "bench-2000",
    "axes": {
        "workloads": ["llama-3.1-8b", "llama-3.1-70b", "mixtral-8x7b", "gpt-oss-120b", "qwen3-235b-a22b"],
        "topologies": [{"name": "hgx-h100", "domains": [1, 2]}, "hgx-h200", "hgx-b200", "mi300x-8"],
        "traffic": [{"isl": 1024, "osl": 256}, {"isl": 4096, "osl": 1024}],
        "slo": [{"tpot_ms": t} for t in (15, 30, 50, 100)],
        "demand_tps": [None, 1000, 4000, 16000, 64000],
        "price_multipliers": [1.0, 0.7],
        "modes": ["agg"],
    },
}


def cli_args(sc) -> list[str]:
    i, q = sc.inputs, sc.query
    flag = "--racks" if i["domain_unit"] in ("rack", "pod") else "--nodes"
    args = ["plan", "--json", "-w", sc.workload_ref, "-t", sc.topology_ref, "--mode", sc.mode,
            "--time-limit", f"{sc.time_limit_s:g}"]
    for name, value in ((flag, q["domains"]), ("--isl", q["isl"]), ("--osl", q["osl"]), ("--ttft-ms", q["ttft_ms"]),
                        ("--tpot-ms", q["tpot_ms"]), ("--price-per-gpu-hour", q["price_per_gpu_hour"]), ("--demand-tps", sc.demand_tps)):
        if value is not None:
            args += [name, repr(value) if isinstance(value, float) else str(value)]
    return args


def cpu_s() -> float:
    """CPU seconds of this process and its finished children (pool workers, CLI calls)."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def serial_cli(scenarios, sample: int) -> tuple[float, float, list[tuple[str, float | None]]]:
    """Mean wall and CPU seconds per `planner plan` call over an even sample; each answer's $/Mtok."""
    import json

    exe = str(Path(sys.executable).parent / "planner")
    step = max(1, len(scenarios) // sample)
    picked = scenarios[::step][:sample]
    answers, start, cpu0 = [], time.perf_counter(), cpu_s()
    for sc in picked:
        res = subprocess.run([exe, *cli_args(sc)], capture_output=True, text=True)
        cost = json.loads(res.stdout)["metrics"]["usd_per_mtok_all_in"] if res.returncode == 0 else None
        answers.append((sc.scenario_id, cost))
    return (time.perf_counter() - start) / len(picked), (cpu_s() - cpu0) / len(picked), answers


def timed_sweep(study, out: Path, **kw) -> tuple[float, float]:
    """Wall seconds, and CPU seconds of this process and the pool workers (Ray's
    workers are not our children: their CPU is not counted)."""
    start, cpu0 = time.perf_counter(), cpu_s()
    summary = run_study(study, out, restart=True, **kw)
    wall = time.perf_counter() - start
    assert summary.ran == len(study.scenarios) == summary.rows_written
    return wall, cpu_s() - cpu0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cli-sample", type=int, default=12, help="planner plan calls timed for the floor")
    ap.add_argument("--workers", type=int, default=default_workers())
    ap.add_argument("--no-ray", action="store_true")
    args = ap.parse_args()
    cores = args.workers
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "study.yaml"
        path.write_text(yaml.safe_dump(STUDY))
        study = load_study(path)
        n = len(study.scenarios)
        print(f"study: {n} scenarios; {cores} workers; load average at start {os.getloadavg()[0]:.1f}")

        cli_s, cli_cpu, answers = serial_cli(list(study.scenarios), args.cli_sample)
        print(f"serial `planner plan` CLI: {cli_s:.3f} s wall, {cli_cpu:.3f} s CPU per call (mean of {len(answers)}), "
              f"{n * cli_s:.0f} s extrapolated to the study, {1 / cli_s:.2f} scenarios/s on one core")
        print(f"  e.g. planner {shlex.join(cli_args(study.scenarios[0]))}")

        results = {}
        results["pool"] = timed_sweep(study, Path(tmp) / "pool.parquet", workers=cores)
        if not args.no_ray:
            results["ray"] = timed_sweep(study, Path(tmp) / "ray.parquet", ray="auto", workers=cores)

        rows = {r["scenario_id"]: r for r in pq.read_table(Path(tmp) / "pool.parquet").to_pylist()}
        agree = sum(rows[sid]["usd_per_mtok_all_in"] == cost for sid, cost in answers)
        statuses = {}
        for r in rows.values():
            statuses[r["status"]] = statuses.get(r["status"], 0) + 1
        print(f"rows: {statuses}; CLI sample agrees with the sweep's $/Mtok on {agree}/{len(answers)}")
        floor = 1 / cli_s
        for name, (wall, cpu) in results.items():
            per_core = n / wall / cores
            print(f"{name:5s}: {wall:6.1f} s wall, {n / wall:6.1f} scenarios/s, {per_core:6.2f} scenarios/s/core, "
                  f"{per_core / floor:5.1f}x per core over the serial CLI loop (start-up included)")
        pool_cpu = results["pool"][1] / n
        print(f"CPU per scenario: pool {pool_cpu:.4f} s (workers + parent) vs CLI {cli_cpu:.3f} s: "
              f"{cli_cpu / pool_cpu:.1f}x less CPU per scenario (independent of other load)")
        if "ray" in results:
            print(f"ray/pool wall ratio: {results['ray'][0] / results['pool'][0]:.2f}")
        print(f"load average at end {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
