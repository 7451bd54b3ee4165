"""Fleet planning at 100,000 GPUs: how long CP-SAT takes, and how close it gets.

    python benchmarks/fleet_scale.py [--time-limit 60] [--workers 2] [--seed 0]
    python benchmarks/fleet_scale.py --groups 200 --demands 50 --cli   # issue 11's case, whole command

``--groups N`` splits the same ~100k GPUs into N groups (sites) of the five
kinds; ``--demands M`` cycles the 20 demands with SLO variations to M, the
same total traffic. ``--cli`` runs ``planner fleet --json`` as a child process
and prints its whole-command wall time, CPU seconds and peak RSS.

Builds an inventory of ~100k GPUs (GB200 and GB300 NVL72 racks, HGX H100, H200
and B200 nodes; ~0.5 % of GPUs failed at random, a few whole domains down) and
20 workloads (the shipped models at several traffic shapes and SLOs), with
demands sized to fill most of the fleet, then runs ``planner.plan.fleet.plan_fleet``
and prints the figures recorded in docs/fleet.md. Not a test: it takes a minute.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

import yaml

GROUPS = [  # (name, topology, domains)
    ("gb200-nvl72", "gb200-nvl72", 700),
    ("gb300-nvl72", "gb300-nvl72", 500),
    ("hgx-h100", "hgx-h100", 800),
    ("hgx-h200", "hgx-h200", 500),
    ("hgx-b200", "hgx-b200", 400),
]

# 20 demands: (name, workload, output tokens/s, overrides)
DEMANDS = [
    ("ds-v3-chat", "deepseek-v3", 9.0e6, {}),
    ("ds-v3-long", "deepseek-v3", 1.5e6, {"isl": 16384, "osl": 1024}),
    ("ds-v3-fast", "deepseek-v3", 1.0e6, {"tpot_ms": 25}),
    ("ds-r1-reason", "deepseek-r1", 6.0e6, {"isl": 1024, "osl": 4096}),
    ("ds-r1-batch", "deepseek-r1", 3.0e6, {"tpot_ms": 100}),
    ("kimi-k2-chat", "kimi-k2", 3.0e6, {}),
    ("kimi-k2-agent", "kimi-k2", 1.0e6, {"isl": 8192, "osl": 1024}),
    ("qwen3-chat", "qwen3-235b-a22b", 4.0e6, {}),
    ("qwen3-fast", "qwen3-235b-a22b", 1.0e6, {"tpot_ms": 20}),
    ("gpt-oss-chat", "gpt-oss-120b", 6.0e6, {}),
    ("gpt-oss-long", "gpt-oss-120b", 1.0e6, {"isl": 32768, "osl": 1024}),
    ("mixtral-chat", "mixtral-8x7b", 3.0e6, {}),
    ("llama405-chat", "llama-3.1-405b", 1.0e6, {}),
    ("llama405-batch", "llama-3.1-405b", 0.8e6, {"tpot_ms": 100}),
    ("llama70-chat", "llama-3.1-70b", 4.0e6, {}),
    ("llama70-rag", "llama-3.1-70b", 1.5e6, {"isl": 8192, "osl": 256}),
    ("llama70-fast", "llama-3.1-70b", 1.0e6, {"tpot_ms": 15}),
    ("llama8-chat", "llama-3.1-8b", 8.0e6, {}),
    ("llama8-batch", "llama-3.1-8b", 6.0e6, {"tpot_ms": 100}),
    ("llama8-long", "llama-3.1-8b", 2.0e6, {"isl": 32768, "osl": 512}),
]


def _split(n_groups: int) -> list[tuple[str, str, int]]:
    """The five kinds' domains over ``n_groups`` groups (at least one each)."""
    if n_groups <= len(GROUPS):
        return GROUPS
    per = [n_groups // len(GROUPS) + (k < n_groups % len(GROUPS)) for k in range(len(GROUPS))]
    out = []
    for (name, topo, count), parts in zip(GROUPS, per):
        out += [(f"{name}-{j:03d}", topo, count // parts + (j < count % parts)) for j in range(parts)]
    return out


def _demands(n: int) -> list[tuple[str, str, float, dict]]:
    if n <= len(DEMANDS):
        return DEMANDS[:n]
    reps = -(-n // len(DEMANDS))
    out = []
    for j in range(reps):
        for name, w, tps, o in DEMANDS:
            extra = {} if j == 0 else {"tpot_ms": o.get("tpot_ms", 50) + 10 * j}  # the same models at looser SLOs
            out.append((f"{name}-{j}", w, tps / reps, {**o, **extra}))
    return out[:n]


def write_files(folder: Path, seed: int, scale: float, n_groups: int = len(GROUPS), n_demands: int = len(DEMANDS)) -> tuple[Path, Path, int]:
    from planner.inputs.topology import build_topology

    rng = random.Random(seed)
    groups, total = [], 0
    for name, topo, count in _split(n_groups):
        size = build_topology(topo, 1).domain_size
        n = count * size
        total += n
        down = sorted(rng.sample(range(n), k=n // 200))  # 0.5 % of GPUs failed
        dead = sorted(rng.sample(range(count), k=max(1, count // 100)))  # 1 % of domains out
        groups.append({"name": name, "topology": topo, "count": count, "unavailable_gpus": down, "unavailable_domains": dead})
    inv = folder / "inventory.yaml"
    inv.write_text(yaml.safe_dump({"name": "bench-100k", "groups": groups}, sort_keys=False))
    dem = folder / "demands.yaml"
    rows = [{"name": n, "workload": w, "output_tokens_per_s": tps * scale, **o} for n, w, tps, o in _demands(n_demands)]
    dem.write_text(yaml.safe_dump({"name": "bench-20", "demands": rows}, sort_keys=False))
    return inv, dem, total


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--time-limit", type=float, default=60.0)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--scale", type=float, default=2.5, help="multiply every demand (>1 to overload the fleet)")
    ap.add_argument("--groups", type=int, default=len(GROUPS), help="split the GPUs into this many groups")
    ap.add_argument("--demands", type=int, default=len(DEMANDS), help="this many demands (same total traffic)")
    ap.add_argument("--cli", action="store_true", help="run the planner fleet command; print wall, CPU, peak RSS")
    args = ap.parse_args(argv)
    if args.cli:
        return _cli(args)
    from planner.plan.fleet import check, plan_fleet

    with tempfile.TemporaryDirectory() as tmp:
        inv, dem, total = write_files(Path(tmp), args.seed, args.scale, args.groups, args.demands)
        t0 = time.perf_counter()
        f = plan_fleet(inv, dem, time_limit_s=args.time_limit, workers=args.workers)
        wall = time.perf_counter() - t0
    used = sum(g["used"] for g in f.groups)
    print(f"fleet: {total:,} GPUs in {sum(g['domains'] for g in f.groups):,} domains of {len(f.groups)} groups, {len(f.workloads)} workloads")
    print(f"model: {f.model['options']} options, {f.model['classes']} domain classes, {f.model['layouts_rated']:,} layouts rated")
    money = lambda x: "n/a" if x is None or x != x else f"${x:,.0f}/h"  # noqa: E731
    gap = "n/a" if f.gap is None or f.gap != f.gap else f"{f.gap:.4%}"
    print(f"status: {f.status}   gap: {gap}   fraction of demand met: {f.fraction_met:.4f} (bound {f.fraction_bound:.4f})")
    print(f"cost: {money(f.usd_per_hour)} (bound {money(f.bound_usd_per_hour)})   GPUs used: {used:,}")
    print(f"solver wall time: {f.wall_s:.1f} s (limit {args.time_limit:g} s, {args.workers} workers)   end to end: {wall:.1f} s")
    print(f"binding: {'; '.join(f.binding) or 'none'}")
    problems = check(f)
    print(f"placement check: {'ok' if not problems else problems[:3]}")
    return 0 if not problems else 1


def _cli(args) -> int:
    import json
    import resource
    import subprocess

    with tempfile.TemporaryDirectory() as tmp:
        inv, dem, total = write_files(Path(tmp), args.seed, args.scale, args.groups, args.demands)
        cmd = [sys.executable, "-m", "planner.cli.entry", "fleet", "--inventory", str(inv), "--demands", str(dem),
               "--time-limit", f"{args.time_limit:g}", "--workers", str(args.workers), "--json"]
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        r = subprocess.run(cmd, capture_output=True, text=True)
        wall = time.perf_counter() - t0
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    print(f"fleet: {total:,} GPUs in {args.groups} groups, {args.demands} demands, --time-limit {args.time_limit:g}")
    print(f"exit {r.returncode}   wall {wall:.1f} s   CPU {cpu:.1f} s   peak RSS {after.ru_maxrss / 1024:.0f} MB")
    try:
        d = json.loads(r.stdout)
    except json.JSONDecodeError:
        print(f"no plan: {r.stderr.strip()[-300:]}")
        return 1
    gap = "n/a" if d.get("gap") is None else f"{d['gap']:.4%}"
    print(f"status: {d['status']}   gap: {gap}   fraction met: {d['fraction_met']} (bound {d['fraction_bound']})   "
          f"model: {d['model']['options']} options, {d['model']['classes']} classes, stopped by {d['model']['stopped_by']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
