"""The Plan: what to deploy, where, and what it will do. Versioned JSON export.

A plan is built from evaluated options (cost-model arrays), the solver's
replica counts and pieces per domain, and the topology's GPU ids. Nothing
here searches; it only assembles and reports.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..inputs import units
from ..inputs.coverage import UNKNOWN, Coverage, coverage, family
from ..physics import engine_limits
from ..physics.candidates import Layouts
from ..physics.costmodel import BOTTLENECKS, Evaluation
from ..inputs.topology import Topology
from ..inputs.workload import Workload
from .document import SCHEMA_VERSION, document, dump, strict_dumps


def _r(x: float, nd: int = 4) -> float:
    """Round for display and stable JSON (significant digits)."""
    x = float(x)
    if not np.isfinite(x) or x == 0:
        return x if np.isfinite(x) else None  # type: ignore[return-value]
    return float(f"{x:.{nd}g}")


def layout_dict(row: dict[str, int]) -> dict[str, int]:
    return {"tp": row["tp"], "ep": row["ep"], "pp": row["pp"], "dp_attn": row["dp"]}


def option_metrics(ev: Evaluation, i: int) -> dict[str, Any]:
    """Metrics of one evaluated option (one layout at one batch), per replica."""
    g = float(ev.gpus[i])
    return {
        "gpus_used": int(g),
        "tpot_ms": _r(ev.tpot_s[i] / units.MS),
        "ttft_ms": _r(ev.ttft_s[i] / units.MS),
        "output_tokens_per_s": _r(ev.output_tps[i]),
        "output_tokens_per_s_per_gpu": _r(ev.output_tps[i] / g),
        "input_tokens_per_s": _r(ev.input_tps[i]),
        "tokens_per_s_per_user": _r(ev.tokens_per_s_per_user[i]),
        "usd_per_mtok_output": _r(ev.usd_per_mtok_output[i]),
        "usd_per_mtok_input": _r(ev.usd_per_mtok_input[i]),
        "usd_per_mtok_all_in": _r(ev.usd_per_mtok_all_in[i]),
        "usd_per_hour": _r(ev.usd_per_s[i] * 3600),
    }


def memory_dict(ev: Evaluation, i: int) -> dict[str, float]:
    gb = units.GB
    return {
        "weights": _r(ev.weights_bytes[i] / gb),
        "kv_cache": _r(ev.kv_bytes[i] / gb),
        "activations": _r(ev.activation_bytes[i] / gb),
        "reserve": _r(ev.reserve_bytes / gb),
        "total": _r(ev.memory_bytes[i] / gb),
        "capacity": _r(ev.capacity_bytes / gb),
    }


def breakdown_dict(ev: Evaluation, i: int) -> dict[str, float]:
    s, ms = ev.step, units.MS
    pick = lambda a: _r(np.broadcast_to(a, ev.batch.shape)[i] / ms)  # noqa: E731
    return {
        "stage_step": pick(s.stage_s),
        "compute": pick(s.compute_s),
        "memory_weights": pick(s.weights_s),
        "memory_kv": pick(s.kv_s),
        "comm_tp_allreduce": pick(s.tp_comm_s),
        "comm_moe_dispatch_combine": pick(s.ep_comm_s),
        "comm_pp_hops": pick(ev.pp_hops_s),
        "overhead": pick(s.overhead_s),
        "output_head": pick(s.head_s),
        "prefill": pick(ev.prefill_s),
        "queue": pick(ev.queue_s),
    }


def violations(ev: Evaluation, i: int) -> list[str]:
    out = []
    if not ev.fits_memory[i]:
        out.append(
            f"memory: {ev.memory_bytes[i] / units.GB:.1f} GB per GPU exceeds the usable {ev.capacity_bytes / units.GB:.1f} GB"
        )
    if not ev.meets_tpot[i]:
        out.append(f"tpot: {ev.tpot_s[i] / units.MS:.1f} ms exceeds the SLO {ev.tpot_limit_s / units.MS:.1f} ms")
    if not ev.meets_ttft[i]:
        out.append(f"ttft: {ev.ttft_s[i] / units.MS:.1f} ms exceeds the SLO {ev.ttft_limit_s / units.MS:.1f} ms")
    return out


# --------------------------------------------------------------------------- placement


def assign_gpus(topo: Topology, pieces_per_option: list[list[int]], chunk_sizes: list[int], reps: list[int]) -> list[list[list[int]]]:
    """Concrete GPU ids: for each option, for each replica, its GPU ids in
    piece order. Pieces of one replica land in distinct domains (dealt
    round-robin, possible because no domain holds more pieces of an option
    than there are replicas of it). Inside a domain the largest pieces are placed
    first and each keeps to whole hosts where it can (``_take``): an engine runs
    the same number of ranks on every node of an instance."""
    free = {j: topo.available_in(j) for j in range(topo.n_domains)}
    slots = [[j for j in range(len(counts)) for _ in range(counts[j])] for counts in pieces_per_option]
    order = sorted(((i, n) for i in range(len(slots)) for n in range(len(slots[i]))), key=lambda k: -chunk_sizes[k[0]])
    taken: dict[tuple[int, int], list[int]] = {}
    for i, n in order:
        j = slots[i][n]
        taken[i, n] = _take(free[j], chunk_sizes[i], topo.gpus_per_host)
        used = set(taken[i, n])
        free[j] = [g for g in free[j] if g not in used]
    out: list[list[list[int]]] = []
    for i in range(len(slots)):
        replicas: list[list[int]] = [[] for _ in range(reps[i])]
        for n in range(len(slots[i])):
            replicas[n % reps[i]].extend(taken[i, n])
        out.append(replicas)
    return out


def _take(free: list[int], size: int, per_host: int) -> list[int]:
    """``size`` of the ``free`` GPU ids (ascending): within the fullest host that holds
    them all when the piece fits on one host, else on hosts it has to itself, else
    the first free ones."""
    hosts: dict[int, list[int]] = {}
    for g in free:
        hosts.setdefault(g // per_host, []).append(g)
    if size <= per_host:
        fits = [h for h, gs in hosts.items() if len(gs) >= size]
        if fits:
            return hosts[min(fits, key=lambda h: (len(hosts[h]), h))][:size]
    elif size % per_host == 0:
        whole = [h for h, gs in hosts.items() if len(gs) == per_host]
        if len(whole) >= size // per_host:
            return [g for h in whole[: size // per_host] for g in hosts[h]]
    return free[:size]


def groups(gpu_ids: list[int], row: dict[str, int]) -> list[dict[str, Any]]:
    """Stage by stage: the TP groups of attention and the EP group of the experts."""
    stage = row["tp"] * row["dp"]
    stages = []
    for s in range(row["pp"]):
        ids = gpu_ids[s * stage:(s + 1) * stage]
        tp = row["tp"]
        moe_tp = stage // row["ep"]
        stages.append({
            "stage": s,
            "gpu_ids": ids,
            "tp_groups": [ids[k:k + tp] for k in range(0, stage, tp)],
            "ep_group": ids if row["ep"] > 1 else [],
            "expert_tp_groups": [ids[k:k + moe_tp] for k in range(0, stage, moe_tp)] if row["ep"] > 1 and moe_tp > 1 else [],
        })
    return stages


# --------------------------------------------------------------------------- the plan


@dataclass
class Plan:
    kind: str  # plan | evaluation
    status: str  # optimal | feasible | infeasible | violates
    inputs: dict[str, Any]
    replicas: list[dict[str, Any]]
    metrics: dict[str, Any]
    memory_per_gpu_gb: dict[str, Any]
    time_breakdown_ms: dict[str, Any]
    bottleneck: str
    binding_constraints: list[str]
    alternatives: list[dict[str, Any]]
    solver: dict[str, Any]
    violations: list[str] = field(default_factory=list)
    message: str = ""
    serving_economics: dict[str, Any] = field(default_factory=dict)  # prefix-cache prices and tiers (plan.economics)

    def document(self):
        """The typed document (:mod:`planner.plan.document`): what render and export read."""
        return document(self._raw())

    def to_dict(self) -> dict[str, Any]:
        """The typed document as plain JSON data."""
        return dump(self.document())

    def _raw(self) -> dict[str, Any]:
        return {
            "schema_version": SCHEMA_VERSION,
            "kind": self.kind,
            "status": self.status,
            "message": self.message,
            "inputs": self.inputs,
            "replicas": self.replicas,
            "metrics": self.metrics,
            "memory_per_gpu_gb": self.memory_per_gpu_gb,
            "time_breakdown_ms": self.time_breakdown_ms,
            "bottleneck": self.bottleneck,
            "binding_constraints": self.binding_constraints,
            "violations": self.violations,
            "alternatives": self.alternatives,
            "solver": self.solver,
            **({"serving_economics": self.serving_economics} if self.serving_economics else {}),
            "fidelity": self.coverage().to_dict(),
        }

    def coverage(self) -> Coverage:
        """The published cases that speak for this plan (its model family on its accelerator)."""
        return coverage(self.inputs["workload"].get("family") or UNKNOWN, self.inputs["topology"]["accelerator"])

    def to_json(self) -> str:
        """Strict JSON: no NaN or Infinity; a bound that does not exist is null."""
        return strict_dumps(self.to_dict())


def speculative_dict(w: Workload) -> dict[str, Any] | None:
    """The speculative-decoding settings a plan was costed with (None: off)."""
    if not w.spec_method:
        return None
    from ..physics.speculative import tokens_per_step

    return {"method": w.spec_method, "draft_tokens": w.spec_draft_tokens, "acceptance_rate": _r(w.spec_acceptance),
            "tokens_per_step": _r(tokens_per_step(w.spec_acceptance, w.spec_draft_tokens))}


def inputs_dict(w: Workload, topo: Topology, extra: dict[str, Any]) -> dict[str, Any]:
    return {
        "workload": {"name": w.name, "path": w.source_path, "sha256": w.sha256, "family": family(w)},
        "topology": {
            "name": topo.name,
            "path": topo.source_path,
            "sha256": topo.sha256,
            "domain_unit": topo.domain_unit,
            "gpus_per_host": topo.gpus_per_host,
            "domains": topo.n_domains,
            "gpus": topo.n_gpus,
            "unavailable_gpus": sorted(topo.unavailable),
            "accelerator": topo.accelerator.name,
        },
        "slo": {"ttft_ms": _r(w.ttft_s / units.MS), "tpot_ms": _r(w.tpot_s / units.MS)},
        "traffic": {"isl": w.isl, "osl": w.osl, "kv_len": w.kv_len, "cached_prefix_tokens": _r(w.cached_prefix_tokens),
                    "prefix_hit_rate": _r(w.prefix_hit_rate), "prefix_hold_s": _r(w.prefix_hold_s)},
        "precision": {"weights": w.weight_dtype, "weight_formats": w.weights.as_dict(), "kv_cache": w.kv_dtype, "activations": w.act_dtype},
        **({"speculative": speculative_dict(w)} if w.spec_method else {}),
        "price_usd_per_gpu_hour": topo.price_usd_per_gpu_hour,
        **extra,
        **({"engine": engine_limits.active()} if engine_limits.active() else {}),  # plan/evaluate --engine
    }


def bottleneck_name(ev: Evaluation, i: int) -> str:
    return BOTTLENECKS[int(np.broadcast_to(ev.bottleneck_index, ev.batch.shape)[i])]


def aggregate_metrics(per_option: list[tuple[dict[str, Any], int]]) -> dict[str, Any]:
    """Fleet-level metrics of a mix: sums of rates and dollars, worst latencies."""
    reps = [(m, n) for m, n in per_option if n > 0]
    gpus = sum(m["gpus_used"] * n for m, n in reps)
    out_tps = sum(m["output_tokens_per_s"] * n for m, n in reps)
    in_tps = sum(m["input_tokens_per_s"] * n for m, n in reps)
    usd_h = sum(m["usd_per_hour"] * n for m, n in reps)
    out_cost = sum(m["usd_per_mtok_output"] * m["output_tokens_per_s"] * n for m, n in reps)
    in_cost = sum(m["usd_per_mtok_input"] * m["input_tokens_per_s"] * n for m, n in reps)
    return {
        "replicas": sum(n for _, n in reps),
        "gpus_used": gpus,
        "tpot_ms": max(m["tpot_ms"] for m, _ in reps),
        "ttft_ms": max(m["ttft_ms"] for m, _ in reps),
        "output_tokens_per_s": _r(out_tps),
        "output_tokens_per_s_per_gpu": _r(out_tps / gpus),
        "input_tokens_per_s": _r(in_tps),
        "tokens_per_s_per_user": min(m["tokens_per_s_per_user"] for m, _ in reps),
        "usd_per_mtok_output": _r(out_cost / out_tps),
        "usd_per_mtok_input": _r(in_cost / in_tps) if in_tps else None,
        "usd_per_mtok_all_in": _r(usd_h / 3600 / out_tps * 1e6),
        "usd_per_hour": _r(usd_h),
    }


def replica_entries(
    rows: list[dict[str, int]], batches: list[int], gpu_ids: list[list[list[int]]], topo: Topology, per_option_metrics: list[dict]
) -> list[dict[str, Any]]:
    domain_of = {g: j for j, dom in enumerate(topo.domains) for g in dom}
    out = []
    for i, row in enumerate(rows):
        for ids in gpu_ids[i]:
            out.append({
                "id": len(out),
                "layout": layout_dict(row),
                "batch": int(batches[i]),
                "concurrency": int(batches[i] * row["pp"]),
                "gpu_ids": ids,
                "domains": sorted({domain_of[g] for g in ids}),
                "stages": groups(ids, row),
                "metrics": {k: per_option_metrics[i][k] for k in ("tpot_ms", "ttft_ms", "output_tokens_per_s")},
            })
    return out


def _layouts_rows(L: Layouts) -> list[dict[str, int]]:
    return [L.row(i) for i in range(len(L))]


def annotate_placement(replicas: list[dict[str, Any]], topo: Topology) -> list[dict[str, Any]]:
    """Add, in place, where every group of every replica sits: the hosts of the
    replica, and for each pipeline stage the domains and hosts it spans and the
    domains of each TP group and of the EP group, so an operator can map a plan
    to machines (host = GPU id // gpus_per_host, as in the topology graph)."""
    domain_of = {g: j for j, dom in enumerate(topo.domains) for g in dom}
    host = lambda g: g // topo.gpus_per_host  # noqa: E731
    span = lambda ids: sorted({domain_of[g] for g in ids})  # noqa: E731
    for r in replicas:
        r["hosts"] = sorted({host(g) for g in r["gpu_ids"]})
        for st in r.get("stages", []):
            st["domains"] = span(st["gpu_ids"])
            st["hosts"] = sorted({host(g) for g in st["gpu_ids"]})
            st["tp_group_domains"] = [span(grp) for grp in st["tp_groups"]]
            st["ep_group_domains"] = span(st["ep_group"]) if st["ep_group"] else []
    return replicas
