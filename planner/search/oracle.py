"""Exhaustive search over the same problem and the same integers as the model
(small instances only): the independent check every block is tested against."""

from __future__ import annotations

import itertools
from fractions import Fraction

from .blocks import Ints, integers, upper_bounds
from .problem import DECODE, PREFILL, Problem


def _fits(sizes: list[int], free: list[int]) -> bool:
    """Exact bin packing: pieces (any order) into domains with ``free`` GPUs.
    Depth-first, largest piece first, over canonical (sorted) states, memoised."""
    sizes = sorted(sizes, reverse=True)
    if sum(sizes) > sum(free):
        return False
    seen: set = set()

    def go(n: int, state: tuple[int, ...]) -> bool:
        if n == len(sizes):
            return True
        if (n, state) in seen:
            return False
        seen.add((n, state))
        for j, f in enumerate(state):
            if f >= sizes[n] and (j == 0 or state[j - 1] != f):
                nxt = tuple(sorted(state[:j] + (f - sizes[n],) + state[j + 1:]))
                if go(n + 1, nxt):
                    return True
        return False

    return go(0, tuple(sorted(free)))


def _colocatable(items: list[tuple[int, int, int]], free: list[int]) -> bool:
    """(size, supply, need) one-piece replicas into domains, each domain balanced."""
    items = sorted(items, reverse=True)
    free = list(free)
    supply, need = [0] * len(free), [0] * len(free)

    def go(n: int) -> bool:
        if n == len(items):
            return all(a >= b for a, b in zip(supply, need))
        size, sp, nd = items[n]
        for j in range(len(free)):
            if free[j] >= size:
                free[j] -= size
                supply[j] += sp
                need[j] += nd
                if go(n + 1):
                    return True
                free[j] += size
                supply[j] -= sp
                need[j] -= nd
        return False

    return go(0)


def placeable(p: Problem, counts, ints: Ints | None = None) -> bool:
    for g in sorted({c.group for c in p.classes} | {o.group for o in p.options}):
        free = [c.capacity for c in p.classes if c.group == g for _ in c.domains]
        mine = [i for i, o in enumerate(p.options) if o.group == g and counts[i]]
        if p.colocated:
            if any(p.options[i].chunks != 1 for i in mine):
                return False
            items = [(p.options[i].piece, ints.rps[i] if p.options[i].role == PREFILL else 0,
                      ints.rps[i] if p.options[i].role == DECODE else 0) for i in mine for _ in range(counts[i])]
            if not _colocatable(items, free):
                return False
        elif not _fits([p.options[i].piece for i in mine for _ in range(p.options[i].chunks * counts[i])], free):
            return False
    return True


def feasible(p: Problem, ints: Ints, counts) -> bool:
    """Every constraint of the problem, checked directly."""
    opts = p.options
    if p.max_gpus is not None and sum(o.gpus * n for o, n in zip(opts, counts)) > p.max_gpus:
        return False
    for w in range(p.n_workloads):
        if sum(ints.rps[i] * counts[i] for i, o in enumerate(opts) if o.workload == w and o.role == PREFILL) < \
                sum(ints.rps[i] * counts[i] for i, o in enumerate(opts) if o.workload == w and o.role == DECODE):
            return False
    if any(counts[i] and counts[k] for i, k in p.incompatible):
        return False
    served = [sum(ints.tps[i] * counts[i] for i, o in enumerate(opts) if o.workload == w and o.role != PREFILL) for w in range(p.n_workloads)]
    if p.objective == "demand":
        if any(s < d for s, d in zip(served, ints.demand)):
            return False
    elif not any(n for n, o in zip(counts, opts) if o.role != PREFILL):
        return False
    return placeable(p, counts, ints)


def exhaustive(p: Problem):
    """(key, counts) of the best plan, by trying every count vector; None when
    nothing is feasible. ``key`` is the integer objective the model optimises:
    cost -> Fraction(usd, tps); throughput -> tps; demand -> usd; ties broken
    like the solve loop (most tokens; least $ for throughput)."""
    ints = integers(p, upper_bounds(p))
    free = {}
    for c in p.classes:
        free[c.group] = free.get(c.group, 0) + c.capacity * c.count
    ranges = [range(0, free.get(o.group, 0) // o.gpus + 1) for o in p.options]
    best = None
    for counts in itertools.product(*ranges):
        usd = sum(c * n for c, n in zip(ints.usd, counts))
        tps = sum(t * n for t, n, o in zip(ints.tps, counts, p.options) if o.role != PREFILL)
        if p.objective == "cost":
            if tps == 0:
                continue
            rank = (Fraction(usd, tps), -tps)
        elif p.objective == "throughput":
            rank = (-tps, usd)
        else:
            rank = (usd, -tps)
        if best is not None and rank >= best[0]:
            continue
        if feasible(p, ints, counts):
            best = (rank, counts)
    if best is None:
        return None
    key = best[0][0] if p.objective != "throughput" else -best[0][0]
    return key, best[1]
