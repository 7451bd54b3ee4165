"""The roofline cost model of design/cost-model.md, vectorised over layouts.

Every function takes numpy arrays that broadcast together (layouts on one
axis, batch sizes on another) and returns arrays. Units are SI throughout:
bytes, seconds, FLOP, FLOP/s, US dollars.

``batch`` is the decode micro-batch: sequences that step together through one
pipeline stage. A replica keeps ``pp`` micro-batches in flight, so it holds
``batch * pp`` sequences (``concurrency``).
"""

from __future__ import annotations

import numpy as np

from ..inputs import formats, units
from .candidates import Layouts
from ..inputs.topology import Topology, scale_up_group_bw
from ..inputs.workload import Workload

from . import speculative as spec
from .allreduce import allreduce_s
from .expert_comm import dispatch_combine_s
from .expert_load import busiest_group_factor
from .gemm import _b  # float64 arrays, one definition for the physics modules
from .gemm import engine_gemm_extra_s, experts_touched_fraction, gemm_rate, grouped_gemm_efficiency  # noqa: F401  (re-exported)
from .metrics import BOTTLENECKS, Evaluation, MemoryFit, StepTerms  # noqa: F401  (re-exported)
from .routed import routed_experts


# --------------------------------------------------------------------------- helpers


def _stage_layers(w: Workload, pp: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Layers in the bottleneck (largest) stage: total, dense-MLP, MoE. The dense-MLP
    layers of an MoE lead the model, so the heaviest stage is the one made of MoE
    layers only (as many as it holds)."""
    m = w.model
    ls = np.ceil(m.n_layers / _b(pp))
    nm = np.minimum(ls, m.n_moe_layers)
    return ls, ls - nm, nm


def weight_bytes_per_gpu(w: Workload, L: Layouts) -> np.ndarray:
    """Resident weights on one GPU of the largest stage, each component at its own
    format (block scales included: formats.Format.bytes_per_param)."""
    m, wp = w.model, w.weights
    tp, ep, pp = _b(L.tp), _b(L.ep), _b(L.pp)
    moe_tp = _b(L.moe_tp)
    ls, nd, nm = _stage_layers(w, pp)
    attn = m.attn_params_per_layer * wp.bytes("attention") / tp
    dense = m.dense_mlp_params * wp.bytes("dense_ffn") / tp
    shared = m.n_shared_experts * m.expert_params * wp.bytes("shared_experts") / tp
    routed = np.ceil(m.n_routed_experts / ep) * m.expert_params * wp.bytes("routed_experts") / moe_tp if m.is_moe else 0.0
    head = m.vocab_size * m.d_model * wp.bytes("embeddings") / tp * np.where((pp == 1) & (not m.tied_embeddings), 2.0, 1.0)
    return ls * attn + nd * dense + nm * (shared + routed) + head


def kv_bytes_per_gpu(w: Workload, L: Layouts, batch, windowed: bool = True) -> np.ndarray:
    """KV held per GPU: the micro-batch's sequences on this DP rank, times the pp micro-batches
    in flight, for this stage's share of layers (it does not shrink with pipeline depth).
    ``windowed``: sliding-window layers hold only their window (else the whole context)."""
    m = w.model
    kb = units.dtype_bytes(w.kv_dtype)
    tp, dp, pp = _b(L.tp), _b(L.dp), _b(L.pp)
    ls, _, _ = _stage_layers(w, pp)
    shards = np.minimum(tp, m.kv_shardable_heads)
    per_seq = m.kv_elems_per_token_per_layer * kb * (m.kv_tokens_held(w.kv_len) if windowed else m.n_layers * w.kv_len) / m.n_layers
    return _b(batch) / dp * pp * ls * per_seq / shards


def prefill_attn_flops_per_ctx(m) -> int:
    """Attention-core FLOPs of one prompt token against one cached token, one layer.
    MLA prefill runs un-absorbed multi-head attention over the decompressed keys
    (qk_nope + qk_rope wide) and values (v_head wide); GQA is the same as decode."""
    if m.attention == "mla":
        return 2 * m.n_heads * (m.qk_nope_head_dim + m.qk_rope_head_dim + m.v_head_dim)
    return m.attn_flops_per_token_per_ctx()


# --------------------------------------------------------------------------- the step


def step_terms(
    w: Workload, topo: Topology, L: Layouts, decode_tokens, prefill_tokens, ctx_decode, prefill=False, rank_tokens=None,
    queries_per_seq=1.0,
) -> StepTerms:
    """One pass of ``decode_tokens`` decode and ``prefill_tokens`` prefill tokens
    through the bottleneck stage. ``ctx_decode``: context each decode token reads.
    ``rank_tokens``: tokens on the busiest attention-DP rank (default: an even share,
    all tokens / dp); the attention side (projections, attention core, dense and
    shared-expert MLPs, all-reduce, what a GPU dispatches) runs at the busiest rank's
    load, the routed experts at the stage's total. ``queries_per_seq``: decode tokens per
    sequence (speculative verification): each attends to the context, the KV is read once."""
    m, acc, eff = w.model, topo.accelerator, topo.efficiency
    kb, ab = (units.dtype_bytes(x) for x in (w.kv_dtype, w.act_dtype))
    wp = w.weights
    r_attn, r_dense, r_shared, r_routed, r_head = (
        gemm_rate(w, topo, c, prefill) for c in ("attention", "dense_ffn", "shared_experts", "routed_experts", "embeddings"))
    attn_rate = acc.peak_flops["bf16"] * eff.flops_eff("bf16", prefill)
    hbm = acc.hbm_bw_bytes_per_s * eff.hbm_fraction  # every weight streams at this rate, experts included
    tp, dp, ep, pp = _b(L.tp), _b(L.dp), _b(L.ep), _b(L.pp)
    S, moe_tp = tp * dp, _b(L.moe_tp)
    B, P = _b(decode_tokens), _b(prefill_tokens)
    T = B + P
    Tr = T / dp if rank_tokens is None else _b(rank_tokens)  # the busiest rank's tokens
    Pr = np.maximum(Tr - B / dp, 0.0)  # of which prefill
    ls, nd, nm = _stage_layers(w, pp)

    # -- per-layer FLOPs on one GPU
    ctx_d = m.kv_tokens_held(_b(ctx_decode)) / m.n_layers
    # causal prefill attends to the cached prefix and half its new tokens on average
    ctx_p = m.kv_tokens_held(w.cached_prefix_tokens + w.prefill_isl / 2.0) / m.n_layers
    core = ((B / dp) * ctx_d * m.attn_flops_per_token_per_ctx() + Pr * ctx_p * prefill_attn_flops_per_ctx(m)) / tp
    attn_gemm = 2 * Tr * m.attn_params_per_layer / tp
    dense_gemm = 2 * Tr * m.dense_mlp_params / tp
    # expert load imbalance: with experts spread over ep > 1 groups the busiest one gets
    # imb x the mean routed tokens (expert_load.py); tensor-parallel experts (ep = 1) share every load
    imb = busiest_group_factor(ep, m.n_routed_experts, T * m.experts_per_token, eff.moe_expert_load_cv) if m.is_moe else 1.0
    shared_gemm = 2 * Tr * m.n_shared_experts / tp * m.expert_params  # a dense GEMM on the rank's tokens
    # the routed experts' fused op (routed.py): grouped GEMMs whose rate follows the tokens
    # each busy expert gets, the expert weights they read, permutes and per-copy set-up
    # (all zero for a dense model, which routes nothing)
    rx = routed_experts(m, eff, r_routed, wp.bytes("routed_experts"), T, S, ep, moe_tp, imb,
                        experts_touched_fraction(m.n_routed_experts, m.experts_per_token, T))

    # -- per-layer bytes read on one GPU
    shards = np.minimum(tp, m.kv_shardable_heads)
    kv_read = (B / queries_per_seq / dp) * ctx_d * m.kv_elems_per_token_per_layer * kb / shards
    if not eff.gqa_shared_kv_loads and m.attention != "mla":  # pre-GQA kernels load a KV head per query head
        kv_read = kv_read * (m.n_heads / tp) / (m.n_kv_heads / shards)
    kv_write = Tr * m.kv_elems_per_token_per_layer * kb / shards
    attn_w = m.attn_params_per_layer * wp.bytes("attention") / tp
    dense_w = m.dense_mlp_params * wp.bytes("dense_ffn") / tp
    shared_w = m.n_shared_experts * m.expert_params * wp.bytes("shared_experts") / tp
    routed_w = rx.weight_bytes

    # -- roofline per kernel: the attention projections, the MLP (or experts) and the
    # attention core run one after another, each bound by its own FLOPs or bytes
    # (a GEMM cannot hide behind the KV read of the attention kernel, or vice versa)
    c_attn = core / attn_rate
    kv_t = (kv_read + kv_write) / hbm
    proj = np.maximum(attn_gemm / r_attn, attn_w / hbm)
    mlp_dense = np.maximum(dense_gemm / r_dense, dense_w / hbm)
    # shared experts and routed experts are separate kernels; a routed expert's padded
    # tile runs while its weights stream in, so the larger of the two binds (max, not sum)
    c_routed = rx.flops / rx.rate_flops_per_s
    mlp_moe = np.maximum(shared_gemm / r_shared, shared_w / hbm) + rx.gemm_s(hbm)
    attn_core = np.maximum(c_attn, kv_t)
    roof_d, roof_m = proj + mlp_dense + attn_core, proj + mlp_moe + attn_core  # one layer of each kind
    c_dense = attn_gemm / r_attn + dense_gemm / r_dense + c_attn
    c_moe = attn_gemm / r_attn + shared_gemm / r_shared + c_routed + c_attn
    w_dense = (attn_w + dense_w) / hbm
    w_moe = (attn_w + shared_w + routed_w) / hbm

    # -- communication per layer. A collective inside a group of GPUs uses the links
    # that group has (all of a GPU's links through a switch; on a mesh or torus only
    # those to the group's members: scale_up_group_bw)
    a2a_bw = np.minimum(topo.alltoall_bw_per_gpu, scale_up_group_bw(topo, np.minimum(S, topo.domain_size))) * eff.scale_up_bw_fraction
    out_bw = topo.scale_out_bw_per_gpu * eff.scale_out_bw_fraction
    ar = allreduce_s(topo, tp, Tr * m.d_model * ab)  # one all-reduce of the layer's activations over the TP group
    # MoE dispatch/combine (expert_comm.py). Dispatch carries tokens already quantised to
    # the experts' GEMM precision (never wider than the activations; an engine that
    # quantises after the exchange, ``moe_dispatch_quantized`` false, sends activations);
    # combine returns activation-precision partial sums.
    disp_b = min(ab, units.dtype_bytes(formats.get(wp.routed_experts).compute_dtype(acc.peak_flops))) if eff.moe_dispatch_quantized else ab
    shape = {"Tr": Tr, "tp": tp, "ep": ep, "moe_tp": moe_tp, "S": S, "domains": _b(L.stage_domains), "disp_b": disp_b, "ab": ab}
    # With attention tensor-parallel over the whole stage (S = tp) every GPU already holds
    # every token: nothing is dispatched, and the expert outputs meet in one all-reduce
    exchange = dispatch_combine_s(m, eff, {"a2a": a2a_bw, "out": out_bw}, shape, prefill)
    ep_layer = np.where(S == tp, ar, exchange) if m.is_moe else 0.0

    # memory-bound elementwise kernels (norms, residual adds, rope, quantisation, the
    # MLP activation, expert permutes): activation reads+writes per token and layer
    act_rows = Tr * eff.elementwise_passes * m.d_model
    hidden_dense = Tr * m.d_ff / tp  # MLP hidden activations on this GPU
    hidden_moe = rx.hidden_elems + Tr * m.n_shared_experts / tp * m.expert_d_ff
    elem_dense = (act_rows + eff.mlp_intermediate_passes * hidden_dense) * ab / hbm
    # each routed copy of a token (k per token, imbalance on the busiest GPU) is also
    # permuted, quantised, written by the second GEMM and gathered back, d_model wide
    routed_rows = rx.row_elems
    elem_moe = (act_rows + routed_rows + eff.mlp_intermediate_passes * hidden_moe) * ab / hbm
    # + a fixed time per routed copy this GPU takes (each GPU of an expert group does), beyond FLOPs and bytes
    row_t = rx.copies * eff.moe_row_overhead_s
    # + a fixed time per token the busiest rank carries, every layer, dense or MoE: the
    # per-token work a layer's kernels do beyond the FLOPs, bytes and passes counted above
    token_t = Tr * eff.token_layer_overhead_s
    # + the engine's block-scaled FP8 GEMMs beyond the reference kernels, per launch and k block (gemm.py)
    gemm_x_dense, gemm_x_moe = engine_gemm_extra_s(w, topo, tp)

    def layers_time(n_dense, n_moe):
        """roofline, communication after overlap, and fixed + elementwise costs of
        n_dense dense-MLP and n_moe MoE layers. Overlap hides communication behind
        compute (two micro-batches), at most the overlap share of the compute time:
        overlap 0 adds them, 1 takes the larger."""
        roof = n_dense * roof_d + n_moe * roof_m
        raw = ar * (2 * n_dense + n_moe) + n_moe * ep_layer
        comm = raw - np.minimum(raw, eff.comm_overlap * roof)
        fixed = ((n_dense + n_moe) * (eff.layer_overhead_s + token_t) + n_dense * (elem_dense + gemm_x_dense)
                 + n_moe * (elem_moe + eff.moe_layer_overhead_s + row_t + gemm_x_moe))
        return roof, comm, fixed

    # -- the bottleneck stage: its parts for the breakdown and the bottleneck label
    roof, comm, per_layers = layers_time(nd, nm)
    tp_comm = ar * (nd * 2 + nm * 1)
    ep_comm = nm * ep_layer
    compute = nd * c_dense + nm * c_moe
    weights_t = nd * w_dense + nm * w_moe
    kv_total = ls * kv_t
    overhead = per_layers + eff.step_overhead_s

    # -- the output head (on the last stage): vocab projection for decode tokens
    head_flops = 2 * B * m.vocab_size * m.d_model / S
    head = np.maximum(head_flops / r_head, m.vocab_size * m.d_model * wp.bytes("embeddings") / tp / hbm)

    stage = roof + comm + overhead + head
    layers = sum(layers_time(float(m.n_mlp_dense_layers), float(m.n_moe_layers)))  # every layer once
    return StepTerms(compute, weights_t, kv_total, roof, tp_comm, ep_comm, overhead, head, stage, layers)


def pp_hops_s(w: Workload, topo: Topology, L: Layouts, tokens) -> np.ndarray:
    """Latency of the (pp - 1) stage-to-stage activation sends for one micro-batch."""
    eff = topo.efficiency
    ab = units.dtype_bytes(w.act_dtype)
    pp, cross = _b(L.pp), _b(L.cross_hops)
    per_gpu = _b(tokens) / _b(L.stage_gpus) * w.model.d_model * ab
    up_bw = max(float(scale_up_group_bw(topo, 2.0)) * eff.scale_up_bw_fraction, 1.0)  # GPU to its peer: one link on a mesh
    out_bw = topo.scale_out_bw_per_gpu * eff.scale_out_bw_fraction
    inside = (pp - 1 - cross) * (eff.p2p_latency_s + per_gpu / up_bw)
    outside = cross * (eff.p2p_latency_s + eff.scale_out_latency_s + per_gpu / out_bw)
    return inside + outside


def busiest_rank_tokens(w: Workload, topo: Topology, L: Layouts, decode_tokens, prefill_tokens) -> np.ndarray:
    """Tokens on the busiest attention-DP rank of an aggregated step. Decode tokens
    spread evenly. A prompt lives on one rank and enters a step a chunk at a time
    (``min(ISL, prefill_chunk_tokens)``): admitted round-robin as slots free, fewer chunks
    than ranks leave the rank holding one with ``max(P/d, min(P, chunk))`` prefill tokens
    while the others wait at the expert all-to-all; a scheduler that starts prompts on
    every rank in the same step spreads them, ``P/d``. ``attention_dp_prefill_balance``
    is the share of that excess the scheduler removes (hardware/efficiency.yaml)."""
    dp, B, P = _b(L.dp), _b(decode_tokens), _b(prefill_tokens)
    chunk = float(min(w.isl, topo.efficiency.prefill_chunk_tokens))
    even = P / dp
    lumpy = np.where(dp > 1, np.maximum(even, np.minimum(P, chunk)), even)
    return B / dp + lumpy - topo.efficiency.attention_dp_prefill_balance * (lumpy - even)


def prefill_pass_s(w: Workload, topo: Topology, L: Layouts, isl: int | None = None) -> np.ndarray:
    """Time to push one request's prompt through every stage, chunk by chunk.
    A request lives on one attention-DP rank: that rank runs the whole chunk's
    attention side (never 1/dp of it), the experts see the chunk's tokens.
    Only the tokens the prefix cache misses are computed (``w.prefill_isl``)."""
    isl = max(1, int(round(w.prefill_isl))) if isl is None else isl
    chunk = float(min(isl, topo.efficiency.prefill_chunk_tokens))
    n_chunks = -(-isl // int(chunk))
    s = step_terms(w, topo, L, 0.0, chunk, 0.0, prefill=True, rank_tokens=chunk)
    return n_chunks * (s.layers_s + topo.efficiency.step_overhead_s * _b(L.pp)) + pp_hops_s(w, topo, L, chunk * _b(L.dp))


def first_token_s(w: Workload, topo: Topology, L: Layouts) -> np.ndarray:
    """From a request's admission to its first token: the prefill passes plus the fixed
    per-request cost no pass carries (set-up, first sampling, returning the token:
    ``request_overhead_s``)."""
    return prefill_pass_s(w, topo, L) + topo.efficiency.request_overhead_s


# --------------------------------------------------------------------------- the whole replica


def evaluate(w: Workload, topo: Topology, L: Layouts, batch, aggregated: bool = True) -> Evaluation:
    """Decode-serving metrics of layouts at batch sizes. ``aggregated``: each step
    also carries its share of prefill tokens (chunked prefill, B*ISL/OSL)."""
    eff, acc = topo.efficiency, topo.accelerator
    tp, dp, pp = (_b(x)[:, None] if np.ndim(batch) == 2 else _b(x) for x in (L.tp, L.dp, L.pp))
    Lb = _broadcast_layouts(L, np.ndim(batch) == 2)
    B = _b(batch)
    # speculative decoding: q query tokens per sequence per step, n tokens emitted per step
    q, n = spec.verify_width(w.spec_draft_tokens), spec.tokens_per_step(w.spec_acceptance, w.spec_draft_tokens)
    Bq = B * q
    P = B * n * w.prefill_isl / w.osl if aggregated else np.zeros_like(B)  # cache hits need no prefill
    ctx = max(1.0, w.kv_len - w.osl / 2.0)  # mean context a decode step reads over a request's life

    step = step_terms(w, topo, Lb, Bq, P, ctx, rank_tokens=busiest_rank_tokens(w, topo, Lb, Bq, P), queries_per_seq=q)
    hops = pp_hops_s(w, topo, Lb, Bq + P)
    draft = draft_s(w, topo, Lb, B, ctx)
    latency = step.layers_s + step.head_s + pp * eff.step_overhead_s + hops + draft
    interval = np.maximum(latency, pp * step.stage_s + draft)  # a step, n tokens per sequence
    out_tps = pp * B * n / interval
    if aggregated:
        bare = step_terms(w, topo, Lb, Bq, np.zeros_like(B), ctx, queries_per_seq=q)
        bare_latency = bare.layers_s + bare.head_s + pp * eff.step_overhead_s + pp_hops_s(w, topo, Lb, Bq) + draft
        share = np.clip(1.0 - np.maximum(bare_latency, pp * bare.stage_s + draft) / interval, 0.0, 1.0)
    else:
        share = np.zeros_like(interval)
    prefill = first_token_s(w, topo, Lb)
    queue = eff.queue_intervals * interval
    gpus = tp * dp * pp
    # widest step one DP rank runs: its share of the batch, or a whole prefill chunk
    # (the token budget belongs to each rank's engine, as vLLM's max_num_batched_tokens)
    tokens_ws = np.maximum((Bq + P) / dp, eff.prefill_chunk_tokens if aggregated else 0.0)
    act = tokens_ws * w.model.d_model * eff.activation_bytes_per_token_per_d_model
    weights = weight_bytes_per_gpu(w, Lb)
    kv = kv_bytes_per_gpu(w, Lb, B, eff.swa_kv_windowed)
    shape = np.broadcast(B, weights, kv, interval).shape
    bc = lambda x: np.broadcast_to(_b(x), shape)  # noqa: E731
    return Evaluation(
        batch=bc(B),
        concurrency=bc(B * pp),
        gpus=bc(gpus),
        weights_bytes=bc(weights),
        kv_bytes=bc(kv),
        activation_bytes=bc(act),
        reserve_bytes=eff.runtime_reserve_bytes,
        capacity_bytes=acc.hbm_bytes * eff.memory_usable_fraction,
        step=step,
        pp_hops_s=bc(hops),
        tpot_s=bc(interval / n),
        prefill_s=bc(prefill),
        queue_s=bc(queue),
        ttft_s=bc(queue + prefill),
        output_tps=bc(out_tps),
        input_tps=bc(out_tps * w.isl / w.osl),
        usd_per_s=bc(gpus * topo.price_usd_per_gpu_hour / 3600.0),
        prefill_share=bc(share),
        tpot_limit_s=w.tpot_s,
        ttft_limit_s=w.ttft_s,
    )


def draft_s(w: Workload, topo: Topology, L: Layouts, batch, ctx) -> np.ndarray:
    """Draft passes of one speculative step: an MTP head is one more decoder layer and the
    output head at the plain batch, per draft token; an n-gram lookup takes no GPU time."""
    if not (passes := spec.draft_passes(w.spec_method, w.spec_draft_tokens)):
        return np.zeros_like(_b(batch))
    s = step_terms(w, topo, L, batch, 0.0, ctx)
    return passes * ((s.stage_s - s.head_s - topo.efficiency.step_overhead_s) / _stage_layers(w, _b(L.pp))[0] + s.head_s)


def _broadcast_layouts(L: Layouts, two_d: bool) -> Layouts:
    if not two_d:
        return L
    from dataclasses import fields
    return Layouts(**{f.name: getattr(L, f.name)[:, None] for f in fields(L)})


def max_feasible_batch(w: Workload, topo: Topology, L: Layouts, aggregated: bool = True, cap: int = 1 << 17) -> np.ndarray:
    """Largest micro-batch (a multiple of dp) meeting memory, TPOT and TTFT, per
    layout; 0 where even the smallest fails. Every limit grows with batch, so
    bisection over integers is exact."""
    dp, eff = _b(L.dp), topo.efficiency
    lo = np.zeros(len(L))  # largest known-feasible multiple of dp (0 = none)
    hi = np.floor(cap / dp) + 1  # smallest known-infeasible multiple
    # memory alone rules out every multiple whose KV (linear in the batch) overfills the
    # HBM left after weights and reserve; +2 keeps the bound safe from rounding
    room = topo.accelerator.hbm_bytes * eff.memory_usable_fraction - weight_bytes_per_gpu(w, L) - eff.runtime_reserve_bytes
    kv_step = kv_bytes_per_gpu(w, L, dp, eff.swa_kv_windowed)  # KV of one more multiple of dp
    hi = np.where(kv_step > 0, np.minimum(hi, np.maximum(np.floor(room / np.maximum(kv_step, 1e-300)) + 2, 1.0)), hi)
    while True:
        open_ = hi - lo > 1
        if not open_.any():
            break
        mid = np.where(open_, np.floor((lo + hi) / 2), lo + 1)
        ok = evaluate(w, topo, L, mid * dp, aggregated).feasible
        lo = np.where(open_ & ok, mid, lo)
        hi = np.where(open_ & ~ok, mid, hi)
    return lo * dp


def throughput_ceiling_tps(w: Workload, topo: Topology, n_gpus: int) -> float:
    """Output tokens/s no deployment of ``n_gpus`` can exceed: every token costs at
    least 2 FLOPs per active parameter, at the accelerator's fastest dense peak."""
    return n_gpus * max(topo.accelerator.peak_flops.values()) / (2.0 * w.model.active_params)
