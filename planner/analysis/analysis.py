"""Comparisons and frontiers across topologies: the Python API behind ``compare``
and ``frontier`` (``explain`` lives in :mod:`planner.analysis.explain`).

    from planner import api
    from planner.analysis import analysis
    rows = analysis.compare("deepseek-r1", ["hgx-h100", "gb200-nvl72"], api.Query(tpot_ms=50))
    res = analysis.frontier("deepseek-r1", ["hgx-h200", "gb200-nvl72"])

Nothing here models physics: every number comes from :func:`api.plan` or
:func:`costmodel.evaluate`; this module sizes the comparison, sweeps batch
sizes and keeps the Pareto-optimal points.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any, Callable

import numpy as np

from .. import api
from ..inputs import units
from ..physics.candidates import enumerate_layouts
from ..physics.costmodel import BOTTLENECKS, evaluate as evaluate_arrays, max_feasible_batch
from ..inputs.errors import InfeasibleError, InputError, TimeLimitError
from ..plan.assembly import Plan, _r, layout_dict
from ..plan.text import layout_label
from ..inputs.topology import Topology, build_topology, with_price
from ..inputs.workload import Workload
from ..inputs.ranges import GPU_BUDGET, PRICE_USD_PER_GPU_HOUR, TIME_LIMIT_S
from ..search import deadline
from .parallel import SOLVER_MODULES, map_ordered

# When a comparison has no rack-scale topology, node-based ones are sized to
# one NVL72-class rack's worth of GPUs so that large models fit (a planner
# convention, not a measured number; see docs/compare.md).
RACK_EQUIVALENT_GPUS = 72
RACK_UNITS = ("rack", "pod")  # domain units that are a whole rack-scale system
# Per-DP-rank decode batches of the frontier sweep: ~sqrt(2) steps, 1..8192.
BATCH_GRID = np.unique(np.round(2.0 ** (np.arange(0, 27) / 2.0)).astype(np.int64))


# --------------------------------------------------------------------------- sizing


@dataclass(frozen=True)
class Sizing:
    """How many scale-up domains one topology gets in a comparison, and why."""

    topology: str
    domains: int
    domain_unit: str
    gpus: int
    max_gpus: int | None
    note: str  # empty when the file's own count is used unchanged
    price_usd_per_gpu_hour: float = 0.0  # the price the comparison used
    specs_estimated: bool = False  # the accelerator's specs are estimates
    price_estimated: bool = False  # the price is an estimate, not a quote


def size_topologies(refs: list[str], max_gpus: int | None = None) -> list[tuple[Sizing, Topology]]:
    """Comparable GPU budgets. With ``max_gpus``: every topology gets enough domains
    for that many GPUs and may use at most that many. Without: rack-scale
    topologies keep their file's count; node-based ones (HGX, MI300X) are scaled
    up to at least the GPU count of the largest rack in the comparison (or
    RACK_EQUIVALENT_GPUS if there is none), since one 8-GPU node cannot hold a
    large model."""
    if not refs:
        raise InputError("--topologies: give at least one topology")
    GPU_BUDGET.check("--gpus", max_gpus)
    specs = [_spec(r) for r in refs]  # read the files only: each graph is built once, at its final size
    racks = [s.domains * s.scale_up.domain_gpus for s in specs if s.domain_unit in RACK_UNITS]
    target = max(racks) if racks else RACK_EQUIVALENT_GPUS
    out = []
    for ref, s in zip(refs, specs):
        size, unit = s.scale_up.domain_gpus, s.domain_unit
        if max_gpus is not None:
            count = math.ceil(max_gpus / size)
            note = f"budget {max_gpus} GPUs"
        elif unit not in RACK_UNITS and s.domains * size < target:
            count = math.ceil(target / size)
            why = f"the largest rack here ({target} GPUs)" if racks else f"one {RACK_EQUIVALENT_GPUS}-GPU rack"
            note = f"scaled from {s.domains} to {count} {unit}s to match {why}"
        else:
            count, note = s.domains, ""
        topo = build_topology(ref, count)
        out.append((Sizing(topo.name, count, unit, topo.n_gpus, max_gpus, note, topo.price_usd_per_gpu_hour, topo.accelerator.estimated, s.price.estimated), topo))
    return out


def _spec(ref: str):
    from ..inputs.datafiles import read_yaml, resolve
    from ..inputs.schema import validate
    from ..inputs.topology import TopologyFile

    path = resolve("topologies", ref)
    return validate(TopologyFile, read_yaml(path).data, path)


# --------------------------------------------------------------------------- compare


@dataclass(frozen=True)
class CompareRow:
    """The best plan of one topology under the shared SLOs, or why there is none."""

    sizing: Sizing
    metrics: dict[str, Any]  # the Plan's metrics ({} if infeasible)
    layout: str  # "TP1·DP64·EP64" of the replica that holds most GPUs
    layouts: tuple[dict[str, int], ...]  # every distinct layout of the plan
    bottleneck: str
    error: str  # the InfeasibleError message, or ""
    mode: str = ""  # aggregated | disaggregated (the plan's serving mode)
    ratio_tps_per_gpu: float | None = None  # output tok/s per GPU / the first row's
    ratio_usd_per_mtok_all_in: float | None = None  # all-in $/output token / the first row's
    plan: Plan | None = field(default=None, compare=False, repr=False)

    @property
    def feasible(self) -> bool:
        return not self.error

    def to_dict(self) -> dict[str, Any]:
        return {
            "topology": self.sizing.topology,
            "domains": self.sizing.domains,
            "domain_unit": self.sizing.domain_unit,
            "gpus_available": self.sizing.gpus,
            "max_gpus": self.sizing.max_gpus,
            "sizing_note": self.sizing.note,
            "price_usd_per_gpu_hour": self.sizing.price_usd_per_gpu_hour,
            "estimated": {"specs": self.sizing.specs_estimated, "price": self.sizing.price_estimated},
            "feasible": self.feasible,
            "error": self.error,
            "mode": self.mode,
            "layout": self.layout,
            "layouts": list(self.layouts),
            "bottleneck": self.bottleneck,
            "metrics": self.metrics,
            "serving_economics": self.plan.serving_economics if self.plan is not None else {},
            "fidelity": self.plan.coverage().to_dict() if self.plan is not None else {},
            "ratio_to_first": {
                "output_tokens_per_s_per_gpu": self.ratio_tps_per_gpu,
                "usd_per_mtok_all_in": self.ratio_usd_per_mtok_all_in,
            },
        }


def _main_layout(p: Plan) -> dict[str, int]:
    """The layout holding most GPUs (of the decode pool, in disaggregated plans)."""
    gpus: dict[tuple, int] = {}
    for r in p.replicas:
        if r.get("role", "decode") != "decode":
            continue
        key = tuple(sorted(r["layout"].items()))
        gpus[key] = gpus.get(key, 0) + len(r["gpu_ids"])
    return dict(max(gpus, key=gpus.get))


def _prepare(workload, topologies, query, max_gpus):
    """The overridden workload and each sized topology (price override applied)."""
    deadline.part("loading and sizing the topologies")
    q = query or api.Query()
    if q.domains is not None or q.unavailable_gpus:
        raise InputError("this command sizes every topology itself: give a shared --gpus budget instead of domains")
    price = q.price_per_gpu_hour
    PRICE_USD_PER_GPU_HOUR.check("--price-per-gpu-hour", price)
    sized = size_topologies(list(topologies), max_gpus)
    if price is not None:
        sized = [(replace(s, price_usd_per_gpu_hour=price, price_estimated=False), with_price(t, price)) for s, t in sized]
    w, _ = api.load(workload, sized[0][1], replace(q, price_per_gpu_hour=None))
    return w, sized


@deadline.covering
def compare(
    workload: str | Workload,
    topologies: list[str],
    query: api.Query | None = None,
    *,
    max_gpus: int | None = None,
    time_limit_s: float = 10.0,
    mode: str = "auto",
    on_step: Callable[[str], None] | None = None,
    workers: int | None = None,
    engine: str | None = None,
) -> list[CompareRow]:
    """api.plan on each topology under the same workload, SLOs and traffic (a row
    with the reason where it cannot meet them). ``mode``: as ``plan`` (``agg`` is
    what ``frontier`` sweeps). Topologies run on up to ``workers`` processes
    (default: the available cores), rows as a serial run's, in the order given.
    ``time_limit_s`` covers the call: a topology left without a plan says ``time limit:``."""
    TIME_LIMIT_S.check("--time-limit", time_limit_s)
    from ..physics import engine_limits

    engine_limits.check(engine)
    w, sized = _prepare(workload, topologies, query, max_gpus)

    def one(job: tuple[Sizing, Topology]) -> CompareRow:
        sizing, topo = job
        try:
            p = api.plan(w, topo, api.Query(), max_gpus=max_gpus, time_limit_s=time_limit_s, mode=mode, engine=engine)
        except (InfeasibleError, TimeLimitError) as exc:
            return CompareRow(sizing, {}, "", (), "", str(exc))
        distinct = tuple(dict(t) for t in dict.fromkeys(tuple(sorted(r["layout"].items())) for r in p.replicas))
        return CompareRow(sizing, p.metrics, layout_label(_main_layout(p)), distinct, p.bottleneck, "",
                          mode=str(p.inputs.get("mode", "aggregated")), plan=p)

    done = None if on_step is None else (lambda k, row: on_step(row.sizing.topology))
    return _with_ratios(map_ordered(one, sized, workers, on_done=done, preload=SOLVER_MODULES))


def _with_ratios(rows: list[CompareRow]) -> list[CompareRow]:
    if not rows or not rows[0].feasible:
        return rows
    m0 = rows[0].metrics
    out = []
    for r in rows:
        if r.feasible:
            r = replace(
                r,
                ratio_tps_per_gpu=_r(r.metrics["output_tokens_per_s_per_gpu"] / m0["output_tokens_per_s_per_gpu"], 3),
                ratio_usd_per_mtok_all_in=_r(r.metrics["usd_per_mtok_all_in"] / m0["usd_per_mtok_all_in"], 3),
            )
        out.append(r)
    return out


# --------------------------------------------------------------------------- frontier


def pareto_mask(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Points no other point beats on both axes (both maximised). Of exact
    duplicates one is kept. Sort by x descending (y descending within ties);
    a point is optimal iff its y beats every y seen before it."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    keep = np.zeros(len(x), dtype=bool)
    if len(x) == 0:
        return keep
    order = np.lexsort((-y, -x))
    ys = y[order]
    prev = np.concatenate([[-np.inf], np.maximum.accumulate(ys)[:-1]])
    keep[order[ys > prev]] = True
    return keep


@dataclass(frozen=True)
class Sweep:
    """Every layout x batch of one topology that fits memory (TPOT/TTFT ignored)."""

    topology: str
    layout: np.ndarray  # index into ``layouts``
    layouts: tuple[dict[str, int], ...]
    batch: np.ndarray
    gpus: np.ndarray
    tpot_s: np.ndarray
    ttft_s: np.ndarray
    tps_per_gpu: np.ndarray
    usd_per_mtok_all_in: np.ndarray
    usd_per_mtok_output: np.ndarray
    usd_per_mtok_input: np.ndarray
    bottleneck: np.ndarray  # index into costmodel.BOTTLENECKS
    meets_slo: np.ndarray

    @property
    def tokens_per_s_per_user(self) -> np.ndarray:
        return 1.0 / self.tpot_s

    def row(self, i: int, topology_name: str | None = None) -> dict[str, Any]:
        lay = layout_dict(self.layouts[int(self.layout[i])])
        return {
            "topology": topology_name or self.topology,
            "layout": layout_label(lay),
            **lay,
            "batch": int(self.batch[i]),
            "concurrency": int(self.batch[i] * lay["pp"]),
            "gpus": int(self.gpus[i]),
            "tpot_ms": _r(self.tpot_s[i] / units.MS),
            "ttft_ms": _r(self.ttft_s[i] / units.MS),
            "tokens_per_s_per_user": _r(self.tokens_per_s_per_user[i]),
            "output_tokens_per_s_per_gpu": _r(self.tps_per_gpu[i]),
            "usd_per_mtok_all_in": _r(self.usd_per_mtok_all_in[i]),
            "usd_per_mtok_output": _r(self.usd_per_mtok_output[i]),
            "usd_per_mtok_input": _r(self.usd_per_mtok_input[i]),
            "bottleneck": BOTTLENECKS[int(self.bottleneck[i])],
            "meets_slo": bool(self.meets_slo[i]),
        }


def sweep(w: Workload, topo: Topology, max_gpus: int | None = None, grid: np.ndarray = BATCH_GRID) -> Sweep:
    """costmodel.evaluate on every candidate layout at every batch of the grid
    (per attention-DP rank) and at its largest batches (memory only; all limits),
    keeping the points that fit in memory."""
    L = enumerate_layouts(w, topo, max_gpus)
    if len(L) == 0:
        raise InfeasibleError(f"topology: no layout of {w.name} can be placed on {topo.n_available} GPUs of {topo.name}")
    # the grid, plus each layout's largest batch within memory alone and within every limit
    mem_only = max_feasible_batch(replace(w, tpot_s=np.inf, ttft_s=np.inf), topo, L)
    within = max_feasible_batch(w, topo, L)
    extra = np.stack([np.maximum(mem_only, L.dp), np.maximum(within, L.dp)], axis=1)
    B = np.concatenate([L.dp[:, None] * np.asarray(grid)[None, :], extra], axis=1)
    ev = evaluate_arrays(w, topo, L, B)
    ok = ev.fits_memory & (ev.output_tps > 0)
    if not ok.any():
        raise InfeasibleError(api.explain_infeasible(w, topo, api.options(w, topo, max_gpus)))
    li, _ = np.nonzero(ok)
    pick = lambda a: np.broadcast_to(a, ok.shape)[ok]  # noqa: E731
    return Sweep(
        topology=topo.name,
        layout=li,
        layouts=tuple(L.row(i) for i in range(len(L))),
        batch=pick(ev.batch).astype(np.int64),
        gpus=pick(ev.gpus).astype(np.int64),
        tpot_s=pick(ev.tpot_s),
        ttft_s=pick(ev.ttft_s),
        tps_per_gpu=pick(ev.output_tps / ev.gpus),
        usd_per_mtok_all_in=pick(ev.usd_per_mtok_all_in),
        usd_per_mtok_output=pick(ev.usd_per_mtok_output),
        usd_per_mtok_input=pick(ev.usd_per_mtok_input),
        bottleneck=pick(ev.bottleneck_index),
        meets_slo=pick(ev.feasible),
    )


@dataclass(frozen=True)
class FrontierResult:
    """Pareto sets of one topology, sorted along their x axis, and the chosen plan."""

    sizing: Sizing
    n_points: int  # layout x batch points that fit memory
    throughput: list[dict[str, Any]]  # max tok/s/GPU vs max tok/s/user
    cost: list[dict[str, Any]]  # min $/Mtok (all-in) vs min TPOT
    chosen: dict[str, Any] | None  # the plan under the SLOs (metrics + layout), or None
    chosen_error: str = ""
    slo: dict[str, float] = field(default_factory=dict)  # ttft_ms, tpot_ms of the workload

    def to_dict(self) -> dict[str, Any]:
        return {
            "topology": self.sizing.topology,
            "domains": self.sizing.domains,
            "domain_unit": self.sizing.domain_unit,
            "gpus_available": self.sizing.gpus,
            "sizing_note": self.sizing.note,
            "price_usd_per_gpu_hour": self.sizing.price_usd_per_gpu_hour,
            "estimated": {"specs": self.sizing.specs_estimated, "price": self.sizing.price_estimated},
            "points_evaluated": self.n_points,
            "throughput_frontier": self.throughput,
            "cost_frontier": self.cost,
            "chosen_plan": self.chosen,
            "chosen_error": self.chosen_error,
            "slo": self.slo,
        }


def frontiers(s: Sweep) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the two Pareto sets of a sweep, each sorted by its x axis."""
    thr = np.flatnonzero(pareto_mask(s.tokens_per_s_per_user, s.tps_per_gpu))
    cost = np.flatnonzero(pareto_mask(-s.tpot_s, -s.usd_per_mtok_all_in))
    return thr[np.argsort(s.tokens_per_s_per_user[thr])], cost[np.argsort(s.tpot_s[cost])]


