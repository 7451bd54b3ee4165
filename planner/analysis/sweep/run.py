"""Execute a study: skip what the results folder already holds, run the rest on a
backend, store rows as they finish, merge at the end.

Backends (each yields finished rows in completion order):

* serial: in this process (``--workers 1``);
* pool: a local process pool (``--workers N``, default: the usable cores);
* ray: Ray tasks (``--ray auto`` starts a local Ray, ``--ray ADDRESS`` joins a
  cluster whose nodes have rack-planner installed).

Rows do not depend on the backend or the order of completion: each scenario is
planned by the same code on the same inputs, and the merged table is sorted by
the scenario's position in the study.
"""

from __future__ import annotations

import os
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Optional

from ...inputs.errors import InputError

from .store import Store
from .study import Study
from .worker import failed_row, payload, run_chunk

MAX_WORKERS = 1024
IN_FLIGHT_PER_WORKER = 2  # chunks queued per worker: keeps workers busy, bounds what a kill can lose


def default_workers() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def _chunks(items: list, size: int) -> list[list]:
    return [items[k:k + size] for k in range(0, len(items), size)]


def chunk_size(n: int, workers: int) -> int:
    """Small enough to balance (>= 8 chunks per worker), large enough to amortise a task's overhead."""
    return max(1, min(16, n // (8 * workers)))


# --------------------------------------------------------------------------- backends


def serial_rows(payloads: list[dict]) -> Iterator[dict]:
    for p in payloads:
        yield from run_chunk([p])


def _pool_pass(todo: deque, workers: int, in_flight: int, fn: Callable) -> Iterator[dict]:
    """Run chunks from ``todo`` on a fresh pool, yielding rows; returns the chunks
    that were in flight if a worker process died (the pool is then unusable)."""
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
    from concurrent.futures.process import BrokenProcessPool

    # spawn: workers start clean (no copied solver threads or locks), the same on every OS
    ex = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"))
    pending: dict = {}
    lost: list = []
    try:
        while todo or pending:
            while todo and len(pending) < in_flight:
                chunk = todo.popleft()
                pending[ex.submit(fn, chunk)] = chunk
            finished, _ = wait(pending, return_when=FIRST_COMPLETED)
            for f in finished:
                chunk = pending.pop(f)
                try:
                    rows = f.result()
                except BrokenProcessPool:
                    lost.append(chunk)
                    continue
                yield from rows
            if lost:
                return lost + list(pending.values())
        return []
    finally:
        for f in pending:
            f.cancel()
        ex.shutdown(wait=not lost, cancel_futures=True)


def pool_rows(payloads: list[dict], workers: int, fn: Callable = run_chunk) -> Iterator[dict]:
    """Chunks on ``workers`` processes. If a worker dies (a crash, the OOM killer),
    the scenarios it may have held are rerun one at a time on a single worker, so
    the one that kills its process is found and recorded as an error row."""
    todo = deque(_chunks(payloads, chunk_size(len(payloads), workers)))
    while todo:
        lost = yield from _pool_pass(todo, workers, workers * IN_FLIGHT_PER_WORKER, fn)
        suspects = deque([p] for chunk in lost for p in chunk)
        while suspects:
            culprit = yield from _pool_pass(suspects, 1, 1, fn)
            for chunk in culprit[:1]:
                yield failed_row(chunk[0], "worker process died while planning this scenario (a crash or out of memory)")
            suspects.extendleft(reversed(culprit[1:]))


CONNECT_TIMEOUT_S = 5.0  # Ray itself retries an unreachable head for minutes


def _reachable(address: str) -> None:
    """Fail in seconds, with one line, when nothing listens at a cluster address."""
    import socket

    hostport = address.split("://", 1)[-1].rsplit("/", 1)[0]
    host, _, port = hostport.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise InputError(f"--ray {address}: expected 'auto', HOST:PORT or ray://HOST:PORT")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=CONNECT_TIMEOUT_S).close()
    except OSError as exc:
        raise InputError(f"--ray {address}: no Ray head answers there ({exc.strerror or exc})") from None


def ray_rows(payloads: list[dict], workers: Optional[int], address: str) -> Iterator[dict]:
    try:
        import ray
    except ImportError:
        raise InputError("--ray needs Ray: pip install 'rack-planner[ray]'") from None
    import logging

    if address == "auto":
        # address="local": a new instance on this machine, even if RAY_ADDRESS names a cluster
        ray.init(address="local", num_cpus=workers or default_workers(), include_dashboard=False, log_to_driver=False,
                 logging_level=logging.ERROR, configure_logging=False)
    else:
        try:
            ray.init(address=address, log_to_driver=False, logging_level=logging.ERROR, configure_logging=False)
        except (ConnectionError, ValueError, RuntimeError) as exc:
            raise InputError(f"--ray {address}: cannot connect ({str(exc).splitlines()[0]})") from None
    try:
        slots = max(1, int(ray.cluster_resources().get("CPU", 1)))
        remote = ray.remote(num_cpus=1)(run_chunk)
        todo = deque(_chunks(payloads, chunk_size(len(payloads), slots)))
        pending: dict = {}
        while todo or pending:
            while todo and len(pending) < slots * IN_FLIGHT_PER_WORKER:
                chunk = todo.popleft()
                pending[remote.remote(chunk)] = chunk
            ready, _ = ray.wait(list(pending), num_returns=1)
            for ref in ready:
                chunk = pending.pop(ref)
                try:
                    rows = ray.get(ref)
                except ray.exceptions.RayError as exc:  # the worker died (run_chunk itself never raises)
                    if len(chunk) > 1:  # rerun one by one: only the scenario that kills its worker fails
                        todo.extendleft([p] for p in reversed(chunk))
                        continue
                    rows = [failed_row(chunk[0], f"worker process died while planning this scenario ({type(exc).__name__})")]
                yield from rows
    finally:
        ray.shutdown()


# --------------------------------------------------------------------------- the sweep


def check_flags(out: Path, workers: Optional[int], ray: Optional[str]) -> None:
    """Flags that cannot work, refused before any scenario runs."""
    if workers is not None and not 1 <= workers <= MAX_WORKERS:
        raise InputError(f"--workers must be between 1 and {MAX_WORKERS} (got {workers})")
    if ray is not None and ray != "auto" and workers is not None:
        raise InputError(f"--workers sizes the local pool or --ray auto; the cluster at --ray {ray} uses its own CPUs")
    if ray is not None and not ray.strip():
        raise InputError("--ray: give 'auto' or a cluster address")
    if out.is_dir():
        raise InputError(f"--out {out}: is a directory; give a file name such as results.parquet")
    if ray is not None and ray != "auto":
        _reachable(ray)


@dataclass
class Summary:
    scenarios: int
    skipped: int
    ran: int = 0
    statuses: Counter = field(default_factory=Counter)  # of the scenarios run now
    totals: Counter = field(default_factory=Counter)  # of every row in the output
    rows_written: int = 0
    wall_s: float = 0.0

    @property
    def feasible(self) -> int:
        return self.totals["optimal"] + self.totals["feasible"]


def run_study(
    study: Study, out: Path, *, workers: Optional[int] = None, ray: Optional[str] = None, restart: bool = False,
    flush_rows: Optional[int] = None, on_row: Optional[Callable[[dict[str, Any]], None]] = None,
    on_start: Optional[Callable[[int, int], None]] = None,
) -> Summary:
    """Run every scenario of ``study`` not yet in ``out``'s results folder."""
    check_flags(out, workers, ray)
    start = time.perf_counter()
    kw = {"flush_rows": flush_rows} if flush_rows else {}
    store = Store(out, study.fingerprint, study.name, restart=restart, **kw)
    todo = [payload(s) for s in study.scenarios if s.scenario_id not in store.done]
    summary = Summary(scenarios=len(study.scenarios), skipped=len(study.scenarios) - len(todo))
    if on_start:
        on_start(len(study.scenarios), summary.skipped)
    if ray is not None:
        rows = ray_rows(todo, workers, ray)
    elif (workers or default_workers()) == 1 or len(todo) <= 1:
        rows = serial_rows(todo)
    else:
        rows = pool_rows(todo, min(workers or default_workers(), len(todo)))
    try:
        for row in rows if todo else ():
            store.add(row)
            summary.ran += 1
            summary.statuses[row["status"]] += 1
            if on_row:
                on_row(row)
    finally:
        store.flush()  # whatever finished is kept, even on Ctrl-C
    table = store.merge([s.scenario_id for s in study.scenarios])
    summary.rows_written = table.num_rows
    summary.totals = Counter(table.column("status").to_pylist())
    summary.wall_s = time.perf_counter() - start
    return summary
