"""Routed-expert physics against measured fused-MoE kernels (docs/fidelity.md, "Routed
experts against measured MoE kernels").

    python benchmarks/moe_kernels.py            # measured / predicted by engine, GPU and tokens
    python benchmarks/moe_kernels.py --row-ns 28   # the same with another per-copy cost
    python benchmarks/moe_kernels.py --fit      # the per-copy cost the kernels imply (hardware/efficiency.yaml)

Prints, per engine and GPU, the median and 10th-90th percentile of measured / predicted
over the rows of tests/data/moe_kernel_times.csv in four token bands (predicted = the
cost model's routed-expert op + the op's fixed cost read at one token).
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from planner.analysis import moe_kernels as K  # noqa: E402

BANDS = ((4, 4), (16, 256), (1024, 1024), (4096, 16384))


def band_cell(ratios: list[float]) -> str:
    """Median and 10th-90th percentile of ratios, as the kernel tables print them."""
    if not ratios:
        return "-"
    r = sorted(ratios)
    return f"{statistics.median(r):.2f} [{r[len(r) // 10]:.2f}-{r[9 * len(r) // 10]:.2f}]"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--row-ns", type=float, help="per routed copy cost, ns (default: the shipped moe_row_overhead_us)")
    ap.add_argument("--fit", action="store_true", help="print the per-copy cost that best fits the kernels, per engine and pooled")
    args = ap.parse_args(argv)
    if args.fit:
        for engines in [(e,) for e in K.ENGINES] + [K.ENGINES]:
            print(f"{'+'.join(engines):20s} {K.fit_row_overhead(engines) * 1e9:4.0f} ns per routed copy")
        return 0
    eff = K._topology("h200_sxm").efficiency
    row_s = eff.moe_row_overhead_s if args.row_ns is None else args.row_ns * 1e-9
    print(f"measured / predicted, median [p10-p90]; per-copy {row_s * 1e9:.0f} ns, "
          f"padding {eff.moe_half_tokens:.0f} rows at the {eff.moe_max_tile_rows:.0f}-row tile")
    print(f"{'engine':8s} {'gpu':9s} {'rows':>5s}  " + "  ".join(f"{f'{lo}-{hi} tokens':>22s}" for lo, hi in BANDS)
          + "  fixed us")
    for engine in K.ENGINES:
        cs = K.compare(engine, row_overhead_s=row_s)
        for gpu in [*sorted(K.TOPOLOGY), "all"]:
            sel = [c for c in cs if gpu in ("all", c.gpu)]
            fixed = statistics.median(c.fixed_s for c in sel if c.tokens == 4) * 1e6
            cells = "  ".join(f"{band_cell([c.ratio for c in sel if lo <= c.tokens <= hi]):>22s}" for lo, hi in BANDS)
            print(f"{engine:8s} {gpu:9s} {len(sel):5d}  {cells}  {fixed:8.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
