"""Disaggregated prefill/decode: pool physics, the pool solver against an
exhaustive oracle, ``--mode auto``, and wide expert parallelism for decode.

Assertions are physics ("more prompts per pass cost less per request and wait
longer") or oracle comparisons, never numbers copied from the program, so the
efficiency calibration can move without breaking them.
"""

from __future__ import annotations

import random
from dataclasses import replace

import numpy as np
import pytest

from planner import api
from planner.api import Query
from planner.physics.candidates import enumerate_layouts, pinned_layout
from planner.physics.costmodel import evaluate, max_feasible_batch
from planner.physics.disagg import decode_options, kv_transfer_s, prefill_evaluate
from planner.inputs.errors import InputError
from planner.search.blocks import integers, upper_bounds
from planner.search.loop import solve
from planner.search.oracle import exhaustive
from planner.search.problem import DECODE, PREFILL, Budget, Option, Problem, classes_of, singletons

# --------------------------------------------------------------------------- pool physics


def test_more_prompts_per_pass_cost_less_per_request_and_wait_longer():
    w, topo = api.load("llama-3.1-8b", "hgx-h100", Query(isl=1024))
    L = pinned_layout(w, topo, tp=1, pp=1, dp=1, ep=1)
    one, eight = prefill_evaluate(w, topo, L, 1), prefill_evaluate(w, topo, L, 8)
    assert eight.usd_per_request[0] < one.usd_per_request[0]  # weights read once per pass
    assert eight.latency_s[0] > one.latency_s[0]
    assert eight.kv_bytes[0] == pytest.approx(8 * one.kv_bytes[0])  # each prompt's KV is held


def test_kv_transfer_grows_with_prompt_and_is_faster_inside_a_domain():
    w, topo = api.load("llama-3.1-70b", "gb200-nvl72", Query(isl=4096))
    w2 = replace(w, isl=8192)
    out = kv_transfer_s(w, topo, 8, 8, scale_up=False)
    assert kv_transfer_s(w, topo, 8, 8, scale_up=True) < out
    assert kv_transfer_s(w2, topo, 8, 8, scale_up=False) > 1.9 * out - topo.efficiency.scale_out_latency_s
    assert kv_transfer_s(w, topo, 8, 1, scale_up=False) > kv_transfer_s(w, topo, 8, 8, scale_up=False)  # one receiver


def test_decode_without_prefill_tokens_holds_a_larger_batch_at_the_same_tpot():
    w, topo = api.load("llama-3.1-70b", "hgx-h100", Query(isl=8192, osl=256, tpot_ms=20))
    L = pinned_layout(w, topo, tp=8, pp=1, dp=1, ep=1)
    agg = max_feasible_batch(w, topo, L, aggregated=True)[0]
    dec, _ = decode_options(w, topo, L)
    assert dec[0] > 2 * agg


# --------------------------------------------------------------------------- the pool solver vs exhaustive search


def _random_pools(seed: int, objective: str, colocated: bool, domains: tuple[int, ...]) -> Problem:
    """Two prefill and two decode options (the disaggregated case of the one problem)."""
    rnd = random.Random(seed)
    p_g = tuple(rnd.choice([1, 2, 3, 4]) for _ in range(2))
    d_g = tuple(rnd.choice([2, 4, 6]) for _ in range(2))
    d_chunks = (1, 1) if colocated else tuple(rnd.choice([1, 2]) if g % 2 == 0 else 1 for g in d_g)
    d_tps = tuple(rnd.uniform(500, 3000) * g for g in d_g)
    opts = [Option(PREFILL, g, 1, 0.0, g * rnd.uniform(0.8, 1.2) / 1000, rps=rnd.uniform(0.5, 3.0) * g) for g in p_g]
    opts += [Option(DECODE, g, c, t, g * rnd.uniform(0.8, 1.2) / 1000, rps=t / rnd.choice([500, 1000])) for g, c, t in zip(d_g, d_chunks, d_tps)]
    bad = frozenset() if rnd.random() < 0.7 else frozenset({(0, 3)})  # prefill 0 with decode 1 misses TTFT
    return Problem(
        tuple(opts), singletons(domains) if colocated else classes_of(domains), objective,
        (sum(d_tps) * 0.8,) if objective == "demand" else (), incompatible=bad, colocated=colocated,
        rel_gap=0.0, budget=Budget(work=20.0, wall_s=120.0),
    )


