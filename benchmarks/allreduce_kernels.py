"""All-reduce physics against the serving engines' measured all-reduce kernels
(docs/fidelity.md, "All-reduce against measured engine kernels").

    python benchmarks/allreduce_kernels.py               # measured / predicted by engine, GPU and size
    python benchmarks/allreduce_kernels.py --latency-us 15.5   # the same with another fixed latency
    python benchmarks/allreduce_kernels.py --fit         # the latency the kernels imply (hardware/efficiency.yaml)

Prints, per engine and GPU, the median and 10th-90th percentile of measured / predicted
over the rows of tests/data/allreduce_times.csv in four message-size bands.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from moe_kernels import band_cell  # noqa: E402  (benchmarks/moe_kernels.py: the same cells)
from planner.analysis import allreduce_kernels as A  # noqa: E402

BANDS = ((4096, 65536), (65537, A.DECODE_MAX_ELEMENTS), (A.DECODE_MAX_ELEMENTS + 1, 2**23), (2**23 + 1, 2**26))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--latency-us", type=float, help="fixed latency of one all-reduce, µs (default: the shipped allreduce_latency_us)")
    ap.add_argument("--fit", action="store_true", help="print the latency that best fits the decode-size rows")
    args = ap.parse_args(argv)
    if args.fit:
        print(f"{A.fit_latency_us():.2f} us per all-reduce (decode sizes, every engine, GPU and group size pooled)")
        return 0
    rows = A.compare(args.latency_us)
    label = "shipped latency" if args.latency_us is None else f"latency {args.latency_us:g} us"
    print(f"measured / predicted, median [p10-p90]; {label}; bands in BF16 elements (decode: up to {A.DECODE_MAX_ELEMENTS:,})")
    print(f"{'engine':8s} {'gpu':9s} {'rows':>5s}  " + "  ".join(f"{f'{lo:,}-{hi:,}':>24s}" for lo, hi in BANDS))
    for engine in ("vllm", "sglang", "trtllm", "all"):
        for gpu in [*sorted(A.TOPOLOGY), "all"]:
            sel = [c for c in rows if engine in ("all", c.engine) and gpu in ("all", c.gpu)]
            cells = "  ".join(f"{band_cell([c.ratio for c in sel if lo <= c.elements <= hi]):>24s}" for lo, hi in BANDS)
            print(f"{engine:8s} {gpu:9s} {len(sel):5d}  {cells}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