@deadline.covering
def frontier(
    workload: str | Workload,
    topologies: list[str],
    query: api.Query | None = None,
    *,
    max_gpus: int | None = None,
    time_limit_s: float = 10.0,
    on_step: Callable[[str], None] | None = None,
    workers: int | None = None,
) -> list[FrontierResult]:
    """Throughput-per-GPU vs interactivity and cost vs TPOT frontiers over every
    layout and batch (memory limits kept, latency SLOs ignored), per topology,
    with the SLO-constrained plan of api.plan marked as ``chosen``. Topologies
    run in parallel as in :func:`compare`; ``time_limit_s`` covers the call."""
    TIME_LIMIT_S.check("--time-limit", time_limit_s)
    w, sized = _prepare(workload, topologies, query, max_gpus)

    def one(job: tuple[Sizing, Topology]) -> FrontierResult:
        sizing, topo = job
        deadline.check()
        deadline.part(f"sweeping every layout and batch of {w.name} on {sizing.topology}")
        s = sweep(w, topo, max_gpus)
        thr, cost = frontiers(s)
        chosen, err = None, ""
        try:
            p = api.plan(w, topo, api.Query(), max_gpus=max_gpus, time_limit_s=time_limit_s, mode="agg")
            chosen = {"layout": layout_label(_main_layout(p)), **p.metrics}
        except (InfeasibleError, TimeLimitError) as exc:
            err = str(exc)
        slo = {"ttft_ms": w.ttft_s / units.MS, "tpot_ms": w.tpot_s / units.MS}
        return FrontierResult(sizing, len(s.batch), [s.row(i) for i in thr], [s.row(i) for i in cost], chosen, err, slo)

    done = None if on_step is None else (lambda k, row: on_step(row.sizing.topology))
    return map_ordered(one, sized, workers, on_done=done, preload=SOLVER_MODULES)