@pytest.mark.parametrize("objective", ["cost", "throughput", "demand"])
@pytest.mark.parametrize(
    "colocated,domains",
    [(False, (8, 6, 4)), (False, (8, 8)), (True, (8, 6))],
    ids=["split-classes", "split-per-domain", "colocated"],
)
def test_pool_solver_matches_exhaustive_search(objective, colocated, domains):
    for seed in range(4):
        p = _random_pools(seed, objective, colocated, domains)
        best = exhaustive(p)
        sol = solve(p)
        if best is None:
            assert sol.status == "infeasible", seed
            continue
        assert sol.status == "optimal", seed
        assert sol.key == best[0], seed
        s = integers(p, upper_bounds(p))
        pre, dec = range(2), range(2, 4)
        # the solution is balanced, pairs meet TTFT and pieces fit every domain
        assert sum(s.rps[i] * sol.replicas[i] for i in pre) >= sum(s.rps[k] * sol.replicas[k] for k in dec)
        for i, k in p.incompatible:
            assert not (sol.replicas[i] and sol.replicas[k])
        for j, free in enumerate(domains):
            assert sum(o.piece * sol.pieces[i].get(j, 0) for i, o in enumerate(p.options)) <= free
            if colocated:  # each domain's prefill keeps up with its own decode
                assert sum(s.rps[i] * sol.pieces[i].get(j, 0) for i in pre) >= sum(s.rps[k] * sol.pieces[k].get(j, 0) for k in dec)
        assert sum(s.tps[k] * sol.replicas[k] for k in dec) > 0


# --------------------------------------------------------------------------- --mode auto


LONG_INPUT_TIGHT_TPOT = dict(isl=8192, osl=256, tpot_ms=15, domains=4)


def test_auto_picks_disaggregation_for_long_input_and_tight_tpot():
    q = Query(**LONG_INPUT_TIGHT_TPOT)
    p = api.plan("llama-3.1-70b", "hgx-h100", q, mode="auto", time_limit_s=4).to_dict()
    assert p["inputs"]["mode"] == "disaggregated"
    compared = p["solver"]["modes_compared"]
    assert isinstance(compared["aggregated"], float) and compared["disaggregated"] < compared["aggregated"]
    # auto is the cheaper of the two plans, each planned on its own
    agg = api.plan("llama-3.1-70b", "hgx-h100", q, mode="agg", time_limit_s=4).to_dict()
    assert agg["metrics"]["usd_per_mtok_all_in"] > p["metrics"]["usd_per_mtok_all_in"]

    pools = p["pools"]
    pre, dec = pools["prefill"], pools["decode"]
    p_rps = sum(o["replicas"] * o["requests_per_s_each"] for o in pre["options"])
    d_rps = sum(o["replicas"] * o["requests_per_s_each"] for o in dec["options"])
    assert p_rps >= d_rps * (1 - 1e-3)  # prefill keeps up with decode ...
    for o in pre["options"]:  # ... and sheds no whole replica it does not need
        assert p_rps - o["requests_per_s_each"] < d_rps

    roles = [r["role"] for r in p["replicas"]]
    assert roles.count("prefill") == pre["replicas"] and roles.count("decode") == dec["replicas"]
    ids = [g for r in p["replicas"] for g in r["gpu_ids"]]
    assert len(ids) == len(set(ids)) == p["metrics"]["gpus_used"]
    assert p["metrics"]["ttft_ms"] <= p["inputs"]["slo"]["ttft_ms"]
    assert p["metrics"]["tpot_ms"] <= p["inputs"]["slo"]["tpot_ms"]


def test_disaggregated_plan_avoids_unavailable_gpus_and_counts_kv_transfer_in_ttft():
    q = Query(isl=8192, osl=256, tpot_ms=15, domains=4, unavailable_gpus=(0, 9, 17))
    p = api.plan("llama-3.1-70b", "hgx-h100", q, mode="disagg", time_limit_s=4).to_dict()
    ids = {g for r in p["replicas"] for g in r["gpu_ids"]}
    assert not ids & {0, 9, 17}
    for o in p["pools"]["prefill"]["options"]:
        parts = o["ttft_breakdown_ms"]
        assert parts["kv_transfer"] > 0
        assert o["ttft_ms"] == pytest.approx(parts["queue"] + parts["prefill"] + parts["kv_transfer"], rel=1e-3)


