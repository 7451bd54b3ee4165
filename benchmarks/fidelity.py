"""Print the cost model's error against published measurements (docs/fidelity.md).

    python benchmarks/fidelity.py                       # the shipped cases
    python benchmarks/fidelity.py --measurements FILE   # another file in the same format
    python benchmarks/fidelity.py --json
    python benchmarks/fidelity.py --markdown            # the case table of docs/fidelity.md, with held-out errors

Same output as ``planner validate``; both call planner.analysis.fidelity.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from planner.analysis import calibration, fidelity  # noqa: E402
from planner.inputs.errors import PlannerError  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--measurements", default=None, help="measurements YAML (default: the shipped cases)")
    ap.add_argument("--json", action="store_true", help="print the report as JSON")
    ap.add_argument("--markdown", action="store_true", help="print the case table with held-out errors as markdown")
    args = ap.parse_args(argv)
    if args.markdown:
        print("\n".join(markdown(args.measurements)))
        return 0
    try:
        report = fidelity.validate(args.measurements)
    except PlannerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    print(json.dumps(report.to_dict(), indent=2) if args.json else "\n".join(fidelity.report_lines(report)))
    return 0


def markdown(path=None) -> list[str]:
    report = fidelity.validate(path)
    cv = calibration.cross_validate(path)
    held = {n: (a, b) for n, a, b in zip(cv.names, cv.leave_record, cv.leave_family)}
    out = ["| record | metric | mode | measured | predicted | error | record held out | family held out | batch | bound by |",
           "|---|---|---|---:|---:|---:|---:|---:|---|---|"]
    for r in report.results:
        m = r.case.measured
        # declared outliers are outside the fit, so no fold holds them out
        lr, lf = (f"{x / m - 1:+.1%}" for x in held[r.case.name]) if r.case.name in held else ("outlier", "outlier")
        batch = f"{r.batch} ({r.batch_rule})" if r.batch else r.batch_rule
        out.append(f"| {r.case.record_id} | {r.case.spec.metric} | {r.case.spec.mode} | {fidelity._num(m)} | {fidelity._num(r.predicted)} "
                   f"| {r.error:+.1%} | {lr} | {lf} | {batch} | {r.bottleneck} |")
    return out


if __name__ == "__main__":
    raise SystemExit(main())
