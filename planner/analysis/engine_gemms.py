"""The serving engines' dense GEMM kernels at decode sizes, measured
(tests/data/engine_gemm_times.csv): what one engine's block-scaled FP8 GEMM costs
beyond the reference engines' on the same shape.

Each row is one engine's GEMM of an ``m x k`` activation by a ``k x n`` weight,
timed by aiconfigurator's kernel collector. Pairing vLLM's row with SGLang's of the
same GPU, precision and shape gives the time one engine's kernel takes beyond the
other's. The fitted constants of hardware/efficiency.yaml stand for SGLang's and
TensorRT-LLM's kernels, so the median paired difference of the block-scaled FP8
rows on GPUs that promote the block scales on CUDA cores (Hopper) is what vLLM's
kernel costs beyond the reference: flat in the rows m, growing with the reduction
width k, so a cost per launch plus a cost per 128-wide k block
(``block_fp8_gemm_extra_us``, ``block_fp8_gemm_extra_us_per_kblock``; hardware/engines.yaml).

    from planner.analysis import engine_gemms
    engine_gemms.fit_extra_us()               # vLLM's block-FP8 GEMM beyond SGLang's: per launch, per k block
    engine_gemms.median_delta_us("bfloat16")  # the control: BF16 GEMMs, where both call cuBLAS

The table ships with the source tree (tests/data), not with the installed package.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from ..inputs.errors import InputError
from .kernel_tables import read_rows
from ..inputs.hardware import load_accelerator
from ..physics.gemm import K_BLOCK  # the k block the model charges per (one scale per 128 of the reduction)

TABLE = Path(__file__).resolve().parents[2] / "tests" / "data" / "engine_gemm_times.csv"
ACCELERATOR = {"h100_sxm": "h100-sxm", "h200_sxm": "h200-sxm", "b200_sxm": "b200"}
ENGINE, REFERENCE = "vllm", "sglang"


@dataclass(frozen=True)
class Pair:
    system: str
    reference_version: str
    dtype: str
    m: int
    n: int
    k: int
    engine_us: float
    reference_us: float

    @property
    def delta_us(self) -> float:
        """The engine's kernel time beyond the reference's (negative: faster)."""
        return self.engine_us - self.reference_us


def _rows() -> tuple[dict, ...]:
    return read_rows(TABLE, "GEMM kernel")


@lru_cache(maxsize=None)
def promotes_scales(system: str) -> bool:
    """True when the GPU applies FP8 block scales on CUDA cores (no block-scaled MMA)."""
    return not load_accelerator(ACCELERATOR[system]).block_scaled_mma


def pairs(dtype: str = "fp8_block") -> list[Pair]:
    """Every engine row with the reference row of the same GPU, precision and shape
    (one pair per reference version)."""
    key = lambda r: (r["system"], r["dtype"], int(r["m"]), int(r["n"]), int(r["k"]))  # noqa: E731
    engine = {key(r): float(r["latency_us"]) for r in _rows() if r["engine"] == ENGINE and r["dtype"] == dtype}
    out = []
    for r in _rows():
        if r["engine"] == REFERENCE and r["dtype"] == dtype and key(r) in engine:
            s, _, m, n, k = key(r)
            out.append(Pair(s, r["version"], dtype, m, n, k, engine[key(r)], float(r["latency_us"])))
    return out


def median_delta_us(dtype: str, promoted: bool | None = True) -> float:
    """Median paired difference over the GPUs that promote block scales (True), those
    that do not (False) or all (None)."""
    deltas = [p.delta_us for p in pairs(dtype) if promoted is None or promotes_scales(p.system) == promoted]
    if not deltas:
        raise InputError(f"{TABLE}: no {dtype} pairs of {ENGINE} and {REFERENCE}")
    return statistics.median(deltas)


def k_medians_us(dtype: str = "fp8_block") -> dict[int, float]:
    """Median paired difference at each reduction width k, on the GPUs that promote
    block scales (every m, n and reference version pooled)."""
    by_k: dict[int, list[float]] = {}
    for p in pairs(dtype):
        if promotes_scales(p.system):
            by_k.setdefault(p.k, []).append(p.delta_us)
    return {k: statistics.median(v) for k, v in sorted(by_k.items())}


def fit_extra_us() -> tuple[float, float]:
    """vLLM's block-scaled FP8 GEMM beyond the reference kernel on Hopper, as a cost
    per launch plus a cost per 128-wide block of the reduction (k / 128: the block
    the scales apply to): the least-squares line through the median difference at
    each measured k. Returns (per launch us, per k-block us)."""
    med = k_medians_us()
    x = [k / K_BLOCK for k in med]
    y = list(med.values())
    slope, intercept = statistics.linear_regression(x, y)
    return round(intercept, 2), round(slope, 4)
