"""The LP relaxation of a CP-SAT model (GLOP): a proven bound and a fractional
plan to round, for models too large for CP-SAT's own search to close.

Every linear row of the model with its variables' bounds, integrality dropped;
rows of other kinds (and rows under an enforcement literal) are left out, which
only loosens the relaxation, so its optimum still bounds the model's optimum.
At fleet scale the arc-flow rows make this bound as tight as the classic
all-patterns (Gilmore-Gomory) bound. GLOP's simplex is deterministic: the same
model gives the same answer on any machine.
"""

from __future__ import annotations

from dataclasses import dataclass

BIG = 2.0**53  # bounds beyond this are "none" (no float holds the integers past it exactly)
LP_TOLERANCE = 1e-6  # relative: a bound from the floating-point optimum is loosened by this much


@dataclass(frozen=True)
class Relaxed:
    status: str  # optimal | infeasible (proven: so is the model) | unknown
    value: float = 0.0  # the objective at the LP optimum, in the model's units and sense
    x: tuple[float, ...] = ()  # per model variable

    def at(self, var) -> float:
        return self.x[var.Index()]


def _row(solver, terms, lo: float, hi: float, xs) -> None:
    coef: dict[int, float] = {}
    for v, k in terms:
        if v < 0:  # a negated literal: k * (1 - x)
            lo, hi, v, k = lo - k, hi - k, -v - 1, -k
        coef[v] = coef.get(v, 0.0) + k
    top = max((abs(k) for k in coef.values()), default=1.0) or 1.0  # each row scaled to coefficients <= 1: same set, sane numbers
    row = solver.Constraint(lo / top, hi / top)
    for v, k in coef.items():
        row.SetCoefficient(xs[v], k / top)


def _ends(domain) -> tuple[float, float]:
    """Smallest and largest value of a domain (holes dropped: a relaxation)."""
    return float(domain[0]), float(domain[len(domain) - 1])  # the proto wrapper takes no negative index


def _open(lo: float, hi: float, inf: float) -> tuple[float, float]:
    """CP-SAT writes "no bound" as the int64 limits; GLOP wants infinity."""
    return (-inf if lo <= -BIG else lo), (inf if hi >= BIG else hi)


def _is_linear(c) -> bool:
    has = getattr(c, "has_linear", None)  # the proto wrapper of recent ortools; protobuf's own before
    return has() if has is not None else c.HasField("linear")


def relax(model, lower: dict[int, float] | None = None) -> Relaxed:
    """The LP optimum of ``model``'s objective over its linear rows (status
    unknown where GLOP proves neither an optimum nor infeasibility). ``lower``:
    raised lower bounds by variable index (then it bounds nothing but the dive)."""
    return Relaxation(model).solve(lower)


class Relaxation:
    """The LP of ``model`` (with its objective as set now), built once; solved
    again with raised lower bounds (dives), GLOP starting from its last basis.
    The same calls in the same order give the same answers."""

    def __init__(self, model):
        from ortools.linear_solver import pywraplp

        proto = model.Proto()
        self.s = s = pywraplp.Solver.CreateSolver("GLOP")
        if s is None:
            return
        inf = s.infinity()
        self.xs = xs = [s.NumVar(*_open(*_ends(v.domain), inf), "") for v in proto.variables]
        self.base_lb = [x.lb() for x in xs]
        for c in proto.constraints:
            if not _is_linear(c) or len(c.enforcement_literal):
                continue
            lin = c.linear
            lo, hi = _open(*_ends(lin.domain), inf)
            _row(s, zip(lin.vars, lin.coeffs), lo, hi, xs)
        obj = proto.objective
        coef: dict[int, float] = {}
        self.offset = float(obj.offset)
        for v, k in zip(obj.vars, obj.coeffs):
            if v < 0:
                self.offset, v, k = self.offset + k, -v - 1, -k
            coef[v] = coef.get(v, 0.0) + k
        self.o = s.Objective()
        for v, k in coef.items():
            self.o.SetCoefficient(xs[v], float(k))
        self.o.SetMinimization()
        self.scale = obj.scaling_factor or 1.0

    def solve(self, lower: dict[int, float] | None = None) -> Relaxed:
        from ortools.linear_solver import pywraplp

        from . import deadline

        left = deadline.remaining_s()
        if left is not None and left <= 0:  # past the command's deadline no search starts
            deadline.mark_hit()
            return Relaxed("unknown")
        if self.s is None:
            return Relaxed("unknown")
        if left is not None:
            self.s.SetTimeLimit(max(int(left * 1000), 1))  # ms; the command's deadline (planner.search.deadline)
        for v, lo in (lower or {}).items():  # a dive: some variables held at or above a value
            self.xs[v].SetLb(max(self.base_lb[v], lo))
        from .control import run_stoppable

        code = run_stoppable(self.s.Solve, self.s.InterruptSolve, "GLOP")  # Ctrl-C stops it at once, as it does CP-SAT
        if code != pywraplp.Solver.OPTIMAL and deadline.passed():
            deadline.mark_hit()  # the answer may differ from a quiet machine's: stopped_by says so
        if code != pywraplp.Solver.OPTIMAL:
            return Relaxed("infeasible" if code == pywraplp.Solver.INFEASIBLE else "unknown")
        return Relaxed("optimal", self.scale * (self.o.Value() + self.offset), tuple(x.solution_value() for x in self.xs))
