"""The one solve loop: every planning question goes through :func:`solve`.

1. Coefficients to integers (guarded), the model from its blocks, a greedy
   plan as the first incumbent (and the fallback).
2. The primary objective. ``cost`` ($/token, a ratio) by Dinkelbach's method:
   with the incumbent ratio U/T, minimise usd*T - tps*U; a negative optimum is
   a strictly better deployment, a bound >= 0 proves the incumbent optimal.
   ``throughput`` (max tokens/s) and ``demand`` (least $/s meeting every
   demand) directly.
3. Tie-break at the primary optimum: most tokens (cost, demand) or least $
   (throughput).
4. A fleet whose demands cannot all be met: the largest common fraction of
   every demand, then as much more as fits, then least cost.

One budget in deterministic work units covers all steps; a step that runs out
keeps the incumbent, so a time-out is "feasible" with its gap (or "unknown"
when not even the greedy found a plan), and "infeasible" means proven.
"""

from __future__ import annotations

import gc
import math
from dataclasses import dataclass, field
from fractions import Fraction

from . import dominance, kinds
from .packing import place
from .blocks import PHI_SCALE, Ints, Model, build, integers, upper_bounds
from . import deadline
from .control import MIN_STEP_WORK, Steps
from .greedy import greedy
from .ratio_probe import hint_model, no_better_ratio
from .rounding import lp_plan, values_of_plan
from .problem import DECODE, PREFILL, Problem

TIE_BREAK_SHARE = 0.1  # of the work left, at most, for the tie-break ...
TIE_BREAK_WORK = 0.02  # ... and at most this many work units: it only adds replicas at the optimum
STEP_SHARE = 0.5  # each primary step may use this share of the work left
LP_ACCEPT_GAP = 0.01  # a plan rounded from the LP relaxation this close to its bound ends a search CP-SAT's probe did not close ...
PROBE_SHARE = 0.25  # ... a probe of this share of the work left, at most PROBE_WORK units: small fleets are
PROBE_WORK = 1.0  # proven in a few hundredths of a unit; at 100k GPUs CP-SAT gains nothing on the LP plan in 15
DINKELBACH_STEP_GAP = 0.5  # a step that found a much better plan stops within this relative gap of F: the next step goes on from it


@dataclass(frozen=True)
class Solution:
    status: str  # optimal | feasible | infeasible | unknown | partial | partial-unproven
    replicas: tuple[int, ...]  # per option
    pieces: tuple[dict[int, int], ...]  # per option: domain id (within its group) -> pieces
    objective: float | None  # cost: $/Mtok; throughput: tokens/s; demand: $/s (from the model's coefficients)
    bound: float | None  # proven bound on the objective, None when none is known
    usd_per_s: float = 0.0
    tps: float = 0.0
    fraction: float = 1.0  # common fraction of every demand met (demand objective)
    fraction_bound: float = 1.0
    steps: int = 0  # CP-SAT solves
    iterations: int = 0  # Dinkelbach steps that improved the ratio
    work: float = 0.0  # the budget in deterministic work units
    wall_s: float = 0.0
    stopped_by: str = "proof"  # proof | work limit | wall-clock limit (the command's deadline; planner.search.deadline)
    reason: str = ""  # why unknown / infeasible
    key: object = None  # the exact integer objective (tests compare it with the oracle)

    @property
    def gap(self) -> float | None:
        """Relative distance between objective and bound (0 = optimal); None without a bound."""
        if self.objective is None or self.bound is None:
            return None
        den = max(abs(self.objective), abs(self.bound))
        return abs(self.objective - self.bound) / den if den else 0.0


