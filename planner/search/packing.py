"""Packing replica pieces into classes of identical scale-up domains (CP-SAT arc-flow).

Domains with the same number of free GPUs (and, in a fleet, the same hardware
and price) are interchangeable, so a model needs only *how many* domains of a
class are filled in each way, never which one. Valério de Carvalho's arc-flow
formulation says this exactly, without listing fill patterns:

* nodes ``0..F`` are "GPUs of a domain already filled" (``F`` = free GPUs);
* an item arc ``a -> a+s`` places a piece of ``s`` GPUs; a loss arc ``a -> F``
  leaves the rest idle; pieces on a path appear in non-increasing size, which
  removes symmetric copies of one fill without losing any fill;
* one unit of flow from 0 to F is one domain; at most ``n`` units for a class of
  ``n`` domains; flow conservation at every inner node.

Pieces of size ``s`` that the class can hold = total flow on arcs of length
``s``. Its LP relaxation is as strong as the Gilmore-Gomory (all patterns)
model. A flow solution decomposes into one path (fill) per domain, which is
how :func:`decode` hands out concrete domains.

Pieces of one replica may share a domain when they fit: that only shortens
paths the cost model priced as crossing domains.

A class of **one** domain needs no graph (``bins=True``): a set of pieces fits
one domain exactly when their GPUs add up to at most its free GPUs (a domain
is a count of GPUs, with no shape), and a largest-first path through the arc
graph is exactly such a set, so the row ``sum(size * pieces) <= free GPUs``
admits the same placements with one constraint instead of hundreds of arc
variables. Colocated pools keep one class per domain; at 72-576 GPUs their arc
graph made CP-SAT's Dinkelbach steps 30-60x slower to prove.
"""

from __future__ import annotations

from dataclasses import dataclass

from ortools.sat.python import cp_model


@dataclass(frozen=True)
class Arcs:
    capacity: int
    items: tuple[tuple[int, int, int], ...]  # (from, to, size)
    losses: tuple[int, ...]  # nodes with a loss arc to capacity


def build_arcs(capacity: int, sizes) -> Arcs:
    """Arcs of the reduced graph: sizes taken largest first along every path."""
    nodes, items = {0}, set()
    for s in sorted({int(s) for s in sizes if 0 < s <= capacity}, reverse=True):
        for a in sorted(nodes):
            b = a
            while b + s <= capacity:
                items.add((b, b + s, s))
                nodes.add(b + s)
                b += s
    losses = tuple(sorted(a for a in nodes if a < capacity))
    return Arcs(capacity, tuple(sorted(items)), losses)


@dataclass
class ClassFlow:
    arcs: Arcs
    count: int
    item_vars: list  # per item arc
    loss_vars: list  # per loss arc
    used: object  # IntVar: domains of the class in use

    def pieces(self, size: int):
        """Linear expression: pieces of ``size`` GPUs the class holds."""
        return sum(v for (a, b, s), v in zip(self.arcs.items, self.item_vars) if s == size)


def add_class(m: cp_model.CpModel, capacity: int, count: int, sizes, name: str) -> ClassFlow:
    arcs = build_arcs(capacity, sizes)
    items = [m.NewIntVar(0, count, f"{name}a{a}_{s}") for a, _, s in arcs.items]
    losses = [m.NewIntVar(0, count, f"{name}l{a}") for a in arcs.losses]
    used = m.NewIntVar(0, count, f"{name}used")
    inflow: dict[int, list] = {}
    outflow: dict[int, list] = {}
    for (a, b, _), v in zip(arcs.items, items):
        outflow.setdefault(a, []).append(v)
        inflow.setdefault(b, []).append(v)
    for a, v in zip(arcs.losses, losses):
        outflow.setdefault(a, []).append(v)
        inflow.setdefault(capacity, []).append(v)
    m.Add(sum(outflow.get(0, [])) == used)
    for node in {a for a, _, _ in arcs.items} | {b for _, b, _ in arcs.items} | set(arcs.losses):
        if node not in (0, capacity):
            m.Add(sum(inflow.get(node, [])) == sum(outflow.get(node, [])))
    return ClassFlow(arcs, count, items, losses, used)


