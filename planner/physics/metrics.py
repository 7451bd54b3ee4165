"""Result types of the cost model: arrays of metrics over layouts x batches.

Kept apart from :mod:`planner.physics.costmodel` (the physics) so that the formulas
read on their own; ``costmodel`` re-exports these names.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

BOTTLENECKS = ("compute", "memory:weights", "memory:kv", "communication", "overhead")


@dataclass(frozen=True)
class StepTerms:
    """Time of one pass of a micro-batch through the bottleneck stage, by part."""

    compute_s: np.ndarray
    weights_s: np.ndarray
    kv_s: np.ndarray
    roofline_s: np.ndarray  # sum over layer types of max(compute, memory)
    tp_comm_s: np.ndarray
    ep_comm_s: np.ndarray
    overhead_s: np.ndarray
    head_s: np.ndarray
    stage_s: np.ndarray  # the bottleneck stage's time
    layers_s: np.ndarray  # all layers of the model, summed over stages (no head, no hops)


@dataclass(frozen=True)
class MemoryFit:
    """Memory per GPU by term, and whether it fits (shared by decode and prefill evaluations)."""

    weights_bytes: np.ndarray
    kv_bytes: np.ndarray
    activation_bytes: np.ndarray
    reserve_bytes: float
    capacity_bytes: float

    @property
    def memory_bytes(self) -> np.ndarray:
        return self.weights_bytes + self.kv_bytes + self.activation_bytes + self.reserve_bytes

    @property
    def fits_memory(self) -> np.ndarray:
        return self.memory_bytes <= self.capacity_bytes


@dataclass(frozen=True)
class Evaluation(MemoryFit):
    """Metrics of layouts x batches (all arrays broadcast to one shape)."""

    batch: np.ndarray
    concurrency: np.ndarray
    gpus: np.ndarray
    # memory per GPU (bytes): the MemoryFit fields
    # time
    step: StepTerms
    pp_hops_s: np.ndarray
    tpot_s: np.ndarray
    prefill_s: np.ndarray
    queue_s: np.ndarray
    ttft_s: np.ndarray
    # rates and money
    output_tps: np.ndarray
    input_tps: np.ndarray
    usd_per_s: np.ndarray
    prefill_share: np.ndarray
    # limits
    tpot_limit_s: float
    ttft_limit_s: float

    @property
    def meets_tpot(self) -> np.ndarray:
        return self.tpot_s <= self.tpot_limit_s

    @property
    def meets_ttft(self) -> np.ndarray:
        return self.ttft_s <= self.ttft_limit_s

    @property
    def feasible(self) -> np.ndarray:
        return self.fits_memory & self.meets_tpot & self.meets_ttft

    @property
    def usd_per_mtok_all_in(self) -> np.ndarray:
        """Everything the replica costs, charged to its output tokens."""
        return self.usd_per_s / self.output_tps * 1e6

    @property
    def usd_per_mtok_output(self) -> np.ndarray:
        return self.usd_per_s * (1 - self.prefill_share) / self.output_tps * 1e6

    @property
    def usd_per_mtok_input(self) -> np.ndarray:
        return self.usd_per_s * self.prefill_share / self.input_tps * 1e6

    @property
    def tokens_per_s_per_user(self) -> np.ndarray:
        return 1.0 / self.tpot_s

    @property
    def bottleneck_index(self) -> np.ndarray:
        s = self.step
        parts = np.stack(np.broadcast_arrays(s.compute_s, s.weights_s, s.kv_s, s.tp_comm_s + s.ep_comm_s, s.overhead_s))
        return np.argmax(parts, axis=0)
