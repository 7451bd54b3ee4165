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
