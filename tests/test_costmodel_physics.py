"""The seeds of the cost model (design/cost-model.md), as physics."""

from dataclasses import replace

import numpy as np
import pytest

from planner import api
from planner.physics.candidates import Layouts
from planner.physics.costmodel import evaluate, kv_bytes_per_gpu, step_terms, weight_bytes_per_gpu
from planner.inputs.topology import build_topology
from planner.inputs.query import load_workload
from planner.inputs.workload import with_overrides


def layout(tp=1, dp=1, ep=1, pp=1, chunks=1, stage_domains=1, cross_hops=0):
    return Layouts.from_rows([dict(tp=tp, dp=dp, ep=ep, pp=pp, chunks=chunks, stage_domains=stage_domains, cross_hops=cross_hops)])


def balance_batch(w, topo, L):
    """Decode batch at which GEMM compute time equals weight-fetch time (short context)."""
    lo, hi = 1.0, 1e6
    for _ in range(60):
        mid = (lo * hi) ** 0.5
        s = step_terms(w, topo, L, np.array([mid]), np.array([0.0]), 1.0)
        if s.compute_s[0] < s.weights_s[0]:
            lo = mid
        else:
            hi = mid
    return lo


def test_balance_batch_dense_h100_is_peak_flops_over_bandwidth(h100, llama70):
    """B* ~ peak FLOP/s / HBM bandwidth = 989e12 / 3.35e12 = 295 for bf16 on H100,
    moved only by the ratio of achieved compute and bandwidth fractions."""
    eff = h100.efficiency
    acc = h100.accelerator
    peak_ratio = acc.peak_flops["bf16"] / acc.hbm_bw_bytes_per_s
    assert 290 < peak_ratio < 300
    b = balance_batch(llama70, h100, layout(tp=8))
    expected = peak_ratio * eff.flops_eff("bf16") / eff.hbm_fraction
    assert b == pytest.approx(expected, rel=0.12)
    assert 200 < b < 400


def test_balance_batch_moe_scales_with_sparsity(h100):
    """For an MoE, only active parameters compute but (at large batch) all experts
    are fetched: B* grows by total/active parameters."""
    # perfectly full grouped GEMMs (no padding) and balanced experts: the pure sparsity effect
    topo = replace(h100, efficiency=replace(h100.efficiency, moe_expert_load_cv=0.0, moe_half_tokens=0.0))
    dense = load_workload("llama-3.1-70b")
    moe = load_workload("mixtral-8x7b")
    b_dense = balance_batch(dense, topo, layout(tp=8))
    b_moe = balance_batch(moe, topo, layout(tp=8))
    sparsity = moe.model.total_params / moe.model.active_params
    assert sparsity > 3
    assert b_moe / b_dense == pytest.approx(sparsity, rel=0.3)


def test_batch_one_costs_over_100x_the_best_batch(h100, llama70):
    """Weight fetches amortise over the batch: short-context decode at batch 1 costs
    >= 100x per output token what the best batch does (loose SLOs)."""
    w = with_overrides(llama70, isl=128, osl=128, tpot_ms=1e4, ttft_ms=1e6)
    opts = api.options(w, h100)
    best = opts.ev.usd_per_mtok_all_in[opts.ranked()[0]]
    at_one = evaluate(w, h100, opts.layouts, opts.layouts.dp * 1.0)
    cheapest_at_one = np.where(at_one.fits_memory, at_one.usd_per_mtok_all_in, np.inf).min()
    assert cheapest_at_one / best >= 100


def test_weights_per_gpu_fall_as_one_over_pp(llama70):
    """Transformer-layer weights split evenly over stages; one vocab matrix (input
    embedding on the first stage, output head on the last) stays whole."""
    m = llama70.model
    vocab = m.vocab_size * m.d_model * 2.0  # bf16
    layers_1 = weight_bytes_per_gpu(llama70, layout(tp=1, pp=1))[0] - 2 * vocab
    assert layers_1 == pytest.approx(llama70.weight_bytes - 2 * vocab, rel=0.01)
    for pp in (2, 4, 8):
        layers_p = weight_bytes_per_gpu(llama70, layout(tp=1, pp=pp))[0] - vocab
        assert layers_p == pytest.approx(layers_1 / pp, rel=0.01)


def test_kv_per_gpu_does_not_shrink_with_pipeline_depth(llama70):
    kv = [kv_bytes_per_gpu(llama70, layout(tp=2, pp=pp), 64)[0] for pp in (1, 2, 4, 8)]
    assert max(kv) == pytest.approx(min(kv), rel=1e-9)


