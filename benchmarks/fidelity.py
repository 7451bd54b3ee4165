"""Print the cost model's error against published measurements (docs/fidelity.md).

    python benchmarks/fidelity.py                       # the shipped cases
    python benchmarks/fidelity.py --measurements FILE   # another file in the same format
    python benchmarks/fidelity.py --json

Same output as ``planner validate``; both call planner.analysis.fidelity.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from planner.analysis import fidelity  # noqa: E402
from planner.inputs.errors import PlannerError  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--measurements", default=None, help="measurements YAML (default: the shipped cases)")
    ap.add_argument("--json", action="store_true", help="print the report as JSON")
    args = ap.parse_args(argv)
    try:
        report = fidelity.validate(args.measurements)
    except PlannerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    print(json.dumps(report.to_dict(), indent=2) if args.json else "\n".join(fidelity.report_lines(report)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
