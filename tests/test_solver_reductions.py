"""Exact reductions of the solver's models, each against an independent oracle.

A reduction may make CP-SAT's work smaller, never its answer different: every
test here checks that the reduced model admits exactly what the full one (or
exhaustive search) admits, on small instances where both can be enumerated.
"""

from __future__ import annotations

import itertools
import random

from ortools.sat.python import cp_model

from planner.search.packing import Bin, ClassFlow, DomainClass, add_packing


def _admits(capacity: int, pieces: list[int], counts: tuple[int, ...], bins: bool) -> bool:
    """Does one domain of ``capacity`` GPUs hold ``counts[k]`` pieces of ``pieces[k]`` GPUs?"""
    m = cp_model.CpModel()
    pk = add_packing(m, [DomainClass(capacity, (0,))], pieces, [capacity] * len(pieces), bins=bins)
    assert isinstance(pk.flows[0], Bin if bins else ClassFlow)
    for k, n in enumerate(counts):
        m.Add(pk.placed(k) == n)
    s = cp_model.CpSolver()
    s.parameters.num_workers = 1
    return s.Solve(m) in (cp_model.OPTIMAL, cp_model.FEASIBLE)


def test_one_domain_row_admits_exactly_the_arc_flow_placements():
    """A domain is a count of GPUs: pieces fit one domain iff their GPUs add up
    to at most its free GPUs. The knapsack row and the arc graph agree with that
    on every multiset of pieces (up to one over the domain's capacity)."""
    rnd = random.Random(5)
    for _ in range(6):
        capacity = rnd.choice([5, 6, 8])
        pieces = sorted(rnd.sample([1, 2, 3, 4, 5, 6], rnd.randint(2, 3)))
        for counts in itertools.product(*[range(capacity // s + 2) for s in pieces]):
            fits = sum(s * n for s, n in zip(pieces, counts)) <= capacity
            assert _admits(capacity, pieces, counts, bins=True) == fits
            assert _admits(capacity, pieces, counts, bins=False) == fits


def test_classes_of_several_domains_keep_the_arc_graph():
    """Only single domains become rows: two domains of 4 GPUs do not hold two
    pieces of 3 and one of 2 (8 GPUs in all, but no domain holds 3 + 2)."""
    m = cp_model.CpModel()
    pk = add_packing(m, [DomainClass(4, (0, 1))], [3, 2], [4, 4], bins=True)
    assert isinstance(pk.flows[0], ClassFlow)
    m.Add(pk.placed(0) == 2)
    m.Add(pk.placed(1) == 1)
    s = cp_model.CpSolver()
    s.parameters.num_workers = 1
    assert s.Solve(m) == cp_model.INFEASIBLE


def _probe_problems():
    """Small split and colocated pool problems (the cost objective), with the
    integers the model uses and the exhaustive optimum."""
    from fractions import Fraction

    from planner.search.blocks import build, integers, upper_bounds
    from planner.search.oracle import exhaustive
    from planner.search.problem import DECODE, PREFILL, Budget, Option, Problem, classes_of, singletons

    rnd = random.Random(17)
    while True:
        colocated = rnd.random() < 0.5
        opts = []
        for _ in range(2):
            g = rnd.choice([1, 2, 3])
            opts.append(Option(PREFILL, g, 1, 0.0, g * rnd.uniform(0.8, 1.2) / 1000, rps=rnd.uniform(0.5, 3.0) * g))
        for _ in range(2):
            g = rnd.choice([1, 2, 4])
            tps = rnd.uniform(500, 3000) * g
            opts.append(Option(DECODE, g, 1, tps, g * rnd.uniform(0.8, 1.2) / 1000, rps=tps / rnd.choice([500, 1000])))
        free = (rnd.choice([4, 6, 8]),) if colocated else (rnd.choice([4, 6]),) * rnd.randint(1, 2)
        p = Problem(tuple(opts), singletons(free) if colocated else classes_of(free), "cost", colocated=colocated,
                    rel_gap=0.0, budget=Budget(work=20.0, wall_s=120.0))
        best = exhaustive(p)
        if best is None:
            continue
        ub = upper_bounds(p)
        ints = integers(p, ub)
        yield p, ints, build(p, ints, ub), best[0], Fraction


def test_ratio_probe_proves_exactly_the_optimal_ratio():
    """The feasibility probe before a Dinkelbach step ("no plan has usd*T - tps*U
    <= -1") is refuted at the exhaustive optimum's ratio and never at a worse one:
    at the optimum U/T it proves optimality; at a ratio 1 % above it, it does not."""
    from planner.search.control import Steps
    from planner.search.ratio_probe import no_better_ratio

    problems = _probe_problems()
    for _ in range(12):
        p, ints, mdl, ratio, Fraction = next(problems)
        steps = Steps(20.0, 120.0)
        U, T = ratio.numerator, ratio.denominator
        assert no_better_ratio(mdl, steps, U, T, None)
        worse = ratio * Fraction(101, 100)
        assert not no_better_ratio(mdl, steps, worse.numerator, worse.denominator, None)