def test_tpot_is_flat_in_pp_up_to_hop_latencies(h100, llama70):
    topo = build_topology("hgx-h100", n_domains=4)
    base = evaluate(llama70, topo, layout(tp=8), np.array([32.0]), aggregated=False)
    for pp in (2, 4):
        L = layout(tp=8, pp=pp, chunks=pp, cross_hops=pp - 1)
        ev = evaluate(llama70, topo, L, np.array([32.0]), aggregated=False)
        extra = ev.tpot_s[0] - base.tpot_s[0]
        assert extra > 0  # hops are never free
        # what pp adds is its hops plus the last stage's output head and per-stage overheads
        allowance = ev.pp_hops_s[0] + pp * (ev.step.head_s[0] + topo.efficiency.step_overhead_s)
        assert extra <= allowance * 1.05
        assert ev.tpot_s[0] < 1.25 * base.tpot_s[0]


def test_mla_kv_is_not_divided_by_tp(dsv3):
    kv1 = kv_bytes_per_gpu(dsv3, layout(tp=1), 64)[0]
    kv8 = kv_bytes_per_gpu(dsv3, layout(tp=8), 64)[0]
    assert kv8 == pytest.approx(kv1)


def test_gqa_kv_is_divided_up_to_the_kv_head_count(llama70):
    assert llama70.model.n_kv_heads == 8
    kv = {t: kv_bytes_per_gpu(llama70, layout(tp=t), 64)[0] for t in (1, 2, 8, 16)}
    assert kv[2] == pytest.approx(kv[1] / 2)
    assert kv[8] == pytest.approx(kv[1] / 8)
    assert kv[16] == pytest.approx(kv[8])  # beyond 8 KV heads, TP replicates KV


def test_ep_group_across_two_domains_pays_the_scale_out_gap(dsv3):
    """Same EP16 group: inside one domain vs split over two HGX nodes. The
    bandwidth term grows by the remote share times the scale-up/scale-out gap."""
    topo = build_topology("hgx-h100", n_domains=2)
    eff = topo.efficiency
    tokens = np.array([8192.0])
    inside = step_terms(dsv3, topo, layout(dp=16, ep=16, stage_domains=1), tokens, tokens * 0, 1.0)
    across = step_terms(dsv3, topo, layout(dp=16, ep=16, stage_domains=2), tokens, tokens * 0, 1.0)
    gap = (topo.alltoall_bw_per_gpu * eff.scale_up_bw_fraction) / (topo.scale_out_bw_per_gpu * eff.scale_out_bw_fraction)
    assert gap > 5  # NVLink vs one 400 Gb/s NIC
    ratio = across.ep_comm_s[0] / inside.ep_comm_s[0]
    assert ratio == pytest.approx(0.5 * gap, rel=0.15)  # half the traffic leaves the node


def test_long_context_becomes_kv_bound_and_costs_more(h100, llama70):
    """KV bytes read per step grow linearly with context; past the crossover the
    step is KV-bound and each token costs more; compute per token stays ~flat."""
    L = layout(tp=8)
    B = np.array([16.0])
    rows = []
    for ctx in (1024, 4096, 16384, 65536):
        w = with_overrides(llama70, isl=ctx, osl=128, kv_len=ctx + 128)
        ev = evaluate(w, h100, L, B, aggregated=False)
        rows.append((ctx, ev.step.kv_s[0], ev.step.weights_s[0], ev.step.compute_s[0], ev.usd_per_mtok_all_in[0]))
    kv = [r[1] for r in rows]
    assert kv[-1] / kv[0] == pytest.approx(65536 / 1024, rel=0.1)  # linear in context
    assert rows[0][1] < rows[0][2] and rows[-1][1] > rows[-1][2]  # crosses over: KV outweighs weights
    costs = [r[4] for r in rows]
    assert all(b > a for a, b in zip(costs, costs[1:]))
    assert rows[2][3] / rows[0][3] < 1.5  # compute per token: 16x context, < 1.5x compute


def test_prefill_costs_less_per_token_than_decode(h100, llama70):
    p = api.plan(llama70, h100)
    assert p.metrics["usd_per_mtok_input"] < p.metrics["usd_per_mtok_output"] / 3
    # and per token of work, a prompt pass is cheaper than a batch-1 decode step
    L = layout(tp=8)
    ev = evaluate(llama70, h100, L, np.array([1.0]), aggregated=False)
    assert ev.prefill_s[0] / llama70.isl < ev.tpot_s[0] / 10


def test_latency_floor_is_weights_over_domain_bandwidth(h100, llama70):
    """No batch makes a decode step faster than reading the weights once across
    the GPUs that hold them."""
    floor = llama70.weight_bytes / (8 * h100.accelerator.hbm_bw_bytes_per_s)
    ev = evaluate(llama70, h100, layout(tp=8), np.array([1.0, 2.0, 8.0]), aggregated=False)
    assert (ev.tpot_s >= floor).all()
    assert ev.tpot_s[0] < 3 * floor  # and batch 1 is within a small factor of it
