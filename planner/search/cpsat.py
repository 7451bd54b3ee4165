"""One place that configures CP-SAT for every model the planner solves.

Determinism: with ``interleave_search`` CP-SAT runs its parallel strategies in
fixed batches, so the same model gives the same answer whatever the machine
load, as long as it stops on optimality, a gap or *deterministic* time (work
units), not on wall-clock time. Wall-clock limits stay as a safety net; a run
that hits one is reported as ``feasible`` with its bound.

Interrupts: a solve started from the main thread runs in a helper thread while
the main thread waits, so a Ctrl-C is handled at once (planner.inputs.interrupts):
the handler stops the search through CP-SAT's own ``stop_search`` and the
command ends, instead of waiting for the time limit.
"""

from __future__ import annotations

SEED = 7


def make_solver(wall_limit_s: float, workers: int = 2, work_limit: float | None = None):
    from ortools.sat.python import cp_model

    solver = _stoppable_class()()
    solver.parameters.max_time_in_seconds = max(wall_limit_s, 0.01)
    if work_limit is not None:
        solver.parameters.max_deterministic_time = max(work_limit, 0.01)
    solver.parameters.num_workers = workers
    solver.parameters.random_seed = SEED
    solver.parameters.interleave_search = True
    # Ctrl-C belongs to the planner (planner.inputs.interrupts): CP-SAT's own SIGINT
    # catcher swallowed it (exit 0) or aborted the process after the solve.
    solver.parameters.catch_sigint_signal = False
    return solver


def _stoppable_class():
    """CpSolver whose solve, from the main thread, can be stopped by an interrupt."""
    import threading

    from ortools.sat.python import cp_model

    from ..inputs import interrupts

    class StoppableSolver(cp_model.CpSolver):
        def solve(self, model, solution_callback=None):
            if threading.current_thread() is not threading.main_thread():
                return super().solve(model, solution_callback)
            box: dict = {}

            def run() -> None:
                try:
                    box["status"] = cp_model.CpSolver.solve(self, model, solution_callback)
                except BaseException as exc:  # re-raised in the caller's thread
                    box["error"] = exc

            worker = threading.Thread(target=run, name="cp-sat", daemon=True)
            with interrupts.stop_hook(self.stop_search):
                worker.start()
                while worker.is_alive():
                    worker.join(0.05)  # the main thread stays free to take a signal
            if "error" in box:
                raise box["error"]
            return box["status"]

    return StoppableSolver
