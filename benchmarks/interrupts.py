"""Ctrl-C at random moments: 30 SIGINTs to ``planner plan`` and 30 to ``planner fleet``.

    python benchmarks/interrupts.py            # 30 per command, seed 1
    python benchmarks/interrupts.py -n 10 --seed 3

Each run writes ``--out`` and gets SIGINT after a random delay (uniform over 90% of the
command's own uninterrupted wall time, measured first in this run), counted
from the moment the planner's handlers are installed: the first ~0.1 s of a
run is the Python interpreter starting, before any planner code runs, and a
Ctrl-C there is Python's own KeyboardInterrupt. Every
outcome must be: exit 130 with exactly one 'error: interrupted' line and the
output file absent or whole (valid JSON), no temporary file left; or exit 0 if
the command had finished before the signal landed (then the file is whole).
Prints a table per command and the latency from signal to exit (a solve in
native code sees the signal at its next check point).

Then ``kill -9`` (no handler can run) at random moments of ``plan --out`` over
an existing plan file: the file must be the old plan or the new one, whole
(writes go to a temporary file that is renamed); a temporary file left behind
by a killed write is counted but is not a failure (nothing can remove it).
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from interruptkit import COMMANDS, PLANNER, ROOT, wait_ready  # noqa: E402  (the same as the CI test)


def one(command: str, delay: float, folder: Path) -> tuple[str, float]:
    out = folder / "plan.json"
    p = subprocess.Popen([*PLANNER, *COMMANDS[command], "--out", str(out)], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    wait_ready(p.pid)
    time.sleep(delay)
    sent = time.perf_counter()
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=600)
    latency = time.perf_counter() - sent
    lines = err.decode(errors="replace").splitlines()
    if any(q.name.startswith(".plan.json.") for q in folder.iterdir()):
        return "temp file left", latency
    if out.exists():
        try:
            json.loads(out.read_text())
        except ValueError:
            return "partial file", latency
    if p.returncode == 0:
        return ("finished first" if not lines else "exit 0 with output on stderr"), latency
    if p.returncode == 130 and len(lines) == 1 and lines[0].startswith("error: interrupted"):
        return "130, one line", latency
    if p.returncode < 0:
        return f"killed by signal {-p.returncode}", latency
    return f"exit {p.returncode}, {len(lines)} lines", latency


def killed(delay: float, folder: Path) -> str:
    out = folder / "plan.json"
    old = '{"previous": true}\n'
    out.write_text(old)
    p = subprocess.Popen([*PLANNER, *COMMANDS["plan"], "--out", str(out)], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_ready(p.pid)
    time.sleep(delay)
    p.kill()
    p.wait()
    text = out.read_text()
    try:
        doc = json.loads(text)
    except ValueError:
        return "partial file"
    left = any(q.name.startswith(".plan.json.") for q in folder.iterdir())
    state = "old file whole" if text == old else ("new file whole" if doc.get("replicas") else "other file")
    return state + (", temporary file left" if left else "")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", type=int, default=30)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    failed = 0
    for command in COMMANDS:
        runs = []
        for _ in range(2):  # the faster of two (the first warms the file cache)
            t = time.perf_counter()
            subprocess.run([*PLANNER, *COMMANDS[command]], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            runs.append(time.perf_counter() - t)
        full = min(runs)
        outcomes, latencies = collections.Counter(), []
        for _ in range(args.n):
            with tempfile.TemporaryDirectory() as folder:
                outcome, latency = one(command, rng.uniform(0.0, 0.9 * full), Path(folder))
            outcomes[outcome] += 1
            if outcome == "130, one line":
                latencies.append(latency)
        bad = sum(v for k, v in outcomes.items() if k not in ("130, one line", "finished first"))
        failed += bad
        print(f"{command}: {args.n} SIGINTs over its {full:.1f} s run: " + ", ".join(f"{k}: {v}" for k, v in outcomes.most_common()))
        if latencies:
            print(f"  signal to exit: median {statistics.median(latencies):.2f} s, max {max(latencies):.2f} s")
    t = time.perf_counter()  # the plan's own wall time, for the kill -9 delays
    subprocess.run([*PLANNER, *COMMANDS["plan"], "--out", os.devnull], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    full = time.perf_counter() - t
    outcomes = collections.Counter()
    for _ in range(args.n):
        with tempfile.TemporaryDirectory() as folder:
            outcomes[killed(rng.uniform(0.0, 1.1 * full), Path(folder))] += 1
    bad = sum(v for k, v in outcomes.items() if k.startswith(("partial", "other")))
    failed += bad
    print(f"plan --out: {args.n} kill -9 over its {full:.1f} s run: " + ", ".join(f"{k}: {v}" for k, v in outcomes.most_common()))
    print(f"failures: {failed} (target 0)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
