"""The planning core's constraint blocks, each against exhaustive search.

Every test draws small random problems in which one block is active (plus the
placement every problem has), solves them with the one solve loop, and checks
that (1) the optimum equals the exhaustive oracle's over the same integers,
(2) the answer satisfies every constraint when checked directly, and (3) no
domain holds more GPUs than it has free.
"""

from __future__ import annotations

import random

import pytest

from planner.search import kinds
from planner.search.blocks import integers, upper_bounds
from planner.search.loop import solve
from planner.search.oracle import exhaustive, feasible
from planner.search.problem import AGG, DECODE, PREFILL, Budget, Option, Problem, classes_of, free_after_unavailable, singletons

EXACT = dict(rel_gap=0.0, budget=Budget(work=20.0, wall_s=120.0))


def _agg(rnd: random.Random, n: int, domain: int, workload: int = 0, group: int = 0, price: float = 1.0) -> list[Option]:
    out = []
    for _ in range(n):
        k = rnd.choice([1, 1, 2])
        size = rnd.choice([s for s in (1, 2, 4, 8) if s <= domain])
        out.append(Option(AGG, k * size, k, round(rnd.uniform(50, 500) * k * size, 3), round(price * k * size * rnd.uniform(0.0005, 0.002), 6), workload=workload, group=group))
    return out


def _pools(rnd: random.Random, colocated: bool, workload: int = 0) -> list[Option]:
    out = []
    for _ in range(2):
        g = rnd.choice([1, 2, 3, 4])
        out.append(Option(PREFILL, g, 1, 0.0, g * rnd.uniform(0.8, 1.2) / 1000, rps=rnd.uniform(0.5, 3.0) * g, workload=workload))
    for _ in range(2):
        g = rnd.choice([2, 4, 6])
        k = 1 if colocated or g % 2 else rnd.choice([1, 2])
        tps = rnd.uniform(500, 3000) * g
        out.append(Option(DECODE, g, k, tps, g * rnd.uniform(0.8, 1.2) / 1000, rps=tps / rnd.choice([500, 1000]), workload=workload))
    return out


def _check(p: Problem):
    sol = solve(p)
    best = exhaustive(p)
    if best is None:
        assert sol.status == "infeasible"
        return sol
    assert sol.status == "optimal", sol
    assert sol.key == best[0]
    ints = integers(p, upper_bounds(p))
    assert feasible(p, ints, sol.replicas)
    for c in p.classes:  # no domain over-filled
        for j in c.domains:
            used = sum(o.piece * sol.pieces[i].get(j, 0) for i, o in enumerate(p.options) if o.group == c.group)
            assert used <= c.capacity
    for i, o in enumerate(p.options):  # every piece of every replica placed
        assert sum(sol.pieces[i].values()) == o.chunks * sol.replicas[i]
    return sol


