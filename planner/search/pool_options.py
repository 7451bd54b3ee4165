"""Disaggregated serving, the options side: which prefill and decode options the
pool solver is offered, which pairs meet TTFT, and the core problem of one KV
link (split pools over scale-out, or colocated pools over scale-up links)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..inputs import units
from ..inputs.topology import Topology
from ..inputs.workload import Workload
from ..physics.candidates import Layouts, enumerate_layouts
from ..physics.costmodel import Evaluation, evaluate as evaluate_arrays
from ..physics.disagg import PrefillOptions, decode_options, decode_workload, kv_shard_gpus, kv_transfer_s, prefill_options
from . import problem as core
from .options import pareto


@dataclass(frozen=True)
class Decode:
    """Decode options handed to the solver: the best layouts, each at its largest
    batch and at smaller ones (a small inventory may need a decode replica that
    serves fewer requests so that the prefill pool can keep up)."""

    layouts: Layouts
    batch: np.ndarray
    ev: Evaluation


BATCH_FRACTIONS = (1.0, 0.5, 0.25)


def decode_choices(w: Workload, topo: Topology, L: Layouts, b: np.ndarray, dev: Evaluation) -> Decode:
    """Non-dominated decode layouts: no smaller shape serves as many tokens/s as
    cheaply with as many KV receivers (no fixed top-N: see search.options.pick_for_solver).
    Each is also offered at BATCH_FRACTIONS of its batch (a small inventory may
    need decode replicas that serve fewer requests so that prefill keeps up).
    The set depends only on the layouts that fit, so a larger inventory keeps
    every option of a smaller one."""
    keys = np.column_stack([L.chunks, L.chunk_gpus, -dev.output_tps, dev.usd_per_s, -kv_shard_gpus(w, L)])
    cost = np.where(b > 0, dev.usd_per_s / np.maximum(dev.output_tps, 1e-300), np.inf)
    ok = np.nonzero(b > 0)[0]
    kept = set(pareto(keys, ok))
    idx = [int(i) for i in np.argsort(cost, kind="stable") if int(i) in kept]
    rows, batches = [], []
    for i in idx:
        dp = int(L.dp[i])
        for f in BATCH_FRACTIONS:
            bb = max(dp, int(b[i] * f) // dp * dp)
            if f == 1.0 or bb < b[i] and bb not in [x for r, x in zip(rows, batches) if r == i]:
                rows.append(i)
                batches.append(bb)
    Ld = L.take(rows)
    bd = np.array(batches, dtype=np.float64)
    return Decode(Ld, bd, evaluate_arrays(decode_workload(w), topo, Ld, bd, aggregated=False))


@dataclass(frozen=True)
class PoolCandidates:
    """What the pool solver is offered: non-dominated prefill layouts (rows of
    ``L``), decode options, and which pairs meet TTFT."""

    L: Layouts
    pre: PrefillOptions
    p_idx: list[int]
    dec: Decode
    compat: np.ndarray  # [prefill n][decode k]
    n_layouts: int


def pool_candidates(w: Workload, topo: Topology, scale_up: bool, max_gpus=None, base=None) -> "PoolCandidates | str":
    """Candidates for one KV link; a one-line reason instead when there are none.
    ``base``: (layouts, decode batch, decode evaluation, decode choices) if known."""
    if base is None:
        L = enumerate_layouts(w, topo, max_gpus)
        if len(L) == 0:
            return f"no layout of {w.name} can be placed on {topo.n_available} available GPUs of {topo.name}"
        b, dev = decode_options(w, topo, L)
        if not (b > 0).any():
            return f"tpot: no decode layout of {w.name} fits memory and TPOT {w.tpot_s / units.MS:g} ms"
        base = (L, b, dev, decode_choices(w, topo, L, b, dev))
    L, _, _, dec = base
    pre = prefill_options(w, topo, L, scale_up)
    if not pre.feasible.any():
        return f"ttft: no prefill layout of {w.name} meets memory and TTFT {w.ttft_s / units.MS:g} ms"
    p_idx = prefill_choices(w, topo, pre, dec.layouts, scale_up)
    # TTFT of every (prefill, decode) pair: queue + pass + KV transfer to the decode shards
    lat = pre.ev.queue_s[p_idx] + pre.ev.latency_s[p_idx]
    xfer = kv_transfer_s(w, topo, kv_shard_gpus(w, L.take(p_idx))[:, None], kv_shard_gpus(w, dec.layouts)[None, :], scale_up)
    return PoolCandidates(L, pre, p_idx, dec, (lat[:, None] + xfer) <= w.ttft_s, 2 * len(L))


def pool_problem(w, topo, L, dec: Decode, c: PoolCandidates, scale_up, objective, demand_tps, max_gpus, time_limit_s) -> core.Problem:
    """The core problem of one KV link: prefill options first, then decode options."""
    pre, p_idx = c.pre, c.p_idx
    Ld, dev = dec.layouts, dec.ev
    n_pre = len(p_idx)
    free = [len(topo.available_in(j)) for j in range(topo.n_domains)]
    return core.Problem(
        options=tuple(
            core.Option(core.PREFILL, int(L.gpus[i]), int(L.chunks[i]), 0.0, float(pre.ev.usd_per_s[i]), rps=float(pre.ev.requests_per_s[i]))
            for i in p_idx
        ) + tuple(
            core.Option(core.DECODE, int(Ld.gpus[k]), int(Ld.chunks[k]), float(dev.output_tps[k]), float(dev.usd_per_s[k]), rps=float(dev.output_tps[k]) / w.osl)
            for k in range(len(Ld))
        ),
        classes=core.singletons(free) if scale_up else core.classes_of(free),
        objective=objective,
        demand_tps=(demand_tps,) if demand_tps is not None else (),
        incompatible=frozenset((int(a), n_pre + int(k)) for a, k in zip(*np.nonzero(~c.compat))),
        colocated=scale_up,
        max_gpus=max_gpus,
        budget=core.budget_for(time_limit_s / 2),
        names=("output tokens/s (--demand-tps, or the hardware's rates)", "--price-per-gpu-hour"),
    )


def prefill_choices(w: Workload, topo: Topology, pre: PrefillOptions, Ld: Layouts, scale_up: bool) -> list[int]:
    """Non-dominated prefill layouts: shape, requests/s, $/s, and how many decode
    options they meet TTFT with (the compatible decode options of one prefill
    layout are those with enough KV receivers, so these sets are nested and
    their size orders them)."""
    ev, L = pre.ev, pre.layouts
    ok = np.nonzero(pre.feasible)[0]
    lat = ev.queue_s + ev.latency_s
    # decode options meeting TTFT per prefill layout, counted per receiver level (a
    # handful of distinct KV shard counts, not one column per decode option: at 32
    # racks that matrix was 9,000 x 750)
    levels, per_level = np.unique(kv_shard_gpus(w, Ld), return_counts=True)
    xfer = kv_transfer_s(w, topo, kv_shard_gpus(w, L)[:, None], levels[None, :], scale_up)
    reach = (((lat[:, None] + xfer) <= w.ttft_s) * per_level[None, :]).sum(axis=1)
    keys = np.column_stack([L.chunks, L.chunk_gpus, -ev.requests_per_s, ev.usd_per_s, -reach])
    kept = set(pareto(keys, ok))
    return [int(i) for i in pre.ranked() if int(i) in kept]