def test_mode_is_validated():
    with pytest.raises(InputError, match="--mode"):
        api.plan("llama-3.1-8b", "hgx-h100", mode="split")


# --------------------------------------------------------------------------- wide EP with attention-DP


MEMORY_BOUND = dict(isl=32768, osl=1024)  # long context: KV fills HBM, the decode batch is capacity-bound


@pytest.mark.parametrize("topology,domains", [("gb200-nvl72", 2), ("hgx-h100", 18)])
def test_memory_bound_deepseek_decode_prefers_wide_expert_parallelism(topology, domains):
    w, topo = api.load("deepseek-v3", topology, Query(domains=domains, **MEMORY_BOUND))
    L = enumerate_layouts(w, topo)
    b, ev = decode_options(w, topo, L)
    cost = np.where(b > 0, ev.usd_per_s / ev.output_tps, np.inf)
    best = int(np.argmin(cost))
    # the premise: memory binds the best layout's batch (one more DP step does not fit)
    nxt = evaluate(replace(w, ttft_s=float("inf")), topo, L.take([best]), np.array([b[best] + L.dp[best]]), aggregated=False)
    assert not nxt.fits_memory[0]
    # spreading the experts wider frees HBM for KV: the best decode layout is wide EP
    assert L.ep[best] >= 32 and L.dp[best] >= 32 // L.tp[best]
    narrow = int(np.where(L.ep < 32, cost, np.inf).argmin())
    assert cost[best] < cost[narrow]
    # because experts spread over many GPUs leave more HBM for KV than any replica
    # narrower than 32 GPUs can, so each GPU carries more sequences per weight read
    small = (L.gpus < 32) & (b > 0)
    # (>=: a 24-GPU TP8 x DP3 replica holds as little weight per GPU and, batches being
    # whole sequences per rank, can tie to the byte)
    assert small.any() and ev.kv_bytes[best] >= ev.kv_bytes[small].max()


def test_every_pooled_replica_meets_its_limits_when_re_evaluated_in_its_role():
    q = Query(isl=8192, osl=256, tpot_ms=15, domains=4)
    plan = api.plan("llama-3.1-70b", "hgx-h100", q, mode="disagg", time_limit_s=4).to_dict()
    w, topo = api.load("llama-3.1-70b", "hgx-h100", q)
    for r in plan["replicas"]:
        lay = r["layout"]
        L = pinned_layout(w, topo, tp=lay["tp"], pp=lay["pp"], dp=lay["dp_attn"], ep=lay["ep"])
        if r["role"] == "decode":
            ev = evaluate(replace(w, ttft_s=float("inf")), topo, L, np.array([r["batch"]]), aggregated=False)
            assert ev.fits_memory[0] and ev.meets_tpot[0]
        else:
            pre = prefill_evaluate(w, topo, L, r["batch"] // lay["dp_attn"])
            assert pre.fits_memory[0]
            assert pre.queue_s[0] + pre.latency_s[0] <= w.ttft_s


# --------------------------------------------------------------------------- placement detail


@pytest.mark.parametrize("mode", ["agg", "disagg"])
def test_every_group_of_every_replica_is_mapped_to_domains_and_hosts(mode):
    q = Query(isl=8192, osl=256, tpot_ms=15, domains=4)
    p = api.plan("llama-3.1-70b", "hgx-h100", q, mode=mode, time_limit_s=4).to_dict()
    per_host = p["inputs"]["topology"]["gpus_per_host"]
    for r in p["replicas"]:
        stage_ids = [g for st in r["stages"] for g in st["gpu_ids"]]
        assert sorted(stage_ids) == sorted(r["gpu_ids"])
        assert r["hosts"] == sorted({g // per_host for g in r["gpu_ids"]})
        for st in r["stages"]:
            assert st["hosts"] == sorted({g // per_host for g in st["gpu_ids"]})
            assert set(st["domains"]) <= set(r["domains"])
            assert all(len(d) == 1 for d in st["tp_group_domains"])  # TP never leaves a scale-up domain
