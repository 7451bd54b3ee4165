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
import time
from dataclasses import dataclass, field

from ortools.sat.python import cp_model

TPS_SCALE = 1000  # tokens/s to integer milli-tokens/s
USD_SCALE = 1e9  # dollars/s to integer nano-dollars/s
SEED = 7


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


def _scaled(p: Problem) -> tuple[list[int], list[int]]:
    tps = [int(t * TPS_SCALE) for t in p.tps]  # floor: never promise more than the model says
    usd = [int(round(u * USD_SCALE)) for u in p.usd_per_s]
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
    tps, usd = _scaled(p)
    m = cp_model.CpModel()

    # variables: replicas per option, pieces per option per domain
    ub = [max((sum(p.domain_free) // max(p.gpus[i], 1)), 0) if i in allowed else 0 for i in range(n)]
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
        m.Add(total_tps >= int(p.demand_tps * TPS_SCALE))
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
    if code not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        wall = time.perf_counter() - t0
        return Solution("infeasible", tuple([0] * n), tuple(tuple([0] * nd) for _ in range(n)), float("nan"), float("nan"), wall)
    first_optimal = code == cp_model.OPTIMAL
    bound_raw = solver.BestObjectiveBound()
    best = int(solver.ObjectiveValue())
    for v in [*r, *(v for row in x for v in row)]:
        m.AddHint(v, solver.Value(v))
    m.Add(primary <= best) if sense == "min" else m.Add(primary >= best)
    (m.Minimize if sense2 == "min" else m.Maximize)(secondary)
    code2 = solver.Solve(m)
    if code2 not in (cp_model.OPTIMAL, cp_model.FEASIBLE):  # keep the first answer
        code2 = code
    reps = tuple(int(solver.Value(v)) for v in r)
    pieces = tuple(tuple(int(solver.Value(v)) for v in row) for row in x)
    wall = time.perf_counter() - t0
    status = "optimal" if first_optimal and code2 == cp_model.OPTIMAL else "feasible"
    obj = value(p, reps)
    if p.objective == "demand":
        bound = bound_raw / USD_SCALE
    elif p.objective == "throughput":
        bound = bound_raw / TPS_SCALE
    else:
        bound = obj if first_optimal else float("nan")
    return Solution(status, reps, pieces, obj, bound, wall)


def _solver(p: Problem) -> cp_model.CpSolver:
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = p.time_limit_s
    solver.parameters.num_workers = p.workers
    solver.parameters.random_seed = SEED
    return solver


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
