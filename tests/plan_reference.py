"""A fixed set of queries whose plans must not change when the planner is made
faster: the reference answers were written by the program *before* a speed
change (a regression oracle, not a hand-made expectation).

    python tests/plan_reference.py --write   # regenerate tests/data/plan_reference.json

Regenerate only from a tree whose answers are trusted (say, main just before a
speed change, or after a change that is meant to change plans, saying so in its
commit message). Fields that are times (``wall_time_s`` and other ``*_time_s``
/ ``wall*`` keys) are dropped before comparing: they are the only fields that
may differ between two runs.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

REFERENCE = Path(__file__).resolve().parent / "data" / "plan_reference.json"
EXAMPLES = Path(__file__).resolve().parent.parent / "examples"

# (name, CLI arguments). Every query names its mode: defaults may change, answers may not.
QUERIES: list[tuple[str, list[str]]] = [
    ("plan-default", ["plan", "--json"]),
    ("plan-agg", ["plan", "--mode", "agg", "--json"]),
    ("plan-disagg", ["plan", "--mode", "disagg", "--json"]),
    ("plan-racks-4-agg", ["plan", "--racks", "4", "--mode", "agg", "--json"]),
    ("plan-racks-16-agg", ["plan", "--racks", "16", "--mode", "agg", "--json"]),
    ("plan-llama70-h100-8-nodes-agg", ["plan", "-w", "llama-3.1-70b", "-t", "hgx-h100", "--nodes", "8", "--mode", "agg", "--json"]),
    ("plan-llama70-h100-64-nodes-agg", ["plan", "-w", "llama-3.1-70b", "-t", "hgx-h100", "--nodes", "64", "--mode", "agg", "--json"]),
    ("plan-llama8-throughput", ["plan", "-w", "llama-3.1-8b", "-t", "hgx-h100", "--nodes", "2", "--mode", "agg", "--objective", "throughput", "--json"]),
    ("plan-llama70-demand", ["plan", "-w", "llama-3.1-70b", "-t", "hgx-h200", "--nodes", "8", "--mode", "agg", "--demand-tps", "20000", "--json"]),
    ("plan-qwen3-mi300x-gpus", ["plan", "-w", "qwen3-235b-a22b", "-t", "mi300x-8", "--nodes", "4", "--gpus", "24", "--mode", "agg", "--json"]),
    ("evaluate-dsv3", ["evaluate", "--tp", "1", "--dp-attn", "8", "--ep", "8", "--pp", "2", "--json"]),
    ("compare-llama70-agg", ["compare", "-w", "llama-3.1-70b", "--mode", "agg", "--json"]),
    ("compare-dsv3-auto", ["compare", "-w", "deepseek-v3", "--topologies", "hgx-h200,gb200-nvl72,gb300-nvl72", "--mode", "auto", "--json"]),
    ("frontier-default", ["frontier", "--json"]),
    ("fleet-example", ["fleet", "--inventory", str(EXAMPLES / "inventory.yaml"), "--demands", str(EXAMPLES / "demands.yaml"), "--json"]),
]


def strip_times(x):
    """The document without its wall-clock fields, and with data-file paths relative
    to their folder (a checkout or an installed package may live anywhere)."""
    if isinstance(x, dict):
        return {k: strip_times(v) for k, v in x.items() if not _is_time(k)}
    if isinstance(x, list):
        return [strip_times(v) for v in x]
    if isinstance(x, str):
        return _DATA_PATH.sub(r"\1/", x)
    return x


_DATA_PATH = re.compile(r"[^\s'\"]*/(topologies|workloads|hardware|examples)/")


def _is_time(key: str) -> bool:
    return key.startswith("wall") or key.endswith("_time_s") or key == "elapsed_s"


def answer(args: list[str]) -> dict:
    """Exit code and time-free JSON output of one CLI call, in process."""
    from typer.testing import CliRunner

    from planner.cli.main import app

    r = CliRunner().invoke(app, args)
    try:
        doc = strip_times(json.loads(r.stdout))
    except ValueError:
        doc = {"output": r.output}
    return {"exit_code": r.exit_code, "json": doc}


def main() -> int:
    if sys.argv[1:] != ["--write"]:
        print(__doc__)
        return 2
    ref = {name: answer(args) for name, args in QUERIES}
    REFERENCE.write_text(json.dumps(ref, indent=1, sort_keys=True) + "\n")
    print(f"wrote {REFERENCE} ({len(ref)} queries)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