@dataclass
class _Run:
    p: Problem
    ints: Ints
    mdl: Model
    steps: Steps
    ub: list[int] = field(default_factory=list)  # upper bound on every r

    def values_of(self, solver) -> list[int]:
        return list(solver.response_proto.solution)

    def hint(self, values: list[int] | None) -> None:
        hint_model(self.mdl.m, values)

    def step(self, expr, sense: str, values, share: float, cap: float | None = None, optional: bool = False, **params):
        """One CP-SAT solve of ``expr``, hinted with ``values``; (code, solver, values or None)."""
        from ortools.sat.python import cp_model

        (self.mdl.m.Minimize if sense == "min" else self.mdl.m.Maximize)(expr)
        self.hint(values)
        code, s = self.steps.solve(self.mdl.m, share, cap, optional, **params)
        ok = code in (cp_model.OPTIMAL, cp_model.FEASIBLE)
        return code, s, (self.values_of(s) if ok else None)

    def counts(self, values) -> list[int]:
        return [values[v.Index()] for v in self.mdl.r]

    def totals(self, values) -> tuple[int, int]:
        r = self.counts(values)
        usd = sum(c * n for c, n in zip(self.ints.usd, r))
        tps = sum(t * n for t, n, o in zip(self.ints.tps, r, self.p.options) if o.role != PREFILL)
        return usd, tps


