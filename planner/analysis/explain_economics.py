"""``explain``'s serving-economics seeds: the long-context crossover and the price
multiplier a long-context tier needs, the break-even hold times between KV tiers,
and an honest prefill-vs-decode comparison (docs/serving-economics.md)."""

from __future__ import annotations

from typing import Any

from ..inputs import units
from ..inputs.topology import Topology
from ..inputs.workload import Workload
from ..physics import long_context as lc
from ..physics.costmodel import gemm_rate
from ..plan.economics import economics, main_component, prefill_compute_usd_per_token

CONTEXT_GRID = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0)  # contexts shown, in units of the crossover


def crossover_inputs(w: Workload, topo: Topology) -> dict[str, float]:
    """Achieved FLOP/s and HBM bytes/s of one GPU (calibrated), and KV bytes per token."""
    acc, eff = topo.accelerator, topo.efficiency
    return {
        "flops_per_s": gemm_rate(w, topo, main_component(w)),
        "hbm_bytes_per_s": acc.hbm_bw_bytes_per_s * eff.hbm_fraction,
        "kv_bytes_per_token": w.kv_bytes_per_token(),
        "active_params": float(w.model.active_params),
    }


def long_context_seeds(w: Workload, topo: Topology, seed_cls) -> list:
    x = crossover_inputs(w, topo)
    L = lc.crossover_tokens(x["active_params"], x["flops_per_s"], x["hbm_bytes_per_s"], x["kv_bytes_per_token"])
    top = w.model.max_position_embeddings or int(8 * L)
    base = min(w.kv_len, L)
    contexts = [f * L for f in CONTEXT_GRID]
    while contexts[-1] < top:  # carry the curve on to the model's maximum context
        contexts.append(min(2 * contexts[-1], top))
    curve = [{"context_tokens": round(c), "relative_cost": round(lc.relative_cost(c, L), 4)} for c in contexts]
    m_top = lc.price_multiplier(top, base, L)
    m_2x = lc.price_multiplier(2 * L, base, L)
    kvk = x["kv_bytes_per_token"] / 1e3
    return [
        seed_cls("long_context_crossover", "Long-context crossover (KV reads = compute per token at the balance batch)", L, "tokens",
                 f"a decode token reads ~{kvk:,.0f} kB of KV per token of context; at ~{L:,.0f} tokens that read takes as long as the token's "
                 f"2 x {x['active_params'] / 1e9:,.0f}B FLOPs at the balance batch. Past it $/token grows ~linearly with context "
                 "(cost = compute x (1 + L / L*)): where providers start a long-context price tier",
                 {**x, "curve": curve, "model_max_context": w.model.max_position_embeddings or None}),
        seed_cls("long_context_price_multiplier", "Price multiplier a long-context tier needs", m_top, "x",
                 f"to keep the margin of requests at {base:,.0f} tokens, a request at {top:,} tokens"
                 f"{' (the model maximum)' if w.model.max_position_embeddings else ''} must be priced {m_top:.2f}x "
                 f"(at 2x the crossover, {2 * L:,.0f} tokens: {m_2x:.2f}x)",
                 {"base_context_tokens": base, "context_tokens": top, "multiplier_at_2x_crossover": m_2x}),
    ]


def tier_seed(w: Workload, topo: Topology, metrics: dict[str, Any], seed_cls):
    e = economics(w, topo, metrics)
    evens = e["tier_break_evens"]
    if not topo.kv_tiers:
        text = f"{topo.name} lists no KV tiers below HBM (kv_tiers:): a cached prefix stays in HBM or is recomputed"
    else:
        steps = "; ".join(f"{b['from']} -> {b['to']} past {_dur(b['hold_s'])}" for b in evens)
        text = (f"a {e['prefix_kv_bytes'] / units.GB:,.2f} GB prefix is cheapest in: {steps}"
                + (f". At the {_dur(w.prefix_hold_s)} hold time it waits in {e['prefix_tier']} "
                   f"(restore {e['prefix_restore_s']:.3g} s)" if w.prefix_hold_s else ""))
    first = evens[0]["hold_s"] if evens else None
    return seed_cls("kv_tier_break_evens", "Break-even hold times between KV tiers", first, "s", text, e)


def prefill_seed_detail(w: Workload, topo: Topology, usd_in_marginal: float) -> dict[str, Any]:
    """Compute-only cost of a prefill token next to its marginal price, and which binds."""
    compute_only = prefill_compute_usd_per_token(w, topo) * 1e6
    miss = usd_in_marginal / (1.0 - w.prefix_hit_rate)
    return {"usd_per_mtok_prefill_compute_only": compute_only, "usd_per_mtok_input_marginal": miss,
            "bound": "marginal below compute-only: prefill rides on memory-bound decode steps" if miss < compute_only
            else "marginal: prefill pays for more than its own FLOPs"}


def _dur(s: float) -> str:
    if s < 120:
        return f"{s:.3g} s"
    if s < 7200:
        return f"{s / 60:.3g} min"
    return f"{s / 3600:.3g} h"
