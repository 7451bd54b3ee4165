"""Ctrl-C and SIGTERM: end any command with one line and exit 130 (143), never a
traceback, a core dump or a half-written file.

The CLI entry installs :func:`install` before importing anything heavy. The
handler runs every registered stop hook (a solve in progress stops through the
solver's own stop mechanism: see :func:`stop_hook`) and raises
:class:`Interrupted` in the main thread. ``Interrupted`` derives from
BaseException so no ``except Exception`` swallows it; on its way out it runs the
``finally`` blocks that remove temporary output files
(:func:`planner.safeio.atomic_write`), and the entry prints one line and exits.

A solve that runs in the main thread inside native code sees the interrupt when
it returns to Python (the next check point); CP-SAT's own SIGINT catcher is
switched off (:mod:`planner.search.control`) because it swallowed Ctrl-C and could abort
the process after the solver was gone.
"""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager
from typing import Callable, Iterator

EXIT_CODES = {signal.SIGINT: 130, signal.SIGTERM: 143}


class Interrupted(BaseException):
    """Raised in the main thread by SIGINT or SIGTERM."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum

    @property
    def exit_code(self) -> int:
        return EXIT_CODES.get(self.signum, 128 + int(self.signum))

    @property
    def name(self) -> str:
        return signal.Signals(self.signum).name


_hooks: list[Callable[[], None]] = []
_lock = threading.Lock()
_received: list[int] = []


def _handler(signum: int, frame) -> None:
    if _received:  # already stopping: a second Ctrl-C changes nothing
        return
    _received.append(signum)
    with _lock:
        hooks = list(_hooks)
    for hook in hooks:
        try:
            hook()
        except Exception:  # a stop hook must not turn an interrupt into a crash
            pass
    raise Interrupted(signum)


def install() -> None:
    """Route SIGINT and SIGTERM to :class:`Interrupted` (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        return
    for sig in EXIT_CODES:
        if signal.getsignal(sig) is signal.SIG_IGN:  # started ignoring it (nohup, a background job): keep that
            continue
        signal.signal(sig, _handler)


def received() -> int | None:
    """The signal that asked the program to stop, if any (for check points)."""
    return _received[0] if _received else None


def check() -> None:
    """A check point: raise :class:`Interrupted` if a signal arrived that was not
    raised yet (e.g. while a worker thread ran)."""
    if _received:
        raise Interrupted(_received[0])


def quiet() -> None:
    """After an interrupt is handled: further signals are ignored while exiting."""
    if threading.current_thread() is threading.main_thread():
        for sig in EXIT_CODES:
            signal.signal(sig, signal.SIG_IGN)


@contextmanager
def stop_hook(hook: Callable[[], None]) -> Iterator[None]:
    """Run ``hook`` (e.g. ``solver.stop_search``) if an interrupt arrives while
    the block runs."""
    with _lock:
        _hooks.append(hook)
    try:
        yield
    finally:
        with _lock:
            _hooks.remove(hook)
