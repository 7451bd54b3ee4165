"""Launch commands for a fleet plan: one command set per (demand, inventory group),
each made by the single-plan exporter (:func:`planner.plan.export.launch_commands`)
from the fleet document's replicas, the demand's traffic and precisions and the
group's host size.

GPU ids in a fleet are local to their group, so every group gets its own host
placeholders (``${GB200_RACKS_HOST_0}``), and the sets that share a group share
its ports: two demands on one host never get the same port.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..inputs.errors import InputError
from .document import SCHEMA_VERSION
from .export import MODEL, Command, launch_commands
from .fleet_document import FleetDocument, FleetGroup, FleetWorkload


@dataclass(frozen=True)
class CommandSet:
    """The launch commands of one demand's replicas in one inventory group."""

    demand: str
    workload: str
    group: str
    topology: str
    gpus_per_host: int
    host_prefix: str
    commands: tuple[Command, ...]


def _word(name: str, empty: str) -> str:
    """``gb200-racks`` -> ``GB200_RACKS``: only [A-Z0-9_], safe inside a shell variable name."""
    return re.sub(r"[^A-Za-z0-9]+", "_", name).strip("_").upper() or empty


def host_prefix(group: str) -> str:
    """The host placeholder prefix of a group: ``${GB200_RACKS_HOST_0}``."""
    word = _word(group, "GROUP")
    return ("G_" if word[0].isdigit() else "") + word + "_"


def model_placeholder(demand: str) -> str:
    """Each demand serves its own checkpoint: ``$MODEL_CHAT_70B``."""
    return f"{MODEL}_{_word(demand, 'DEMAND')}"


def _prefixes(groups: list[FleetGroup]) -> dict[str, str]:
    """One distinct placeholder prefix per group, even when two names sanitise alike."""
    out: dict[str, str] = {}
    for g in groups:
        p = host_prefix(g.name)
        out[g.name] = p if p not in out.values() else f"{p[:-1]}{len(out)}_"
    return out


def _refuse_missing(doc: FleetDocument, override: int | None) -> None:
    old = [w.name for w in doc.workloads if w.traffic is None or w.precision is None]
    if old:
        raise InputError(
            f"plan: this fleet plan (schema {doc.schema_version}) does not record demand {old[0]!r}'s traffic and "
            f"precisions; re-run planner fleet (schema {SCHEMA_VERSION}) to export it"
        )
    if override is None and any(g.gpus_per_host is None for g in doc.groups):
        raise InputError(f"plan: this fleet plan (schema {doc.schema_version}) does not record GPUs per host; pass --gpus-per-host")


def _plan_of(doc: FleetDocument, w: FleetWorkload, g: FleetGroup, gph: int) -> dict:
    """The single-plan shape the exporter reads, for ``w``'s replicas in ``g``."""
    reps = [r for r in doc.replicas if r.demand == w.name and r.group == g.name]
    pooled = any(r.role in ("prefill", "decode") for r in reps)
    return {
        "schema_version": doc.schema_version,
        "kind": "plan",
        "inputs": {
            "workload": {"name": w.workload},
            "topology": {"name": g.topology, "gpus_per_host": gph},
            "traffic": w.traffic.model_dump(),
            "precision": w.precision.model_dump(),
        },
        "replicas": [r.model_dump(exclude_none=True, exclude={"demand", "group", "domains"}) for r in reps],
        **({"pools": {"prefill": {}, "decode": {}}} if pooled else {}),
    }


def fleet_commands(doc: FleetDocument, engine: str, *, model: str = MODEL, gpus_per_host_override: int | None = None) -> list[CommandSet]:
    """Every command set of the fleet, demand by demand, group by group (inventory order)."""
    if not doc.replicas:
        raise InputError(f"plan: no replicas to launch (status {doc.status!r})")
    _refuse_missing(doc, gpus_per_host_override)
    taken: dict[str, dict] = {g.name: {} for g in doc.groups}
    prefix = _prefixes(doc.groups)
    out = []
    for w in doc.workloads:
        for g in doc.groups:
            if not any(r.demand == w.name and r.group == g.name for r in doc.replicas):
                continue
            gph = gpus_per_host_override or g.gpus_per_host
            try:
                mine = model_placeholder(w.name) if model == MODEL else model
                cmds = launch_commands(_plan_of(doc, w, g, gph), engine, model=mine, gpus_per_host_override=gph,
                                       host_prefix=prefix[g.name], taken=taken[g.name])
            except InputError as exc:
                raise InputError(f"{exc} (demand {w.name!r}, group {g.name!r})") from None
            out.append(CommandSet(w.name, w.workload, g.name, g.topology, gph, prefix[g.name], tuple(cmds)))
    unknown = {r.group for r in doc.replicas} - {g.name for g in doc.groups}
    if unknown:
        raise InputError(f"plan: replicas name group {sorted(unknown)[0]!r}, which is not in the plan's groups")
    return out
