"""Disaggregated serving, cost-model side: a prefill pool and a decode pool.

A **prefill replica** runs prompts only. Each attention-DP rank takes
``t`` tokens per pass: ``k`` whole prompts (``t = k * ISL``) when a prompt fits
the engine's token budget ``C = prefill_chunk_tokens``, or one ``C``-token
chunk of a longer prompt. A stage therefore pushes ``T = dp * t`` tokens per
pass, and passes pipeline through the ``pp`` stages without feedback, so

    requests/s = (T / ISL) / stage_s(T)
    latency    = (ceil(ISL / t) - 1) * stage_s + one pass through every stage
    TTFT       = queue_intervals * ceil(ISL/t) * stage_s + latency + KV transfer

with ``stage_s`` and the pass time from :func:`costmodel.step_terms` (decode
tokens = 0). More prompts per pass amortise the weight reads (cheaper per
request) and lengthen TTFT, so each layout runs at the largest ``k`` that fits
memory and TTFT.

A **decode replica** is :func:`costmodel.evaluate` with ``aggregated=False``:
no prefill tokens ride along, so TPOT holds a larger batch. Its TTFT is not
its own (the prefill pool emits the first token).

**KV transfer**: ``ISL * kv_bytes_per_token`` per request, sent in parallel by
the prefill GPUs that hold distinct KV shards (``pp * min(tp, kv heads)``) to
as many decode GPUs, over the scale-out NICs, or over scale-up links when both
replicas sit in one domain.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from .candidates import Layouts
from .costmodel import Evaluation, MemoryFit, StepTerms, evaluate, kv_bytes_per_gpu, max_feasible_batch, pp_hops_s, step_terms, weight_bytes_per_gpu
from ..inputs.topology import Topology, scale_up_group_bw
from ..inputs.workload import Workload


@dataclass(frozen=True)
class PrefillEvaluation(MemoryFit):
    """Prefill-only metrics of layouts at ``prompts_per_rank`` (arrays broadcast)."""

    prompts_per_rank: np.ndarray  # k; 1 for chunked long prompts
    tokens_per_pass: np.ndarray  # T = dp * t, tokens one stage pushes per pass
    gpus: np.ndarray
    step: StepTerms
    latency_s: np.ndarray  # one request, first token out (no queue, no transfer)
    queue_s: np.ndarray
    requests_per_s: np.ndarray
    input_tps: np.ndarray
    usd_per_s: np.ndarray

    @property
    def usd_per_request(self) -> np.ndarray:
        return self.usd_per_s / self.requests_per_s


def _f(x) -> np.ndarray:
    return np.asarray(x, dtype=np.float64)


def max_prompts_per_rank(w: Workload, topo: Topology) -> int:
    """Whole prompts one DP rank takes per pass within the token budget (>= 1)."""
    return max(1, int(topo.efficiency.prefill_chunk_tokens // _computed(w)))


def _computed(w: Workload) -> float:
    """Prompt tokens a prefill pool computes per request: the prefix-cache misses."""
    return max(1.0, w.prefill_isl)


def rank_tokens(w: Workload, topo: Topology, prompts_per_rank) -> np.ndarray:
    """Tokens per DP rank per pass: k whole prompts, or one budget-sized chunk."""
    C, n = topo.efficiency.prefill_chunk_tokens, _computed(w)
    return np.where(n <= C, _f(prompts_per_rank) * n, float(C))


def prefill_evaluate(w: Workload, topo: Topology, L: Layouts, prompts_per_rank) -> PrefillEvaluation:
    eff, acc = topo.efficiency, topo.accelerator
    tp, dp, pp = _f(L.tp), _f(L.dp), _f(L.pp)
    n = _computed(w)
    k = np.where(n <= eff.prefill_chunk_tokens, _f(prompts_per_rank), 1.0)
    t = rank_tokens(w, topo, k)
    T = dp * t
    s = step_terms(w, topo, L, np.zeros_like(T), T, 0.0, prefill=True)
    passes = np.ceil(n / t)  # passes per prompt per rank (1 when whole prompts fit)
    one_pass = s.layers_s + pp * eff.step_overhead_s + pp_hops_s(w, topo, L, T)
    latency = (passes - 1) * s.stage_s + one_pass + eff.request_overhead_s  # + the fixed per-request cost
    rps = (T / n) / s.stage_s
    gpus = tp * dp * pp
    held = replace(w, kv_len=w.isl)  # a prompt's KV stays until it is sent to decode
    kv = kv_bytes_per_gpu(held, L, dp * np.maximum(k, 1.0), eff.swa_kv_windowed)
    act = t * w.model.d_model * eff.activation_bytes_per_token_per_d_model
    shape = np.broadcast(rps, kv, latency).shape
    bc = lambda x: np.broadcast_to(_f(x), shape)  # noqa: E731
    return PrefillEvaluation(
        prompts_per_rank=bc(k),
        tokens_per_pass=bc(T),
        gpus=bc(gpus),
        step=s,
        latency_s=bc(latency),
        queue_s=bc(eff.queue_intervals * passes * s.stage_s),
        requests_per_s=bc(rps),
        input_tps=bc(rps * w.isl),
        usd_per_s=bc(gpus * topo.price_usd_per_gpu_hour / 3600.0),
        weights_bytes=bc(weight_bytes_per_gpu(w, L)),
        kv_bytes=bc(kv),
        activation_bytes=bc(act),
        reserve_bytes=eff.runtime_reserve_bytes,
        capacity_bytes=acc.hbm_bytes * eff.memory_usable_fraction,
    )


# --------------------------------------------------------------------------- KV transfer


def kv_shard_gpus(w: Workload, L: Layouts) -> np.ndarray:
    """GPUs holding distinct pieces of one request's KV: every stage, and the KV
    heads tensor parallelism splits (one DP rank holds the request)."""
    return _f(L.pp) * np.minimum(_f(L.tp), w.model.kv_shardable_heads)


def kv_transfer_s(w: Workload, topo: Topology, senders, receivers, scale_up: bool) -> np.ndarray:
    """Time to move one prompt's KV from prefill to decode GPUs."""
    eff = topo.efficiency
    size = w.isl * w.kv_bytes_per_token(w.isl)
    if scale_up:  # sender to receiver: the link(s) between two GPUs (one of seven on an 8-GPU mesh)
        bw, lat = float(scale_up_group_bw(topo, 2.0)) * eff.scale_up_bw_fraction, eff.p2p_latency_s
    else:
        bw, lat = topo.scale_out_bw_per_gpu * eff.scale_out_bw_fraction, eff.p2p_latency_s + eff.scale_out_latency_s
    lanes = np.minimum(_f(senders), _f(receivers))
    return size / (lanes * max(bw, 1.0)) + lat


