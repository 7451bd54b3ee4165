"""Running CP-SAT: one budget in deterministic work units, and a stop hook.

Determinism: one search worker with a fixed seed stopped by optimality, a gap
or *deterministic* time (work units) gives the same answer on a quiet or a
loaded machine. The wall clock is a safety net: the command's deadline
(planner.search.deadline: its start + --time-limit - a reserve for printing
the answer), or, outside any command, the budget's own ``wall_s``. When it
fires the answer says so (``Steps.wall_hit``, ``stopped_by: wall-clock
limit``); once it has passed, a step does not start CP-SAT at all.

Stopping: :func:`request_stop` (safe to call from a signal handler) stops the
solve in progress through CP-SAT's own ``StopSearch`` and makes the solve loop
raise :class:`Stopped` before its next step. The solve runs in a helper thread
so that the main thread stays free to run signal handlers.
"""

from __future__ import annotations

import math
import threading

from . import deadline

SEED = 7
WORKERS = 1  # one worker: the only setting whose work-unit limit is reproducible and that stops on optimality
MIN_STEP_WORK = 0.005  # work units: below this a step cannot even load the model
LINEARIZATION = 2  # full LP relaxation of the balance and packing rows: proves Dinkelbach steps ~7x sooner
PROBING = 0  # no probing in presolve: on these small models it costs more work than it saves (3-10x fewer units)


class Stopped(Exception):
    """The solve was asked to stop (request_stop); the caller decides the exit."""


_stop = threading.Event()
_active: list = []  # the stop functions of the solves running now


def request_stop() -> None:
    """Stop the solve in progress and any later step (until :func:`clear_stop`)."""
    _stop.set()
    for stop in list(_active):
        stop()


def clear_stop() -> None:
    _stop.clear()


def stop_requested() -> bool:
    return _stop.is_set()


def check_stop() -> None:
    if _stop.is_set():
        raise Stopped("stopped on request")


class Steps:
    """Splits one budget (work units, plus a wall-clock safety net) across the
    CP-SAT solves of one planning question."""

    def __init__(self, work: float, wall_s: float):
        self.total = work
        self.left = work
        self.used = 0.0
        self.t0 = deadline.now()
        left = deadline.remaining_s()  # the command's deadline, when a command set one
        self.deadline = self.t0 + (wall_s if left is None else left)
        self.wall_hit = False
        self.work_hit = False
        self.count = 0

    def solve(self, model, share: float = 1.0, cap: float | None = None, optional: bool = False, **params):
        """Solve ``model`` with ``share`` of the work left (at most ``cap`` units);
        ``optional``: a step whose end by its limit is expected (a tie-break), not
        reported as the work limit. Returns (status code, solver)."""
        from ortools.sat.python import cp_model

        check_stop()
        work = max(min(self.left * share, cap if cap is not None else float("inf")), MIN_STEP_WORK)
        wall = self.deadline - deadline.now()
        if wall <= 0:  # the deadline has passed: no solve, the caller keeps its incumbent
            self.left = max(self.left - work, 0.0)
            self.count += 1
            self.wall_hit = True
            deadline.mark_hit()
            return cp_model.UNKNOWN, NotRun()
        solver = cp_model.CpSolver()
        prm = solver.parameters
        prm.num_workers = WORKERS
        prm.random_seed = SEED
        prm.max_deterministic_time = work
        prm.max_time_in_seconds = wall
        prm.linearization_level = LINEARIZATION
        prm.cp_model_probing_level = PROBING
        # Ctrl-C belongs to the planner (planner.inputs.interrupts): CP-SAT's own SIGINT
        # catcher swallowed it (exit 0) or aborted the process after the solve
        prm.catch_sigint_signal = False
        for k, v in params.items():
            setattr(prm, k, v)
        code = _run(solver, model)
        check_stop()
        used = solver.deterministic_time
        self.used += used
        # the budget is split by what each step was *given*, not by what it used:
        # CP-SAT's work counter is not exactly reproducible, the allocation is
        self.left = max(self.left - work, 0.0)
        self.count += 1
        if code not in (cp_model.OPTIMAL, cp_model.INFEASIBLE, cp_model.MODEL_INVALID):
            if solver.wall_time >= wall * 0.999 and used < work * 0.999:
                self.wall_hit = True  # always reported: the answer may differ from a quiet machine's
                deadline.mark_hit()
            elif not optional:
                self.work_hit = True
        if code == cp_model.MODEL_INVALID:  # a bug, not an answer
            raise RuntimeError(f"CP-SAT model invalid: {model.Validate()}")
        return code, solver

    @property
    def wall_s(self) -> float:
        return deadline.now() - self.t0

    @property
    def stopped_by(self) -> str:
        if self.wall_hit or deadline.was_hit():  # this solve's steps, or a relaxation, cut by the deadline
            return WALL_LIMIT
        return "work limit" if self.work_hit else "proof"


WALL_LIMIT = "wall-clock limit"  # stopped_by when the deadline ended a step: the answer may differ between runs


class NotRun:
    """The solver of a step that never ran (its deadline had passed): no solution,
    no bound."""

    deterministic_time = 0.0
    wall_time = 0.0

    def BestObjectiveBound(self) -> float:  # noqa: N802  (CP-SAT's name)
        return math.nan

    def ObjectiveValue(self) -> float:  # noqa: N802
        return math.nan


def _run(solver, model) -> int:
    return run_stoppable(lambda: solver.Solve(model), solver.StopSearch, "CP-SAT")


def run_stoppable(call, stop, name: str):
    """``call()`` (a native solve) in a helper thread; the main thread waits in
    short, interruptible joins, so a signal handler can call request_stop()
    meanwhile, which calls ``stop`` (the solver's own stop: CP-SAT's
    StopSearch, GLOP's InterruptSolve)."""
    from ..inputs import interrupts

    out: list = []
    _active.append(stop)
    try:
        if _stop.is_set():
            raise Stopped("stopped on request")
        with interrupts.stop_hook(request_stop):  # SIGINT/SIGTERM: the solver's stop, then Interrupted here
            t = threading.Thread(target=lambda: out.append(call()), daemon=True)
            t.start()
            while t.is_alive():
                t.join(0.05)
    finally:
        _active.remove(stop)
    check_stop()
    if not out:
        raise RuntimeError(f"{name} solve ended without a status")
    return out[0]
