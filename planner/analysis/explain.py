"""``explain``: the seeds of the cost model for one workload on one topology,
each with its number and a one-line takeaway (design/cost-model.md).

    from planner.analysis.explain import explain
    e = explain("llama-3.1-70b", "hgx-h100")
    e.seed("balance_batch").value
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from .. import api
from ..inputs import units
from .analysis import BATCH_GRID, layout_label
from ..physics.costmodel import evaluate as evaluate_arrays
from ..physics.gemm import gemm_rate
from ..plan.assembly import _r, layout_dict, option_metrics
from .explain_economics import long_context_seeds, prefill_seed_detail, tier_seed
from ..inputs.topology import Topology
from ..inputs.workload import Workload

# --------------------------------------------------------------------------- explain


@dataclass(frozen=True)
class Seed:
    """One first-order consequence of the cost model, with its number."""

    key: str
    title: str
    value: float | None
    unit: str
    takeaway: str
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Explanation:
    workload: str
    topology: str
    domains: int
    domain_unit: str
    note: str
    seeds: tuple[Seed, ...]
    curve: dict[str, Any]  # the chosen layout swept over batch, for the plot

    def seed(self, key: str) -> Seed:
        return next(s for s in self.seeds if s.key == key)

    def to_dict(self) -> dict[str, Any]:
        return {
            "workload": self.workload, "topology": self.topology, "domains": self.domains,
            "domain_unit": self.domain_unit, "note": self.note,
            "seeds": [{**s.__dict__, "value": _r(s.value) if s.value is not None else None} for s in self.seeds],
            "curve": self.curve,
        }


def weight_stages(w: Workload, topo: Topology) -> tuple[int, float]:
    """Scale-up domains the weights alone need, and the usable bytes of one domain."""
    eff = topo.efficiency
    usable = topo.accelerator.hbm_bytes * eff.memory_usable_fraction - eff.runtime_reserve_bytes
    domain = topo.domain_size * usable
    return max(1, math.ceil(w.weight_bytes / domain)), domain


def _crossover_ctx(w: Workload, topo: Topology, L, batch: int) -> float | None:
    """Context length at which one decode step's KV reads take as long as its weight
    reads (same HBM), by bisection on the cost model's step terms."""
    from ..physics.costmodel import step_terms

    gap = lambda ctx: float(np.squeeze(np.subtract(*(lambda s: (s.kv_s, s.weights_s))(step_terms(w, topo, L, float(batch), 0.0, ctx)))))  # noqa: E731
    lo, hi = 1.0, 1e10
    if gap(lo) >= 0:
        return lo
    if gap(hi) < 0:
        return None  # every layer attends in a window: KV never catches up
    while hi / lo > 1.001:
        mid = math.sqrt(lo * hi)
        lo, hi = (mid, hi) if gap(mid) < 0 else (lo, mid)
    return hi


def explain(workload: str | Workload, topology: str | Topology, query: api.Query | None = None) -> Explanation:
    """The seeds of the cost model (design/cost-model.md) for one workload on one
    topology, each a number from the model's inputs or the model itself."""
    q = query or api.Query()
    w, topo = api.load(workload, topology, q)
    stages, domain_usable = weight_stages(w, topo)
    note = ""
    if isinstance(topology, str) and q.domains is None and stages > topo.n_domains:
        note = f"scaled from {topo.n_domains} to {stages} {topo.domain_unit}s: the weights need them"
        w, topo = api.load(workload, topology, replace(q, domains=stages))
    balance = _balance_seed(w, topo)
    floor = _floor_seed(w, topo)
    seeds = [balance, floor]
    opts = api.options(w, topo)
    curve: dict[str, Any] = {}
    if not opts.feasible.any():
        why = api.explain_infeasible(w, topo, opts)
        for key, title in (("batch1_vs_best", "Cost at batch 1 vs the best batch"), ("kv_crossover", "KV crossover context length"),
                           ("prefill_vs_decode", "Prefill vs decode cost per token")):
            seeds.append(Seed(key, title, None, "", f"no plan meets the limits ({why})"))
    else:
        best = int(opts.ranked()[0])
        seeds += _plan_seeds(w, topo, opts, best)
        curve = _curve(w, topo, opts, best, balance, floor)
    seeds.extend(long_context_seeds(w, topo, Seed))
    seeds += [_ep_seed(w, topo, opts.layouts), _pipeline_seed(w, topo, stages, domain_usable)]
    return Explanation(w.name, topo.name, topo.n_domains, topo.domain_unit, note, tuple(seeds), curve)