# --------------------------------------------------------------------------- pool options


@dataclass(frozen=True)
class PrefillOptions:
    """Every layout at its best prompts-per-pass (0 where none fits)."""

    layouts: Layouts
    prompts_per_rank: np.ndarray  # 0 = infeasible
    ev: PrefillEvaluation  # at max(k, 1)

    @property
    def feasible(self) -> np.ndarray:
        return self.prompts_per_rank > 0

    def ranked(self) -> np.ndarray:
        cost = np.where(self.feasible, self.ev.usd_per_request, np.inf)
        order = np.lexsort((np.arange(len(cost)), cost))
        return order[np.isfinite(cost[order])]


def prefill_options(w: Workload, topo: Topology, L: Layouts, scale_up: bool = False) -> PrefillOptions:
    """Largest k per layout meeting memory and TTFT, the transfer counted at its
    best (as many decode receivers as senders); the pool solver then drops
    pairings whose receivers are fewer."""
    kmax = max_prompts_per_rank(w, topo)
    ks = sorted({1, kmax} | {2**i for i in range(kmax.bit_length()) if 2**i <= kmax})
    xfer = kv_transfer_s(w, topo, kv_shard_gpus(w, L), kv_shard_gpus(w, L), scale_up)
    best = np.zeros(len(L))
    for k in ks:  # TTFT and memory grow with k: keep the largest that passes
        ev = prefill_evaluate(w, topo, L, k)
        ok = ev.fits_memory & (ev.queue_s + ev.latency_s + xfer <= w.ttft_s)
        best = np.where(ok, float(k), best)
    ev = prefill_evaluate(w, topo, L, np.maximum(best, 1.0))
    return PrefillOptions(L, best, ev)


def decode_workload(w: Workload) -> Workload:
    """The decode pool's view of a workload: TTFT belongs to the prefill pool."""
    return replace(w, ttft_s=float("inf"))


def decode_options(w: Workload, topo: Topology, L: Layouts) -> tuple[np.ndarray, Evaluation]:
    """Largest decode batch per layout meeting memory and TPOT, with no prefill
    tokens in the step; the evaluation at max(batch, dp)."""
    wd = decode_workload(w)
    b = max_feasible_batch(wd, topo, L, aggregated=False)
    return b, evaluate(wd, topo, L, np.maximum(b, L.dp), aggregated=False)
