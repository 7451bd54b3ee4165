"""Demand-driven comparison: for each topology (rack generation), the cheapest
deployment that serves a throughput demand within the SLOs, and how many GPUs,
nodes or racks it takes. The Python API behind ``planner compare --demand-tps``.

    from planner import api
    from planner.analysis import demand
    rows = demand.compare_demand("llama-3.1-8b", ["hgx-h100", "gb200-nvl72"], api.Query(), 20_000)

Each row is ``api.plan(..., demand_tps=...)`` on the topology at the number of
domains this module settles on, so ``planner plan --demand-tps X --nodes N``
(or ``--racks N``) with the row's N gives the same plan. The count starts from
the best output tokens/s per GPU any feasible layout reaches (a lower bound on
the GPUs needed) and grows while the demand does not fit or the plan is held
back by the GPUs available.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any, Callable

from .. import api
from ..inputs.errors import InfeasibleError, InputError, TimeLimitError
from ..inputs.ranges import TIME_LIMIT_S
from ..search import deadline
from ..inputs.topology import MAX_GPUS
from ..inputs.workload import Workload
from ..plan.assembly import Plan
from .analysis import RACK_EQUIVALENT_GPUS, _spec, layout_label, _main_layout
from .parallel import SOLVER_MODULES, map_ordered

# How far above the lower bound the first attempt goes (packing and the SLO
# mix rarely reach the best layout's tokens/s per GPU everywhere), and how much
# each retry grows the domain count: planner conventions, not measurements.
FIRST_MARGIN = 1.1
GROWTH = 1.5
MAX_ATTEMPTS = 5


@dataclass(frozen=True)
class DemandRow:
    """The cheapest plan serving the demand on one topology, or why there is none."""

    topology: str
    domain_unit: str
    domains: int  # scale-up domains (nodes or racks) the plan was solved on
    price_usd_per_gpu_hour: float
    specs_estimated: bool
    price_estimated: bool
    error: str = ""
    plan: Plan | None = None

    @property
    def feasible(self) -> bool:
        return not self.error

    def to_dict(self) -> dict[str, Any]:
        m = self.plan.metrics if self.plan is not None else {}
        used = m.get("gpus_used")
        size = self.plan.inputs["topology"]["gpus"] // self.domains if self.plan is not None else None
        return {
            "topology": self.topology,
            "feasible": self.feasible,
            "error": self.error,
            "domain_unit": self.domain_unit,
            "domains": self.domains,
            "domains_used": None if used is None else len({j for r in self.plan.replicas for j in r["domains"]}),
            "gpus_per_domain": size,
            "gpus_used": used,
            "price_usd_per_gpu_hour": self.price_usd_per_gpu_hour,
            "estimated": {"specs": self.specs_estimated, "price": self.price_estimated},
            "usd_per_hour": m.get("usd_per_hour"),
            "usd_per_mtok_all_in": m.get("usd_per_mtok_all_in"),
            "usd_per_mtok_output": m.get("usd_per_mtok_output"),
            "output_tokens_per_s": m.get("output_tokens_per_s"),
            "tpot_ms": m.get("tpot_ms"),
            "ttft_ms": m.get("ttft_ms"),
            "mode": self.plan.inputs.get("mode") if self.plan is not None else None,
            "layout": layout_label(_main_layout(self.plan)) if self.plan is not None else "",
            "binding_constraints": self.plan.binding_constraints if self.plan is not None else [],
        }


@deadline.covering
def compare_demand(
    workload: str | Workload,
    topologies: list[str],
    query: api.Query | None,
    demand_tps: float,
    *,
    time_limit_s: float = 10.0,
    mode: str = "auto",
    on_step: Callable[[str], None] | None = None,
    workers: int | None = None,
    engine: str | None = None,
) -> list[DemandRow]:
    """Per topology, the least-$/hour plan that serves ``demand_tps`` output tokens/s
    within the SLOs. A topology that cannot gets a row with the reason. Topologies
    run in parallel on up to ``workers`` processes, rows in the order given.
    ``time_limit_s`` covers the whole call (planner.search.deadline): a topology
    the deadline left without a plan gets a row whose error starts ``time limit:``."""
    TIME_LIMIT_S.check("--time-limit", time_limit_s)
    from ..physics import engine_limits

    engine_limits.check(engine)
    q = query or api.Query()
    if q.domains is not None or q.unavailable_gpus:
        raise InputError("--demand-tps sizes every topology itself: drop --nodes/--racks/--unavailable")
    if not 0 < demand_tps < float("inf"):
        raise InputError(f"--demand-tps must be a positive finite rate (got {demand_tps})")
    if not topologies:
        raise InputError("--topologies: give at least one topology")
    w = workload if isinstance(workload, Workload) else api.load(workload, topologies[0], replace(q, price_per_gpu_hour=None))[0]
    refs = list(topologies)
    done = None if on_step is None else (lambda k, row: on_step(row.topology))
    return map_ordered(lambda ref: _serve(w, ref, q, demand_tps, time_limit_s, mode, engine), refs, workers, on_done=done, preload=SOLVER_MODULES)


def _serve(w: Workload, ref: str, q: api.Query, demand_tps: float, time_limit_s: float, mode: str,
           engine: str | None = None) -> DemandRow:
    from ..physics import engine_limits

    spec = _spec(ref)
    size = spec.scale_up.domain_gpus
    max_domains = max(1, MAX_GPUS // size)
    head = dict(topology=spec.name, domain_unit=spec.domain_unit,
                price_usd_per_gpu_hour=q.price_per_gpu_hour or spec.price.usd_per_gpu_hour,
                specs_estimated=_specs_estimated(spec), price_estimated=q.price_per_gpu_hour is None and spec.price.estimated)
    try:
        deadline.check()
        deadline.part(f"sizing {spec.name} for the demand")
        with engine_limits.only(engine):  # the first guess reads layouts too (api.plan sets its own)
            n = min(max_domains, _first_guess(w, ref, q, demand_tps, size, spec.domains))
    except (InfeasibleError, TimeLimitError) as exc:
        return DemandRow(domains=spec.domains, error=str(exc), **head)
    for attempt in range(MAX_ATTEMPTS):
        try:
            p = api.plan(w, ref, replace(q, domains=n), demand_tps=demand_tps, time_limit_s=time_limit_s, mode=mode, engine=engine)
        except TimeLimitError as exc:
            return DemandRow(domains=n, error=str(exc), **head)
        except InfeasibleError as exc:
            short = str(exc).startswith("demand:")  # the GPUs run out before the demand is met
            if not short or n >= max_domains or attempt == MAX_ATTEMPTS - 1:
                return DemandRow(domains=n, error=str(exc), **head)
        else:
            if "gpus" not in p.binding_constraints or n >= max_domains or attempt == MAX_ATTEMPTS - 1:
                return DemandRow(domains=n, plan=p, **head)
        n = min(max_domains, math.ceil(n * GROWTH))
    raise AssertionError("unreachable")


def _first_guess(w: Workload, ref: str, q: api.Query, demand_tps: float, size: int, file_domains: int) -> int:
    """Domains for the GPUs the demand needs at the best tokens/s per GPU any
    feasible layout reaches on a rack's worth of GPUs (a lower bound), plus a margin."""
    from ..physics import engine_limits
    from ..search.options import explain_infeasible, options

    probe = max(file_domains, math.ceil(RACK_EQUIVALENT_GPUS / size))
    wl, topo = api.load(w, ref, replace(q, domains=probe))
    topo = engine_limits.with_active_engine(topo)  # --engine: rated as the plans will be
    opts = options(wl, topo)
    ok = opts.feasible
    if not ok.any():
        raise InfeasibleError(explain_infeasible(wl, topo, opts))
    per_gpu = float((opts.ev.output_tps[ok] / opts.layouts.gpus[ok]).max())
    return max(1, math.ceil(FIRST_MARGIN * demand_tps / per_gpu / size))


def _specs_estimated(spec) -> bool:
    from ..inputs.hardware import AcceleratorFile, load_accelerator

    acc = spec.accelerator
    return acc.estimated if isinstance(acc, AcceleratorFile) else load_accelerator(acc).estimated
