"""The routed-expert physics against measured fused-MoE kernels (tests/data/moe_kernel_times.csv).

Each row of the table is one engine's fused MoE op on one GPU: ``num_tokens`` routed
evenly over the model's experts, the GPU holding ``num_experts / moe_ep`` of them sliced
``moe_tp`` ways. The cost model's routed experts for the same GPU
(``physics.routed.RoutedExperts.op_s``: grouped GEMMs at the format's rate and padding,
the expert weights they read, the activation passes and the per-copy cost) plus the
op's fixed launch cost, read off the same table at one token, predict the other rows.

    from planner.analysis import moe_kernels
    rows = moe_kernels.compare()            # one Comparison per measured row
    moe_kernels.fit_row_overhead()          # the per-copy cost the kernels imply (hardware/efficiency.yaml)

The table ships with the source tree (tests/data), not with the installed package.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path

from ..inputs import formats
from .kernel_tables import read_rows
from ..inputs.query import load_workload
from ..inputs.topology import build_topology
from ..physics.gemm import format_rate
from ..physics.routed import routed_experts

TABLE = Path(__file__).resolve().parents[2] / "tests" / "data" / "moe_kernel_times.csv"
TOPOLOGY = {"h100_sxm": "hgx-h100", "h200_sxm": "hgx-h200", "b200_sxm": "hgx-b200"}
SHAPE = {"dsv3": "deepseek-v3", "kimi-k2": "kimi-k2", "qwen3-235b": "qwen3-235b-a22b", "mixtral-8x7b": "mixtral-8x7b",
         "gpt-oss-120b": "gpt-oss-120b", "qwen3-30b": "Qwen/Qwen3-30B-A3B"}
# the table's weight formats as the planner names them; W4A16 MXFP4 is the planner's mxfp4
# only where there are no FP4 tensor cores (weight-only), W4A8 where there are
FORMAT = {"bfloat16": "bf16", "fp8": "fp8", "fp8_block": "fp8_block128", "nvfp4": "nvfp4",
          "w4a16_mxfp4": "mxfp4", "w4a8_mxfp4_mxfp8": "mxfp4"}
ACT_BYTES = 2.0  # BF16 activations


@dataclass(frozen=True)
class Comparison:
    engine: str
    gpu: str
    shape: str
    dtype: str
    moe_tp: int
    moe_ep: int
    tokens: int
    measured_s: float
    model_s: float  # RoutedExperts.op_s, no fixed cost
    fixed_s: float  # the op's fixed cost: measured - model at one token (>= 0)

    @property
    def ratio(self) -> float:
        """measured / predicted (predicted = model + fixed)."""
        return self.measured_s / (self.model_s + self.fixed_s)


def _rows(path: Path = TABLE) -> tuple[dict, ...]:
    """The table's rows, read once (the rows are not modified)."""
    return read_rows(path, "measured MoE kernel")


@lru_cache(maxsize=None)
def _model(shape: str):
    return load_workload(SHAPE[shape]).model


@lru_cache(maxsize=None)
def _topology(gpu: str):
    return build_topology(TOPOLOGY[gpu])


def _expressible(r: dict) -> bool:
    """A row the planner has a format for on that GPU."""
    if r["gpu"] not in TOPOLOGY or r["moe_dtype"] not in FORMAT:
        return False
    acc = _topology(r["gpu"]).accelerator
    fmt = formats.get(FORMAT[r["moe_dtype"]])
    if r["moe_dtype"].startswith("w4a16"):  # BF16 activations: the planner's MXFP4 is W4A16 only without FP4 cores
        return fmt.weight_only_on(acc.peak_flops)
    if r["moe_dtype"].startswith("w4a8"):
        return not fmt.weight_only_on(acc.peak_flops)
    return fmt.compute_dtype(acc.peak_flops) in acc.peak_flops


