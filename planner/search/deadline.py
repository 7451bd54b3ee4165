"""The command's deadline: ``--time-limit T`` covers the whole command.

The clock starts when the command starts: for the ``planner`` process, the
moment the process started (start-up and imports count, see
:func:`mark_process_start`); for an in-process call (a notebook, a test) the
moment the outermost :func:`limit` scope opens. The search must be done by

    deadline = start + T - reserve(T),    reserve(T) = min(RESERVE_MIN_S + RESERVE_FRACTION * T, RESERVE_MAX_S)

so that assembling and printing the answer still fits in ``T``. Worked example:
``planner plan --time-limit 5``, started at t = 0: reserve = 0.2 + 0.05 * 5 =
0.45 s, so CP-SAT may run until t = 4.55 s; if start-up and loading took
0.6 s, the solve gets at most 3.95 s of wall clock.

The deterministic work budget (planner.search.problem.budget_for) still ends
the search in the normal case, so the answer is the same bytes on a quiet or a
loaded machine; the deadline only fires on a machine too slow for the limit,
and then the answer says so (``solver.stopped_by: wall-clock limit``), or,
without any plan yet, :class:`TimeLimitError` (exit 4) names the part of the
command that took the most time.

Parts: code marks what it is about to do (``part("candidate evaluation of 4,096
layouts")``); time is charged to the part in progress. Start-up (interpreter
and imports before the command began) is a part of its own.

Imports nothing heavy: the CLI entry point loads it before typer and OR-Tools.
"""

from __future__ import annotations

import contextlib
import os
import time

# Measured (in process, load ~1 on 2 cores): from the end of the search to the
# end of the command (assembly, JSON, the rich tables) took 0.01-0.19 s for
# plan (--racks 16 the most) and 0.02 s for the example fleet.
RESERVE_MIN_S = 0.2  # s kept for assembly and rendering at any limit ...
RESERVE_FRACTION = 0.05  # ... plus this share of the limit (assembly grows with what was solved) ...
RESERVE_MAX_S = 5.0  # ... but never more than this, ...
# ... plus, once the size of the problem is known (hold()), this much per
# scale-up domain: placing and printing the 100k-GPU fleet (2,871 domains)
# took 3.3 s after its search at load ~10 (benchmarks/time_limits.py --big)
ASSEMBLY_S_PER_DOMAIN = 1.5e-3
STARTUP = "start-up (Python and imports)"

_now = time.perf_counter  # the clock; tests replace it
_process_start: float | None = None


class _Scope:
    def __init__(self, limit_s: float, start: float):
        self.limit_s = limit_s
        self.start = start
        self.held = 0.0  # extra seconds kept for assembling a large plan (hold())
        self.parts: dict[str, float] = {}
        self.current = ""
        self.since = start
        self.hit = False  # the deadline ended some search of this command

    @property
    def deadline(self) -> float:
        return self.start + self.limit_s - min(reserve_s(self.limit_s) + self.held, self.limit_s / 2)


_scope: _Scope | None = None


def reserve_s(limit_s: float) -> float:
    """Seconds of the limit kept for assembly and rendering after the search."""
    return min(RESERVE_MIN_S + RESERVE_FRACTION * limit_s, RESERVE_MAX_S, limit_s / 2)


def now() -> float:
    return _now()


def mark_process_start() -> None:
    """Remember when this process started (the CLI entry point calls this first):
    from /proc on Linux, else the moment of this call."""
    global _process_start
    _process_start = now() - _age_s()


def _age_s() -> float:
    try:
        with open("/proc/self/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()
        started = int(fields[19]) / os.sysconf("SC_CLK_TCK")  # field 22: start time, clock ticks after boot
        return max(time.clock_gettime(time.CLOCK_BOOTTIME) - started, 0.0)
    except (OSError, ValueError, IndexError, AttributeError):
        return 0.0


@contextlib.contextmanager
def limit(limit_s: float, *, from_process_start: bool = False):
    """The deadline of ``limit_s`` for everything inside. Nested scopes keep the
    outermost one (a command's limit covers every plan it makes).
    ``from_process_start``: count from the process start if the entry point
    marked it (the CLI), else from now."""
    global _scope, _process_start
    if _scope is not None:
        yield _scope
        return
    start = _process_start if (from_process_start and _process_start is not None) else now()
    if from_process_start:
        _process_start = None  # one command per process: a later in-process call counts from its own start
    _scope = _Scope(float(limit_s), start)
    if start < now():
        _scope.parts[STARTUP] = now() - start
        _scope.since = now()
    try:
        check()  # start-up alone took the whole limit: say so at once, before loading anything
        yield _scope
    finally:
        _scope = None


def covering(fn):
    """Run ``fn`` within the deadline of its keyword-only ``time_limit_s`` (a
    command's deadline, when one is set, wins: see :func:`limit`)."""
    import functools

    from ..inputs.ranges import TIME_LIMIT_S

    @functools.wraps(fn)
    def run(*args, **kwargs):
        seconds = kwargs.get("time_limit_s", (fn.__kwdefaults__ or {}).get("time_limit_s"))
        TIME_LIMIT_S.check("--time-limit", seconds)
        with limit(seconds):
            return fn(*args, **kwargs)

    return run


def hold(domains: int) -> None:
    """Keep more of the limit for placing and printing a plan over ``domains``
    scale-up domains (the search's deadline moves earlier; the largest hold
    counts; the search keeps at least half the limit)."""
    if _scope is not None:
        _scope.held = max(_scope.held, ASSEMBLY_S_PER_DOMAIN * domains)


def active() -> bool:
    return _scope is not None


def remaining_s() -> float | None:
    """Seconds left for the search, None outside any scope (no command limit)."""
    return None if _scope is None else _scope.deadline - now()


def part(name: str) -> None:
    """From now on, time goes to ``name`` (for the message when the limit hits)."""
    if _scope is None:
        return
    _charge()
    _scope.current = name


def _charge() -> None:
    t = now()
    if _scope.current:
        _scope.parts[_scope.current] = _scope.parts.get(_scope.current, 0.0) + t - _scope.since
    _scope.since = t


def mark_hit() -> None:
    if _scope is not None:
        _scope.hit = True


def was_hit() -> bool:
    return _scope is not None and _scope.hit


def largest_part() -> tuple[str, float]:
    """The part that took the most time so far, and its seconds."""
    if _scope is None:
        return "", 0.0
    _charge()
    if not _scope.parts:
        return "", 0.0
    name = max(_scope.parts, key=lambda k: _scope.parts[k])
    return name, _scope.parts[name]


def message(what: str = "no plan") -> str:
    """'time limit: <what> within --time-limit T s: <largest part> took x s of it; raise --time-limit'."""
    limit_s = _scope.limit_s if _scope is not None else 0.0
    name, secs = largest_part()
    most = f": {name} took {secs:.1f} s of it" if name else ""
    return f"time limit: {what} within --time-limit {limit_s:g} s{most}; raise --time-limit"


def check() -> None:
    """Raise TimeLimitError (exit 4) if the deadline has passed: for points
    before any plan exists (loading, candidate evaluation, building models)."""
    if _scope is not None and now() >= _scope.deadline:
        from ..inputs.errors import TimeLimitError

        _scope.hit = True
        raise TimeLimitError(message())


def passed() -> bool:
    return _scope is not None and now() >= _scope.deadline
