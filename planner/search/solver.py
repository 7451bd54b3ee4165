"""CP-SAT models over replica options, and an exhaustive oracle for small cases.

The solver sees coefficients only: for each option (a layout at its batch),
the GPUs a replica needs, how many domain-sized pieces it is cut into, its
output tokens/s and its dollars per second; for each scale-up domain, how
many GPUs are free. It never sees a formula of the cost model.

Placement: ``x[i][j]`` pieces of option ``i`` sit in domain ``j``. A replica
of ``k`` pieces needs ``k`` different domains, which is possible exactly when
``sum_j x[i][j] = k * r[i]`` and ``x[i][j] <= r[i]`` (deal the pieces out
round-robin), so counts suffice and the model stays small.
"""

from __future__ import annotations

import itertools
import math
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # ortools (and the pandas it imports) loads on the first solve: start-up stays light
    from ortools.sat.python import cp_model

TPS_SCALE = 1000  # tokens/s to integer milli-tokens/s
USD_SCALE = 1e9  # dollars/s to integer nano-dollars/s
SEED = 7
INT_LIMIT = 2**52  # largest total (coefficient x count) handed to CP-SAT; its arithmetic is int64


@dataclass(frozen=True)
class Problem:
    gpus: tuple[int, ...]  # per option: GPUs per replica
    chunks: tuple[int, ...]  # per option: pieces per replica, each in its own domain
    tps: tuple[float, ...]  # per option: output tokens/s per replica
    usd_per_s: tuple[float, ...]  # per option: dollars/s per replica
    domain_free: tuple[int, ...]  # per domain: GPUs available
    objective: str = "cost"  # cost | throughput | demand
    max_gpus: int | None = None
    demand_tps: float | None = None
    time_limit_s: float = 10.0
    workers: int = 2


@dataclass(frozen=True)
class Solution:
    status: str  # optimal | feasible | infeasible
    replicas: tuple[int, ...]
    pieces: tuple[tuple[int, ...], ...]  # pieces[i][j]: pieces of option i in domain j
    objective: float  # cost: $/Mtok; throughput: tok/s; demand: $/s
    bound: float
    wall_s: float
    binding: tuple[str, ...] = field(default_factory=tuple)

    @property
    def gap(self) -> float | None:
        """Relative distance between the objective and the proven bound (0 = optimal),
        None when no finite bound is known."""
        if not (math.isfinite(self.objective) and math.isfinite(self.bound)):
            return None
        return abs(self.objective - self.bound) / max(abs(self.objective), abs(self.bound), 1e-300)


def _scales(p: Problem, ub: list[int]) -> tuple[float, float]:
    """Integer scales for tokens/s and dollars/s: TPS_SCALE and USD_SCALE, reduced
    where a total could overflow CP-SAT's 64-bit arithmetic (absurd prices or rates)."""

    def fit(values: tuple[float, ...], scale: float) -> float:
        total = sum(abs(v) * max(u, 1) for v, u in zip(values, ub)) * scale
        return scale if total <= INT_LIMIT else scale * INT_LIMIT / total

    return fit(p.tps, TPS_SCALE), fit(p.usd_per_s, USD_SCALE)


def _scaled(p: Problem, scales: tuple[float, float] = (TPS_SCALE, USD_SCALE)) -> tuple[list[int], list[int]]:
    tps = [int(t * scales[0]) for t in p.tps]  # floor: never promise more than the model says
    # dollars are rounded per GPU, then multiplied: at one price per GPU-hour, equal GPU
    # counts cost exactly equal integers (rounding a 2-GPU replica on its own can make it
    # cheaper than two 1-GPU ones and flip a tie that the secondary objective should break)
    usd = [int(round(u / max(g, 1) * scales[1])) * max(g, 1) for u, g in zip(p.usd_per_s, p.gpus)]
    return tps, usd


