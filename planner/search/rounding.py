"""A whole plan from the LP relaxation (:mod:`planner.search.relax`).

The fractional arc flow of each domain class splits into fills (paths, one per
domain) with fractional domain counts; whole domains of every fill are kept,
their piece slots go to the options the LP put there, replicas are rounded
down (prefill/decode balance and TTFT pairs repaired by dropping decode
replicas), and the greedy tops up what rounding lost. The plan is feasible by
construction: a complete start for CP-SAT and, where it is within the gap of
the LP bound, the answer. With thousands of domains the rounding loses a few
domains' worth of replicas, a fraction of a percent.
"""

from __future__ import annotations

import math
from collections import Counter

from .greedy import Fill, _cap, _left, _place_many, units
from .blocks import PHI_SCALE
from .problem import DECODE, PREFILL, Problem

EPS = 1e-6  # LP values within this of an integer count as that integer


def _paths(arcs, item_x: list[float], loss_x: list[float]) -> list[tuple[list[int], float]]:
    """Fractional path decomposition of one class's flow: (piece sizes, domains)."""
    cap = arcs.capacity
    left = {("i", k): v for k, v in enumerate(item_x) if v > EPS}
    left.update({("l", k): v for k, v in enumerate(loss_x) if v > EPS})
    out: dict[int, list[tuple[str, int]]] = {}
    for k, (a, _, _) in enumerate(arcs.items):
        out.setdefault(a, []).append(("i", k))
    for k, a in enumerate(arcs.losses):
        out.setdefault(a, []).append(("l", k))
    paths = []
    while True:
        node, path = 0, []
        while node != cap:
            arcs_here = [x for x in out.get(node, []) if left.get(x, 0.0) > EPS]
            if not arcs_here:
                break
            arc = max(arcs_here, key=lambda x: (left[x], x))
            path.append(arc)
            node = arcs.items[arc[1]][1] if arc[0] == "i" else cap
        if not path or node != cap:
            return paths
        t = min(left[x] for x in path)
        for x in path:
            left[x] -= t
        paths.append(([arcs.items[k][2] for kind, k in path if kind == "i"], t))


def _whole_domains(pk, classes, at) -> list[list[list[int]]]:
    """Per class: the piece sizes of every domain kept whole from the LP flow
    (each fill's domains rounded down, then the class's whole domains left over
    to the fills with the largest fractions)."""
    doms = []
    for c, flow in enumerate(pk.flows):
        fills: list[list[int]] = []
        if flow is not None:
            paths = _paths(flow.arcs, [at(v) for v in flow.item_vars], [at(v) for v in flow.loss_vars])
            whole = [int(math.floor(t + EPS)) for _, t in paths]
            spare = min(classes[c].count, int(math.floor(sum(t for _, t in paths) + EPS))) - sum(whole)
            for n in sorted(range(len(paths)), key=lambda n: (-(paths[n][1] - whole[n]), n))[:max(spare, 0)]:
                whole[n] += 1
            for (sizes, _), n in zip(paths, whole):
                fills += [list(sizes) for _ in range(n)]
        doms.append(fills[: classes[c].count])
    return doms


def _hand_out(pk, doms, at) -> dict[tuple[int, int], int]:
    """Slots of each size in each class to the options the LP put there: whole
    LP pieces first, then the rest by largest fractional part."""
    y: dict[tuple[int, int], int] = {}
    here: dict[int, list[int]] = {}
    for k, yk in enumerate(pk.y):
        for c in yk:
            here.setdefault(c, []).append(k)
    for c, fills in enumerate(doms):
        slots = Counter(s for f in fills for s in f)
        for size, n in sorted(slots.items()):
            kinds = [k for k in here.get(c, []) if pk.pieces[k] == size]
            want = {k: at(pk.y[k][c]) for k in kinds}
            for k in sorted(kinds, key=lambda k: (-want[k], k)):
                got = min(int(math.floor(want[k] + EPS)), n)
                y[(k, c)], n = got, n - got
            for k in sorted(kinds, key=lambda k: (-(want[k] - math.floor(want[k] + EPS)), k)):
                if n > 0 and want[k] - y[(k, c)] > EPS:
                    y[(k, c)], n = y[(k, c)] + 1, n - 1
    return y


