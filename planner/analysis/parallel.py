"""Independent jobs on the available cores, results in input order.

``compare``, ``compare --demand-tps`` and ``frontier`` plan each topology on its
own. With more than one core the topologies run in forked worker processes:
they inherit the loaded modules and the inputs already read (nothing is
imported, read or validated twice, and nothing is pickled on the way in), and
the results come back in the order the jobs were given, so the output is the
same bytes as a serial run (tests/test_parallel.py). Each job is deterministic
on its own, so where it runs changes nothing. With one core, one job, or no
``fork`` on the platform, the jobs run in this process, one after the other.
"""

from __future__ import annotations

import importlib
import multiprocessing
import os
import sys
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from typing import Callable, Sequence, TypeVar

T = TypeVar("T")
R = TypeVar("R")

# What every planning job imports on its first solve: loaded once, before the fork.
SOLVER_MODULES = ("ortools.sat.python.cp_model",)

_JOBS: list = []  # (function, item) of the running map; a forked worker reads its job by index


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def _detach_std_streams() -> None:
    """In a forked worker: its own stdout and stderr (to /dev/null; results and
    errors come back as values). The parent's progress bar may hold the lock of
    sys.stderr at the moment of the fork, and a worker flushing that copy at
    exit would wait for it forever."""
    sys.stdout = open(os.devnull, "w")  # noqa: SIM115  (lives as long as the worker)
    sys.stderr = open(os.devnull, "w")  # noqa: SIM115


def _run(k: int):
    fn, item = _JOBS[k]
    return fn(item)


def _serial_only(n: int) -> bool:
    return n <= 1 or "fork" not in multiprocessing.get_all_start_methods() or multiprocessing.current_process().daemon


def map_ordered(fn: Callable[[T], R], items: Sequence[T], workers: int | None = None,
                on_done: Callable[[int, R], None] | None = None, preload: Sequence[str] = ()) -> list[R]:
    """``[fn(x) for x in items]`` on up to ``workers`` processes (default: the
    available cores). ``on_done(k, result)`` runs in this process as job ``k``
    ends (progress). An exception raised by a job is raised here, the first in
    input order. ``preload``: modules to import before forking. Jobs whose worker
    died (a native crash) run once more, one at a time, in a fresh worker."""
    n = min(len(items), workers if workers is not None else available_cores())
    if _serial_only(n):
        out = []
        for k, item in enumerate(items):
            out.append(fn(item))
            if on_done is not None:
                on_done(k, out[-1])
        return out
    for name in preload:
        importlib.import_module(name)
    global _JOBS
    _JOBS = [(fn, item) for item in items]
    try:
        results = _pool_map(n, range(len(items)), on_done)
        lost = [k for k in range(len(items)) if k not in results]
        if lost:  # a worker died (a native crash in the solver): those jobs once more, one at a time
            results.update(_pool_map(1, lost, on_done))
        if len(results) < len(items):
            raise RuntimeError("a worker process died while planning; rerun with taskset -c 0 to plan serially")
        return [_value(results[k]) for k in range(len(items))]
    finally:
        _JOBS = []


def _pool_map(n: int, ks, on_done) -> dict:
    """Job index -> (True, result) or (False, exception) for the jobs that ended."""
    out: dict = {}
    with ProcessPoolExecutor(max_workers=n, mp_context=multiprocessing.get_context("fork"), initializer=_detach_std_streams) as pool:
        futures = {pool.submit(_run, k): k for k in ks}
        for f in as_completed(futures):
            k = futures[f]
            exc = f.exception()
            if isinstance(exc, BrokenProcessPool):
                continue
            out[k] = (exc is None, f.result() if exc is None else exc)
            if on_done is not None and exc is None:
                on_done(k, out[k][1])
    return out


def _value(outcome):
    ok, value = outcome
    if not ok:
        raise value
    return value