def _balance_seed(w: Workload, topo: Topology) -> Seed:
    m, acc, eff = w.model, topo.accelerator, topo.efficiency
    wb = units.dtype_bytes(w.weight_dtype)
    # the main GEMMs (experts of an MoE, the MLP of a dense model) compute in their
    # format's precision on this accelerator: BF16 where it dequantises (MXFP4 on Hopper)
    main = "routed_experts" if m.is_moe else "dense_ffn"
    cd = w.weights.compute(main, acc.peak_flops)
    peak, bw = acc.peak_flops[cd], acc.hbm_bw_bytes_per_s
    b_star = peak / bw * wb / 2 * m.sparsity
    # calibrated: the achieved rate the cost model gives those GEMMs over the achieved HBM rate
    b_cal = gemm_rate(w, topo, main) / (bw * eff.hbm_fraction) * wb / 2 * m.sparsity
    moe = f"; the MoE's N/N_a = {m.sparsity:.1f} multiplies the batch it needs" if m.is_moe else ""
    return Seed("balance_batch", "Balance batch (compute = weight reads)", b_star, "sequences",
                f"below ~{b_star:,.0f} sequences per step decode waits on weight reads and cost per token falls ~1/B; above it, compute sets the pace{moe}",
                {"peak_tflops": peak / units.TFLOPS, "compute_dtype": cd, "hbm_tb_per_s": bw / units.TB, "flop_per_byte": peak / bw,
                 "bytes_per_param": wb, "sparsity_total_over_active": m.sparsity, "calibrated": b_cal})


def _floor_seed(w: Workload, topo: Topology) -> Seed:
    m, eff, ms = w.model, topo.efficiency, units.MS
    unit, D = topo.domain_unit, topo.domain_size
    wb = units.dtype_bytes(w.weight_dtype)
    agg = D * topo.accelerator.hbm_bw_bytes_per_s
    floor, floor_cal = w.weight_bytes / agg, w.weight_bytes / agg / eff.hbm_fraction
    head = w.tpot_s / floor_cal
    active_cal = m.active_params * wb / agg / eff.hbm_fraction
    slo = f"the {w.tpot_s / ms:g} ms TPOT SLO"
    verdict = (f"{slo} leaves {head:.1f}x headroom" if head >= 1
               else f"{slo} is below it: only small batches that touch few experts can meet it" if m.is_moe and w.tpot_s >= active_cal
               else f"{slo} is below it: no batch on one {unit} can meet it")
    return Seed("latency_floor", "Latency floor (weights / HBM bandwidth of one domain)", floor / ms, "ms",
                f"no batch makes a step faster than {floor / ms:.2f} ms ({floor_cal / ms:.2f} ms at {eff.hbm_fraction:.0%} of peak HBM) on one "
                f"{D}-GPU {unit}; {verdict}; only more GPUs in the fast domain lower it"
                + (f". An MoE step at batch 1 reads only the active experts: {active_cal / ms:.2f} ms" if m.is_moe else ""),
                {"weight_gb": w.weight_bytes / units.GB, "domain_gpus": D, "aggregate_hbm_tb_per_s": agg / units.TB,
                 "calibrated_ms": floor_cal / ms, "batch1_active_only_ms": m.active_params * wb / agg / ms})


