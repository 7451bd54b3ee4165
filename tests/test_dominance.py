"""Dominated options (planner.search.dominance) against exhaustive search.

Small random problems are drawn with options built to be dominated (a prefill
replica that copies of a smaller one replace; a decode replica worse than
copies of another, or worse than any plan), and checked three ways: the best
plan over the options the reduction keeps equals the best over all of them
(ratio or objective, and the tie-break) by exhaustive search on the same
integers, whatever feasible plan is the incumbent; the solve loop, which
applies the reduction, gives that optimum; and the reduction does remove
options (or these tests would prove nothing).
"""

from __future__ import annotations

import itertools
import random
from fractions import Fraction

import pytest

from planner.search import dominance
from planner.search.blocks import integers, upper_bounds
from planner.search.greedy import greedy
from planner.search.loop import solve
from planner.search.oracle import exhaustive, feasible
from planner.search.problem import AGG, DECODE, PREFILL, Budget, Option, Problem, classes_of, singletons

EXACT = dict(rel_gap=0.0, budget=Budget(work=20.0, wall_s=120.0))


def _options(rnd: random.Random, roles: tuple[str, ...], colocated: bool) -> list[Option]:
    """Random options of each role; about half are copies of an earlier option
    of the same role (more GPUs, more or fewer pieces) with every coefficient
    scaled by the copy count and perturbed, or exactly equal: near-dominance in
    both directions, where a wrong rule would drop an option a best plan needs."""
    price = rnd.uniform(0.8, 1.2) / 1000  # $/s per GPU
    out: list[Option] = []
    for role in roles:
        mine: list[Option] = []
        for _ in range(rnd.choice([2, 3])):
            if mine and rnd.random() < 0.6:
                y = rnd.choice(mine)
                k = rnd.choice([2, 3]) if y.gpus <= 2 else 2
                chunks = 1 if colocated else rnd.choice(sorted({1, y.chunks, k * y.chunks}))
                if (k * y.gpus) % chunks:
                    chunks = 1
                f = lambda: rnd.choice([1.0, 1.0, rnd.uniform(0.85, 1.1)])  # noqa: E731
                o = Option(role, k * y.gpus, chunks, round(k * y.tps * f(), 3), round(k * y.usd_per_s * f(), 9), rps=round(k * y.rps * f(), 4))
            else:
                g = rnd.choice([1, 2, 2, 3, 4])
                tps = 0.0 if role == PREFILL else round(rnd.uniform(300, 3000) * g, 3)
                rps = round(rnd.uniform(0.5, 3.0) * g, 4) if role != AGG else 0.0
                o = Option(role, g, 1, tps, round(g * price * rnd.uniform(0.9, 1.3), 9), rps=rps)
            mine.append(o)
        out.extend(mine)
    return out


def _problem(rnd: random.Random, objective: str, roles: tuple[str, ...], colocated: bool = False) -> Problem:
    opts = tuple(_options(rnd, roles, colocated))
    pre = [i for i, o in enumerate(opts) if o.role == PREFILL]
    dec = [i for i, o in enumerate(opts) if o.role == DECODE]
    bad = frozenset((i, k) for i in pre for k in dec if rnd.random() < 0.2)
    free = tuple(rnd.randint(4, 7) for _ in range(rnd.choice([1, 2])))
    demand = (sum(o.tps for o in opts) * rnd.uniform(0.2, 0.6),) if objective == "demand" else ()
    classes = singletons(free) if colocated else classes_of(free)
    return Problem(opts, classes, objective, demand, incompatible=bad, colocated=colocated, **EXACT)


def _rank(p: Problem, ints, counts):
    usd = sum(c * n for c, n in zip(ints.usd, counts))
    tps = sum(t * n for t, n, o in zip(ints.tps, counts, p.options) if o.role != PREFILL)
    if p.objective == "cost":
        return (Fraction(usd, tps), -tps) if tps else None
    return (-tps, usd) if p.objective == "throughput" else (usd, -tps)


def _plans(p: Problem, ints, ub):
    """Every feasible plan within ``ub``, with its rank (objective, then tie-break)."""
    for counts in itertools.product(*(range(u + 1) for u in ub)):
        rank = _rank(p, ints, counts)
        if rank is not None and feasible(p, ints, counts):
            yield rank, counts