def _routed_rows(engine: str | None, path: Path = TABLE) -> list[tuple[dict, float, float, float]]:
    """Each expressible row with the cost model's routed-expert op for it, split into the
    part without the per-copy cost, the routed copies and the shipped per-copy cost
    (even router: imbalance 1, every token's k experts distinct, min(1, T k / E) of the
    experts busy). The op is linear in the per-copy cost, so a fit over it costs one pass."""
    out = []
    for r in _rows(path):
        if (engine is not None and r["engine"] != engine) or not _expressible(r):
            continue
        m, topo = _model(r["shape"]), _topology(r["gpu"])
        eff, acc = topo.efficiency, topo.accelerator
        fmt = formats.get(FORMAT[r["moe_dtype"]])
        T, tp, ep = int(r["num_tokens"]), int(r["moe_tp"]), int(r["moe_ep"])
        rx = routed_experts(m, eff, format_rate(topo, fmt), fmt.bytes_per_param, T, tp * ep, ep, tp, 1.0,
                            min(1.0, T * m.experts_per_token / m.n_routed_experts))
        base = rx.op_s(replace(eff, moe_row_overhead_s=0.0), acc.hbm_bw_bytes_per_s * eff.hbm_fraction, ACT_BYTES)
        out.append((r, float(base), float(rx.copies), eff.moe_row_overhead_s))
    return out


def _comparisons(routed: list[tuple[dict, float, float, float]], row_overhead_s: float | None) -> list[Comparison]:
    key = lambda r: (r["engine"], r["gpu"], r["shape"], r["moe_dtype"], r["moe_tp"], r["moe_ep"])  # noqa: E731
    model = {id(r): base + copies * (shipped if row_overhead_s is None else row_overhead_s) for r, base, copies, shipped in routed}
    fixed = {key(r): max(0.0, float(r["latency_us"]) * 1e-6 - model[id(r)]) for r, *_ in routed if int(r["num_tokens"]) == 1}
    return [Comparison(r["engine"], r["gpu"], r["shape"], r["moe_dtype"], int(r["moe_tp"]), int(r["moe_ep"]),
                       int(r["num_tokens"]), float(r["latency_us"]) * 1e-6, model[id(r)], fixed[key(r)])
            for r, *_ in routed if key(r) in fixed and int(r["num_tokens"]) > 1]


def compare(engine: str | None = None, path: Path = TABLE, row_overhead_s: float | None = None) -> list[Comparison]:
    """measured vs predicted for every row of ``engine`` (all engines: None) past one token;
    ``row_overhead_s`` replaces the shipped per-copy cost."""
    return _comparisons(_routed_rows(engine, path), row_overhead_s)


ENGINES = ("trtllm", "sglang", "vllm")
ROW_NS_GRID = tuple(float(x) for x in range(0, 31, 2))  # candidate per-copy costs, ns


def _score(cs: list[Comparison], min_tokens: int) -> float:
    return statistics.median(abs(math.log(c.ratio)) for c in cs if c.tokens >= min_tokens)


def row_overhead_score(row_overhead_s: float, engines=ENGINES, min_tokens: int = 16) -> float:
    """Median |log(measured / predicted)| over every row of ``min_tokens`` tokens or more
    (the one-token rows set each op's fixed cost) with this per-copy cost."""
    return _score([c for e in engines for c in compare(e, row_overhead_s=row_overhead_s)], min_tokens)


def fit_row_overhead(engines=ENGINES, grid_ns=ROW_NS_GRID, min_tokens: int = 16) -> float:
    """The per-routed-copy cost (seconds) on the grid whose predictions sit closest to the
    measured kernels (the first of equal scores). It depends on the other constants of the
    routed op, the fitted grouped-GEMM padding among them (docs/fidelity.md item 20)."""
    routed = [x for e in engines for x in _routed_rows(e)]
    return min(grid_ns, key=lambda ns: _score(_comparisons(routed, ns * 1e-9), min_tokens)) * 1e-9