def _ratio_ties(p: Problem) -> list[int]:
    """Options whose $/token equals the best placeable one (the cost objective's optimum
    is always a single option: a mix's ratio is never below its best member's)."""
    def fits_once(i: int) -> bool:  # k domains with room for one piece each
        return sum(f >= p.gpus[i] // p.chunks[i] for f in p.domain_free) >= p.chunks[i]

    ok = [i for i in range(len(p.gpus)) if fits_once(i) and p.tps[i] > 0]
    ok = [i for i in ok if p.max_gpus is None or p.gpus[i] <= p.max_gpus]
    if not ok:
        return []
    best = min(p.usd_per_s[i] / p.tps[i] for i in ok)
    return [i for i in ok if p.usd_per_s[i] / p.tps[i] <= best * (1 + 1e-9)]


def solve(p: Problem) -> Solution:
    """Data -> variables -> constraints -> objective -> solve."""
    t0 = time.perf_counter()
    n, nd = len(p.gpus), len(p.domain_free)
    allowed = set(_ratio_ties(p)) if p.objective == "cost" else set(range(n))
    from ortools.sat.python import cp_model

    m = cp_model.CpModel()

    # variables: replicas per option, pieces per option per domain
    ub = [max((sum(p.domain_free) // max(p.gpus[i], 1)), 0) if i in allowed else 0 for i in range(n)]
    tps_scale, usd_scale = _scales(p, ub)
    tps, usd = _scaled(p, (tps_scale, usd_scale))
    r = [m.NewIntVar(0, ub[i], f"r{i}") for i in range(n)]
    x = [[m.NewIntVar(0, min(ub[i], p.domain_free[j] // max(p.gpus[i] // p.chunks[i], 1)), f"x{i}_{j}") for j in range(nd)] for i in range(n)]

    # a replica's pieces land in distinct domains: sum_j x = k*r, x <= r
    for i in range(n):
        m.Add(sum(x[i]) == p.chunks[i] * r[i])
        for j in range(nd):
            m.Add(x[i][j] <= r[i])
    # domain capacity: pieces never exceed the free GPUs of a domain
    for j in range(nd):
        m.Add(sum((p.gpus[i] // p.chunks[i]) * x[i][j] for i in range(n)) <= p.domain_free[j])
    # GPU budget
    if p.max_gpus is not None:
        m.Add(sum(p.gpus[i] * r[i] for i in range(n)) <= p.max_gpus)
    # throughput demand
    total_tps = sum(tps[i] * r[i] for i in range(n))
    total_usd = sum(usd[i] * r[i] for i in range(n))
    if p.objective == "demand":
        m.Add(total_tps >= int(min(p.demand_tps * tps_scale, INT_LIMIT + 1)))
    else:
        m.Add(sum(r) >= 1)

    # objective, lexicographic in two solves: the primary goal, then (primary held
    # at its optimum) the secondary: demand -> cheapest, then most tokens;
    # cost (ties only) and throughput -> most tokens, then cheapest
    primary, sense = (total_usd, "min") if p.objective == "demand" else (total_tps, "max")
    secondary, sense2 = (total_tps, "max") if p.objective == "demand" else (total_usd, "min")
    solver = _solver(p)
    (m.Minimize if sense == "min" else m.Maximize)(primary)
    code = solver.Solve(m)
    primary_scale = usd_scale if p.objective == "demand" else tps_scale
    if code not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        wall = time.perf_counter() - t0
        if code == cp_model.UNKNOWN:  # out of time before a first solution: never answer nothing
            return _fallback(p, allowed, solver.BestObjectiveBound() / primary_scale, t0)
        return Solution("infeasible", tuple([0] * n), tuple(tuple([0] * nd) for _ in range(n)), float("nan"), float("nan"), wall)
    first_optimal = code == cp_model.OPTIMAL
    bound_raw = solver.BestObjectiveBound()
    best = int(solver.ObjectiveValue())
    reps = tuple(int(solver.Value(v)) for v in r)
    pieces = tuple(tuple(int(solver.Value(v)) for v in row) for row in x)
    for v in [*r, *(v for row in x for v in row)]:
        m.AddHint(v, solver.Value(v))
    m.Add(primary <= best) if sense == "min" else m.Add(primary >= best)
    (m.Minimize if sense2 == "min" else m.Maximize)(secondary)
    solver.parameters.max_time_in_seconds = max(p.time_limit_s - (time.perf_counter() - t0), 0.1 * p.time_limit_s)
    code2 = solver.Solve(m)
    if code2 in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        reps = tuple(int(solver.Value(v)) for v in r)
        pieces = tuple(tuple(int(solver.Value(v)) for v in row) for row in x)
    else:  # keep the first answer (the values of a failed solve are meaningless)
        code2 = code
    wall = time.perf_counter() - t0
    status = "optimal" if first_optimal and code2 == cp_model.OPTIMAL else "feasible"
    obj = value(p, reps)
    if p.objective == "cost":
        bound = obj  # every option offered ties for the best $/token: any placed mix attains it
    else:
        bound = bound_raw / primary_scale
    return Solution(status, reps, pieces, obj, bound, wall)


def _fallback(p: Problem, allowed: set[int], bound: float, t0: float) -> Solution:
    """A greedy placement when CP-SAT ran out of time before finding any solution:
    the best option first (by $/token, or tokens/s per GPU for throughput), as many
    replicas as fit (demand: until it is met). Status "feasible" with the solver's
    bound, or "timeout" if even the greedy finds nothing."""
    n, nd = len(p.gpus), len(p.domain_free)
    free = list(p.domain_free)
    reps, pieces = [0] * n, [[0] * nd for _ in range(n)]
    order = sorted(
        (i for i in allowed if p.tps[i] > 0),
        key=lambda i: -p.tps[i] / p.gpus[i] if p.objective == "throughput" else p.usd_per_s[i] / p.tps[i],
    )
    used, served = 0, 0.0
    for i in order:
        size, k = p.gpus[i] // p.chunks[i], p.chunks[i]
        while p.max_gpus is None or used + p.gpus[i] <= p.max_gpus:
            if p.objective == "demand" and served >= (p.demand_tps or 0.0):
                break
            domains = sorted((j for j in range(nd) if free[j] >= size), key=lambda j: -free[j])[:k]
            if len(domains) < k:
                break
            for j in domains:
                free[j] -= size
                pieces[i][j] += 1
            reps[i] += 1
            used += p.gpus[i]
            served += p.tps[i]
    wall = time.perf_counter() - t0
    met = sum(reps) > 0 and (p.objective != "demand" or served >= (p.demand_tps or 0.0))
    if not met:
        return Solution("timeout", tuple([0] * n), tuple(tuple([0] * nd) for _ in range(n)), float("nan"), float("nan"), wall)
    obj = value(p, tuple(reps))
    return Solution("feasible", tuple(reps), tuple(tuple(row) for row in pieces), obj, _valid_bound(p, allowed, obj, bound), wall)


def _valid_bound(p: Problem, allowed: set[int], obj: float, solver_bound: float) -> float:
    """A proven bound without a finished search: the relaxation that ignores placement
    (every GPU at the best tokens/s per GPU; demand at the best $/token), tightened
    by CP-SAT's own bound where that one is consistent with the solution found."""
    ok = [i for i in allowed if p.tps[i] > 0]
    if p.objective == "cost":
        return obj  # every option offered ties for the best $/token
    if p.objective == "throughput":
        gpus = min(sum(p.domain_free), p.max_gpus or sum(p.domain_free))
        relax = gpus * max(p.tps[i] / p.gpus[i] for i in ok)
        return min(relax, solver_bound) if obj <= solver_bound < float("inf") else relax
    relax = (p.demand_tps or 0.0) * min(p.usd_per_s[i] / p.tps[i] for i in ok)
    return max(relax, solver_bound) if -float("inf") < solver_bound <= obj else relax


def _solver(p: Problem) -> "cp_model.CpSolver":
    from .cpsat import make_solver

    return make_solver(p.time_limit_s, p.workers)


def value(p: Problem, reps: tuple[int, ...]) -> float:
    t = sum(p.tps[i] * reps[i] for i in range(len(reps)))
    u = sum(p.usd_per_s[i] * reps[i] for i in range(len(reps)))
    if p.objective == "demand":
        return u
    if p.objective == "throughput":
        return t
    return u / t * 1e6 if t else float("inf")


# --------------------------------------------------------------------------- oracle


def placeable(p: Problem, reps: tuple[int, ...]) -> bool:
    """Can these replica counts be placed? Depth-first over replicas and domains."""
    free = list(p.domain_free)
    items = sorted(((p.gpus[i] // p.chunks[i], p.chunks[i]) for i in range(len(reps)) for _ in range(reps[i])), reverse=True)

    def place(k: int) -> bool:
        if k == len(items):
            return True
        size, pieces = items[k]
        for combo in itertools.combinations(range(len(free)), pieces):
            if all(free[j] >= size for j in combo):
                for j in combo:
                    free[j] -= size
                if place(k + 1):
                    return True
                for j in combo:
                    free[j] += size
        return False

    return place(0)


def exhaustive(p: Problem) -> tuple[float, tuple[int, ...]] | None:
    """Best objective by trying every replica-count vector (small problems only)."""
    total = sum(p.domain_free)
    ranges = [range(0, total // max(g, 1) + 1) for g in p.gpus]
    best: tuple[float, float, tuple[int, ...]] | None = None
    sign = 1 if p.objective in ("cost", "demand") else -1
    for reps in itertools.product(*ranges):
        used = sum(g * r for g, r in zip(p.gpus, reps))
        if used > total or sum(reps) == 0 or (p.max_gpus is not None and used > p.max_gpus):
            continue
        t = sum(p.tps[i] * reps[i] for i in range(len(reps)))
        if p.objective == "demand" and t < p.demand_tps:
            continue
        if not placeable(p, reps):
            continue
        key = (sign * value(p, reps), -t)
        if best is None or key < best[:2]:
            best = (key[0], key[1], reps)
    return None if best is None else (sign * best[0], best[2])
