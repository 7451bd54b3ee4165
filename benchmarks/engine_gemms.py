"""vLLM's dense GEMMs against SGLang's on the same shapes (docs/fidelity.md item 22,
"The vLLM DeepSeek-R1 case").

    python benchmarks/engine_gemms.py          # paired differences by GPU, precision and rows
    python benchmarks/engine_gemms.py --fit    # vLLM's block-FP8 extra: per launch, per k block (hardware/engines.yaml)

Prints, per GPU and precision, the median and 10th-90th percentile of vLLM's kernel
time minus SGLang's (µs; one pair per shape and SGLang version) over the rows of
tests/data/engine_gemm_times.csv, at each measured row count m.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from moe_kernels import band_cell  # noqa: E402  (benchmarks/moe_kernels.py: the same cells)
from planner.analysis import engine_gemms as G  # noqa: E402

ROWS = (1, 4, 16, 64, 256)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fit", action="store_true", help="print vLLM's block-FP8 GEMM time beyond SGLang's on Hopper: per launch and per 128-wide k block")
    args = ap.parse_args(argv)
    if args.fit:
        per_launch, per_kblock = G.fit_extra_us()
        print(f"{per_launch:.2f} us per block-FP8 GEMM launch + {per_kblock:.4f} us per 128-wide k block "
              "(Hopper; the line through the median at each k, m = 1-256, every n and SGLang version pooled)")
        for k, med in G.k_medians_us().items():
            print(f"  k = {k:5d}: median {med:6.2f} us, line {per_launch + per_kblock * k / G.K_BLOCK:6.2f} us")
        return 0
    print("vLLM 0.19.0 minus SGLang (0.5.6.post2, 0.5.9), us, median [p10-p90]; -: not measured")
    print(f"{'gpu':9s} {'scales':8s} {'precision':10s} {'pairs':>5s}  " + "  ".join(f"{f'm={m}':>22s}" for m in ROWS))
    for system in sorted(G.ACCELERATOR):
        where = "CUDA" if G.promotes_scales(system) else "MMA"
        for dtype in ("fp8_block", "bfloat16", "fp8"):
            sel = [p for p in G.pairs(dtype) if p.system == system]
            cells = "  ".join(f"{band_cell([p.delta_us for p in sel if p.m == m]):>22s}" for m in ROWS)
            print(f"{system:9s} {where:8s} {dtype:10s} {len(sel):5d}  {cells}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
