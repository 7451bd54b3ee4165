"""The ``planner`` console script. Kept free of heavy imports so that the
interrupt handlers are in place before typer, numpy or OR-Tools load: a Ctrl-C
at any moment ends with one line and exit 130 (SIGTERM: 143).

Exit codes: 0 success, 2 bad input, 3 nothing feasible, 70 an internal error
(a bug: one line; ``PLANNER_DEBUG=1`` shows the traceback), 130/143 interrupted.
"""

from __future__ import annotations

import os
import sys

from ..inputs import interrupts
from ..search import deadline

EXIT_INTERNAL = 70  # EX_SOFTWARE


def _leave(code: int, line: str | None = None) -> None:
    """Print ``line`` to stderr, flush, and exit at once: no interpreter teardown
    (solver threads, atexit hooks) that could still crash or print after it."""
    interrupts.quiet()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            pass
    if line is not None:
        try:
            os.write(2, (line + "\n").encode("utf-8", "replace"))
        except OSError:
            pass
    os._exit(code)


def _interrupted_line(exc: interrupts.Interrupted) -> str:
    return f"error: interrupted by {exc.name}; stopped, no partial output left"


def _run(argv: list[str] | None) -> int:
    from .main import app  # first: it sets up start-up (planner.cli.lazy_imports, the collector) before typer loads

    import typer

    try:
        code = typer.main.get_command(app).main(args=argv, prog_name="planner", standalone_mode=False)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    return code if isinstance(code, int) and not isinstance(code, bool) else 0


def main(argv: list[str] | None = None) -> None:
    """Run one command and leave with its exit code. Every way out (success, user
    error, interrupt, broken pipe, bug) is one of the branches below, so nothing
    prints a traceback after the command is done."""
    deadline.mark_process_start()  # --time-limit counts from here: start-up and imports are part of the command
    interrupts.install()
    try:
        code = _run(argv)
        interrupts.check()  # a signal that arrived while a worker thread had it
        sys.stdout.flush()
    except interrupts.Interrupted as exc:
        _leave(exc.exit_code, _interrupted_line(exc))
    except BrokenPipeError:  # the reader went away (planner ... | head): nothing to report
        _leave(141)
    except BaseException as exc:  # a bug, not a user error: one line, traceback on request
        if interrupts.received():  # the interrupt surfaced as another error (e.g. ImportError from a half-run import)
            sig = interrupts.Interrupted(interrupts.received())
            _leave(sig.exit_code, _interrupted_line(sig))
        if os.environ.get("PLANNER_DEBUG"):
            raise
        try:
            from ..inputs.errors import one_line

            text = one_line(exc, 200)
        except BaseException:
            text = ""
        _leave(EXIT_INTERNAL, f"internal error: {type(exc).__name__}: {text} (a bug; rerun with PLANNER_DEBUG=1 for the traceback and report it)")
    _leave(code)


if __name__ == "__main__":
    main()
