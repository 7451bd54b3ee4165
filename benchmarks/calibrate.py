"""Fit the free efficiency constants jointly to the shipped calibration cases.

    python benchmarks/calibrate.py                 # fit, print the values and the errors
    python benchmarks/calibrate.py --measurements FILE --json

The fit itself lives in planner/analysis/calibration.py (no scipy: the fixed costs are
affine in every prediction, the two non-linear constants are searched on a
grid over their sourced ranges); ``planner validate`` uses the same code to
refit without each held-out record or model family. Only the constants named
in ``YAML_KEY`` are fitted; every other constant keeps its measured value from
hardware/efficiency.yaml (hardware.md section 8). The loss is soft-L1 on
log(predicted / measured) over every case inside the error target.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from planner.analysis import calibration  # noqa: E402

YAML_KEY = {k: v[0] for k, v in calibration.YAML_UNITS.items()}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--measurements", default=None, help="measurements YAML (default: the shipped cases)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    t0 = time.time()
    cases = calibration.scored_cases(args.measurements)
    table = calibration.build_table(cases)
    fit, i = calibration.fit(table)
    pred = calibration.predicted(table, fit, i)
    errors = np.abs(pred / np.array([c.measured for c in cases]) - 1.0)
    if args.json:
        print(json.dumps({"fitted": fit.yaml_values(), "cases": [c.name for c in cases],
                          "median_abs_error": round(float(statistics.median(errors)), 4)}, indent=2))
        return 0
    print(f"fitted on {len(cases)} cases in {time.time() - t0:.1f} s:")
    for k, v in fit.yaml_values().items():
        print(f"  {k}: {v}")
    print(f"fitted   median |error| {statistics.median(errors):.1%}  max |error| {errors.max():.1%}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
