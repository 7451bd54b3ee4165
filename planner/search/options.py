"""Options: every legal layout of a workload on a topology at its best batch, and
what to tell a user when none is feasible or why a chosen batch stops growing.

The API (:mod:`planner.api`) builds plans from these; ``api.options`` and
``api.explain_infeasible`` are the same functions.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..inputs import units
from ..physics.candidates import Layouts, enumerate_layouts
from ..physics.engine_limits import active
from ..physics.costmodel import Evaluation, evaluate as evaluate_arrays, max_feasible_batch
from ..inputs.errors import InfeasibleError
from ..inputs.topology import Topology
from ..inputs.workload import Workload



@dataclass(frozen=True)
class Options:
    """Every candidate layout at its best (largest feasible) batch."""

    layouts: Layouts
    batch: np.ndarray
    ev: Evaluation  # at max(batch, minimal batch)

    @property
    def feasible(self) -> np.ndarray:
        return self.batch > 0

    def ranked(self) -> np.ndarray:
        """Indices of feasible options, cheapest $/output token first (stable)."""
        cost = np.where(self.feasible, self.ev.usd_per_mtok_all_in, np.inf)
        order = np.lexsort((np.arange(len(cost)), -self.ev.output_tps / np.maximum(self.ev.gpus, 1), cost))
        return order[np.isfinite(cost[order])]


def options(w: Workload, topo: Topology, max_gpus: int | None = None) -> Options:
    L = enumerate_layouts(w, topo, max_gpus)
    if len(L) == 0:
        engine = active()
        raise InfeasibleError(
            f"topology: no layout of {w.name} can be placed on {topo.n_available} available GPUs of {topo.name}"
            + (f" that {engine} launches (--engine)" if engine else "")
        )
    b = max_feasible_batch(w, topo, L)
    ev = evaluate_arrays(w, topo, L, np.maximum(b, L.dp))
    return Options(L, b, ev)


def explain_infeasible(w: Workload, topo: Topology, opts: Options, max_gpus: int | None = None) -> str:
    """One line: the binding constraint and by how much, with the nearest fix.
    ``max_gpus``: the GPU budget the options were enumerated under, if any."""
    engine = active()
    line = _explain(w, topo, opts, max_gpus)
    return line + (f" (only layouts {engine} launches: --engine)" if engine else "")


def _explain(w: Workload, topo: Topology, opts: Options, max_gpus: int | None) -> str:
    ev, L = opts.ev, opts.layouts
    gb, ms = units.GB, units.MS
    if max_gpus is not None and max_gpus < topo.n_available:
        budget = _budget_fix(w, topo, max_gpus)
        if budget:
            return budget
    mem = ev.memory_bytes
    if not ev.fits_memory.any():
        i = int(np.argmin(mem))
        per_gpu = ev.capacity_bytes - ev.reserve_bytes
        need = int(np.ceil(w.weight_bytes / per_gpu)) if per_gpu > 0 else 0
        return (
            f"memory: the leanest layout ({_fmt(L.row(i))}) needs {mem[i] / gb:.0f} GB per GPU "
            f"(weights {ev.weights_bytes[i] / gb:.0f} GB) but {ev.capacity_bytes / gb:.0f} GB is usable: "
            f"add pipeline stages or GPUs (the weights alone need at least {need} GPUs of {topo.accelerator.name}; "
            f"{topo.n_available} available, {topo.domain_flag})"
        )
    fits = ev.fits_memory
    tpot = np.where(fits, ev.tpot_s, np.inf)
    if not (fits & ev.meets_tpot).any():
        i = int(np.argmin(tpot))
        return (
            f"tpot: the fastest layout that fits memory ({_fmt(L.row(i))}) needs {tpot[i] / ms:.1f} ms per token "
            f"at its smallest batch, SLO {w.tpot_s / ms:.1f} ms: loosen --tpot-ms or use faster hardware"
        )
    ttft = np.where(fits & ev.meets_tpot, ev.ttft_s, np.inf)
    i = int(np.argmin(ttft))
    return (
        f"ttft: the fastest layout within memory and TPOT ({_fmt(L.row(i))}) needs {ttft[i] / ms:.0f} ms to first token, "
        f"SLO {w.ttft_s / ms:.0f} ms: loosen --ttft-ms, shorten --isl or add GPUs"
    )


def _budget_fix(w: Workload, topo: Topology, max_gpus: int) -> str | None:
    """If the GPU budget is what binds (the whole topology has a feasible layout),
    the one line that says so and names the smallest budget that works."""
    full = options(w, topo)
    ok = full.feasible
    if not ok.any():
        return None
    need = int(full.layouts.gpus[ok].min())
    return (
        f"budget: no layout of {w.name} within --gpus {max_gpus} meets memory and the SLOs; "
        f"the smallest that does needs {need} GPUs: raise --gpus to {need}"
    )


def _fmt(row: dict[str, int]) -> str:
    return f"tp={row['tp']} ep={row['ep']} pp={row['pp']} dp_attn={row['dp']}"


def batch_binding(w: Workload, topo: Topology, L: Layouts, batch: int, cap: int = 1 << 17) -> list[str]:
    """What stops this layout's batch from growing by one more step."""
    dp = int(L.dp[0])
    if batch + dp > cap:
        return ["batch cap"]
    nxt = evaluate_arrays(w, topo, L, np.array([batch + dp]))
    out = []
    if not nxt.fits_memory[0]:
        out.append("memory")
    if not nxt.meets_tpot[0]:
        out.append("tpot")
    if not nxt.meets_ttft[0]:
        out.append("ttft")
    return out


def pareto(keys: np.ndarray, candidates) -> list[int]:
    """The candidates no other candidate dominates. ``keys``: one row per index,
    every column "smaller is better"; a row dominates another when it is no
    worse in every column (identical rows: the first index stays). Sorted
    lexicographically, a dominator always comes first, so the first candidate
    left is on the front, and it removes every later one it dominates in one
    array comparison: O(N x front) like a pass over the candidates against the
    front, but one numpy call per front member instead of one per candidate."""
    cand = np.asarray(list(candidates), dtype=np.int64)
    if len(cand) == 0:
        return []
    k = np.asarray(keys, dtype=np.float64)[cand]
    order = np.lexsort((cand, *k.T[::-1]))
    k, cand = k[order], cand[order]
    front: list[int] = []
    while len(cand):
        front.append(int(cand[0]))
        left = ~(k[0] <= k[1:]).all(axis=1)
        k, cand = k[1:][left], cand[1:][left]
    return front


def pick_for_solver(opts: Options) -> list[int]:
    """Every option no other beats on every count: placement shape (pieces, GPUs
    per piece), output tokens/s and $/s. No fixed top-N: an option dropped here
    has another at least as good in every plan it could be part of, and the kept
    set for layouts that fit a smaller inventory is the same in a larger one, so
    adding GPUs never loses a plan. Cheapest $/token first."""
    L, ev = opts.layouts, opts.ev
    keys = np.column_stack([L.chunks, L.chunk_gpus, -ev.output_tps, ev.usd_per_s])
    kept = set(pareto(keys, np.nonzero(opts.feasible)[0]))
    return [int(i) for i in opts.ranked() if int(i) in kept]
