"""CP-SAT model of disaggregated serving: how many prefill and decode replicas,
of which options, on which domains; and an exhaustive oracle for small cases.

Data (coefficients only): per prefill option ``i`` its GPUs, pieces, requests/s
and $/s; per decode option ``k`` its GPUs, pieces, requests/s (= output
tokens/s / OSL), output tokens/s and $/s; ``compatible[i][k]`` when the pair
meets TTFT (prefill queue + pass + KV transfer); free GPUs per domain.

Variables: replicas ``p_i``, ``d_k``; ``u_i``, ``v_k`` = option in use; pieces
per domain (up to PER_DOMAIN_MAX domains, and always when colocated) or per
class of identical domains (arc-flow, :mod:`planner.search.packing`).

Constraints:
  balance       sum_i rps_i p_i >= sum_k rps_k d_k   (prefill keeps up with decode)
  pairing       u_i + v_k <= 1 for every pair that misses TTFT
  placement     every piece of every replica in a domain with room for it
  colocated     (KV over scale-up) one-piece replicas only, and the balance
                holds inside every domain
  demand        sum_k tps_k d_k >= demand (objective "demand")

Objective: ``demand`` -> min $/s; ``throughput`` -> max tokens/s; ``cost`` ->
min $/token, a ratio, solved exactly by Dinkelbach's method: with the
incumbent ratio U/T, minimise usd*T - tps*U; a negative optimum is a strictly
better ratio, zero proves the incumbent optimal. Then, at that ratio, most tokens.
All rates are scaled to integers once (:func:`scaled`), and the oracle uses
the same integers, so the two agree exactly.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass
from fractions import Fraction

from ortools.sat.python import cp_model

from .cpsat import make_solver
from .packing import add_packing, classes_of, place
from .solver import Problem, placeable

RPS_SCALE = 1e6  # requests/s -> micro-requests/s
TPS_SCALE = 1.0  # output tokens/s, integer
USD_SCALE = 1e6  # $/s -> micro-dollars/s


@dataclass(frozen=True)
class PoolProblem:
    p_gpus: tuple[int, ...]
    p_chunks: tuple[int, ...]
    p_rps: tuple[float, ...]
    p_usd: tuple[float, ...]
    d_gpus: tuple[int, ...]
    d_chunks: tuple[int, ...]
    d_rps: tuple[float, ...]
    d_tps: tuple[float, ...]
    d_usd: tuple[float, ...]
    compatible: tuple[tuple[bool, ...], ...]  # [prefill i][decode k]
    domain_free: tuple[int, ...]
    colocated: bool = False
    objective: str = "cost"  # cost | throughput | demand
    max_gpus: int | None = None
    demand_tps: float | None = None
    time_limit_s: float = 10.0
    workers: int = 2
    rel_gap: float = 1e-3  # stop once no deployment can beat the answer by more than this fraction


@dataclass(frozen=True)
class PoolSolution:
    status: str  # optimal | feasible | infeasible
    prefill: tuple[int, ...]
    decode: tuple[int, ...]
    p_pieces: tuple[tuple[int, ...], ...]  # [i][j] pieces of prefill option i in domain j
    d_pieces: tuple[tuple[int, ...], ...]
    objective: float  # cost: $/Mtok all-in; throughput: tok/s; demand: $/s
    bound: float
    wall_s: float
    iterations: int = 1


@dataclass(frozen=True)
class Scaled:
    p_rps: tuple[int, ...]  # floor: never promise more prefill than the model says
    d_rps: tuple[int, ...]  # ceil: never promise less decode demand
    d_tps: tuple[int, ...]
    p_usd: tuple[int, ...]
    d_usd: tuple[int, ...]
    demand: int


def scaled(p: PoolProblem) -> Scaled:
    import math

    return Scaled(
        p_rps=tuple(int(math.floor(r * RPS_SCALE)) for r in p.p_rps),
        d_rps=tuple(int(math.ceil(r * RPS_SCALE)) for r in p.d_rps),
        d_tps=tuple(int(math.floor(t * TPS_SCALE)) for t in p.d_tps),
        # rounded per GPU, then multiplied: equal GPU counts at one price cost equal integers
        p_usd=tuple(int(round(u / g * USD_SCALE)) * g for u, g in zip(p.p_usd, p.p_gpus)),
        d_usd=tuple(int(round(u / g * USD_SCALE)) * g for u, g in zip(p.d_usd, p.d_gpus)),
        demand=int(math.ceil((p.demand_tps or 0.0) * TPS_SCALE)),
    )


def totals(s: Scaled, pre: tuple[int, ...], dec: tuple[int, ...]) -> tuple[int, int]:
    """(micro-$/s, tokens/s) of replica counts, in the scaled integers."""
    usd = sum(a * b for a, b in zip(s.p_usd, pre)) + sum(a * b for a, b in zip(s.d_usd, dec))
    return usd, sum(a * b for a, b in zip(s.d_tps, dec))


def _value(p: PoolProblem, s: Scaled, pre, dec) -> float:
    usd, tps = totals(s, pre, dec)
    if p.objective == "demand":
        return usd / USD_SCALE
    if p.objective == "throughput":
        return tps / TPS_SCALE
    return (usd / USD_SCALE) / (tps / TPS_SCALE) * 1e6 if tps else float("inf")


def _piece(gpus: int, chunks: int) -> int:
    return gpus // chunks


# --------------------------------------------------------------------------- CP-SAT


COLOCATED_MAX_DOMAINS = 8  # the colocated model keeps one variable per domain
LINEARIZATION = 1
TIE_BREAK_WORK = 1.0  # deterministic work units for the secondary objective (most tokens at the best ratio)
PER_DOMAIN_MAX = 2  # beyond this many domains, split pools pack into domain classes (arc-flow)


def _build(p: PoolProblem, s: Scaled):
    """The model; returns it with the replica variables, a function giving the
    pieces per domain of every option from solved values, and the two totals."""
    m = cp_model.CpModel()
    gpus, chunks = p.p_gpus + p.d_gpus, p.p_chunks + p.d_chunks
    n, np_ = len(gpus), len(p.p_gpus)
    free, cap = sum(p.domain_free), max(p.domain_free, default=0)
    ub = [free // g if _piece(g, c) <= cap and (not p.colocated or c == 1) else 0 for g, c in zip(gpus, chunks)]
    r = [m.NewIntVar(0, ub[i], f"r{i}") for i in range(n)]
    use = [m.NewBoolVar(f"u{i}") for i in range(n)]
    for i in range(n):
        m.Add(r[i] <= ub[i] * use[i])
    pr, dr = r[:np_], r[np_:]
    nd = len(p.domain_free)
    if p.colocated or nd <= PER_DOMAIN_MAX:  # pieces counted per domain
        x = [[m.NewIntVar(0, p.domain_free[j] // _piece(gpus[i], chunks[i]) if ub[i] else 0, f"x{i}_{j}") for j in range(nd)] for i in range(n)]
        load = []
        for j in range(nd):
            load.append(sum(_piece(gpus[i], chunks[i]) * x[i][j] for i in range(n)))
            m.Add(load[j] <= p.domain_free[j])
            if p.colocated:  # one-piece replicas: every domain's prefill keeps up with its decode
                m.Add(sum(s.p_rps[i] * x[i][j] for i in range(np_)) >= sum(s.d_rps[k] * x[np_ + k][j] for k in range(n - np_)))
        for j in range(nd - 1):  # identical domains are interchangeable: fill them in order
            if p.domain_free[j] == p.domain_free[j + 1]:
                m.Add(load[j] >= load[j + 1])
        for i in range(n):
            m.Add(sum(x[i]) == chunks[i] * r[i])

        def pieces(value):
            return [tuple(value(x[i][j]) for j in range(nd)) for i in range(n)]
    else:
        pk = add_packing(m, classes_of(p.domain_free), [_piece(g, c) for g, c in zip(gpus, chunks)], [c * u for c, u in zip(chunks, ub)])
        for i in range(n):
            m.Add(pk.placed(i) == chunks[i] * r[i])

        def pieces(value):
            per = place(pk, value)
            return [tuple(per[i].get(j, 0) for j in range(len(p.domain_free))) for i in range(n)]

    m.Add(sum(s.p_rps[i] * pr[i] for i in range(np_)) >= sum(s.d_rps[k] * dr[k] for k in range(len(dr))))
    for i in range(np_):
        for k in range(len(dr)):
            if not p.compatible[i][k]:
                m.Add(use[i] + use[np_ + k] <= 1)
    if p.max_gpus is not None:
        m.Add(sum(g * v for g, v in zip(gpus, r)) <= p.max_gpus)
    usd = sum(c * v for c, v in zip(s.p_usd + s.d_usd, r))
    tps = sum(c * v for c, v in zip(s.d_tps, dr))
    if p.objective == "demand":
        m.Add(tps >= s.demand)
    else:
        m.Add(sum(dr) >= 1)
    return m, r, pieces, usd, tps


def solve_pools(p: PoolProblem) -> PoolSolution:
    t0 = time.perf_counter()
    s = scaled(p)
    m, r, pieces, usd, tps = _build(p, s)
    solver = make_solver(p.time_limit_s, p.workers)
    solver.parameters.linearization_level = LINEARIZATION
    deadline = t0 + p.time_limit_s
    all_vars = [m.GetIntVarFromProtoIndex(i) for i in range(len(m.Proto().variables))]
    ok = (cp_model.OPTIMAL, cp_model.FEASIBLE)
    kept: dict = {}  # the incumbent: values of the last solve that found one

    def run(objective, sense, tie_break: bool = False) -> int:
        left = deadline - time.perf_counter()
        solver.parameters.max_time_in_seconds = max(0.05, left)
        # the tie-break is bounded in work units, not seconds, so it ends the same way every run
        solver.parameters.max_deterministic_time = TIE_BREAK_WORK if tie_break else float("inf")
        (m.Minimize if sense == "min" else m.Maximize)(objective)
        if kept:
            m.ClearHints()
            for v in all_vars:
                m.AddHint(v, kept[v.Index()])
        code = solver.Solve(m)
        if code == cp_model.MODEL_INVALID:  # a bug, not an answer
            raise RuntimeError(f"pool model invalid: {m.Validate()}")
        if code in ok:
            kept.update({v.Index(): int(solver.Value(v)) for v in all_vars})
            kept["usd"], kept["tps"] = int(solver.Value(usd)), int(solver.Value(tps))
        return code

    iterations = 1
    if p.objective == "cost":
        # Dinkelbach: F(U/T) = min usd*T - tps*U < 0 iff some deployment beats U/T per
        # token. Any start works (a non-negative F still yields a deployment, whose
        # ratio is the next U/T); a near-optimal start makes every step easy. A step
        # may stop once F's bound is within rel_gap*U*tps_min of zero: then no
        # deployment beats U/T by more than the fraction rel_gap.
        tps_min = min((t for t in s.d_tps if t > 0), default=1)
        start = _start_ratio(p, s)
        if start is None:  # no small unit fits: start from the cheapest balanced deployment
            if run(usd, "min") not in ok:
                return _infeasible(p, t0)
            start = (kept["usd"], kept["tps"])
        U, T = start
        f_bound = float("-inf")
        while True:
            solver.parameters.absolute_gap_limit = p.rel_gap * U * tps_min
            code = run(usd * T - tps * U, "min")
            if code not in ok:
                if not kept:
                    return _infeasible(p, t0)
                f_bound = float("-inf")
                break
            f_bound = solver.BestObjectiveBound()
            if solver.ObjectiveValue() >= 0 and iterations > 1:
                break
            U, T = kept["usd"], kept["tps"]
            iterations += 1
        U, T = kept["usd"], kept["tps"]
        exact = f_bound >= 0
        ratio_lb = U / T + min(0.0, f_bound) / (tps_min * T)
        bound = ratio_lb / USD_SCALE * TPS_SCALE * 1e6
        solver.parameters.absolute_gap_limit = 0.0
        m.Add(usd * T <= tps * U)  # hold the best ratio, then the most tokens
        run(tps, "max", tie_break=True)
    else:
        primary, sense = (usd, "min") if p.objective == "demand" else (tps, "max")
        solver.parameters.relative_gap_limit = p.rel_gap
        code = run(primary, sense)
        if code not in ok:
            return _infeasible(p, t0)
        best = kept["usd"] if sense == "min" else kept["tps"]
        raw = solver.BestObjectiveBound()
        exact = code == cp_model.OPTIMAL and raw == best
        bound = raw / (USD_SCALE if sense == "min" else TPS_SCALE)
        solver.parameters.relative_gap_limit = 0.0
        m.Add(primary <= best) if sense == "min" else m.Add(primary >= best)
        run(tps, "max", True) if sense == "min" else run(usd, "min", True)
    np_ = len(p.p_gpus)
    counts = tuple(kept[v.Index()] for v in r)
    pre, dec = counts[:np_], counts[np_:]
    obj = _value(p, s, pre, dec)
    per = pieces(lambda v: kept[v.Index()])
    return PoolSolution(
        "optimal" if exact else "feasible",
        pre,
        dec,
        tuple(per[:np_]),
        tuple(per[np_:]),
        obj,
        obj if exact else bound,
        time.perf_counter() - t0,
        iterations,
    )


def _start_ratio(p: PoolProblem, s: Scaled) -> tuple[int, int] | None:
    """(usd, tps) of the best small balanced unit: one decode replica and just
    enough prefill replicas of one compatible option (placement not checked);
    None when no such unit fits the GPUs."""
    best = None
    free, cap = sum(p.domain_free), max(p.domain_free, default=0)
    for k in range(len(p.d_gpus)):
        if s.d_tps[k] <= 0 or _piece(p.d_gpus[k], p.d_chunks[k]) > cap:
            continue
        for i in range(len(p.p_gpus)):
            if not p.compatible[i][k] or s.p_rps[i] <= 0 or _piece(p.p_gpus[i], p.p_chunks[i]) > cap:
                continue
            n = -(-s.d_rps[k] // s.p_rps[i])
            if n * p.p_gpus[i] + p.d_gpus[k] > free:
                continue
            u = n * s.p_usd[i] + s.d_usd[k]
            if best is None or u * best[1] < best[0] * s.d_tps[k]:
                best = (u, s.d_tps[k])
    return best


def _infeasible(p: PoolProblem, t0: float) -> PoolSolution:
    z = lambda n: tuple([0] * n)  # noqa: E731
    nd = len(p.domain_free)
    return PoolSolution(
        "infeasible", z(len(p.p_gpus)), z(len(p.d_gpus)), tuple(z(nd) for _ in p.p_gpus), tuple(z(nd) for _ in p.d_gpus),
        float("nan"), float("nan"), time.perf_counter() - t0,
    )


# --------------------------------------------------------------------------- oracle


def _colocatable(p: PoolProblem, s: Scaled, pre, dec) -> bool:
    """Can these one-piece replicas be put in domains so each domain balances?"""
    items = sorted(
        [(_piece(p.p_gpus[i], p.p_chunks[i]), s.p_rps[i], 0) for i in range(len(pre)) for _ in range(pre[i])]
        + [(_piece(p.d_gpus[k], p.d_chunks[k]), 0, s.d_rps[k]) for k in range(len(dec)) for _ in range(dec[k])],
        reverse=True,
    )
    free = list(p.domain_free)
    supply, need = [0] * len(free), [0] * len(free)

    def place(n: int) -> bool:
        if n == len(items):
            return all(a >= b for a, b in zip(supply, need))
        size, sp, nd_ = items[n]
        for j in range(len(free)):
            if free[j] >= size:
                free[j] -= size
                supply[j] += sp
                need[j] += nd_
                if place(n + 1):
                    return True
                free[j] += size
                supply[j] -= sp
                need[j] -= nd_
        return False

    return place(0)


def exhaustive_pools(p: PoolProblem) -> tuple[float, tuple[int, ...], tuple[int, ...]] | None:
    """Best (objective, prefill counts, decode counts) by trying every count vector."""
    s = scaled(p)
    total = sum(p.domain_free)
    rng = lambda gpus: [range(0, total // g + 1) for g in gpus]  # noqa: E731
    best = None
    for pre in itertools.product(*rng(p.p_gpus)):
        for dec in itertools.product(*rng(p.d_gpus)):
            used = sum(g * r for g, r in zip(p.p_gpus, pre)) + sum(g * r for g, r in zip(p.d_gpus, dec))
            if used > total or sum(dec) == 0 or (p.max_gpus is not None and used > p.max_gpus):
                continue
            if sum(a * b for a, b in zip(s.p_rps, pre)) < sum(a * b for a, b in zip(s.d_rps, dec)):
                continue
            if any(pre[i] and dec[k] and not p.compatible[i][k] for i in range(len(pre)) for k in range(len(dec))):
                continue
            usd, tps = totals(s, pre, dec)
            if p.objective == "demand" and tps < s.demand:
                continue
            if p.objective == "cost":
                key = (Fraction(usd, tps) if tps else Fraction(10**30), -tps)
            elif p.objective == "throughput":
                key = (-tps, usd)
            else:
                key = (usd, -tps)
            if best is not None and key >= best[0]:
                continue
            if p.colocated:
                if any(r and c != 1 for r, c in zip(pre + dec, p.p_chunks + p.d_chunks)) or not _colocatable(p, s, pre, dec):
                    continue
            elif not placeable(_as_pieces(p), tuple(c * r for c, r in zip(p.p_chunks + p.d_chunks, pre + dec))):
                continue
            best = (key, pre, dec)
    return None if best is None else (_value(p, s, best[1], best[2]), best[1], best[2])


def _as_pieces(p: PoolProblem) -> Problem:
    """Every piece as a one-piece item, for the bin-packing check of the solver's oracle."""
    pieces = tuple(_piece(g, c) for g, c in zip(p.p_gpus + p.d_gpus, p.p_chunks + p.d_chunks))
    n = len(pieces)
    return Problem(gpus=pieces, chunks=(1,) * n, tps=(0.0,) * n, usd_per_s=(0.0,) * n, domain_free=p.domain_free)
