"""The all-reduce physics against the serving engines' measured all-reduce kernels
(tests/data/allreduce_times.csv).

Each row of the table is one engine's all-reduce of ``elements`` BF16 values over
``gpus`` GPUs of one NVLink domain, timed inside a CUDA graph. The cost model's
all-reduce (``physics.allreduce.allreduce_s``: the ring's bytes over the group's links
at the achieved share ``scale_up_bw_fraction``, plus the fixed latency
``allreduce_latency_us``) predicts each.

    from planner.analysis import allreduce_kernels
    rows = allreduce_kernels.compare()        # one Comparison per measured row
    allreduce_kernels.fit_latency_us()        # the fixed latency the kernels imply at decode sizes

The table ships with the source tree (tests/data), not with the installed package.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, replace
from pathlib import Path

from .kernel_tables import read_rows
from ..inputs.topology import build_topology
from ..physics.allreduce import allreduce_s

TABLE = Path(__file__).resolve().parents[2] / "tests" / "data" / "allreduce_times.csv"
TOPOLOGY = {"a100_sxm": "hgx-a100", "h100_sxm": "hgx-h100", "h200_sxm": "hgx-h200", "b200_sxm": "hgx-b200", "gb200": "gb200-nvl72"}
BF16_BYTES = 2
# a decode step's all-reduce: up to 256 tokens of an 8,192-wide model on the busiest rank
DECODE_MAX_ELEMENTS = 256 * 8192


@dataclass(frozen=True)
class Comparison:
    gpu: str
    engine: str
    gpus: int
    elements: int
    measured_us: float
    predicted_us: float

    @property
    def ratio(self) -> float:
        """measured / predicted (as moe_kernels)."""
        return self.measured_us / self.predicted_us

    @property
    def decode(self) -> bool:
        return self.elements <= DECODE_MAX_ELEMENTS


def _rows() -> tuple[dict, ...]:
    return read_rows(TABLE, "all-reduce kernel")


def compare(latency_us: float | None = None) -> list[Comparison]:
    """Predict every measured row with the shipped constants (or another fixed latency)."""
    topos = {}
    out = []
    for r in _rows():
        topo = topos.get(r["gpu"])
        if topo is None:
            topo = topos[r["gpu"]] = build_topology(TOPOLOGY[r["gpu"]])
        if latency_us is not None:
            topo = replace(topo, efficiency=replace(topo.efficiency, allreduce_latency_s=latency_us * 1e-6))
        n, el = int(r["gpus"]), int(r["elements"])
        t = float(allreduce_s(topo, n, el * BF16_BYTES))
        out.append(Comparison(r["gpu"], r["engine"], n, el, float(r["latency_us"]), t * 1e6))
    return out


def median_ratio(rows: list[Comparison]) -> float:
    return math.exp(statistics.median(math.log(c.ratio) for c in rows))


def score(rows: list[Comparison]) -> float:
    """Median |log(measured / predicted)| over the rows."""
    return statistics.median(abs(math.log(c.ratio)) for c in rows)


LATENCY_GRID_US = tuple(x / 4 for x in range(8, 41))  # 2 to 10 µs


def fit_latency_us() -> float:
    """The fixed latency (µs, on a 0.25 µs grid) that best predicts the decode-size rows,
    every engine, GPU and group size pooled (median |log ratio|). The time is
    ``t_0 + X`` with ``X`` the ring's bytes at the shipped bandwidth share, so each row
    is modelled once and every grid point is arithmetic."""
    unit = [c for c in compare(latency_us=0.0) if c.decode]
    def s(a: float) -> float:
        return statistics.median(abs(math.log(c.measured_us / (a + c.predicted_us))) for c in unit)
    return min(LATENCY_GRID_US, key=lambda a: (s(a), a))