def _plan_seeds(w: Workload, topo: Topology, opts, best: int) -> list[Seed]:
    """The seeds that need the best plan: batch 1 vs best, KV crossover, prefill vs decode."""
    from ..physics.costmodel import step_terms

    L, ev = opts.layouts, opts.ev
    Lb, B = L.take([best]), int(opts.batch[best])
    lay = layout_label(layout_dict(L.row(best)))
    c_best = float(ev.usd_per_mtok_all_in[best])
    one = np.flatnonzero(L.dp == 1)
    ev1 = evaluate_arrays(w, topo, L.take(one), np.ones(len(one)))
    c1 = np.where(ev1.fits_memory, ev1.usd_per_mtok_all_in, np.inf)
    j = int(np.argmin(c1))
    ratio = float(c1[j] / c_best)
    seeds = [Seed("batch1_vs_best", "Cost at batch 1 vs the best batch", ratio, "x",
                  f"one sequence at a time costs ${c1[j]:,.2f}/Mtok ({layout_label(layout_dict(L.take(one).row(j)))}), {ratio:,.0f}x the "
                  f"${c_best:.3f}/Mtok of batch {B} ({lay}) within the SLOs: batching is the first lever",
                  {"usd_per_mtok_batch1": float(c1[j]), "usd_per_mtok_best": c_best, "best_batch": B, "best_layout": lay})]
    kvpt = w.kv_bytes_per_token()
    x = _crossover_ctx(w, topo, Lb, B)
    if x is None:
        seeds.append(Seed("kv_crossover", "KV crossover context length", None, "tokens",
                          "every layer attends within a window: KV reads never outgrow weight reads"))
    else:
        seeds.append(Seed("kv_crossover", "KV crossover context length", x, "tokens",
                          f"at batch {B} ({lay}) KV reads equal weight reads at ~{x:,.0f} tokens of context ({kvpt / 1e3:,.0f} kB of KV per token); "
                          f"this workload's {w.kv_len:,} are {w.kv_len / x:.2g}x that. Past it step time and cost per token grow ~linearly "
                          "with context: why long-context requests are priced in a higher tier",
                          {"kv_bytes_per_token": kvpt, "batch": B, "layout": lay, "workload_kv_len": w.kv_len}))
    cin, cout = float(ev.usd_per_mtok_input[best]), float(ev.usd_per_mtok_output[best])
    chunk = float(topo.efficiency.prefill_chunk_tokens)  # the chunked-prefill token budget, filled from several prompts
    pre = step_terms(w, topo, Lb, 0.0, chunk, 0.0, prefill=True)
    dec = step_terms(w, topo, Lb, float(B), 0.0, max(1.0, w.kv_len - w.osl / 2.0))
    bound = lambda s: float(np.squeeze(s.compute_s / (s.weights_s + s.kv_s)))  # noqa: E731
    pb, db = bound(pre), bound(dec)
    pd = prefill_seed_detail(w, topo, cin)
    c_in = max(pd["usd_per_mtok_input_marginal"], pd["usd_per_mtok_prefill_compute_only"])
    rel = cout / c_in if c_in else float("inf")
    seeds.append(Seed("prefill_vs_decode", "Prefill vs decode cost per token", rel, "x",
                      f"an output token costs {rel:,.1f}x a computed input token: ${cout:.3f}/Mtok out vs ${c_in:.4f}/Mtok in, the larger of the "
                      f"marginal price (${pd['usd_per_mtok_input_marginal']:.4f}, prefill's share of mixed steps) and the compute-only cost "
                      f"(${pd['usd_per_mtok_prefill_compute_only']:.4f}, every prefill FLOP at its rate); bound: {pd['bound']}. A prefill chunk of "
                      f"{chunk:,.0f} tokens spends {pb:,.1f}x its memory time on compute, a decode step of {B} spends {db:.2f}x",
                      {"usd_per_mtok_input": cin, "usd_per_mtok_output": cout, "prefill_compute_over_memory": pb,
                       "decode_compute_over_memory": db, "prefill_chunk_tokens": chunk, **pd}))
    seeds.append(tier_seed(w, topo, option_metrics(ev, best), Seed))
    return seeds


