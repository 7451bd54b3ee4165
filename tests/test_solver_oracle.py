"""CP-SAT against exhaustive search, and plans against their own limits."""

import random

import pytest

from planner import api
from planner.search.loop import solve
from planner.search.oracle import exhaustive, placeable
from planner.search.problem import AGG, Budget, Option, Problem, classes_of


def aggregated(gpus, chunks, tps, usd, free, objective="cost", demand_tps=None) -> Problem:
    """The aggregated case of the one problem: one workload, one group, exact search."""
    opts = tuple(Option(AGG, g, c, t, u) for g, c, t, u in zip(gpus, chunks, tps, usd))
    return Problem(opts, classes_of(free), objective, (demand_tps,) if demand_tps is not None else (), rel_gap=0.0,
                   budget=Budget(work=20.0, wall_s=120.0))


def random_problem(rng: random.Random, objective: str) -> Problem:
    n_opt = rng.randint(1, 3)
    domain = rng.choice([4, 8])
    n_dom = rng.randint(1, 3)
    gpus, chunks, tps, usd = [], [], [], []
    for _ in range(n_opt):
        k = rng.choice([1, 1, 2])
        size = rng.choice([s for s in (1, 2, 4, 8) if s <= domain])
        gpus.append(k * size)
        chunks.append(k)
        tps.append(round(rng.uniform(50, 500) * k * size, 3))
        usd.append(round(k * size * rng.uniform(0.0005, 0.002), 6))
    free = tuple(rng.randint(domain // 2, domain) for _ in range(n_dom))
    demand = None
    if objective == "demand":
        demand = rng.uniform(0.2, 1.2) * sum(free) * 300
    return aggregated(gpus, chunks, tps, usd, free, objective, demand)


@pytest.mark.parametrize("objective", ["cost", "throughput", "demand"])
def test_solver_matches_exhaustive_search(objective):
    rng = random.Random(1234 + len(objective))
    for _ in range(25):
        p = random_problem(rng, objective)
        sol = solve(p)
        oracle = exhaustive(p)
        if oracle is None:
            assert sol.status == "infeasible"
            continue
        assert sol.status == "optimal"
        assert sol.key == oracle[0]  # the same integer objective as exhaustive search
        assert placeable(p, sol.replicas)


def test_pieces_of_a_replica_never_exceed_a_domain():
    p = aggregated((16,), (2,), (1000.0,), (0.01,), (8, 8, 7), "throughput")
    sol = solve(p)
    assert sol.replicas == (1,)  # the 7-GPU domain cannot hold a piece of 8
    assert sol.pieces[0].get(2, 0) == 0


@pytest.mark.parametrize(
    "workload,topology,domains",
    [("llama-3.1-70b", "hgx-h100", 2), ("deepseek-v3", "gb200-nvl72", 1), ("mixtral-8x7b", "hgx-h100", 1)],
)
def test_every_planned_replica_meets_its_limits_when_re_evaluated(workload, topology, domains):
    p = api.plan(workload, topology, api.Query(domains=domains), mode="agg")  # re-evaluated as aggregated replicas
    assert p.status in ("optimal", "feasible")
    for r in p.replicas:
        lay = r["layout"]
        ev = api.evaluate(workload, topology, api.Query(domains=domains), tp=lay["tp"], pp=lay["pp"], dp_attn=lay["dp_attn"], ep=lay["ep"], batch=r["batch"])
        assert ev.violations == []
        assert ev.memory_per_gpu_gb["total"] <= ev.memory_per_gpu_gb["capacity"]
        assert ev.metrics["tpot_ms"] <= p.inputs["slo"]["tpot_ms"]
        assert ev.metrics["ttft_ms"] <= p.inputs["slo"]["ttft_ms"]


def test_unavailable_gpus_are_never_placed_and_no_gpu_is_used_twice():
    down = (0, 3, 9, 17, 30, 31)
    p = api.plan("llama-3.1-70b", "hgx-h100", api.Query(domains=4, unavailable_gpus=down), objective="throughput")
    used = [g for r in p.replicas for g in r["gpu_ids"]]
    assert used, "expected a plan"
    assert not set(used) & set(down)
    assert len(used) == len(set(used))
    for r in p.replicas:  # TP groups stay inside one scale-up domain
        for stage in r["stages"]:
            for group in stage["tp_groups"]:
                assert len({g // 8 for g in group}) == 1


def test_demand_is_met_at_least_cost():
    small = api.plan("llama-3.1-8b", "hgx-h100", api.Query(domains=2), demand_tps=2000)
    big = api.plan("llama-3.1-8b", "hgx-h100", api.Query(domains=2), demand_tps=20000)
    assert small.metrics["output_tokens_per_s"] >= 2000
    assert big.metrics["output_tokens_per_s"] >= 20000
    assert small.metrics["usd_per_hour"] <= big.metrics["usd_per_hour"]
    assert small.metrics["gpus_used"] < big.metrics["gpus_used"]


def test_a_gpu_budget_is_respected():
    p = api.plan("llama-3.1-70b", "hgx-h100", api.Query(domains=2), max_gpus=4)
    assert p.metrics["gpus_used"] <= 4
