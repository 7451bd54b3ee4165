"""Where the wall time of one ``planner`` command goes: a sampling profile of a
fresh process, split into the parts of docs/performance.md.

    python benchmarks/split.py                      # the default plan
    python benchmarks/split.py plan --racks 16      # any planner command line
    python benchmarks/split.py --repeats 5 compare -w llama-3.1-70b --mode auto

A thread samples the main thread's Python stack every millisecond. A sample
inside an import (an importlib frame anywhere on the stack) counts as imports;
otherwise the innermost frame that belongs to a part decides (numpy called from
the cost model counts as candidate evaluation). Garbage collection is timed
with ``gc.callbacks`` and shown as "of which". Interpreter start-up is the wall
time of ``python -c pass``. Not a test: the figures are printed.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

PARTS = (
    "interpreter start-up",
    "imports",
    "loading and validation",
    "candidate evaluation",
    "CP-SAT (model and solve)",
    "search and assembly",
    "rendering",
    "CLI and other",
)

# (path fragment, part); the first fragment found in a frame's file name wins
RULES = (
    ("/ortools/", "CP-SAT (model and solve)"),
    ("/planner/search/control.py", "CP-SAT (model and solve)"),  # waits for the solve in its helper thread
    ("/planner/physics/", "candidate evaluation"),
    ("/planner/inputs/", "loading and validation"),
    ("/yaml/", "loading and validation"),
    ("/pydantic", "loading and validation"),
    ("/planner/cli/render", "rendering"),
    ("/rich/", "rendering"),
    ("/json/", "rendering"),
    ("/planner/search/", "search and assembly"),
    ("/planner/plan/", "search and assembly"),
    ("/planner/analysis/", "search and assembly"),
    ("/planner/api.py", "search and assembly"),
    ("/concurrent/", "search and assembly"),
    ("/multiprocessing/", "search and assembly"),
)

CHILD = r'''
import gc, io, json, os, sys, threading, time
t0 = time.perf_counter()
rules, argv = json.loads(sys.argv[1]), json.loads(sys.argv[2])
main_id = threading.get_ident()
counts, gc_s, gc_t, stop = {}, [0.0], [0.0], []

def part(frame):
    inner = None
    while frame is not None:
        name = frame.f_code.co_filename
        if name.startswith("<frozen importlib"):
            return "imports"
        if inner is None:
            for frag, p in rules:
                if frag in name:
                    inner = p
                    break
        frame = frame.f_back
    return inner or "CLI and other"

def sampler():
    while not stop:
        f = sys._current_frames().get(main_id)
        if f is not None:
            p = part(f)
            counts[p] = counts.get(p, 0) + 1
        time.sleep(0.001)

def on_gc(phase, info):
    if phase == "start":
        gc_t[0] = time.perf_counter()
    else:
        gc_s[0] += time.perf_counter() - gc_t[0]

gc.callbacks.append(on_gc)
sys.setswitchinterval(1e-4)
th = threading.Thread(target=sampler, daemon=True)
th.start()
sys.argv = ["planner", *argv]
out, sys.stdout = sys.stdout, open(os.devnull, "w")
code = 0
try:
    from planner.cli.main import main
    main()
except SystemExit as exc:
    code = exc.code or 0
stop.append(1)
th.join()
sys.stdout = out
print(json.dumps({"wall_s": time.perf_counter() - t0, "gc_s": gc_s[0], "counts": counts, "exit": code}))
'''


def interpreter_s(repeats: int) -> float:
    walls = []
    for _ in range(repeats):
        t = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        walls.append(time.perf_counter() - t)
    return statistics.median(walls)


def profile(argv: list[str], repeats: int) -> dict:
    """Median split (seconds per part) over ``repeats`` fresh processes."""
    runs = []
    for _ in range(repeats):
        res = subprocess.run([sys.executable, "-c", CHILD, json.dumps(RULES), json.dumps(argv)], capture_output=True, text=True)
        if res.returncode != 0:
            raise SystemExit(f"planner {' '.join(argv)} failed: {res.stderr.strip()[-400:]}")
        runs.append(json.loads(res.stdout.strip().splitlines()[-1]))
    split = {}
    for r in runs:
        total = sum(r["counts"].values()) or 1
        for p, n in r["counts"].items():
            split.setdefault(p, []).append(r["wall_s"] * n / total)
    out = {p: statistics.median(v + [0.0] * (len(runs) - len(v))) for p, v in split.items()}
    out["in-process total"] = statistics.median(r["wall_s"] for r in runs)
    out["of which garbage collection"] = statistics.median(r["gc_s"] for r in runs)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("command", nargs=argparse.REMAINDER, help="planner arguments (default: plan)")
    opts = ap.parse_args()
    argv = opts.command or ["plan"]
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, "1")
    split = profile(argv, opts.repeats)
    split["interpreter start-up"] = interpreter_s(opts.repeats)
    total = split["interpreter start-up"] + split["in-process total"]
    print(f"planner {' '.join(argv)}: {total:.2f} s wall (median of {opts.repeats} fresh processes)")
    for p in PARTS:
        s = split.get(p, 0.0)
        print(f"  {p:28s} {s:6.3f} s  {100 * s / total:5.1f} %")
    gc_s = split["of which garbage collection"]
    print(f"  {'of which garbage collection':28s} {gc_s:6.3f} s  {100 * gc_s / total:5.1f} %")
    return 0


if __name__ == "__main__":
    sys.exit(main())
