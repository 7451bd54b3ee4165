"""CP-SAT model of a fleet: replicas of every workload on an inventory of domain
classes, least $/hour meeting every demand; and an exhaustive oracle.

Data (coefficients only):

* options ``o``: a layout of workload ``w(o)`` on hardware group ``g(o)`` at its
  best batch: GPUs, pieces (each within one domain), output tokens/s, $/s;
* classes ``c``: ``n_c`` interchangeable domains of group ``g(c)`` with ``F_c``
  free GPUs each (domains of a group that lost the same number of GPUs);
* demands ``D_w`` (output tokens/s).

Model (all integers):

    minimise    sum_o usd_o r_o
    subject to  sum_{o of w} tps_o r_o >= D_w                for every workload w
                sum_c y_oc = pieces_o r_o                      for every option o
                (y_oc)_o packs into n_c domains of F_c GPUs    arc-flow, planner.search.packing
                0 <= r_o <= ceil(D_w / tps_o)                  (a cheapest plan never holds more)

When no plan meets every demand, the model is re-solved for the largest common
fraction ``phi`` of the demands (``sum tps_o r_o >= phi D_w``), then least cost
at that fraction. Rates are scaled to integers once (:func:`scaled`); the
oracle uses the same integers.
"""

from __future__ import annotations

import itertools
import math
import time
from dataclasses import dataclass, replace

from ortools.sat.python import cp_model

from .cpsat import make_solver
from .packing import DomainClass, add_packing, place
from .solver import Problem, placeable

USD_SCALE = 1e6  # $/s -> micro-dollars/s
PHI_SCALE = 1_000_000  # demand fraction resolution (1 ppm)


@dataclass(frozen=True)
class FleetOption:
    workload: int
    group: int
    gpus: int
    chunks: int
    tps: float  # output tokens/s per replica
    usd_per_s: float  # per replica

    @property
    def piece(self) -> int:
        return self.gpus // self.chunks


@dataclass(frozen=True)
class FleetClass:
    group: int
    capacity: int  # free GPUs per domain
    domains: tuple[int, ...]  # domain ids within the group


@dataclass(frozen=True)
class FleetProblem:
    options: tuple[FleetOption, ...]
    classes: tuple[FleetClass, ...]
    demand_tps: tuple[float, ...]  # per workload
    time_limit_s: float = 60.0
    workers: int = 2
    rel_gap: float = 1e-3  # stop once the cost is proven within this fraction of the optimum


@dataclass(frozen=True)
class FleetSolution:
    status: str  # optimal | feasible | partial (largest fraction, proven) | partial-unproven | unknown (no answer in time)
    replicas: tuple[int, ...]  # per option
    pieces: tuple[dict[int, int], ...]  # per option: domain id (within its group) -> pieces
    usd_per_s: float
    bound_usd_per_s: float
    fraction: float  # of every demand met (1.0 when all are met)
    wall_s: float
    fraction_bound: float = 1.0  # proven upper bound on the fraction


def scaled(p: FleetProblem) -> tuple[list[int], list[int], list[int]]:
    """(tokens/s per option floored, micro-$/s per option, demands ceiled)."""
    tps = [int(math.floor(o.tps)) for o in p.options]
    # rounded per GPU, then multiplied, so equal GPU counts at one price cost equal integers
    usd = [int(round(o.usd_per_s / max(o.gpus, 1) * USD_SCALE)) * max(o.gpus, 1) for o in p.options]
    dem = [int(math.ceil(d)) for d in p.demand_tps]
    return tps, usd, dem


def _group_free(p: FleetProblem, g: int) -> int:
    return sum(c.capacity * len(c.domains) for c in p.classes if c.group == g)


