"""Run one scenario through :func:`planner.api.plan` and turn the outcome into a row.

This is all a worker (a pool process or a Ray task) executes. Workloads and
topologies are loaded once per process and reused: a scenario costs a plan, not
a file parse and an interpreter start. An infeasible scenario is a row with its
reason; one the time limit ended before any plan is a ``time-limit`` row; one
that raises is a row with its error; nothing escapes.
"""

from __future__ import annotations

import functools
import time
from collections import Counter
from typing import Any

from .columns import NAMES

MAX_REASON_CHARS = 2000


@functools.lru_cache(maxsize=256)
def _workload(ref: str):
    from ...inputs.query import load_workload

    return load_workload(ref)


@functools.lru_cache(maxsize=1024)
def _topology(ref: str, domains: int | None, price: float | None):
    from ...inputs.topology import build_topology

    return build_topology(ref, domains, price)


def _layouts(plan: dict[str, Any]) -> str:
    """Replicas grouped by (pool, layout, batch): '2x tp=4 ep=1 pp=1 dp_attn=1 b=64'."""
    groups: Counter[tuple[str, str, int]] = Counter()
    order: list[tuple[str, str, int]] = []
    for r in plan["replicas"]:
        lay = r["layout"]
        key = (r.get("role", ""), f"tp={lay['tp']} ep={lay['ep']} pp={lay['pp']} dp_attn={lay['dp_attn']}", int(r["batch"]))
        if key not in groups:
            order.append(key)
        groups[key] += 1
    return "; ".join(f"{role + ' ' if role else ''}{groups[k]}x {lay} b={b}" for k in order for role, lay, b in [k])


def _row(payload: dict[str, Any], status: str, elapsed_s: float, reason: str | None = None, plan: dict | None = None) -> dict[str, Any]:
    row: dict[str, Any] = dict.fromkeys(NAMES)
    row.update(payload["inputs"])
    row.update(scenario_id=payload["scenario_id"], scenario_index=payload["index"], source=payload["source"])
    row.update(status=status, reason=reason, elapsed_s=elapsed_s)
    if plan is not None:
        m = plan["metrics"]
        row.update(
            mode_chosen=plan["inputs"].get("mode"),
            layouts=_layouts(plan),
            replicas=m["replicas"],
            gpus_used=m["gpus_used"],
            usd_per_hour=m["usd_per_hour"],
            usd_per_mtok_input=m["usd_per_mtok_input"],
            usd_per_mtok_output=m["usd_per_mtok_output"],
            usd_per_mtok_all_in=m["usd_per_mtok_all_in"],
            ttft_ms=m["ttft_ms"],
            tpot_ms=m["tpot_ms"],
            output_tokens_per_s=m["output_tokens_per_s"],
            output_tokens_per_s_per_gpu=m["output_tokens_per_s_per_gpu"],
            tokens_per_s_per_user=m["tokens_per_s_per_user"],
            bottleneck=plan["bottleneck"],
            binding_constraints=",".join(plan["binding_constraints"]),
        )
    return row


def run_one(payload: dict[str, Any]) -> dict[str, Any]:
    """The row of one scenario (a payload from :func:`payload`). Never raises."""
    from ... import api
    from ...inputs.errors import InfeasibleError, TimeLimitError

    start = time.perf_counter()
    try:
        q = dict(payload["query"])
        w = _workload(payload["workload_ref"])
        topo = _topology(payload["topology_ref"], q.pop("domains"), q.pop("price_per_gpu_hour"))
        p = api.plan(
            w, topo, api.Query(**q), demand_tps=payload["demand_tps"], time_limit_s=payload["time_limit_s"], mode=payload["mode"],
        )
        # the fields a row needs, read off the Plan (no JSON document is built per scenario)
        fields = {"inputs": p.inputs, "metrics": p.metrics, "replicas": p.replicas, "bottleneck": p.bottleneck,
                  "binding_constraints": p.binding_constraints}
        return _row(payload, p.status, time.perf_counter() - start, plan=fields)
    except InfeasibleError as exc:
        return _row(payload, "infeasible", time.perf_counter() - start, reason=str(exc)[:MAX_REASON_CHARS])
    except TimeLimitError as exc:  # no plan and no proof within the scenario's limit: not a failure of the input
        return _row(payload, "time-limit", time.perf_counter() - start, reason=str(exc)[:MAX_REASON_CHARS])
    except Exception as exc:  # noqa: BLE001 - a scenario that raises is recorded; the sweep goes on
        text = f"{type(exc).__name__}: {exc}".splitlines()[0] if str(exc) else type(exc).__name__
        return _row(payload, "error", time.perf_counter() - start, reason=text[:MAX_REASON_CHARS])


def failed_row(payload: dict[str, Any], reason: str) -> dict[str, Any]:
    """The row of a scenario whose worker could not report (it died)."""
    return _row(payload, "error", 0.0, reason=reason)


def run_chunk(payloads: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [run_one(p) for p in payloads]


def payload(sc) -> dict[str, Any]:
    """A scenario as plain data (pickles small; crosses to Ray workers)."""
    return {
        "scenario_id": sc.scenario_id, "index": sc.index, "source": sc.source, "workload_ref": sc.workload_ref,
        "topology_ref": sc.topology_ref, "query": sc.query, "demand_tps": sc.demand_tps, "mode": sc.mode,
        "time_limit_s": sc.time_limit_s, "inputs": sc.inputs,
    }