def _reduction_keeps_the_optimum(p: Problem, rnd: random.Random) -> int:
    """The best plan within the bounds the reduction keeps is the best plan, for
    the greedy incumbent and for good, bad and best feasible plans as the
    incumbent; returns how many options it removed at most."""
    ub = upper_bounds(p)
    ints = integers(p, ub)
    plans = sorted(_plans(p, ints, ub))
    g = greedy(p, ints, ub)
    pool = [list(c) for _, c in plans]
    incumbents = [g[0] if g else None, None] + pool[:4] + rnd.sample(pool, min(6, len(pool)))
    removed = 0
    for inc in incumbents:
        kept = dominance.prune(p, ints, ub, inc)
        assert all(k in (u, 0) for k, u in zip(kept, ub))
        assert inc is None or all(kept[i] > 0 for i, n in enumerate(inc) if n)  # the incumbent stays a complete hint
        best = next((r for r, c in plans if all(n <= k for n, k in zip(c, kept))), None)
        assert best == (plans[0][0] if plans else None), (p, inc, kept)
        removed = max(removed, sum(1 for u, k in zip(ub, kept) if u and not k))
    return removed


ROLES = {"pools": (PREFILL, DECODE), "aggregated": (AGG,)}


@pytest.mark.parametrize("objective", ["cost", "throughput", "demand"])
@pytest.mark.parametrize("kind", ["pools", "aggregated", "colocated"])
def test_reduction_keeps_the_optimum_and_its_tie_break(kind, objective):
    if kind == "colocated" and objective == "demand":
        pytest.skip("colocated pools are planned for $/token and throughput")
    rnd = random.Random(f"{kind}-{objective}")
    removed = 0
    for _ in range(40):
        p = _problem(rnd, objective, ROLES.get(kind, (PREFILL, DECODE)), colocated=kind == "colocated")
        removed += _reduction_keeps_the_optimum(p, rnd)
    assert removed > 0 or (kind == "aggregated" and objective != "cost")  # aggregated options fall only for $/token


@pytest.mark.parametrize("objective", ["cost", "throughput", "demand"])
def test_solve_with_the_reduction_matches_exhaustive_search(objective):
    rnd = random.Random(91 + len(objective))
    for _ in range(8):
        p = _problem(rnd, objective, (PREFILL, DECODE))
        sol = solve(p)
        oracle = exhaustive(p)
        if oracle is None:
            assert sol.status == "infeasible"
            continue
        ints = integers(p, upper_bounds(p))
        assert sol.status == "optimal" and sol.key == oracle[0]
        assert _rank(p, ints, sol.replicas) == _rank(p, ints, oracle[1])  # the tie-break too


def test_a_tie_at_the_best_ratio_keeps_the_larger_replica():
    """Both replicas run at the same $/token; the 3-GPU domain holds one of
    either, so the most tokens at the best ratio need the larger one: an option
    whose swap gives up tokens at exactly the best ratio must stay."""
    small = Option(AGG, 2, 1, 100.0, 0.002)
    large = Option(AGG, 3, 1, 150.0, 0.003)
    p = Problem((small, large), classes_of((3,)), "cost", **EXACT)
    ub = upper_bounds(p)
    ints = integers(p, ub)
    assert dominance.prune(p, ints, ub, [1, 0]) == ub
    assert solve(p).replicas == (0, 1)


def test_copies_that_fit_are_counted_by_pieces():
    """Replicas of 2 GPUs: two fit into one piece of 4, one into 3; one-piece
    replicas of 4 fit into a replica of 2 pieces of 4 twice; a piece of 8 into
    none; a replica of 2 pieces of 2 into one piece of 4 (they share its domain)."""
    o = lambda g, k: Option(DECODE, g, k, 1.0, 1.0)  # noqa: E731
    assert dominance.fit_copies(o(4, 1), o(2, 1)) == 2
    assert dominance.fit_copies(o(3, 1), o(2, 1)) == 1
    assert dominance.fit_copies(o(8, 2), o(4, 1)) == 2
    assert dominance.fit_copies(o(8, 2), o(8, 1)) == 0
    assert dominance.fit_copies(o(4, 1), o(4, 2)) == 1
def test_a_decode_replica_that_needs_fewer_requests_stays():
    """Two small decode replicas fit where the large one sits and cost less, but
    need four times its requests: with one prefill replica only the large one
    is served, so it must stay."""
    pre = Option(PREFILL, 2, 1, 0.0, 0.001, rps=1.0)
    small = Option(DECODE, 2, 1, 1000.0, 0.001, rps=2.0)
    large = Option(DECODE, 4, 1, 2000.0, 0.0025, rps=1.0)
    p = Problem((pre, small, large), classes_of((6,)), "cost", **EXACT)
    ub = upper_bounds(p)
    ints = integers(p, ub)
    assert dominance.prune(p, ints, ub, [2, 1, 0]) == ub
    assert solve(p).replicas == (1, 0, 1)