def decode(flow: ClassFlow, item_values: list[int], loss_values: list[int]) -> list[list[int]]:
    """One fill per domain in use: the piece sizes of each flow path from 0."""
    cap = flow.arcs.capacity
    left = {("i", k): v for k, v in enumerate(item_values) if v > 0}
    left.update({("l", k): v for k, v in enumerate(loss_values) if v > 0})
    out_arcs: dict[int, list[tuple[str, int]]] = {}
    for k, (a, _, _) in enumerate(flow.arcs.items):
        out_arcs.setdefault(a, []).append(("i", k))
    for k, a in enumerate(flow.arcs.losses):
        out_arcs.setdefault(a, []).append(("l", k))
    fills: list[list[int]] = []
    while True:
        node, path = 0, []
        while node != cap:
            arc = next((x for x in out_arcs.get(node, []) if left.get(x, 0) > 0), None)
            if arc is None:
                break
            path.append(arc)
            node = flow.arcs.items[arc[1]][1] if arc[0] == "i" else cap
        if not path or node != cap:
            return fills
        times = min(left[x] for x in path)
        for x in path:
            left[x] -= times
        sizes = [flow.arcs.items[k][2] for t, k in path if t == "i"]
        fills.extend([list(sizes)] * times)


@dataclass(frozen=True)
class Bin:
    """One domain of ``capacity`` free GPUs as a single knapsack row (see the module docstring)."""

    capacity: int


# --------------------------------------------------------------------------- pieces of many kinds


@dataclass(frozen=True)
class DomainClass:
    capacity: int  # free GPUs in each domain of the class
    domains: tuple[int, ...]  # the caller's domain ids


def classes_of(domain_free) -> list[DomainClass]:
    """Domains grouped by free GPUs (domains with none are dropped)."""
    by: dict[int, list[int]] = {}
    for j, f in enumerate(domain_free):
        if f > 0:
            by.setdefault(int(f), []).append(j)
    return [DomainClass(f, tuple(ids)) for f, ids in sorted(by.items(), reverse=True)]


@dataclass
class Packing:
    classes: list[DomainClass]
    flows: list  # per class: ClassFlow, Bin (one domain, one row) or None (nothing fits)
    pieces: list[int]  # per item kind: GPUs of one piece
    y: list[dict[int, object]]  # per item kind: class index -> IntVar pieces placed there

    def placed(self, kind: int):
        """Linear expression: pieces of ``kind`` placed anywhere."""
        return sum(self.y[kind].values())


def add_packing(m: cp_model.CpModel, classes: list[DomainClass], pieces: list[int], ub: list[int], allowed=None, name: str = "k",
                bins: bool = False) -> Packing:
    """Pieces of several kinds (``pieces[k]`` GPUs each, at most ``ub[k]``) into
    domain classes; ``allowed[k]``: the class indices kind ``k`` may use;
    ``bins``: a class of one domain is one knapsack row (:class:`Bin`)."""
    flows, y = [], [dict() for _ in pieces]
    for c, cls in enumerate(classes):
        kinds = [k for k, s in enumerate(pieces) if s <= cls.capacity and ub[k] > 0 and (allowed is None or c in allowed[k])]
        if not kinds:
            flows.append(None)
            continue
        flow = Bin(cls.capacity) if bins and len(cls.domains) == 1 else add_class(m, cls.capacity, len(cls.domains), [pieces[k] for k in kinds], f"{name}c{c}")
        flows.append(flow)
        for k in kinds:
            y[k][c] = m.NewIntVar(0, min(ub[k], len(cls.domains) * (cls.capacity // pieces[k])), f"{name}y{k}_{c}")
        if isinstance(flow, Bin):
            m.Add(sum(pieces[k] * y[k][c] for k in kinds) <= cls.capacity)
            continue
        for s in {pieces[k] for k in kinds}:
            m.Add(sum(y[k][c] for k in kinds if pieces[k] == s) <= flow.pieces(s))
    return Packing(classes, flows, list(pieces), y)


def place(pk: Packing, value) -> list[dict[int, int]]:
    """Pieces per domain for every kind, from solved values (``value(var) -> int``)."""
    out: list[dict[int, int]] = [dict() for _ in pk.pieces]
    for c, (cls, flow) in enumerate(zip(pk.classes, pk.flows)):
        if flow is None:
            continue
        need = {k: value(v) for k, v in ((k, yk[c]) for k, yk in enumerate(pk.y) if c in yk)}
        if isinstance(flow, Bin):  # one domain holds them all
            for k, n in need.items():
                if n > 0:
                    out[k][cls.domains[0]] = n
            continue
        fills = decode(flow, [value(v) for v in flow.item_vars], [value(v) for v in flow.loss_vars])
        for dom, fill in zip(cls.domains, fills):
            for s in fill:
                k = next((k for k, n in need.items() if n > 0 and pk.pieces[k] == s), None)
                if k is not None:
                    need[k] -= 1
                    out[k][dom] = out[k].get(dom, 0) + 1
        if any(need.values()):
            raise AssertionError("packing decode left pieces unplaced")  # flow >= pieces by construction
    return out
