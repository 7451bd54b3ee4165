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
