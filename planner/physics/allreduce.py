"""One all-reduce inside a scale-up domain: a ring's bytes over the group's links plus
the kernel's fixed latency.

    t = 2 (n - 1) / n x bytes / (B_group x f) + t_0

``B_group``: bytes/s per GPU the group's links give (``scale_up_group_bw``); ``f`` the
achieved share of it (``scale_up_bw_fraction``); ``t_0`` the fixed latency of the serving
engines' own all-reduce kernels at a decode step's message sizes (``allreduce_latency_us``,
measured on them: tests/data/allreduce_times.csv, planner/analysis/allreduce_kernels.py).
Those kernels serve groups of up to ``custom_allreduce_max_gpus`` (8); a larger group
all-reduces through NCCL, whose floor is ``nccl_allreduce_latency_us``.
"""

from __future__ import annotations

import numpy as np

from ..inputs.topology import Topology, scale_up_group_bw
from .gemm import _b


def allreduce_s(topo: Topology, gpus, nbytes) -> np.ndarray:
    """Seconds of one all-reduce of ``nbytes`` per GPU over ``gpus`` GPUs (0 for one GPU)."""
    n, eff = _b(gpus), topo.efficiency
    bw = np.maximum(scale_up_group_bw(topo, n) * eff.scale_up_bw_fraction, 1.0)
    # the engines' own kernel up to the group it serves, NCCL beyond
    latency = np.where(n <= eff.custom_allreduce_max_gpus, eff.allreduce_latency_s, eff.nccl_allreduce_latency_s)
    return np.where(n > 1, 2 * (n - 1) / n * _b(nbytes) / bw + latency, 0.0)
