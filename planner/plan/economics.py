"""Serving economics of a plan: prefix-cache prices and where cached prefixes wait.

Input tokens split as API price sheets split them:

* a cache miss pays prefill compute: the plan's prefill dollars over the tokens
  actually computed, ``usd_in / (1 - h)`` per input token (h: hit rate);
* a cache hit pays for holding its KV until it is reused and restoring it:
  the cheapest option of :mod:`planner.physics.kv_tiers` at the hold time,
  per cached token.

Decode reads and holds the whole context either way (hits do not shorten it).
"""

from __future__ import annotations

from typing import Any

from ..inputs.topology import Topology
from ..inputs.workload import Workload
from ..physics import kv_tiers as kt
from ..physics.costmodel import gemm_rate, prefill_attn_flops_per_ctx


def _r(x: float) -> float | None:
    return None if x != x or x in (float("inf"), float("-inf")) else float(f"{x:.4g}")


def tiers_for(w: Workload, topo: Topology) -> list[kt.Tier]:
    """HBM (priced at its share of the GPU-hour) then the topology's tiers."""
    usable = topo.accelerator.hbm_bytes * topo.efficiency.memory_usable_fraction
    return [kt.hbm_tier(usable, topo.price_usd_per_gpu_hour)] + list(topo.kv_tiers)


def prefix_options(w: Workload, topo: Topology, prefix_tokens: float, usd_per_prefill_token: float | None) -> list[kt.Option]:
    nbytes = prefix_tokens * w.kv_bytes_per_token()
    gpu_usd_per_s = topo.price_usd_per_gpu_hour / 3600.0
    recompute = None if usd_per_prefill_token is None else prefix_tokens * usd_per_prefill_token
    return kt.options(tiers_for(w, topo), nbytes, gpu_usd_per_s, recompute)


def prefill_compute_usd_per_token(w: Workload, topo: Topology) -> float:
    """Compute-only cost of one computed prompt token: its FLOPs (2 per active
    parameter, plus attention to the cached prefix and half its new tokens) at the
    calibrated prefill rate of one GPU, that GPU-second at its price."""
    m = w.model
    ctx = w.cached_prefix_tokens + w.prefill_isl / 2.0
    flops = 2.0 * m.active_params + m.n_layers * prefill_attn_flops_per_ctx(m) * ctx
    return flops / gemm_rate(w, topo, main_component(w), prefill=True) * topo.price_usd_per_gpu_hour / 3600.0


def main_component(w: Workload) -> str:
    """The weights most of a token's FLOPs go through: the experts of an MoE, else the MLP."""
    return "routed_experts" if w.model.is_moe else "dense_ffn"


def economics(w: Workload, topo: Topology, metrics: dict[str, Any]) -> dict[str, Any]:
    """Cache-hit and cache-miss input prices, the tier a cached prefix waits in at
    the workload's hold time, and the break-even hold times between tiers."""
    h = w.prefix_hit_rate
    usd_in = metrics.get("usd_per_mtok_input")
    marginal = usd_in / (1.0 - h) if usd_in is not None else 0.0
    compute_only = prefill_compute_usd_per_token(w, topo) * 1e6
    miss = max(marginal, compute_only)  # a computed prompt token never costs less than its FLOPs
    out: dict[str, Any] = {
        "prefix_hit_rate": _r(h),
        "cached_prefix_tokens": _r(w.cached_prefix_tokens),
        "prefix_hold_s": _r(w.prefix_hold_s) if w.prefix_hold_s else None,
        "usd_per_mtok_input_marginal": _r(marginal),
        "usd_per_mtok_prefill_compute_only": _r(compute_only),
        "usd_per_mtok_input_cache_miss": _r(miss),
    }
    # the prefix that waits: the cached part of a prompt, or (no hits stated) the whole prompt
    prefix = w.cached_prefix_tokens if h > 0 else float(w.isl)
    per_token = miss / 1e6
    opts = prefix_options(w, topo, prefix, per_token)
    nbytes = prefix * w.kv_bytes_per_token()
    out["prefix_kv_bytes"] = _r(nbytes)
    out["tier_break_evens"] = [{"from": b.frm, "to": b.to, "hold_s": _r(b.hold_s)} for b in kt.break_evens(opts)]
    if w.prefix_hold_s:
        gpus = float(metrics.get("gpus_used") or 1)
        req_per_s_per_gpu = float(metrics.get("input_tokens_per_s") or 0.0) / w.isl / gpus
        held = req_per_s_per_gpu * w.prefix_hold_s * nbytes  # Little's law: prefixes waiting at once
        gpu_usd_per_s = topo.price_usd_per_gpu_hour / 3600.0
        recompute = None if per_token is None else prefix * per_token
        best = kt.spill(tiers_for(w, topo), nbytes, held, gpu_usd_per_s, w.prefix_hold_s, recompute)
        cost = best.cost_usd(w.prefix_hold_s)
        tier = next((t for t in tiers_for(w, topo) if t.name == best.name), None)
        out.update({
            "prefix_tier": best.name,
            "prefix_held_bytes_per_gpu": _r(held),
            "prefix_restore_s": _r(kt.restore_s(tier, nbytes)) if tier else None,
            "usd_per_mtok_input_cache_hit": _r(cost / max(prefix, 1.0) * 1e6) if h > 0 else None,
        })
    return out
