"""What the interrupt test and benchmarks/interrupts.py share: the commands they
interrupt and how to tell that the planner's signal handlers are installed."""

from __future__ import annotations

import signal
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PLANNER = [sys.executable, "-m", "planner.cli"]
COMMANDS = {
    "plan": ["plan", "-w", "deepseek-v3", "-t", "gb200-nvl72"],
    "fleet": ["fleet", "--inventory", str(ROOT / "examples" / "inventory.yaml"), "--demands", str(ROOT / "examples" / "demands.yaml")],
}


def wait_ready(pid: int, timeout_s: float = 60.0) -> float:
    """Seconds until the planner's interrupt handlers are installed (its entry
    point runs): SIGTERM shows up in the process's caught signals, which Python
    alone never sets. Before that the interpreter itself is starting (its own
    KeyboardInterrupt). Linux /proc; elsewhere a fixed 1 s."""
    status = Path(f"/proc/{pid}/status")
    t0 = time.perf_counter()
    if not status.exists():
        time.sleep(1.0)
        return 1.0
    while time.perf_counter() - t0 < timeout_s:
        try:
            caught = next(int(line.split()[1], 16) for line in status.read_text().splitlines() if line.startswith("SigCgt:"))
        except (OSError, StopIteration):
            break  # the process ended
        if caught >> (signal.SIGTERM - 1) & 1:
            break
        time.sleep(0.005)
    return time.perf_counter() - t0