@pytest.mark.parametrize("objective", ["cost", "throughput", "demand"])
def test_placement_block_matches_exhaustive_search(objective):
    rnd = random.Random(11 + len(objective))
    for _ in range(12):
        domain = rnd.choice([4, 8])
        free = tuple(rnd.randint(domain // 2, domain) for _ in range(rnd.randint(1, 3)))
        opts = tuple(_agg(rnd, rnd.randint(1, 3), domain))
        demand = (rnd.uniform(0.2, 1.2) * sum(free) * 300,) if objective == "demand" else ()
        _check(Problem(opts, classes_of(free), objective, demand, **EXACT))


@pytest.mark.parametrize("objective", ["cost", "throughput", "demand"])
def test_balance_and_pairing_blocks_match_exhaustive_search(objective):
    rnd = random.Random(21 + len(objective))
    for _ in range(5):
        opts = tuple(_pools(rnd, colocated=False))
        bad = frozenset({(1, 2)} if rnd.random() < 0.7 else set())
        demand = (sum(o.tps for o in opts) * 0.8,) if objective == "demand" else ()
        _check(Problem(opts, classes_of(rnd.choice([(8, 6, 4), (8, 8)])), objective, demand, incompatible=bad, **EXACT))


@pytest.mark.parametrize("objective", ["cost", "throughput"])
def test_colocated_balance_block_matches_exhaustive_search(objective):
    rnd = random.Random(31 + len(objective))
    for _ in range(4):
        opts = tuple(_pools(rnd, colocated=True))
        sol = _check(Problem(opts, singletons((8, 6)), objective, colocated=True, **EXACT))
        ints = integers(Problem(opts, singletons((8, 6)), objective, colocated=True), upper_bounds(Problem(opts, singletons((8, 6)), objective, colocated=True)))
        for j in (0, 1):  # each domain's prefill keeps up with its own decode
            sup = sum(ints.rps[i] * sol.pieces[i].get(j, 0) for i, o in enumerate(opts) if o.role == PREFILL)
            need = sum(ints.rps[i] * sol.pieces[i].get(j, 0) for i, o in enumerate(opts) if o.role == DECODE)
            assert sup >= need


def test_repeated_colocated_domain_matches_exhaustive_search_over_every_domain():
    """Identical colocated domains: one domain solved and its fill repeated
    (search.kinds) gives the exhaustive optimum of the whole inventory, with its
    tie-break (most tokens at the best $/token), every domain balanced."""
    rnd = random.Random(35)
    for _ in range(10):
        opts = tuple(_pools(rnd, colocated=True))
        bad = frozenset({(1, 2)} if rnd.random() < 0.5 else set())
        p = Problem(opts, singletons((8, 8)), "cost", incompatible=bad, colocated=True, **EXACT)
        assert kinds.repeatable(p)
        sol = _check(p)
        ints = integers(p, upper_bounds(p))
        best = exhaustive(p)
        if best is None:
            continue
        assert sum(ints.tps[i] * n for i, n in enumerate(sol.replicas) if opts[i].role == DECODE) == \
            sum(ints.tps[i] * n for i, n in enumerate(best[1]) if opts[i].role == DECODE)
        for j in range(2):
            sup = sum(ints.rps[i] * sol.pieces[i].get(j, 0) for i, o in enumerate(opts) if o.role == PREFILL)
            need = sum(ints.rps[i] * sol.pieces[i].get(j, 0) for i, o in enumerate(opts) if o.role == DECODE)
            assert sup >= need


def test_demand_block_over_two_workloads_and_two_groups_matches_exhaustive_search():
    rnd = random.Random(41)
    for _ in range(5):
        classes = classes_of([8 - rnd.choice([0, 0, 1, 3]) for _ in range(2)], group=0) + classes_of([12 - rnd.choice([0, 1])], group=1)
        opts = []
        for w in range(2):
            for g in range(2):
                for gpus, chunks in rnd.sample([(2, 1), (4, 1), (6, 1), (8, 2)], 2):
                    per_gpu = rnd.uniform(800, 1200) * (1.3 if g else 1.0)
                    opts.append(Option(AGG, gpus, chunks, per_gpu * gpus, gpus * (2.0 if g == 0 else 3.0) / 3600, workload=w, group=g))
        demand = tuple(rnd.uniform(3000, 9000) for _ in range(2))
        _check(Problem(tuple(opts), classes, "demand", demand, **EXACT))


def test_gpu_budget_block_matches_exhaustive_search():
    rnd = random.Random(51)
    for _ in range(8):
        opts = tuple(_agg(rnd, 3, 8))
        budget = rnd.randint(1, 12)
        sol = _check(Problem(opts, classes_of((8, 8)), "throughput", max_gpus=budget, **EXACT))
        assert sum(o.gpus * n for o, n in zip(opts, sol.replicas)) <= budget


def test_unavailable_gpus_block_equals_smaller_domains_and_is_never_used():
    rnd = random.Random(61)
    for _ in range(6):
        down = rnd.sample(range(16), rnd.randint(0, 6))
        free = free_after_unavailable(8, 2, down)
        assert list(free) == [8 - sum(1 for g in down if g // 8 == d) for d in range(2)]
        opts = tuple(_agg(rnd, 2, 8))
        sol = _check(Problem(opts, classes_of(free), "throughput", **EXACT))
        for j, f in enumerate(free):  # the solver never places onto the lost GPUs
            assert sum(o.piece * sol.pieces[i].get(j, 0) for i, o in enumerate(opts)) <= f