def _curve(w: Workload, topo: Topology, opts, best: int, balance: Seed, floor: Seed) -> dict[str, Any]:
    """The chosen layout, and the one-domain layout closest to the latency floor, swept over batch."""
    L, ev, ms, D = opts.layouts, opts.ev, units.MS, topo.domain_size
    B = int(opts.batch[best])
    whole = np.flatnonzero((L.gpus == D) & (L.chunks == 1))
    ev0 = evaluate_arrays(w, topo, L.take(whole), L.dp[whole])  # at their smallest batch
    t0 = np.where(ev0.fits_memory, ev0.tpot_s, np.inf)
    series = [best] + ([int(whole[np.argmin(t0)])] if np.isfinite(t0).any() else [])
    curve: dict[str, Any] = {
        "series": [], "chosen_batch": B, "chosen_usd_per_mtok": float(ev.usd_per_mtok_all_in[best]), "chosen_tpot_ms": float(ev.tpot_s[best] / ms),
        "chosen_layout": layout_label(layout_dict(L.row(best))), "balance_batch": balance.value,
        "latency_floor_ms": floor.detail["calibrated_ms"], "tpot_slo_ms": w.tpot_s / ms,
        "latency_floor_batch1_ms": floor.detail["batch1_active_only_ms"] / topo.efficiency.hbm_fraction if w.model.is_moe else None,
    }
    for k in dict.fromkeys(series):
        Lk = L.take([k])
        Bs = np.unique(np.concatenate([Lk.dp[0] * BATCH_GRID, [max(int(opts.batch[k]), int(Lk.dp[0]))]]))
        evc = evaluate_arrays(w, topo, Lk, Bs)
        fit = evc.fits_memory
        curve["series"].append({"layout": layout_label(layout_dict(L.row(k))), "gpus": int(Lk.gpus[0]), "batch": Bs[fit].tolist(),
                                "usd_per_mtok_all_in": evc.usd_per_mtok_all_in[fit].tolist(), "tpot_ms": (evc.tpot_s[fit] / ms).tolist()})
    return curve


def _ep_seed(w: Workload, topo: Topology, L) -> Seed:
    m, gb, unit, D = w.model, units.GB, topo.domain_unit, topo.domain_size
    if not m.is_moe:
        return Seed("max_ep_in_domain", "Largest EP group inside one scale-up domain", None, "GPUs",
                    "dense model: no expert layer to spread; tensor parallelism inside the domain is the only way to widen a replica")
    inside = L.stage_domains == 1
    ep = int(L.ep[inside].max()) if inside.any() else 1
    up, out = topo.alltoall_bw_per_gpu, topo.scale_out_bw_per_gpu
    return Seed("max_ep_in_domain", "Largest EP group inside one scale-up domain", ep, "GPUs",
                f"EP up to {ep} ({math.ceil(m.n_routed_experts / ep)} of {m.n_routed_experts} experts per GPU) keeps the all-to-all on the "
                f"{D}-GPU {unit} at {up / gb:,.0f} GB/s per GPU; a wider group sends part of it over {out / gb:,.0f} GB/s NICs, "
                f"{up / out:,.0f}x slower: one {unit} bounds an efficient expert layer",
                {"n_routed_experts": m.n_routed_experts, "scale_up_gb_per_s": up / gb, "scale_out_gb_per_s": out / gb})


def _pipeline_seed(w: Workload, topo: Topology, stages: int, domain_usable: float) -> Seed:
    gb, unit = units.GB, topo.domain_unit
    left = stages * domain_usable - w.weight_bytes
    seqs = left / (w.kv_bytes_per_token() * w.kv_len)
    msg = (f"the weights ({w.weight_bytes / gb:,.0f} GB) fit one {unit} ({domain_usable / gb:,.0f} GB usable): no pipeline needed; the rest holds KV "
           f"for at most ~{seqs:,.0f} sequences of {w.kv_len:,} tokens" if stages == 1 else
           f"the weights ({w.weight_bytes / gb:,.0f} GB) need {stages} {unit}s ({domain_usable / gb:,.0f} GB usable each): pipeline stages across "
           f"{unit}s (PP >= {stages}), each hop over the scale-out network, or a narrower weight precision")
    return Seed("pipeline_stages", "Pipeline stages the weights need", stages, f"{unit}(s)", msg,
                {"weight_gb": w.weight_bytes / gb, "domain_usable_gb": domain_usable / gb, "kv_sequences_that_fit": seqs})