def _repair(p: Problem, ints, counts: list[int]) -> None:
    """TTFT pairs never both used, prefill keeps up with decode: drop decode replicas."""
    for i, k in sorted(p.incompatible):
        if counts[i] > 0 and counts[k] > 0:
            counts[k] = 0
    for w in range(p.n_workloads):
        pre = sum(ints.rps[i] * counts[i] for i, o in enumerate(p.options) if o.workload == w and o.role == PREFILL)
        dec = [k for k, o in enumerate(p.options) if o.workload == w and o.role == DECODE and counts[k] > 0]
        need = sum(ints.rps[k] * counts[k] for k in dec) - pre
        for k in sorted(dec, key=lambda k: (-counts[k], k)):
            if need <= 0:
                break
            cut = min(counts[k], -(-need // max(ints.rps[k], 1)))
            counts[k] -= cut
            need -= cut * ints.rps[k]


def _trim(pk, doms, y, counts, options) -> None:
    """Keep exactly chunks x replicas pieces of every option; free the slots left over."""
    where: dict[int, list[int]] = {}
    for k, c in sorted(y):
        where.setdefault(k, []).append(c)
    for k, cs in where.items():
        extra = sum(y[(k, c)] for c in cs) - options[k].chunks * counts[k]
        for c in reversed(cs):
            cut = min(extra, y[(k, c)])
            y[(k, c)] -= cut
            extra -= cut
    used = [Counter() for _ in doms]
    for (k, c), n in y.items():
        used[c][pk.pieces[k]] += n
    for c, fills in enumerate(doms):
        spare = Counter(s for f in fills for s in f)
        spare.subtract(used[c])
        for f in reversed(fills):
            for s in list(f):
                if spare[s] > 0:
                    f.remove(s)
                    spare[s] -= 1


def round_plan(p: Problem, ints, ub: list[int], mdl, at, fraction_target: float | None = None):
    """(replica counts, Fill) of a whole plan from LP values ``at(var)``; None
    when the demands cannot all be met from it (demand objective)."""
    pk = mdl.pk
    doms = _whole_domains(pk, p.classes, at)
    y = _hand_out(pk, doms, at)
    placed = [0] * len(p.options)
    for (k, _), n in y.items():
        placed[k] += n
    counts = [min(ub[k], placed[k] // o.chunks) for k, o in enumerate(p.options)]
    _repair(p, ints, counts)
    _trim(pk, doms, y, counts, p.options)
    states = []
    for c, fills in enumerate(doms):
        st = Counter(tuple(sorted(f, reverse=True)) for f in fills)
        idle = p.classes[c].count - len(fills) + st.pop((), 0)
        if idle:
            st[()] = idle
        states.append(dict(st))
    fill = Fill([c.capacity for c in p.classes], states, [c.group for c in p.classes], {kc: n for kc, n in y.items() if n})
    if not _top_up(p, ints, ub, fill, counts, fraction_target) and fraction_target is None:
        return None
    return counts, fill


TOP_UP_PASSES = 8  # a fraction target is approached in this many equal steps, every workload in turn


def _top_up(p: Problem, ints, ub, fill: Fill, counts: list[int], fraction_target: float | None) -> bool:
    """Every demand (or ``fraction_target`` of it, raised in passes so that no
    workload takes the room another needs) met with the units that fit: the
    cheapest per token, or for a fraction the fewest GPUs per token; False
    when some demand cannot be met."""
    served = lambda w: sum(ints.tps[k] * counts[k] for k, o in enumerate(p.options) if o.workload == w and o.role != PREFILL)  # noqa: E731
    order = {w: sorted(units(p, ints, w), key=(lambda u: (u.usd / u.tps, u.members)) if fraction_target is None
                       else (lambda u: (u.gpus / u.tps, u.usd / u.tps, u.members))) for w in range(len(ints.demand))}
    passes = [1.0] if fraction_target is None else [fraction_target * (j + 1) / TOP_UP_PASSES for j in range(TOP_UP_PASSES)]
    ok = True
    for share in passes:
        ok = True
        for w, d in enumerate(ints.demand):
            left = int(math.ceil(d * share)) - served(w)
            for u in order[w]:
                if left <= 0:
                    break
                got = _place_many(p, fill, counts, ub, u, min(-(-left // u.tps), _cap(p, ub, u)), _left(p, counts, p.max_gpus))
                left -= got * u.tps
            ok = ok and left <= 0
    return ok


def values_of_plan(mdl, counts: list[int], fill: Fill) -> list[int]:
    """A complete assignment of every model variable from a whole plan (greedy or rounded)."""
    vals = [0] * len(mdl.m.Proto().variables)
    for v, n in zip(mdl.r, counts):
        vals[v.Index()] = n
    for i, v in enumerate(mdl.use):
        vals[v.Index()] = int(counts[i] > 0)
    for k, flow in enumerate(mdl.pk.flows):
        if flow is None or not hasattr(flow, "arcs"):  # nothing fits, or a one-domain row (its pieces are the y below)
            continue
        arcs = flow.arcs
        item_at = {(a, s): n for n, (a, _, s) in enumerate(arcs.items)}
        loss_at = {a: n for n, a in enumerate(arcs.losses)}
        used = 0
        for f, cnt in fill.states[k].items():
            if not f:
                continue
            used += cnt
            node = 0
            for s in f:
                vals[flow.item_vars[item_at[(node, s)]].Index()] += cnt
                node += s
            if node < arcs.capacity:
                vals[flow.loss_vars[loss_at[node]].Index()] += cnt
        vals[flow.used.Index()] = used
    for (o, k), n in fill.y.items():
        vals[mdl.pk.y[o][k].Index()] += n
    return vals


DIVES = 8  # at most this many LP re-solves, each holding one more option at its rounded-up replica count


def lp_plan(p: Problem, ints, ub: list[int], mdl, expr, sense: str):
    """The LP bound on ``expr`` (model integers; None when unknown, "infeasible"
    when proven) and the values of a whole plan rounded from the LP optimum
    (None when rounding meets no plan). For the common fraction, a workload
    whose replicas are coarse can fall a replica short in rounding: the LP is
    solved again (a dive) with that workload's most fractional option held at
    its rounded-up count, and the best whole plan kept."""
    from .relax import LP_TOLERANCE, Relaxation

    if p.colocated:
        return None, None
    (mdl.m.Minimize if sense == "min" else mdl.m.Maximize)(expr)
    lpr = Relaxation(mdl.m)
    lp = lpr.solve()
    if lp.status != "optimal":
        return ("infeasible" if lp.status == "infeasible" else None), None
    slack = abs(lp.value) * LP_TOLERANCE + LP_TOLERANCE
    bound = math.floor(lp.value + slack) if sense == "max" else math.ceil(lp.value - slack)
    best, lower = None, {}
    for _ in range(DIVES if mdl.phi is not None else 1):
        vals, served = _rounded(p, ints, ub, mdl, lp)
        if vals is None:
            break
        if best is None or vals[mdl.phi.Index()] > best[mdl.phi.Index()]:
            best = vals
        if mdl.phi is None or best[mdl.phi.Index()] >= bound * (1 - p.rel_gap):
            break
        k = _dive_on(p, mdl, lp, served, lower)
        if k is None:
            break
        lower[mdl.r[k].Index()] = math.ceil(lp.x[mdl.r[k].Index()])
        lp = lpr.solve(lower)
        if lp.status != "optimal":
            break
    return bound, best


def _rounded(p: Problem, ints, ub, mdl, lp):
    """Values of the whole plan rounded from ``lp`` and its served tokens/s per workload (scaled)."""
    at = lambda v: lp.x[v.Index()]  # noqa: E731
    target = None if mdl.phi is None else min(1.0, lp.value / PHI_SCALE * mdl.phi_widen)
    plan = round_plan(p, ints, ub, mdl, at, target)
    if plan is None:
        return None, None
    vals = values_of_plan(mdl, *plan)
    served = [0] * p.n_workloads
    for k, o in enumerate(p.options):
        if o.role != PREFILL:
            served[o.workload] += ints.tps[k] * plan[0][k]
    if mdl.phi is not None:
        vals[mdl.phi.Index()] = min([PHI_SCALE] + [a * served[w] // b for w, a, b in mdl.phi_rows])
    return vals, served


def _dive_on(p: Problem, mdl, lp, served, lower) -> int | None:
    """The most fractional serving option of the workload furthest below the fraction."""
    worst = min(((a * served[w] / b, w) for w, a, b in mdl.phi_rows), default=None)
    if worst is None:
        return None
    cands = [(lp.x[v.Index()] - math.floor(lp.x[v.Index()] + EPS), k) for k, (v, o) in enumerate(zip(mdl.r, p.options))
             if o.workload == worst[1] and o.role != PREFILL and v.Index() not in lower]
    frac, k = max(cands, default=(0.0, None))
    return k if frac > EPS else None