def _build(p: FleetProblem, fraction: bool):
    tps, usd, dem = scaled(p)
    m = cp_model.CpModel()
    ub = []
    for o, t in zip(p.options, tps):
        cap = _group_free(p, o.group) // o.gpus
        ub.append(0 if t <= 0 else min(cap, -(-dem[o.workload] // t)))
    r = [m.NewIntVar(0, ub[i], f"r{i}") for i in range(len(p.options))]
    classes = [DomainClass(c.capacity, c.domains) for c in p.classes]
    allowed = [{c for c, cl in enumerate(p.classes) if cl.group == o.group} for o in p.options]
    pk = add_packing(m, classes, [o.piece for o in p.options], [o.chunks * u for o, u in zip(p.options, ub)], allowed)
    for i, o in enumerate(p.options):
        m.Add(pk.placed(i) == o.chunks * r[i])
    phi = m.NewIntVar(0, PHI_SCALE, "phi") if fraction else None
    for w, d in enumerate(dem):
        served = sum(tps[i] * r[i] for i, o in enumerate(p.options) if o.workload == w)
        if fraction:
            m.Add(PHI_SCALE * served >= d * phi)
        else:
            m.Add(served >= d)
    if not fraction:  # each workload costs at least its own cheapest cover: tightens the LP
        for w, d in enumerate(dem):
            mine = [i for i, o in enumerate(p.options) if o.workload == w]
            if d > 0 and mine:
                m.Add(sum(usd[i] * r[i] for i in mine) >= _cover_bound([tps[i] for i in mine], [usd[i] for i in mine], [ub[i] for i in mine], d))
    cost = sum(u * v for u, v in zip(usd, r))
    return m, r, pk, cost, phi


def _cover_bound(tps: list[int], usd: list[int], ub: list[int], demand: int) -> int:
    """A proven lower bound on min sum usd*r with sum tps*r >= demand, r integer
    (one workload alone, inventory ignored): the integer rounding the fleet's LP
    relaxation misses."""
    m = cp_model.CpModel()
    r = [m.NewIntVar(0, u, f"r{i}") for i, u in enumerate(ub)]
    m.Add(sum(t * v for t, v in zip(tps, r)) >= demand)
    m.Minimize(sum(c * v for c, v in zip(usd, r)))
    s = cp_model.CpSolver()
    s.parameters.max_time_in_seconds = 0.5
    s.parameters.num_workers = 1
    code = s.Solve(m)
    if code == cp_model.INFEASIBLE:
        return 0  # the fleet model will find it infeasible on its own
    return int(math.ceil(s.BestObjectiveBound() - 1e-9)) if code in (cp_model.OPTIMAL, cp_model.FEASIBLE) else 0


def _solver(p: FleetProblem, seconds: float) -> cp_model.CpSolver:
    return make_solver(max(0.05, seconds), p.workers)


def _surely_short(p: FleetProblem) -> bool:
    """Even at its most GPU-efficient option, some demands need more GPUs than exist."""
    need = 0.0
    for w, d in enumerate(p.demand_tps):
        rates = [o.tps / o.gpus for o in p.options if o.workload == w]
        if d > 0:
            if not rates:
                return True
            need += d / max(rates)
    return need > sum(c.capacity * len(c.domains) for c in p.classes)


def solve_fleet(p: FleetProblem) -> FleetSolution:
    """Least cost meeting every demand; failing that (proven infeasible, or no plan
    within half the time), the largest common fraction of the demands, then least
    cost at that fraction."""
    t0 = time.perf_counter()
    ok = (cp_model.OPTIMAL, cp_model.FEASIBLE)
    if not _surely_short(p):
        m, r, pk, cost, _ = _build(p, fraction=False)
        m.Minimize(cost)
        s = _solver(p, p.time_limit_s / 2)
        s.parameters.relative_gap_limit = p.rel_gap
        code = s.Solve(m)
        if code in ok:
            if code == cp_model.OPTIMAL:  # proven, or within rel_gap
                exact = code == cp_model.OPTIMAL and s.BestObjectiveBound() >= s.ObjectiveValue()
                return _solution(p, s, r, pk, "optimal" if exact else "feasible", s.BestObjectiveBound() / USD_SCALE, 1.0, t0)
            _hint_all(m, s)  # keep improving with the other half
            s = _solver(p, p.time_limit_s - (time.perf_counter() - t0))
            s.parameters.relative_gap_limit = p.rel_gap
            code = s.Solve(m)
            exact = code == cp_model.OPTIMAL and s.BestObjectiveBound() >= s.ObjectiveValue()
            return _solution(p, s, r, pk, "optimal" if exact else "feasible", s.BestObjectiveBound() / USD_SCALE, 1.0, t0)
    # the largest common fraction of every demand, then least cost at it
    m, r, pk, cost, phi = _build(p, fraction=True)
    m.Maximize(phi)
    left = p.time_limit_s - (time.perf_counter() - t0)
    s = _solver(p, left / 2)
    code = s.Solve(m)
    if code not in ok:
        return _empty(p, "unknown", t0)
    best = int(s.Value(phi))
    phi_bound = min(PHI_SCALE, int(s.BestObjectiveBound())) / PHI_SCALE
    proven = code == cp_model.OPTIMAL
    # then, holding that fraction, serve as much more as the GPUs allow (each
    # workload's excess counted relative to its demand), then spend least
    m.Add(phi >= best)
    tps, _, dem = scaled(p)
    excess = sum(int(round(tps[i] * PHI_SCALE / dem[o.workload])) * r[i] for i, o in enumerate(p.options) if dem[o.workload] > 0)
    for objective, sense, share in ((excess, "max", 0.5), (cost, "min", 1.0)):
        _hint_all(m, s)
        (m.Maximize if sense == "max" else m.Minimize)(objective)
        s = _solver(p, (p.time_limit_s - (time.perf_counter() - t0)) * share)
        s.parameters.relative_gap_limit = p.rel_gap
        if s.Solve(m) not in ok:
            return _empty(p, "unknown", t0)
        if sense == "max":
            m.Add(objective >= int(s.ObjectiveValue()))
    if best >= PHI_SCALE:  # every demand met after all (the first model ran out of time)
        return _solution(p, s, r, pk, "feasible", s.BestObjectiveBound() / USD_SCALE, 1.0, t0)
    sol = _solution(p, s, r, pk, "partial" if proven else "partial-unproven", float("nan"), best / PHI_SCALE, t0)
    return replace(sol, fraction_bound=phi_bound)


def _hint_all(m: cp_model.CpModel, s: cp_model.CpSolver) -> None:
    """Hint every variable with the last solution: a complete hint is a feasible
    start for the next objective, so the next solve never comes back empty."""
    m.ClearHints()
    for i in range(len(m.Proto().variables)):
        v = m.GetIntVarFromProtoIndex(i)
        m.AddHint(v, s.Value(v))


def _solution(p, s, r, pk, status, bound, fraction, t0) -> FleetSolution:
    reps = tuple(int(s.Value(v)) for v in r)
    pieces = tuple(place(pk, lambda v: int(s.Value(v))))
    usd = sum(u * n for u, n in zip(scaled(p)[1], reps)) / USD_SCALE  # the integers the model priced
    return FleetSolution(status, reps, pieces, usd, usd if status == "optimal" else bound, fraction, time.perf_counter() - t0)


def _empty(p: FleetProblem, status: str, t0: float) -> FleetSolution:
    n = len(p.options)
    return FleetSolution(status, (0,) * n, tuple({} for _ in range(n)), float("nan"), float("nan"), 0.0, time.perf_counter() - t0)


# --------------------------------------------------------------------------- oracle


def exhaustive_fleet(p: FleetProblem) -> tuple[float, tuple[int, ...]] | None:
    """Least $/s meeting every demand by trying every replica-count vector, with an
    exact bin-packing check per group (small fleets only); same integers as the model."""
    tps, usd, dem = scaled(p)
    groups = sorted({c.group for c in p.classes} | {o.group for o in p.options})
    free = {g: [c.capacity for c in p.classes if c.group == g for _ in c.domains] for g in groups}
    ranges = [range(0, _group_free(p, o.group) // o.gpus + 1) for o in p.options]
    best: tuple[int, tuple[int, ...]] | None = None
    for reps in itertools.product(*ranges):
        cost = sum(u * n for u, n in zip(usd, reps))
        if best is not None and cost >= best[0]:
            continue
        if any(sum(tps[i] * reps[i] for i, o in enumerate(p.options) if o.workload == w) < d for w, d in enumerate(dem)):
            continue
        if all(_packs(p, reps, g, free[g]) for g in groups):
            best = (cost, reps)
    return None if best is None else (best[0] / USD_SCALE, best[1])


def _packs(p: FleetProblem, reps, g: int, free: list[int]) -> bool:
    kinds = [i for i, o in enumerate(p.options) if o.group == g]
    if not any(reps[i] for i in kinds):
        return True
    pieces = tuple(p.options[i].piece for i in kinds)
    prob = Problem(gpus=pieces, chunks=(1,) * len(kinds), tps=(0.0,) * len(kinds), usd_per_s=(0.0,) * len(kinds), domain_free=tuple(free))
    return placeable(prob, tuple(p.options[i].chunks * reps[i] for i in kinds))
