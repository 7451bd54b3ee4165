"""A greedy plan: the solve loop's first incumbent and its fallback.

Units are the smallest balanced deployments: one aggregated replica, or one
decode replica with just enough replicas of one compatible prefill option.
Cost: as many copies as fit of the best-$/token unit that fits at all;
throughput: units by tokens/s per GPU, each as many times as fits; demand:
per workload, the best-$/token units until the demand is met. Pieces go to
the tightest domain with room (best fit), in bulk, so the greedy is fast at
any inventory size. It places only what the model allows, so its answer is a
complete, feasible hint for CP-SAT: a time-out is never "infeasible".
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass, field
from fractions import Fraction
from typing import NamedTuple

from .blocks import Ints
from .problem import AGG, DECODE, PREFILL, Problem


class Unit(NamedTuple):  # a tuple, not a dataclass: a plan at 32 racks builds ~10^5 of them
    members: tuple[tuple[int, int], ...]  # (option, replicas)
    tps: int
    usd: int
    gpus: int


@dataclass
class Fill:
    """Domains of every class by their fill (piece sizes, largest first)."""

    caps: list[int]
    states: list[dict[tuple[int, ...], int]]
    group_of: list[int]
    y: dict[tuple[int, int], int] = field(default_factory=dict)  # (option, class) -> pieces

    def put(self, group: int, block: tuple[tuple[int, int], ...], n: int) -> int:
        """Place up to ``n`` blocks (each: (option, size) pieces sharing one domain); returns how many."""
        need = sum(s for _, s in block)
        placed = 0
        while placed < n:
            best = None
            for k, st in enumerate(self.states):
                if self.group_of[k] != group:
                    continue
                for f in st:
                    rem = self.caps[k] - sum(f)
                    if rem >= need and (best is None or (rem, k, f) < best):
                        best = (rem, k, f)
            if best is None:
                break
            rem, k, f = best
            q = rem // need
            cnt = self.states[k][f]
            want = n - placed
            full = min(cnt, want // q)
            moves = [(full, q)] if full else [(1, want)]
            for domains, per in moves:
                new = tuple(sorted(f + tuple(s for _, s in block) * per, reverse=True))
                self.states[k][f] -= domains
                if not self.states[k][f]:
                    del self.states[k][f]
                self.states[k][new] = self.states[k].get(new, 0) + domains
                for o, _ in block:
                    self.y[(o, k)] = self.y.get((o, k), 0) + domains * per
                placed += domains * per
        return placed


def units(p: Problem, ints: Ints, w: int) -> list[Unit]:
    out = _agg_units(p, ints, w)
    pre = _prefill(p, ints, w)
    for k in _decodes(p, ints, w):
        out.extend(_decode_units(p, ints, k, pre))
    return out


def _unit_key(u: Unit):
    return (u.usd / u.tps, u.members)


def cheapest_unit(p: Problem, ints: Ints) -> Unit | None:
    """min(every workload's units, key=_unit_key) without building them all.
    A unit of decode option k pays its own $/s plus n replicas of a prefill
    option i with n * rps_i >= rps_k, so its $/token is at least

        lb_k = (usd_k + rps_k * min over prefill i of usd_i / rps_i) / tps_k

    (the minimum over every prefill option of the workload, compatible or not:
    a lower bound). Decode options are taken in order of lb_k, stopping once
    lb_k exceeds the best unit's $/token: lb_k is rounded to the nearest float
    once, from the exact fraction, so float(lb_k) <= each of its units' float
    $/token, and a unit past the stop could not even tie the best. Where the
    prefill term is large (the pools of a 576-GPU domain: ~300 decode options)
    this builds the units of a handful of them instead of nearly all."""
    best = None
    decs = []
    pre: dict[int, list[int]] = {}
    for w in range(p.n_workloads):
        for u in _agg_units(p, ints, w):
            best = u if best is None or _unit_key(u) < _unit_key(best) else best
        pre[w] = _prefill(p, ints, w)
        rate = min((Fraction(ints.usd[i], ints.rps[i]) for i in pre[w]), default=None)
        if rate is None:  # no prefill option: no decode unit at all
            continue
        decs.extend((float((ints.usd[k] + ints.rps[k] * rate) / ints.tps[k]), k, w) for k in _decodes(p, ints, w))
    for lb, k, w in sorted(decs):
        if best is not None and lb > best.usd / best.tps:
            break
        for u in _decode_units(p, ints, k, pre[w]):
            best = u if best is None or _unit_key(u) < _unit_key(best) else best
    return best


def _agg_units(p: Problem, ints: Ints, w: int) -> list[Unit]:
    return [Unit(((i, 1),), ints.tps[i], ints.usd[i], o.gpus) for i, o in enumerate(p.options)
            if o.workload == w and o.role == AGG and ints.tps[i] > 0]


def _prefill(p: Problem, ints: Ints, w: int) -> list[int]:
    return [i for i, o in enumerate(p.options) if o.workload == w and o.role == PREFILL and ints.rps[i] > 0]


def _decodes(p: Problem, ints: Ints, w: int) -> list[int]:
    return [k for k, o in enumerate(p.options) if o.workload == w and o.role == DECODE and ints.tps[k] > 0]


def _decode_units(p: Problem, ints: Ints, k: int, pre: list[int]) -> list[Unit]:
    """One decode replica of option ``k`` with just enough replicas of one
    compatible prefill option (or n-1 of it and the cheapest one covering the rest)."""
    out = []
    ok = [i for i in pre if (i, k) not in p.incompatible]
    cover = _Cover(ok, ints)
    for i in ok:
        n = -(-ints.rps[k] // ints.rps[i])
        out.append(Unit(((k, 1), (i, n)), ints.tps[k], ints.usd[k] + n * ints.usd[i], p.options[k].gpus + n * p.options[i].gpus))
        # n-1 of i and the cheapest other option that covers the rest: balance without waste
        rest = ints.rps[k] - (n - 1) * ints.rps[i]
        j = cover.cheapest(rest, i) if n > 1 else None
        if j is not None:
            out.append(Unit(((k, 1), (i, n - 1), (j, 1)), ints.tps[k], ints.usd[k] + (n - 1) * ints.usd[i] + ints.usd[j],
                            p.options[k].gpus + (n - 1) * p.options[i].gpus + p.options[j].gpus))
    return out


class _Cover:
    """The cheapest option (by (usd, index)) among ``ok`` whose requests/s reach a
    given rate, leaving one index out: sorted by rate, best two per prefix, so each
    query is a bisection instead of a scan (units() asks once per prefill/decode pair)."""

    def __init__(self, ok: list[int], ints: Ints):
        by_rate = sorted(ok, key=lambda j: -ints.rps[j])
        self.neg_rps = [-ints.rps[j] for j in by_rate]
        self.best: list[tuple[tuple[int, int] | None, tuple[int, int] | None]] = []
        b1 = b2 = None
        for j in by_rate:
            key = (ints.usd[j], j)
            if b1 is None or key < b1:
                b1, b2 = key, b1
            elif b2 is None or key < b2:
                b2 = key
            self.best.append((b1, b2))

    def cheapest(self, rate: int, skip: int) -> int | None:
        n = bisect_right(self.neg_rps, -rate)  # options with rps >= rate
        if n == 0:
            return None
        b1, b2 = self.best[n - 1]
        key = b2 if b1[1] == skip else b1
        return None if key is None else key[1]


def _blocks(p: Problem, u: Unit) -> list[tuple[int, tuple[tuple[int, int], ...], int]]:
    """(group, block, blocks per unit): colocated units share one domain whole."""
    if p.colocated:
        block = tuple((o, p.options[o].piece) for o, n in u.members for _ in range(n))
        return [(p.options[u.members[0][0]].group, block, 1)]
    return [(p.options[o].group, ((o, p.options[o].piece),), n * p.options[o].chunks) for o, n in u.members]


def _try(p: Problem, fill: Fill, counts: list[int], ub: list[int], u: Unit, n: int, gpus_left: int | None) -> bool:
    """Place ``n`` copies of a unit or nothing."""
    if any(counts[o] + m * n > ub[o] for o, m in u.members):
        return False
    if gpus_left is not None and u.gpus * n > gpus_left:
        return False
    trial = Fill(fill.caps, [dict(st) for st in fill.states], fill.group_of, dict(fill.y))  # put() only rebinds keys: a shallow copy per class is a full one
    for group, block, per in _blocks(p, u):
        if trial.put(group, block, per * n) < per * n:
            return False
    fill.states, fill.y = trial.states, trial.y
    for o, m in u.members:
        counts[o] += m * n
    return True


def _place_many(p, fill, counts, ub, u: Unit, want: int, gpus_left) -> int:
    """Up to ``want`` copies, in halving batches (bulk at any size)."""
    done, n = 0, max(want, 0)
    while n >= 1 and done < want:
        n = min(n, want - done)
        if _try(p, fill, counts, ub, u, n, None if gpus_left is None else gpus_left - done * u.gpus):
            done += n
        else:
            n //= 2
    return done


def _cap(p: Problem, ub: list[int], u: Unit) -> int:
    return min(ub[o] // m for o, m in u.members)


def greedy(p: Problem, ints: Ints, ub: list[int]) -> tuple[list[int], Fill] | None:
    fill = Fill([c.capacity for c in p.classes], [{(): c.count} for c in p.classes], [c.group for c in p.classes])
    counts = [0] * len(p.options)
    budget = p.max_gpus
    if p.objective == "demand":
        for w, d in enumerate(ints.demand):
            left = d
            for u in sorted(units(p, ints, w), key=lambda u: (u.usd / u.tps, u.members)):
                if left <= 0:
                    break
                want = -(-left // u.tps)
                got = _place_many(p, fill, counts, ub, u, min(want, _cap(p, ub, u)), _left(p, counts, budget))
                left -= got * u.tps
            if left > 0:
                return None
        return counts, fill
    all_units = lambda: [u for w in range(p.n_workloads) for u in units(p, ints, w)]  # noqa: E731
    if p.objective == "throughput":
        for u in sorted(all_units(), key=lambda u: (-u.tps / u.gpus, u.members)):
            _place_many(p, fill, counts, ub, u, _cap(p, ub, u), _left(p, counts, budget))
    else:  # the first unit in $/token order that places: usually the cheapest, found without building them all
        first = cheapest_unit(p, ints)
        if first is not None and not _place_many(p, fill, counts, ub, first, _cap(p, ub, first), _left(p, counts, budget)):
            for u in sorted(all_units(), key=_unit_key):
                if u is not first and _place_many(p, fill, counts, ub, u, _cap(p, ub, u), _left(p, counts, budget)):
                    break
    if not any(c for c, o in zip(counts, p.options) if o.role != PREFILL):
        return None
    return counts, fill


def _left(p: Problem, counts: list[int], budget: int | None) -> int | None:
    if budget is None:
        return None
    return budget - sum(c * o.gpus for c, o in zip(counts, p.options))
