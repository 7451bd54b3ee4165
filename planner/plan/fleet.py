"""Fleet planning: several workloads, each with a throughput demand and SLOs,
on an inventory of racks/nodes of several generations.

    from planner.plan import fleet
    f = fleet.plan_fleet("examples/inventory.yaml", "examples/demands.yaml", time_limit_s=60)
    print(f.status, f.usd_per_hour, f.binding)

Each inventory group is one topology file (accelerator, domain size, links,
efficiency) times a count of domains, with its own price and failed GPUs. For
every (workload, group) pair the cost model rates every layout at its best
batch (:func:`planner.api.options`, on a few domains of the group: enough for
the widest replica); the cheapest option of each placement shape goes to the
solver (:mod:`planner.search.fleet_model`). Domains that lost the same number of
GPUs form one class, so the model's size does not grow with the fleet.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal, Optional

from pydantic import Field, NonNegativeInt, PositiveFloat, PositiveInt, model_validator

from ..inputs import units
from ..inputs.datafiles import read_yaml
from ..inputs.errors import InputError
from ..inputs.ranges import MAX_FLEET_DOMAINS, DEMAND_TPS, FLEET_DOMAINS, FLEET_DOMAINS_ID, GPU_ID, PRICE_USD_PER_GPU_HOUR, SLO_MS, TOKENS
from ..inputs.schema import Strict, validate
from ..search import deadline
from .fleet_build import build_problem, report
from .fleet_result import FleetPlan

MAX_DOMAINS_PER_GROUP = MAX_FLEET_DOMAINS  # 7.2M GPUs of NVL72 racks: beyond any fleet this plans
MAX_DEMAND_TPS = DEMAND_TPS.hi  # output tokens/s; far above any fleet's compute ceiling, keeps solver integers in range
MAX_REPLICA_GPUS = 288  # replicas up to this size are considered (EP144 x PP2, four NVL72 racks)

# --------------------------------------------------------------------------- files


class GroupFile(Strict):
    name: str = Field(min_length=1)
    topology: str = Field(min_length=1)  # shipped topology name or a topology YAML
    count: FLEET_DOMAINS.type  # scale-up domains (racks or nodes)
    price_usd_per_gpu_hour: Optional[PRICE_USD_PER_GPU_HOUR.type] = None  # default: the topology's price
    price_source: str = ""
    unavailable_gpus: list[GPU_ID.type] = Field([], max_length=10_000_000)  # group-local ids: domain d holds d*size .. d*size+size-1
    unavailable_domains: list[FLEET_DOMAINS_ID.type] = Field([], max_length=MAX_DOMAINS_PER_GROUP)  # whole racks/nodes out of service

    @model_validator(mode="after")
    def _sourced(self) -> "GroupFile":
        if self.price_usd_per_gpu_hour is not None and not self.price_source.strip():
            raise ValueError("price_source is required with price_usd_per_gpu_hour: every number needs its source")
        return self


class InventoryFile(Strict):
    name: str
    description: str = ""
    groups: list[GroupFile] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique(self) -> "InventoryFile":
        names = [g.name for g in self.groups]
        dup = {n for n in names if names.count(n) > 1}
        if dup:
            raise ValueError(f"group names must be unique (repeated: {', '.join(sorted(dup))})")
        return self


class DemandFile(Strict):
    name: str = Field(min_length=1)
    workload: str = Field(min_length=1)  # shipped workload name, workload YAML or HF config.json
    output_tokens_per_s: DEMAND_TPS.type
    isl: Optional[TOKENS.type] = None
    osl: Optional[TOKENS.type] = None
    ttft_ms: Optional[SLO_MS.type] = None
    tpot_ms: Optional[SLO_MS.type] = None
    groups: Optional[list[str]] = None  # restrict to these inventory groups
    mode: Literal["agg", "disagg"] = "agg"  # disagg: separate prefill and decode pools (KV over scale-out)


class DemandsFile(Strict):
    name: str = ""
    description: str = ""
    demands: list[DemandFile] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique(self) -> "DemandsFile":
        names = [d.name for d in self.demands]
        dup = {n for n in names if names.count(n) > 1}
        if dup:
            raise ValueError(f"demand names must be unique (repeated: {', '.join(sorted(dup))})")
        return self


def _load(model, ref: str | Path):
    path = Path(ref)
    if not path.exists():
        raise InputError(f"{ref}: no such file")
    return validate(model, read_yaml(path).data, path), str(path)


def load_inventory(ref: str | Path) -> InventoryFile:
    return _load(InventoryFile, ref)[0]


def load_demands(ref: str | Path) -> DemandsFile:
    return _load(DemandsFile, ref)[0]


# --------------------------------------------------------------------------- the plan


@dataclass(frozen=True)
class _Group:
    spec: GroupFile
    topo: Any  # Topology of a few domains: what the cost model needs
    domain_size: int
    free: tuple[int, ...]  # free GPUs per domain
    down: frozenset[int]  # unavailable group-local GPU ids (incl. whole domains)


def _group(g: GroupFile, path: str) -> _Group:
    from ..inputs.topology import build_topology

    try:
        probe = build_topology(g.topology, 1, g.price_usd_per_gpu_hour)
    except InputError as exc:
        raise InputError(f"{path}: group {g.name!r}: {exc}") from None
    size = probe.domain_size
    n = math.ceil(MAX_REPLICA_GPUS / size)
    topo = build_topology(g.topology, min(g.count, n), g.price_usd_per_gpu_hour) if min(g.count, n) > 1 else probe
    total = g.count * size
    bad = [i for i in g.unavailable_gpus if i >= total] + [d for d in g.unavailable_domains if d >= g.count]
    if bad:
        raise InputError(f"{path}: group {g.name!r}: unavailable id {bad[0]} is outside the group's {g.count} domains of {size} GPUs")
    down = set(g.unavailable_gpus) | {d * size + k for d in g.unavailable_domains for k in range(size)}
    lost = [0] * g.count
    for i in down:
        lost[i // size] += 1
    return _Group(g, topo, size, tuple(size - x for x in lost), frozenset(down))


def plan_fleet(inventory: str | Path, demands: str | Path, time_limit_s: float = 60.0, workers: int = 2,
               on_step=None, engine: str | None = None) -> FleetPlan:
    """Layouts, replica counts and placement for every demand at least $/hour.
    ``on_step(label)`` is called after each demand's layouts are rated and before the solve.
    ``engine``: only layouts that engine launches (planner.physics.engine_limits),
    priced with its measured kernel costs (hardware/engines.yaml)."""
    from ..physics import engine_limits

    if not time_limit_s > 0:
        raise InputError(f"--time-limit must be positive (got {time_limit_s})")
    engine_limits.check(engine)
    with deadline.limit(time_limit_s), engine_limits.only(engine):  # the limit covers the whole call
        f = _plan_fleet(inventory, demands, time_limit_s, workers, on_step)
    return replace(f, engine=engine) if engine else f


def _plan_fleet(inventory, demands, time_limit_s: float, workers: int, on_step) -> FleetPlan:
    deadline.part("loading the inventory and the demands")
    inv, inv_path = _load(InventoryFile, inventory)
    dem, dem_path = _load(DemandsFile, demands)
    names = {g.name for g in inv.groups}
    for d in dem.demands:
        for gname in d.groups or []:
            if gname not in names:
                raise InputError(f"{dem_path}: demand {d.name!r}: unknown group {gname!r}; inventory groups: {', '.join(sorted(names))}")
    groups = [_group(g, inv_path) for g in inv.groups]
    built = build_problem(groups, dem.demands, dem_path, time_limit_s, workers, on_step)
    return _with_launch_facts(report(built, groups, dem.demands), groups, dem.demands, dem_path)


def _with_launch_facts(plan: FleetPlan, groups: list[_Group], demands, path: str) -> FleetPlan:
    """What a launch command needs beyond the placement: each demand's traffic,
    precisions and SLOs (after its overrides) and each group's GPUs per host; and
    what the cost model was checked against on each group a demand runs on."""
    from ..inputs.coverage import coverage, family
    from ..inputs.query import load_workload
    from ..inputs.workload import with_overrides
    from .assembly import _r

    accelerator = {g.spec.name: g.topo.accelerator.name for g in groups}
    rows = []
    for row, dem in zip(plan.workloads, demands):
        try:
            w = with_overrides(load_workload(dem.workload), isl=dem.isl, osl=dem.osl, ttft_ms=dem.ttft_ms, tpot_ms=dem.tpot_ms)
        except InputError as exc:
            raise InputError(f"{path}: demand {dem.name!r}: {exc}") from None
        rows.append({**row, "traffic": {"isl": w.isl, "osl": w.osl, "kv_len": w.kv_len},
                     "precision": {"weights": w.weight_dtype, "weight_formats": w.weights.as_dict(), "kv_cache": w.kv_dtype, "activations": w.act_dtype},
                     "slo": {"ttft_ms": _r(w.ttft_s / units.MS), "tpot_ms": _r(w.tpot_s / units.MS)},
                     "fidelity": [{"group": g, **coverage(family(w), accelerator[g]).to_dict()}
                                  for g in sorted({r["group"] for r in row["replicas"]})]})
    hosts = [{**row, "gpus_per_host": g.topo.gpus_per_host} for row, g in zip(plan.groups, groups)]
    return replace(plan, workloads=rows, groups=hosts)


def check(plan: FleetPlan) -> list[str]:
    """Invariants of a placed fleet plan; empty when all hold (used by tests)."""
    problems = []
    seen: dict[tuple[str, int], int] = {}
    for r in plan.replicas:
        for g in r["gpu_ids"]:
            key = (r["group"], g)
            if key in seen:
                problems.append(f"GPU {g} of {r['group']} used by replicas {seen[key]} and {r['id']}")
            seen[key] = r["id"]
    for grp in plan.groups:
        used_down = [g for g in grp.get("unavailable_gpu_ids", []) if (grp["name"], g) in seen]
        if used_down:
            problems.append(f"unavailable GPU {used_down[0]} of {grp['name']} is used")
    if plan.status in ("optimal", "feasible"):
        for w in plan.workloads:
            if w["served_output_tokens_per_s"] < w["demand_output_tokens_per_s"]:
                problems.append(f"demand {w['name']} not met")
    return problems
