"""Reading a plan JSON for the engine exporter: each replica's role, layout,
batch, context length and GPU ids, validated with one-line errors, and the
topology's GPUs per host."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..inputs.errors import InputError, shown_value
from ..inputs.ranges import BATCH, MAX_GPUS, PARALLEL

ROLES = ("aggregated", "prefill", "decode")


# --------------------------------------------------------------------------- the plan


@dataclass(frozen=True)
class Replica:
    id: int
    role: str
    tp: int
    ep: int
    pp: int
    dp: int
    batch: int
    concurrency: int
    groups: tuple[tuple[tuple[int, ...], ...], ...]  # per stage: its attention TP groups
    experts: tuple[tuple[tuple[int, ...], ...], ...]  # per stage: its expert-TP groups (may be empty)

    @property
    def stage_gpus(self) -> int:
        return self.tp * self.dp


def int_field(d: dict, key: str, where: str, minimum: int = 1, maximum: int = 10**9) -> int:
    v = d.get(key) if isinstance(d, dict) else None
    if isinstance(v, bool) or not isinstance(v, int) or not minimum <= v <= maximum:
        raise InputError(f"plan: {where}.{key} must be an integer from {minimum} to {maximum:,} (got {shown_value(v)})")
    return v


def section(d: dict, key: str, prefix: str = "") -> dict:
    """An optional object of the plan (``inputs``, ``inputs.traffic``): {} if absent."""
    v = d.get(key) if isinstance(d, dict) else None
    if v is None:
        return {}
    if not isinstance(v, dict):
        raise InputError(f"plan: {prefix}{key} must be an object")
    return v


def _gpu_id(g: Any) -> bool:
    return isinstance(g, int) and not isinstance(g, bool) and 0 <= g < 10_000_000


def _id_groups(groups: Any) -> bool:
    return isinstance(groups, list) and all(isinstance(grp, list) and all(_gpu_id(g) for g in grp) for grp in groups)


def _replica(r: Any, i: int, disagg: bool) -> Replica:
    where = f"replicas[{i}]"
    if not isinstance(r, dict):
        raise InputError(f"plan: {where} is not an object")
    lay = r.get("layout")
    tp, ep, pp, dp = (int_field(lay, k, f"{where}.layout", maximum=MAX_GPUS) for k in ("tp", "ep", "pp", "dp_attn"))
    batch = int_field(r, "batch", where, maximum=BATCH.hi)
    conc = r.get("concurrency", batch * pp)
    role = r.get("role", "aggregated")
    if role not in ROLES or (disagg and role == "aggregated"):
        raise InputError(f"plan: {where}.role must be prefill or decode in a plan with pools (got {shown_value(role)})")
    ids = r.get("gpu_ids")
    if not isinstance(ids, list) or len(ids) != tp * dp * pp or not all(_gpu_id(g) for g in ids) or len(set(ids)) != len(ids):
        raise InputError(f"plan: {where}.gpu_ids must list {tp * dp * pp} distinct GPU ids (tp*dp_attn*pp)")
    S = tp * dp
    stages = r.get("stages") or [{"gpu_ids": ids[s * S:(s + 1) * S]} for s in range(pp)]
    if not isinstance(stages, list) or len(stages) != pp:
        raise InputError(f"plan: {where}.stages must hold {pp} pipeline stages")
    groups, experts = [], []
    for s, st in enumerate(stages):
        st = st if isinstance(st, dict) else {}
        sid = st.get("gpu_ids") or ids[s * S:(s + 1) * S]
        if not isinstance(sid, list) or not all(_gpu_id(g) for g in sid):
            raise InputError(f"plan: {where}.stages[{s}].gpu_ids must be a list of GPU ids")
        tpg = st.get("tp_groups") or [sid[k:k + tp] for k in range(0, len(sid), tp)]
        if not _id_groups(tpg):
            raise InputError(f"plan: {where}.stages[{s}].tp_groups must be a list of lists of GPU ids")
        if sorted(g for grp in tpg for g in grp) != sorted(ids[s * S:(s + 1) * S]) or any(len(grp) != tp for grp in tpg):
            raise InputError(f"plan: {where}.stages[{s}].tp_groups must split that stage's {S} GPUs into groups of tp={tp}")
        eg = st.get("expert_tp_groups") or []
        if not _id_groups(eg):
            raise InputError(f"plan: {where}.stages[{s}].expert_tp_groups must be a list of lists of GPU ids")
        if eg and (len(eg) != ep or sorted(g for grp in eg for g in grp) != sorted(sid)):
            raise InputError(f"plan: {where}.stages[{s}].expert_tp_groups must split the stage into ep={ep} groups")
        groups.append(tuple(tuple(g) for g in tpg))
        experts.append(tuple(tuple(g) for g in eg))
    if isinstance(conc, bool) or not isinstance(conc, int) or not 1 <= conc <= BATCH.hi:
        raise InputError(f"plan: {where}.concurrency must be a positive integer")
    rid = int_field(r, "id", where, minimum=0) if "id" in r else i
    return Replica(rid, role, tp, ep, pp, dp, batch, conc, tuple(groups), tuple(experts))


def plan_replicas(plan: Any) -> list[Replica]:
    if not isinstance(plan, dict):
        raise InputError("plan: expected a JSON object at the top level")
    version = str(plan.get("schema_version", ""))
    if version.split(".")[0] != "1":
        raise InputError(f"plan: schema_version {version or 'missing'} is not 1.x; write the plan with this planner")
    reps = plan.get("replicas")
    if isinstance(reps, list) and len(reps) > MAX_GPUS:
        raise InputError(f"plan: {len(reps):,} replicas, more than the {MAX_GPUS:,} GPUs a plan can hold")
    if not isinstance(reps, list) or not reps:
        raise InputError(f"plan: no replicas to launch (status {plan.get('status', 'unknown')!r})")
    disagg = isinstance(plan.get("pools"), dict) and bool(plan.get("pools"))
    return [_replica(r, i, disagg) for i, r in enumerate(reps)]


def gpus_per_host(plan: dict, override: int | None = None) -> int:
    """From --gpus-per-host, the plan, or the topology file the plan names."""
    from ..inputs.datafiles import read_yaml, resolve

    if override is not None:
        return PARALLEL.check("--gpus-per-host", override)
    topo = section(section(plan, "inputs"), "topology", "inputs.")
    if "gpus_per_host" in topo:
        return int_field(topo, "gpus_per_host", "inputs.topology", maximum=MAX_GPUS)
    for ref in (topo.get("path"), topo.get("name")):
        if isinstance(ref, str) and ref:
            try:
                value = read_yaml(resolve("topologies", ref)).data.get("gpus_per_host")
            except InputError:
                continue
            if isinstance(value, int) and value > 0:
                return value
    raise InputError("plan: inputs.topology names no readable topology file with gpus_per_host; pass --gpus-per-host")
