"""The greedy's balancing unit: "the cheapest other prefill option that covers
the rest" answered by bisection (greedy._Cover) equals a scan of every option."""

from __future__ import annotations

import random

from planner.search.blocks import Ints
from planner.search.greedy import _Cover


def _scan(ok, ints, rate, skip):
    return min((j for j in ok if j != skip and ints.rps[j] >= rate), key=lambda j: (ints.usd[j], j), default=None)


def test_cover_query_equals_a_scan_of_every_option():
    rnd = random.Random(3)
    for _ in range(300):
        n = rnd.randint(0, 12)
        rps = tuple(rnd.randint(1, 9) for _ in range(n))  # repeats: ties on rate and on price
        usd = tuple(rnd.randint(1, 6) for _ in range(n))
        ints = Ints(tps=(0,) * n, usd=usd, rps=rps, demand=(), tps_scale=1.0, usd_scale=1.0)
        ok = sorted(rnd.sample(range(n), rnd.randint(0, n)))
        cover = _Cover(ok, ints)
        for rate in range(0, 11):
            for skip in [*ok, -1]:
                assert cover.cheapest(rate, skip) == _scan(ok, ints, rate, skip), (ok, rps, usd, rate, skip)


def test_cheapest_unit_equals_the_minimum_over_every_unit():
    """The greedy's first incumbent (cost): the pruned search over decode options
    finds the same unit as building every unit of every workload and taking the min."""
    from planner.search.blocks import integers, upper_bounds
    from planner.search.greedy import _unit_key, cheapest_unit, units
    from planner.search.problem import AGG, DECODE, PREFILL, Option, Problem, classes_of

    rnd = random.Random(5)
    for _ in range(200):
        opts = []
        for w in range(rnd.randint(1, 2)):
            for _ in range(rnd.randint(0, 2)):
                g = rnd.choice([1, 2, 4])
                opts.append(Option(AGG, g, 1, rnd.uniform(100, 900) * g, g * rnd.uniform(0.5, 1.5) / 1000, workload=w))
            for _ in range(rnd.randint(0, 4)):
                g = rnd.choice([1, 2, 3, 4])
                opts.append(Option(PREFILL, g, 1, 0.0, g * rnd.choice([0.001, 0.01, 0.8, 1.2]) / 1000, rps=rnd.choice([0.5, 1.0, 2.5]) * g, workload=w))
            for _ in range(rnd.randint(0, 4)):
                g = rnd.choice([2, 4, 8])
                tps = rnd.choice([500.0, 1500.0, 3000.0]) * g
                opts.append(Option(DECODE, g, 1, tps, g * rnd.choice([0.8, 1.0]) / 1000, rps=tps / rnd.choice([100, 500]), workload=w))
        pre = [i for i, o in enumerate(opts) if o.role == PREFILL]
        dec = [k for k, o in enumerate(opts) if o.role == DECODE]
        bad = frozenset((i, k) for i in pre for k in dec if rnd.random() < 0.3)
        p = Problem(tuple(opts), classes_of((8, 8)), "cost", incompatible=bad)
        ints = integers(p, upper_bounds(p))
        every = [u for w in range(p.n_workloads) for u in units(p, ints, w)]
        assert cheapest_unit(p, ints) == min(every, key=_unit_key, default=None)