def solve(p: Problem) -> Solution:
    """The plan of ``p`` (see the module docstring). The cyclic garbage collector
    is paused meanwhile: the model's many small objects made it run for a
    fifth of the solve without freeing anything."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        return _solve(p)
    finally:
        if enabled:
            gc.enable()


def _solve(p: Problem, ints: Ints | None = None, reduced: bool = False) -> Solution:
    deadline.hold(sum(c.count for c in p.classes))  # placing and printing grow with the domains: keep time for them
    ub = upper_bounds(p)
    if ints is None:
        ints = integers(p, ub)
        if kinds.repeatable(p):  # identical colocated domains: one solved, its fill repeated
            return kinds.repeat(p, _solve(kinds.one_domain(p), ints), ints)
    red = None if reduced else dominance.reduced(p, ints, ub)
    if red is not None:  # prefill options that copies of another replace: out of the problem (exact)
        return red.expand(_solve(red.problem, red.ints, reduced=True))
    steps = Steps(p.budget.work, p.budget.wall_s)
    if p.objective == "demand" and p.partial and _surely_short(p):
        return _fraction(p, ints, ub, steps)
    g = greedy(p, ints, ub)
    kept = dominance.prune(p, ints, ub, g[0] if g else None)  # options no best plan needs: bound 0 (exact)
    mdl = build(p, ints, kept)
    run = _Run(p, ints, mdl, steps, kept)
    start = values_of_plan(run.mdl, *g) if g else None
    if p.objective == "cost":
        sol = _dinkelbach(run, start)
    else:
        sol = _lexicographic(run, start)
    if p.objective == "demand" and p.partial and sol.status in ("infeasible", "unknown"):
        return _fraction(p, ints, ub, steps)
    return sol


def summary(sol: Solution, objective: str) -> dict:
    """What a plan says about its search: status, objective, bound and gap (None
    when no bound is known), what ended it and the work it took. Only
    wall_time_s is a time; everything else is the same on any machine."""
    return {
        "status": sol.status,
        "objective": objective,
        "objective_value": sol.objective,
        "bound": sol.bound,
        "gap": sol.gap,
        "stopped_by": sol.stopped_by,
        "work_budget": sol.work,
        "solves": sol.steps,
        "wall_time_s": round(sol.wall_s, 4),
    }


# --------------------------------------------------------------------------- objectives


def _dinkelbach(run: _Run, start) -> Solution:
    from ortools.sat.python import cp_model

    mdl, ints = run.mdl, run.ints
    inc = start
    if inc is None:  # no greedy plan: the cheapest serving deployment is a start
        code, _, inc = run.step(mdl.usd, "min", None, STEP_SHARE)
        if inc is None:
            return _empty(run, "infeasible" if code == cp_model.INFEASIBLE else "unknown")
    serving = [t for t, o in zip(ints.tps, run.p.options) if o.role != PREFILL and t > 0]
    tps_min = min(serving, default=1)
    U, T = run.totals(inc)
    f_bound, iterations = None, 0
    while run.steps.left >= 2 * MIN_STEP_WORK:
        if iterations and no_better_ratio(run.mdl, run.steps, U, T, inc):  # CP-SAT's last plan: its ratio proven optimal
            f_bound = 0
            break
        code, s, vals = run.step(mdl.usd * T - mdl.tps * U, "min", inc, STEP_SHARE, absolute_gap_limit=run.p.rel_gap * U * tps_min,
                                 relative_gap_limit=DINKELBACH_STEP_GAP)
        if vals is None:
            break
        f_bound = s.BestObjectiveBound()
        if s.ObjectiveValue() >= 0:
            break
        inc, iterations = vals, iterations + 1
        U, T = run.totals(inc)
        f_bound = None
    exact = f_bound is not None and f_bound >= 0
    to_mtok = ints.tps_scale / ints.usd_scale * 1e6
    relax = cost_lower_bound(run.p)  # from the unrounded coefficients
    if f_bound is not None:
        lb = Fraction(U, T) + Fraction(min(0, math.floor(f_bound)), tps_min * T)
        relax = max(relax, ints.widen(float(lb) * to_mtok, upward=False))
    # hold the best ratio, then the most tokens
    mdl.m.Add(mdl.usd * T <= mdl.tps * U)
    _, _, vals = run.step(mdl.tps, "max", inc, TIE_BREAK_SHARE, TIE_BREAK_WORK, optional=True)
    inc = vals or inc
    return _finish(run, inc, "optimal" if exact else "feasible", None if exact else relax, iterations, key=Fraction(*run.totals(inc)))


def _lexicographic(run: _Run, start) -> Solution:
    from ortools.sat.python import cp_model

    mdl, ints = run.mdl, run.ints
    demand = run.p.objective == "demand"
    primary, sense, scale = (mdl.usd, "min", ints.usd_scale) if demand else (mdl.tps, "max", ints.tps_scale)
    lp_bound, lp_vals = lp_plan(run.p, ints, run.ub, mdl, primary, sense) if demand and run.p.partial else (None, None)
    if lp_bound == "infeasible":  # the LP relaxation proves it: no CP-SAT search needed
        return _empty(run, "infeasible")
    key = lambda v: run.totals(v)[0 if demand else 1]  # noqa: E731
    close = lp_vals is not None and key(lp_vals) * (1 - LP_ACCEPT_GAP) <= lp_bound
    if lp_vals is not None and key(lp_vals) * (1 - run.p.rel_gap) <= lp_bound:
        code, inc, raw = cp_model.FEASIBLE, lp_vals, float(lp_bound)  # the rounded LP plan is within the gap
    else:
        share, cap = (PROBE_SHARE, PROBE_WORK) if close else (1.0 - TIE_BREAK_SHARE, None)
        code, s, vals = run.step(primary, sense, start, share, cap, relative_gap_limit=run.p.rel_gap)
        if vals is None and start is None and lp_vals is None:
            return _empty(run, "infeasible" if code == cp_model.INFEASIBLE else "unknown")
        inc = vals or start
        raw = s.BestObjectiveBound() if vals is not None or code == cp_model.UNKNOWN else None
        if lp_vals is not None and (inc is None or key(lp_vals) < key(inc)):
            inc = lp_vals
        if lp_bound is not None and code != cp_model.OPTIMAL:
            raw = float(lp_bound) if raw is None or not math.isfinite(raw) else max(raw, float(lp_bound))
    best = key(inc)
    exact = raw is not None and math.isclose(raw, best, rel_tol=0, abs_tol=0.5) and (code == cp_model.OPTIMAL or lp_bound is not None)
    if raw is not None and not math.isfinite(raw):
        raw = None
    mdl.m.Add(primary <= best) if demand else mdl.m.Add(primary >= best)
    secondary, sense2 = (mdl.tps, "max") if demand else (mdl.usd, "min")
    _, _, vals = run.step(secondary, sense2, inc, TIE_BREAK_SHARE, TIE_BREAK_WORK, optional=True)
    inc = vals or inc
    bound = None if exact else (ints.widen(raw / scale, upward=not demand) if raw is not None else _relaxed_bound(run.p))
    return _finish(run, inc, "optimal" if exact else "feasible", bound, 0, key=run.totals(inc)[0 if demand else 1])


def _fraction(p: Problem, ints: Ints, ub: list[int], steps: Steps) -> Solution:
    """The largest common fraction of every demand, then as much more as fits
    (each workload's excess relative to its demand), then least cost."""
    from ortools.sat.python import cp_model

    mdl = build(p, ints, ub, fraction=True)
    run = _Run(p, ints, mdl, steps, ub)
    phi = mdl.phi.Index()
    lp_bound, lp_vals = lp_plan(p, ints, ub, mdl, mdl.phi, "max")
    lp_bound = None if lp_bound == "infeasible" else lp_bound
    close = lp_vals is not None and lp_vals[phi] >= lp_bound * (1 - LP_ACCEPT_GAP)
    beyond = False  # CP-SAT's probe could not close it: the LP plan stands, no search for the tie-breaks either
    if lp_vals is not None and lp_vals[phi] >= lp_bound * (1 - p.rel_gap):
        code, vals, raw = cp_model.FEASIBLE, lp_vals, lp_bound  # the rounded LP plan is within the gap
    else:
        code, s, vals = run.step(mdl.phi, "max", None, *((PROBE_SHARE, PROBE_WORK) if close else (STEP_SHARE, None)))
        raw = min(PHI_SCALE, s.BestObjectiveBound()) if vals is not None else PHI_SCALE
        if lp_vals is not None and (vals is None or lp_vals[phi] > vals[phi]):
            vals = lp_vals
        if vals is None:
            return _empty(run, "unknown")
        beyond = close and code != cp_model.OPTIMAL
    raw = min(raw, lp_bound) if lp_bound is not None else raw
    best = vals[phi]
    phi_bound = min(1.0, min(PHI_SCALE, int(raw)) / PHI_SCALE * mdl.phi_widen)
    proven = code == cp_model.OPTIMAL or best >= int(raw)
    if not beyond:
        vals = _more_then_cheaper(run, vals, best)
    if best >= PHI_SCALE:  # every demand met after all (the full model ran out of work)
        return _finish(run, vals, "feasible", None, 0, key=run.totals(vals)[0])
    sol = _finish(run, vals, "partial" if proven else "partial-unproven", None, 0, key=run.totals(vals)[0])
    from dataclasses import replace

    return replace(sol, fraction=best / PHI_SCALE, fraction_bound=phi_bound)


def _more_then_cheaper(run: _Run, vals, best: int):
    """At the best common fraction: as much more as fits, then least cost."""
    p, ints, mdl = run.p, run.ints, run.mdl
    mdl.m.Add(mdl.phi >= best)
    excess = sum(
        int(round(ints.tps[i] * PHI_SCALE / ints.demand[o.workload])) * mdl.r[i]
        for i, o in enumerate(p.options) if o.role != PREFILL and ints.demand[o.workload] > 0
    )
    _, s, v2 = run.step(excess, "max", vals, STEP_SHARE, relative_gap_limit=p.rel_gap)
    vals = v2 or vals
    mdl.m.Add(excess >= sum(c * vals[v.Index()] for c, v in _terms(ints, p, mdl)))
    _, s, v3 = run.step(mdl.usd, "min", vals, 1.0, relative_gap_limit=p.rel_gap)
    return v3 or vals


def _terms(ints: Ints, p: Problem, mdl: Model):
    return [
        (int(round(ints.tps[i] * PHI_SCALE / ints.demand[o.workload])), mdl.r[i])
        for i, o in enumerate(p.options) if o.role != PREFILL and ints.demand[o.workload] > 0
    ]


# --------------------------------------------------------------------------- helpers


def cost_lower_bound(p: Problem) -> float:
    """A proven lower bound on $/Mtok without search: every decode (or aggregated)
    replica pays at least its own cost plus its requests at the cheapest $/request
    of a compatible prefill option (fractional prefill, placement ignored)."""
    best = math.inf
    # prefill options by $/request, cheapest first: a decode option's first compatible one is its cheapest
    by_rate = sorted((q.usd_per_s / q.rps, i, q.workload) for i, q in enumerate(p.options) if q.role == PREFILL and q.rps > 0)
    for k, o in enumerate(p.options):
        if o.role == PREFILL or o.tps <= 0:
            continue
        extra = 0.0
        if o.role == DECODE:
            rate = next((r for r, i, w in by_rate if w == o.workload and (i, k) not in p.incompatible), None)
            if rate is None:
                continue
            extra = rate * o.rps
        best = min(best, (o.usd_per_s + extra) / o.tps * 1e6)
    return best


def _relaxed_bound(p: Problem) -> float | None:
    """A proven bound without any search: every GPU at the best tokens/s per GPU
    (throughput); every demand at the best $/token, prefill free (demand)."""
    serving = [o for o in p.options if o.role != PREFILL and o.tps > 0]
    if not serving:
        return None
    if p.objective == "throughput":
        gpus = sum(c.capacity * c.count for c in p.classes)
        gpus = min(gpus, p.max_gpus) if p.max_gpus is not None else gpus
        return gpus * max(o.tps / o.gpus for o in serving)
    return sum(d * min(o.usd_per_s / o.tps for o in serving if o.workload == w) for w, d in enumerate(p.demand_tps)
               if any(o.workload == w for o in serving))


def _surely_short(p: Problem) -> bool:
    """Even at its most GPU-efficient option, some demands need more GPUs than exist."""
    need = 0.0
    for w, d in enumerate(p.demand_tps):
        rates = [o.tps / o.gpus for o in p.options if o.workload == w and o.role != PREFILL and o.tps > 0]
        if d > 0:
            if not rates:
                return True
            need += d / max(rates)
    return need > sum(c.capacity * c.count for c in p.classes)


def _float_totals(p: Problem, counts) -> tuple[float, float]:
    usd = sum(o.usd_per_s * n for o, n in zip(p.options, counts))
    tps = sum(o.tps * n for o, n in zip(p.options, counts) if o.role != PREFILL)
    return usd, tps


def _value(p: Problem, counts) -> float:
    usd, tps = _float_totals(p, counts)
    if p.objective == "demand":
        return usd
    if p.objective == "throughput":
        return tps
    return usd / tps * 1e6 if tps else math.inf


def _finish(run: _Run, values, status: str, bound, iterations: int, key=None) -> Solution:
    p = run.p
    counts = run.counts(values)
    pieces = place(run.mdl.pk, lambda v: values[v.Index()])
    usd, tps = _float_totals(p, counts)
    obj = _value(p, counts)
    st = run.steps
    return Solution(
        status, tuple(counts), tuple(pieces), obj, obj if status == "optimal" else bound, usd, tps,
        steps=st.count, iterations=iterations, work=st.total, wall_s=st.wall_s, stopped_by=st.stopped_by, key=key,
    )


def _empty(run: _Run, status: str) -> Solution:
    n = len(run.p.options)
    st = run.steps
    reason = "time limit: no plan found within the budget" if status == "unknown" else "proven infeasible"
    return Solution(
        status, (0,) * n, tuple({} for _ in range(n)), None, None, fraction=0.0, fraction_bound=0.0 if status == "unknown" else 1.0,
        steps=st.count, work=st.total, wall_s=st.wall_s, stopped_by=st.stopped_by, reason=reason,
    )
