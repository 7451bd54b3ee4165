"""The rich consoles every command prints through.

On a terminal, tables fit the window as usual. Anywhere else (a pipe, a file,
a test runner) nothing is cut or wrapped: the console is made wide enough for
any line, so ``planner plan ... | cat`` shows every column whole and a script
can read every cell. Progress bars (:func:`progress`) draw on a terminal only.
"""

from __future__ import annotations

import sys
from contextlib import contextmanager
from typing import Iterator

from rich.console import Console

# Width given to a console that is not a terminal: wider than any table the
# planner prints, so rich never truncates a cell or wraps a line.
UNBOUNDED_WIDTH = 100_000


def is_terminal(stream=None) -> bool:
    stream = sys.stdout if stream is None else stream
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # closed or replaced streams
        return False


def console(stderr: bool = False) -> Console:
    """A console for stdout (or stderr) that never truncates off a terminal."""
    stream = sys.stderr if stderr else sys.stdout
    if is_terminal(stream):
        return Console(stderr=stderr)
    return Console(stderr=stderr, width=UNBOUNDED_WIDTH, no_color=True, highlight=False)


class _Progress:
    """What a command reports to: ``advance(label)`` after each unit of work."""

    def __init__(self, bar=None, task=None, head: str = ""):
        self._bar, self._task, self._head = bar, task, head

    def advance(self, label: str = "") -> None:
        """One unit done; ``label`` names it (shown next to the bar)."""
        if self._bar is not None:
            self._bar.update(self._task, advance=1, description=f"{self._head}: {label}" if label else None)

    def note(self, label: str) -> None:
        """Say what is running now, without advancing."""
        if self._bar is not None:
            self._bar.update(self._task, description=f"{self._head}: {label}")


@contextmanager
def progress(label: str, total: int | None, enabled: bool = True) -> Iterator[_Progress]:
    """A transient progress bar on stderr when stderr is a terminal and ``enabled``
    (commands pass ``not as_json``); otherwise a silent stand-in."""
    if not enabled or not is_terminal(sys.stderr):
        yield _Progress()
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    columns = [SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn()]
    with Progress(*columns, console=Console(stderr=True, force_terminal=True), transient=True) as bar:
        yield _Progress(bar, bar.add_task(label, total=total), label)
