"""Identical inventory groups solved as one kind, placed per group after.

Groups with the same topology, price, rated size, largest free domain and the
same demands allowed on them offer the same options, so the solver sees one
*kind* per such set: its domain classes hold the domains of every member group
(``vmap`` turns a kind's domain index back into a group and a domain). The
model's size then grows with the kinds of hardware, not the number of sites:
200 groups of five kinds are a five-group model. Merging only relaxes "a
replica stays inside one group", so the kind's bound is a bound for the groups.

After the solve (:func:`split`) each group keeps the whole replicas its domains
hold; pieces of a replica that the kind spread over two groups are freed and
the replica placed again inside one group where it fits. A replica that fits
nowhere is dropped and the plan says so (status, served fraction); never a
claim the placement does not back.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from ..search import problem as core
from ..search.problem import PREFILL


@dataclass(frozen=True)
class Kind:
    members: tuple[int, ...]  # group indices, in inventory order


def kinds_of(groups, demands) -> list[Kind]:
    """Groups that are interchangeable for the solver, first appearance first.
    Every group is its own kind when a demand is disaggregated (prefill and
    decode pools must stay balanced inside a group)."""
    if any(d.mode == "disagg" for d in demands):
        return [Kind((gi,)) for gi in range(len(groups))]
    by: dict[tuple, list[int]] = {}
    for gi, g in enumerate(groups):
        allowed = tuple(d.groups is None or g.spec.name in d.groups for d in demands)
        key = (g.spec.topology, g.topo.price_usd_per_gpu_hour, g.topo.n_domains, g.domain_size, max(g.free), allowed)
        by.setdefault(key, []).append(gi)
    return [Kind(tuple(m)) for m in by.values()]


def kind_classes(groups, kinds: list[Kind]) -> tuple[tuple[core.DomainClass, ...], list[list[tuple[int, int]]]]:
    """Domain classes of every kind (domains of all its groups by free GPUs) and
    per kind the (group, domain) behind each of its domain indices."""
    classes, vmap = [], []
    for q, kind in enumerate(kinds):
        where = [(gi, j) for gi in kind.members for j in range(len(groups[gi].free))]
        free = [groups[gi].free[j] for gi, j in where]
        classes += list(core.classes_of(free, group=q))
        vmap.append(where)
    return tuple(classes), vmap


def _fit(free: list[int], piece: int, chunks: int) -> list[int] | None:
    """Domains (with repeats) for one replica's pieces in one group, tightest first; None if it does not fit."""
    slots: list[int] = []
    for j in sorted(range(len(free)), key=lambda j: (free[j], j)):
        room = free[j] // piece if free[j] >= piece else 0
        slots += [j] * min(room, chunks - len(slots))
        if len(slots) == chunks:
            return slots
    return None


def split(p: core.Problem, sol, groups, kinds: list[Kind], vmap):
    """The kind-level solution as per-group options and pieces: (problem,
    solution, origin) where ``origin[k]`` is the kind option behind option k."""
    left = [list(g.free) for g in groups]
    rows: list[tuple[int, int, dict[int, int]]] = []  # (kind option, group, domain -> pieces)
    lost: dict[int, int] = {}
    for k, o in enumerate(p.options):
        if sol.replicas[k] == 0:
            continue
        per: dict[int, list[tuple[int, int]]] = {}
        for v, n in sorted(sol.pieces[k].items()):
            gi, j = vmap[o.group][v]
            per.setdefault(gi, []).append((j, n))
        whole = 0
        for gi, pieces in per.items():
            keep = (sum(n for _, n in pieces) // o.chunks) * o.chunks
            mine: dict[int, int] = {}
            for j, n in pieces:
                take = min(n, keep)
                if take:
                    mine[j] = take
                    left[gi][j] -= take * o.piece
                keep -= take
            whole += sum(mine.values()) // o.chunks
            rows.append((k, gi, mine))
        lost[k] = sol.replicas[k] - whole
    for k, n in lost.items():  # replicas the kind spread over two groups: placed again inside one
        o = p.options[k]
        for gi in kinds[o.group].members:
            while n > 0:
                slots = _fit(left[gi], o.piece, o.chunks)
                if slots is None:
                    break
                mine = next((m for kk, g, m in rows if kk == k and g == gi), None)
                if mine is None:
                    mine = {}
                    rows.append((k, gi, mine))
                for j in slots:
                    mine[j] = mine.get(j, 0) + 1
                    left[gi][j] -= o.piece
                n -= 1
        lost[k] = n
    return _expanded(p, sol, rows, lost)


def _expanded(p: core.Problem, sol, rows, lost: dict[int, int]):
    rows = sorted((r for r in rows if r[2]), key=lambda r: (r[0], r[1]))
    options, origin, counts, pieces = [], [], [], []
    for k, gi, mine in rows:
        o = p.options[k]
        options.append(replace(o, group=gi))
        origin.append(k)
        counts.append(sum(mine.values()) // o.chunks)
        pieces.append(dict(sorted(mine.items())))
    p2 = replace(p, options=tuple(options), classes=(), incompatible=frozenset())
    usd = sum(o.usd_per_s * n for o, n in zip(options, counts))
    tps = sum(o.tps * n for o, n in zip(options, counts) if o.role != PREFILL)
    if not any(lost.values()):
        return p2, replace(sol, replicas=tuple(counts), pieces=tuple(pieces), usd_per_s=usd, tps=tps), origin
    served = [0.0] * len(p.demand_tps)
    for o, n in zip(options, counts):
        if o.role != PREFILL:
            served[o.workload] += o.tps * n
    fraction = min([1.0] + [s / d for s, d in zip(served, p.demand_tps) if d > 0])
    full = sol.status in ("optimal", "feasible") and fraction >= 1.0
    status = "feasible" if full else "partial-unproven"
    bound = sol.bound if sol.status != "optimal" else sol.objective  # the kind's optimum bounds the groups' plans
    return p2, replace(sol, status=status, replicas=tuple(counts), pieces=tuple(pieces), usd_per_s=usd, tps=tps,
                       objective=usd if p.objective == "demand" else sol.objective, bound=bound,
                       fraction=min(fraction, sol.fraction)), origin
