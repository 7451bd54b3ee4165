"""The CP-SAT model of a :class:`~planner.search.problem.Problem`, built from
constraint blocks. Each block is one small function with one job and its own
oracle test (tests/test_search_blocks.py); adding a constraint is adding a
block here and a test there.

Data: the problem's options and classes, their integer coefficients
(:class:`Ints`) and count bounds. Variables: ``r[o]`` replicas of option
``o``; arc-flow variables per domain class (:mod:`planner.search.packing`);
``use[o]`` (option in use) where pairs must be excluded.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .packing import DomainClass as PackClass, Packing, add_packing
from .problem import DECODE, PREFILL, Problem
from .scaling import Family, ceil_int, floor_int, pick_scales, price_int, ratio_row

PHI_SCALE = 1_000_000  # resolution of a common demand fraction (1 ppm)


@dataclass(frozen=True)
class Ints:
    """The integer coefficients every model and the oracle use."""

    tps: tuple[int, ...]  # per option, floored
    usd: tuple[int, ...]  # per option, rounded per GPU
    rps: tuple[int, ...]  # per option: prefill floored (supply), decode ceiled (need), 0 for agg
    demand: tuple[int, ...]  # per workload, ceiled
    tps_scale: float
    usd_scale: float
    slack: float = 0.0  # relative rounding of a total: a bound on the integers is widened by it for the floats

    def widen(self, bound: float, upward: bool) -> float:
        """A bound proven on the integers, made valid for the unrounded coefficients."""
        return bound * (1 + self.slack) if upward else bound * (1 - self.slack)


def upper_bounds(p: Problem) -> list[int]:
    """Most replicas of each option a useful plan holds: what its group's free
    GPUs allow (and the GPU budget); for the demand objective a decode or
    aggregated option never needs more than its workload's demand."""
    free: dict[int, int] = {}
    for c in p.classes:
        free[c.group] = free.get(c.group, 0) + c.capacity * c.count
    biggest: dict[int, int] = {}
    for c in p.classes:
        biggest[c.group] = max(biggest.get(c.group, 0), c.capacity)
    ub = []
    for o in p.options:
        n = free.get(o.group, 0) // o.gpus if o.piece <= biggest.get(o.group, 0) else 0
        if p.max_gpus is not None:
            n = min(n, p.max_gpus // o.gpus)
        if p.colocated and o.chunks != 1:
            n = 0
        if p.objective == "demand" and o.role != PREFILL and o.tps > 0 and p.demand_tps:
            n = min(n, -(-int(p.demand_tps[o.workload] + 1) // max(int(o.tps), 1)) + 1)
        ub.append(max(n, 0))
    return ub


def integers(p: Problem, ub: list[int]) -> Ints:
    """Coefficients scaled by the guarded helper (refuses, naming the field, where
    no scale fits)."""
    n = len(p.options)
    tps_f, usd_f = p.names
    gpus = sum(c.capacity * c.count for c in p.classes)
    reach = lambda vals: gpus * max((v / o.gpus for v, o in zip(vals, p.options)), default=0.0)  # noqa: E731
    fam_tps = Family(tps_f, tuple(o.tps for o in p.options) + tuple(p.demand_tps), tuple(ub) + (1,) * len(p.demand_tps),
                     reach=reach([o.tps for o in p.options]))
    fam_usd = Family(usd_f, tuple(o.usd_per_s for o in p.options), tuple(ub), reach=reach([o.usd_per_s for o in p.options]))
    fam_rps = Family(tps_f, tuple(o.rps for o in p.options), tuple(ub))
    s_tps, s_usd, s_rps = pick_scales([fam_tps, fam_usd, fam_rps], product=p.objective == "cost")
    return Ints(
        tps=tuple(floor_int(o.tps, s_tps) for o in p.options),
        usd=tuple(price_int(o.usd_per_s, o.gpus, s_usd) for o in p.options),
        rps=tuple(floor_int(o.rps, s_rps) if o.role == PREFILL else ceil_int(o.rps, s_rps) if o.role == DECODE else 0 for o in p.options),
        demand=tuple(ceil_int(d, s_tps) for d in p.demand_tps),
        tps_scale=s_tps,
        usd_scale=s_usd,
        slack=2.0 / max(min(f.smallest * s for f, s in ((fam_tps, s_tps), (fam_usd, s_usd)) if f.smallest) if (fam_tps.smallest or fam_usd.smallest) else 1.0, 1.0),
    ) if n or p.demand_tps else Ints((), (), (), (), 1.0, 1.0)


@dataclass
class Model:
    m: object  # cp_model.CpModel
    r: list  # replicas per option
    pk: Packing
    use: list = field(default_factory=list)
    usd: object = 0  # total $/s (scaled)
    tps: object = 0  # total output tokens/s (scaled)
    served: list = field(default_factory=list)  # per workload: output tokens/s (scaled)
    phi: object = None  # common demand fraction (fraction models only)
    phi_widen: float = 1.0  # a bound on phi proven on the (rounded) fraction rows, times this, holds for the demands
    phi_rows: list = field(default_factory=list)  # (workload, a, b): a * served >= b * phi


# --------------------------------------------------------------------------- blocks


def replicas(m, ub: list[int]) -> list:
    """Variables: replicas of each option, 0..its upper bound."""
    return [m.NewIntVar(0, u, f"r{i}") for i, u in enumerate(ub)]


def placement(m, p: Problem, r: list, ub: list[int]) -> Packing:
    """Every piece of every replica sits in a domain of its group with room for
    it: arc-flow over each domain class (pieces of ``chunks * r`` per option);
    colocated pools' classes are single domains, each one knapsack row."""
    classes = [PackClass(c.capacity, c.domains) for c in p.classes]
    by_group: dict[int, set[int]] = {}
    for k, c in enumerate(p.classes):
        by_group.setdefault(c.group, set()).add(k)
    allowed = [by_group.get(o.group, set()) for o in p.options]
    pk = add_packing(m, classes, [o.piece for o in p.options], [o.chunks * u for o, u in zip(p.options, ub)], allowed,
                     bins=p.colocated)
    for i, o in enumerate(p.options):
        m.Add(pk.placed(i) == o.chunks * r[i])
    return pk


def balance(m, p: Problem, ints: Ints, r: list) -> None:
    """Per workload, prefill keeps up with decode: sum rps_prefill r >= sum rps_decode r."""
    for w in range(p.n_workloads):
        pre = [i for i, o in enumerate(p.options) if o.workload == w and o.role == PREFILL]
        dec = [i for i, o in enumerate(p.options) if o.workload == w and o.role == DECODE]
        if dec:
            m.Add(sum(ints.rps[i] * r[i] for i in pre) >= sum(ints.rps[k] * r[k] for k in dec))


def pairing(m, p: Problem, r: list, ub: list[int]) -> list:
    """A prefill and a decode option that together miss TTFT are never both in use."""
    if not p.incompatible:
        return []
    use = [m.NewBoolVar(f"u{i}") for i in range(len(r))]
    for i, v in enumerate(r):
        m.Add(v <= ub[i] * use[i])
    for i, k in sorted(p.incompatible):
        m.AddBoolOr([use[i].Not(), use[k].Not()])
    return use


def colocated_balance(m, p: Problem, ints: Ints, pk: Packing) -> None:
    """KV over scale-up links: inside every domain (each class is one domain) the
    prefill pieces keep up with the decode pieces (one-piece replicas)."""
    if not p.colocated:
        return
    for c in range(len(p.classes)):
        pre = [pk.y[i][c] * ints.rps[i] for i, o in enumerate(p.options) if o.role == PREFILL and c in pk.y[i]]
        dec = [pk.y[k][c] * ints.rps[k] for k, o in enumerate(p.options) if o.role == DECODE and c in pk.y[k]]
        if dec:
            m.Add(sum(pre) >= sum(dec))


def demand(m, p: Problem, ints: Ints, served: list, ub: list[int], phi=None, rows: list | None = None) -> float:
    """Every workload's output tokens/s meets its demand (or the common fraction
    phi of it: PHI_SCALE * served >= demand * phi, its integers from the guarded
    helper). Returns the factor that makes a bound on phi valid for the demands."""
    widen = 1.0
    for w, d in enumerate(ints.demand):
        if d <= 0:
            continue
        if phi is None:
            m.Add(served[w] >= d)
            continue
        most = sum(ints.tps[i] * ub[i] for i, o in enumerate(p.options) if o.workload == w and o.role != PREFILL)
        a, b = ratio_row(most, d, PHI_SCALE, p.names[0])
        m.Add(a * served[w] >= b * phi)
        if rows is not None:
            rows.append((w, a, b))
        widen = max(widen, b * (PHI_SCALE // a) / d)
    return widen


def gpu_budget(m, p: Problem, r: list) -> None:
    """At most max_gpus GPUs in use."""
    if p.max_gpus is not None:
        m.Add(sum(o.gpus * v for o, v in zip(p.options, r)) <= p.max_gpus)


def something_served(m, p: Problem, r: list) -> None:
    """At least one replica that emits tokens (a plan of nothing has no $/token)."""
    m.Add(sum(v for o, v in zip(p.options, r) if o.role != PREFILL) >= 1)


# --------------------------------------------------------------------------- the model


def build(p: Problem, ints: Ints, ub: list[int], fraction: bool = False) -> Model:
    """Data -> variables -> constraints (one block each) -> totals; the solve
    loop sets the objective."""
    from ortools.sat.python import cp_model

    m = cp_model.CpModel()
    # variables: replicas per option (arc-flow and use variables come with their blocks)
    r = replicas(m, ub)
    # placement: pieces into domain classes of their group
    pk = placement(m, p, r, ub)
    # prefill/decode balance, per workload
    balance(m, p, ints, r)
    # TTFT: incompatible prefill/decode pairs are never both used
    use = pairing(m, p, r, ub)
    # colocated pools: balance inside every domain
    colocated_balance(m, p, ints, pk)
    # GPU budget
    gpu_budget(m, p, r)
    served = [sum(ints.tps[i] * r[i] for i, o in enumerate(p.options) if o.workload == w and o.role != PREFILL) for w in range(p.n_workloads)]
    phi, widen, rows = None, 1.0, []
    if p.objective == "demand":
        # demand: every workload served (or a common fraction of it)
        phi = m.NewIntVar(0, PHI_SCALE, "phi") if fraction else None
        widen = demand(m, p, ints, served, ub, phi, rows)
    else:
        # at least one serving replica
        something_served(m, p, r)
    usd = sum(c * v for c, v in zip(ints.usd, r))
    tps = sum(served) if served else 0
    return Model(m, r, pk, use, usd, tps, served, phi, widen, rows)
