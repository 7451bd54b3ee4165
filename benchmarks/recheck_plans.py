"""Re-check plans against hand roofline arithmetic (docs/fidelity.md, "Plans re-checked").

    python benchmarks/recheck_plans.py            # markdown table, seconds

For each workload x topology x TPOT target the planner plans an aggregated
deployment; the script then takes the first replica's layout and batch and sets
the cost model's step parts (planner.physics.costmodel.evaluate) next to hand
arithmetic that uses only parameter counts, formats and datasheet numbers:

    weights  = sum over the heaviest stage's layers of (attention/t + shared/t + experts held x touched / (S/e))
               x bytes/param, over hbm_bw x hbm_fraction
    LM head  = max(vocab x d_model x 2 B / t over the HBM rate, 2 x B x vocab x d_model / S over the BF16 rate)
    KV       = (B/d) x ctx x KV bytes per token-layer x stage layers / KV shards, over hbm_bw x hbm_fraction
    2*N_a*T  = 2 x active parameters x (B + B*ISL/OSL) / S x stage share, over the main GEMMs'
               achieved rate (costmodel's gemm_rate: peak x the measured fraction of their format,
               fp8_block and weight_only included; dense roofline, no padding, no attention core,
               no imbalance)

Step parts are those of the heaviest pipeline stage (the TPOT sums every stage).

"hand" columns must equal the model's weights and KV exactly; the compute column
differs by what the model adds on purpose (attention core, grouped-GEMM padding,
expert imbalance) and says so.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from planner import api  # noqa: E402
from planner.inputs.errors import PlannerError  # noqa: E402
from planner.inputs.formats import get as fmt  # noqa: E402
from planner.physics.candidates import pinned_layout  # noqa: E402
from planner.physics.costmodel import evaluate  # noqa: E402
from planner.physics.expert_load import expected_max_normal  # noqa: E402
from planner.physics.gemm import gemm_rate  # noqa: E402

WORKLOADS = ("deepseek-v3", "qwen3-235b-a22b", "gpt-oss-120b", "kimi-k2")
TOPOLOGIES = {"hgx-h100": 4, "hgx-b200": 2, "gb200-nvl72": 1}  # scale-up domains planned over
TPOTS_MS = (15, 50, 100)


def hand(w, topo, tp, dp, ep, pp, B):
    """Weight and KV read time of one decode step of the heaviest pipeline stage (its
    ceil(layers/p) layers, MoE layers first: the dense ones lead the model), the LM
    head, and the dense-roofline compute, by hand."""
    m, acc, eff = w.model, topo.accelerator, topo.efficiency
    ls = -(-m.n_layers // pp)
    nm = min(ls, m.n_moe_layers)
    nd = ls - nm
    S = tp * dp
    moe_tp = S // ep
    bw = acc.hbm_bw_bytes_per_s * eff.hbm_fraction
    b = {c: fmt(getattr(w.weights, c)).bytes_per_param for c in ("attention", "dense_ffn", "routed_experts", "shared_experts", "embeddings")}
    T = B + B * w.isl / w.osl
    # the busiest expert group: 1 + z(e) sqrt(cv^2 / (E/e) + e / (T k)), z(e) the expected largest of e normals
    imb = min(ep, 1 + float(expected_max_normal(ep)) * ((eff.moe_expert_load_cv ** 2 * ep / m.n_routed_experts
                                                          + ep / (T * m.experts_per_token)) ** 0.5)) if m.is_moe and ep > 1 else 1.0
    touched = min(1.0, (1 - (1 - m.experts_per_token / m.n_routed_experts) ** T) * imb) if m.is_moe else 0.0
    per_gpu = (ls * m.attn_params_per_layer * b["attention"] / tp
               + nd * m.dense_mlp_params * b["dense_ffn"] / tp
               + nm * m.n_shared_experts * m.expert_params * b["shared_experts"] / tp
               + nm * -(-m.n_routed_experts // ep) * m.expert_params * b["routed_experts"] / moe_tp * touched)
    head_read = m.vocab_size * m.d_model * b["embeddings"] / tp / bw
    head_flops = 2 * B * m.vocab_size * m.d_model / S / (acc.peak_flops["bf16"] * eff.flops_fraction["bf16"])
    ctx = w.kv_len - w.osl / 2
    shards = 1 if m.attention == "mla" else min(tp, m.n_kv_heads)
    kv_layer = m.kv_elems_per_token_per_layer * 2.0  # bf16 KV
    frac = ls / m.n_layers  # the stage's share of the (alternating) window layers
    full = (m.n_layers - m.n_window_layers) * frac
    kv = (B / dp) * (full * ctx + m.n_window_layers * frac * min(ctx, m.window_tokens) + ls) * kv_layer / shards
    rate = gemm_rate(w, topo, "routed_experts" if m.is_moe else "dense_ffn")  # the measured fraction the model uses for this format
    n_active = m.active_params - m.vocab_size * m.d_model  # the input embedding is a lookup
    flops = 2 * n_active * T / S / rate * ls / m.n_layers
    return per_gpu / bw, max(head_read, head_flops), kv / bw, flops


def row(workload, topology, domains, tpot_ms):
    try:
        p = api.plan(workload, topology, api.Query(domains=domains, tpot_ms=tpot_ms), mode="agg", time_limit_s=10)
    except PlannerError as exc:
        return f"| {workload} | {topology} x{domains} | {tpot_ms} | infeasible: {str(exc)[:80]} |||||||"
    w, topo = api.load(workload, topology, api.Query(domains=domains, tpot_ms=tpot_ms))
    rep = p.replicas[0]
    lay = rep["layout"]
    L = pinned_layout(w, topo, lay["tp"], lay["pp"], lay["dp_attn"], lay["ep"])
    B = float(rep["batch"])
    ev = evaluate(w, topo, L, np.array([B]))
    s = ev.step
    ms = lambda x: float(np.ravel(x)[0]) * 1e3  # noqa: E731
    hw, hh, hk, hc = hand(w, topo, lay["tp"], lay["dp_attn"], lay["ep"], lay["pp"], B)
    usd = float(p.metrics.get("usd_per_mtok_output", float("nan")))
    lay_s = f"TP{lay['tp']} DP{lay['dp_attn']} EP{lay['ep']} PP{lay['pp']}"
    return (f"| {workload} | {topology} x{domains} | {tpot_ms} | {lay_s} | {int(B)} | {ms(ev.tpot_s):.1f} "
            f"| {ms(s.weights_s):.2f} / {hw * 1e3:.2f} | {ms(s.kv_s):.2f} / {hk * 1e3:.2f} | {ms(s.head_s):.2f} / {hh * 1e3:.2f} "
            f"| {ms(s.compute_s):.2f} / {hc * 1e3:.2f} | {ms(s.tp_comm_s) + ms(s.ep_comm_s):.2f} | {ms(s.overhead_s):.2f} | {usd:.2f} |")


def main() -> int:
    print("| workload | topology | TPOT limit ms | layout | batch | TPOT ms | weights ms model / hand | KV ms model / hand "
          "| LM head ms model / hand | stage compute ms model / 2*N_a*T | stage comm ms | stage fixed ms | $/Mtok out |")
    print("|---|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for w in WORKLOADS:
        for topo, domains in TOPOLOGIES.items():
            for t in TPOTS_MS:
                print(row(w, topo, domains, t), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
