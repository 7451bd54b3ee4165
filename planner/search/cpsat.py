"""One place that configures CP-SAT for every model the planner solves.

Determinism: with ``interleave_search`` CP-SAT runs its parallel strategies in
fixed batches, so the same model gives the same answer whatever the machine
load, as long as it stops on optimality, a gap or *deterministic* time (work
units), not on wall-clock time. Wall-clock limits stay as a safety net; a run
that hits one is reported as ``feasible`` with its bound.
"""

from __future__ import annotations

SEED = 7


def make_solver(wall_limit_s: float, workers: int = 2, work_limit: float | None = None):
    from ortools.sat.python import cp_model

    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = max(wall_limit_s, 0.01)
    if work_limit is not None:
        solver.parameters.max_deterministic_time = max(work_limit, 0.01)
    solver.parameters.num_workers = workers
    solver.parameters.random_seed = SEED
    solver.parameters.interleave_search = True
    return solver
