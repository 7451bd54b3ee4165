"""The Python API: what the CLI calls, and what a notebook calls the same way.

    from planner import api
    p = api.plan("deepseek-v3", "gb200-nvl72", api.Query(tpot_ms=50))
    print(p.metrics["usd_per_mtok_all_in"])  # the objective: all-in $ per million output tokens
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from .physics import engine_limits
from .physics.candidates import Layouts, pinned_layout
from .physics.costmodel import evaluate as evaluate_arrays, max_feasible_batch, throughput_ceiling_tps
from .inputs.errors import InfeasibleError, InputError, PlannerError, TimeLimitError, one_line
from .inputs.ranges import BATCH, DEMAND_TPS, GPU_BUDGET, PARALLEL, TIME_LIMIT_S
from .plan.economics import economics
from .plan.assembly import (
    Plan,
    aggregate_metrics,
    annotate_placement,
    assign_gpus,
    bottleneck_name,
    breakdown_dict,
    inputs_dict,
    layout_dict,
    memory_dict,
    option_metrics,
    replica_entries,
    violations,
)
from .search.options import Options, batch_binding, explain_infeasible, options, pick_for_solver  # noqa: F401  (part of the API)
from .inputs.query import Query, load, load_workload, query_dict  # noqa: F401  (part of the API)
from .search import deadline, problem as core
from .search.control import WALL_LIMIT
from .search.loop import solve, summary
from .inputs.topology import Topology
from .inputs.workload import Workload

MODES = ("auto", "agg", "disagg")
N_ALTERNATIVES = 5


def plan(
    workload: str | Workload,
    topology: str | Topology,
    query: Query | None = None,
    *,
    objective: str = "cost",
    demand_tps: float | None = None,
    max_gpus: int | None = None,
    time_limit_s: float = 10.0,
    mode: str = "auto",
    engine: str | None = None,
) -> Plan:
    """Best layouts, replica counts and GPU placement. Raises InfeasibleError (one
    line naming the binding constraint) when nothing meets the limits.

    ``engine`` (vllm, sglang, trtllm): only layouts that engine launches
    (planner.physics.engine_limits), so that the plan exports for it, priced with
    its measured kernel costs (hardware/engines.yaml).

    ``mode``: ``agg`` (prefill and decode share replicas), ``disagg`` (separate
    prefill and decode pools, see planner.physics.disagg), or ``auto`` (the cheaper).

    ``time_limit_s`` covers the whole call (a command's limit, when one is set,
    covers the command; see planner.search.deadline): past it, the best plan
    found with its gap (``solver.stopped_by: wall-clock limit``), or
    TimeLimitError (exit 4) when there is none."""
    TIME_LIMIT_S.check("--time-limit", time_limit_s)
    engine_limits.check(engine)
    with deadline.limit(time_limit_s), engine_limits.only(engine):
        p = _plan(workload, topology, query, objective, demand_tps, max_gpus, time_limit_s, mode)
    why = _export_refusal(p, engine)
    if why:
        raise InfeasibleError(f"engine: the cheapest plan places a replica {engine} cannot launch ({why}); "
                              "mark whole hosts unavailable or drop --engine")
    return p


def _export_refusal(p: Plan, engine: str | None) -> str | None:
    """The exporter's own check (None: it launches, or no engine was named). The layout
    limits are read before the search, but where a replica lands (GPUs left out by
    --unavailable) can still split it over hosts unevenly."""
    if engine is None:
        return None
    from .plan.export import launch_commands

    try:
        launch_commands(p.to_dict(), engine)
    except InputError as exc:
        return str(exc)
    return None


def _load(workload, topology, q: Query):
    """The workload and topology, with the measured kernel costs of the engine a
    plan is asked for (``--engine``; hardware/engines.yaml) on the topology's factors."""
    w, topo = load(workload, topology, q)
    return w, engine_limits.with_active_engine(topo)


def _plan(workload, topology, query, objective, demand_tps, max_gpus, time_limit_s: float, mode: str) -> Plan:
    q = query or Query()
    deadline.part(f"loading {_name(workload)} and {_name(topology)}")
    w, topo = _load(workload, topology, q)
    if mode not in MODES:
        raise InputError(f"--mode must be one of {', '.join(MODES)} (got {mode!r})")
    if objective not in ("cost", "throughput") and not (objective == "demand" and demand_tps is not None):
        raise InputError(f"--objective must be cost or throughput (got {one_line(objective, 40)!r}); to serve a rate at least cost give --demand-tps")
    if demand_tps is not None:
        DEMAND_TPS.check("--demand-tps", demand_tps)
        objective = "demand"
    GPU_BUDGET.check("--gpus", max_gpus)
    if demand_tps is not None:
        n_gpus = min(max_gpus or topo.n_available, topo.n_available)
        ceiling = throughput_ceiling_tps(w, topo, n_gpus)
        if demand_tps > ceiling:
            fix = "raise --gpus" if n_gpus < topo.n_available else f"add {topo.domain_flag}"
            raise InfeasibleError(
                f"demand: {demand_tps:.3g} output tokens/s exceeds {ceiling:.3g}, the compute ceiling of "
                f"{n_gpus} GPUs of {topo.name} (2 FLOPs per active parameter per token at peak): {fix}"
            )
    if mode != "agg":
        p = _plan_modes(w, topo, mode, objective, demand_tps, max_gpus, time_limit_s)
    else:
        p = _plan_agg(w, topo, objective, demand_tps, max_gpus, time_limit_s)
    p.serving_economics = economics(w, topo, p.metrics)
    return p


def _name(ref) -> str:
    return one_line(getattr(ref, "name", ref), 60)


def _where(topo: Topology) -> str:
    return f"{topo.n_domains} {topo.domain_unit}{'s' if topo.n_domains != 1 else ''} of {topo.name}"


def _plan_agg(w: Workload, topo: Topology, objective: str, demand_tps, max_gpus, time_limit_s: float) -> Plan:
    deadline.check()
    deadline.part(f"rating the aggregated layouts of {w.name} on {_where(topo)}")
    opts = options(w, topo, max_gpus)
    if not opts.feasible.any():
        raise InfeasibleError(explain_infeasible(w, topo, opts, max_gpus))
    picked = pick_for_solver(opts)  # past the deadline the solve keeps the greedy plan, if there is one
    deadline.part(f"the CP-SAT solve of {len(picked)} aggregated layouts over {_where(topo)}")
    L, ev = opts.layouts, opts.ev
    problem = core.Problem(
        options=tuple(
            core.Option(core.AGG, int(L.gpus[i]), int(L.chunks[i]), float(ev.output_tps[i]), float(ev.usd_per_s[i])) for i in picked
        ),
        classes=core.classes_of([len(topo.available_in(j)) for j in range(topo.n_domains)]),
        objective=objective,
        demand_tps=(demand_tps,) if demand_tps is not None else (),
        max_gpus=max_gpus,
        budget=core.budget_for(time_limit_s),
        rel_gap=0.0,
        names=("output tokens/s (--demand-tps, or the hardware's rates)", "--price-per-gpu-hour"),
    )
    sol = solve(problem)
    if sol.status == "unknown":
        raise TimeLimitError(deadline.message())
    if sol.status == "infeasible":
        if objective == "demand":
            cap = solve(replace(problem, objective="throughput", demand_tps=()))
            # proven either way; the capacity is a number only where the throughput solve proved it
            most = f"the {cap.objective:.0f} tokens/s that" if cap.status == "optimal" else "what"
            raise InfeasibleError(
                f"demand: {demand_tps:.0f} output tokens/s exceeds {most} "
                f"{topo.n_available} available GPUs of {topo.name} can serve within the SLOs: add {topo.domain_flag}"
            )
        raise InfeasibleError(f"topology: no feasible layout fits the free GPUs of any {topo.domain_unit} of {topo.name}")
    deadline.part("assembling the plan")
    p = _assemble(w, topo, opts, picked, sol, problem, objective, demand_tps, max_gpus)
    annotate_placement(p.replicas, topo)
    return p


def _assemble(w, topo, opts: Options, picked, sol, problem, objective, demand_tps, max_gpus) -> Plan:
    L, ev = opts.layouts, opts.ev
    used = [k for k, n in enumerate(sol.replicas) if n > 0]
    idx = [picked[k] for k in used]
    rows = [L.row(i) for i in idx]
    per = [option_metrics(ev, i) for i in idx]
    gpu_ids = assign_gpus(
        topo, [[sol.pieces[k].get(j, 0) for j in range(topo.n_domains)] for k in used], [int(L.chunk_gpus[i]) for i in idx],
        [sol.replicas[k] for k in used],
    )
    main = max(range(len(idx)), key=lambda k: per[k]["gpus_used"] * sol.replicas[used[k]])
    i0 = idx[main]
    binding = sorted({b for i, r in zip(idx, rows) for b in batch_binding(w, topo, L.take([i]), int(opts.batch[i]))})
    total_gpus = sum(per[k]["gpus_used"] * sol.replicas[used[k]] for k in range(len(idx)))
    limit = max_gpus if max_gpus is not None else topo.n_available
    if limit - total_gpus < min(o.piece for o in problem.options):
        binding.append("gpus")
    chosen = {tuple(sorted(layout_dict(r).items())) for r in rows}
    alternatives = []
    for i in opts.ranked():
        key = tuple(sorted(layout_dict(L.row(i)).items()))
        if key in chosen:
            continue
        chosen.add(key)
        alternatives.append({"layout": layout_dict(L.row(i)), "batch": int(opts.batch[i]), "bottleneck": bottleneck_name(ev, i), **option_metrics(ev, i)})
        if len(alternatives) >= N_ALTERNATIVES:
            break
    extra = {"objective": objective, "demand_tps": demand_tps, "max_gpus": max_gpus, "mode": "aggregated"}
    return Plan(
        kind="plan",
        status=sol.status,
        inputs=inputs_dict(w, topo, extra),
        replicas=replica_entries(rows, [int(opts.batch[i]) for i in idx], gpu_ids, topo, per),
        metrics=aggregate_metrics([(per[k], sol.replicas[used[k]]) for k in range(len(idx))]),
        memory_per_gpu_gb=memory_dict(ev, i0),
        time_breakdown_ms=breakdown_dict(ev, i0),
        bottleneck=bottleneck_name(ev, i0),
        binding_constraints=binding,
        alternatives=alternatives,
        solver={
            **summary(sol, objective),
            "options_considered": len(L),
            "options_to_solver": len(picked),
        },
    )


def evaluate(
    workload: str | Workload,
    topology: str | Topology,
    query: Query | None = None,
    *,
    tp: int = 1,
    pp: int = 1,
    dp_attn: int = 1,
    ep: int = 1,
    batch: int | None = None,
    engine: str | None = None,
) -> Plan:
    """One pinned layout. Without ``batch``, the largest that meets the limits.
    A layout that breaks a limit is still reported, with ``violations``; with
    ``engine``, a layout that engine cannot launch is one of them."""
    engine_limits.check(engine)
    with engine_limits.only(engine):
        p = _evaluate(workload, topology, query, tp, pp, dp_attn, ep, batch)
    why = _export_refusal(p, engine)
    if why:
        p.violations = [*p.violations, f"engine: {why}"]
        p.status, p.binding_constraints = "violates", []
    return p


def _evaluate(workload, topology, query, tp: int, pp: int, dp_attn: int, ep: int, batch: int | None) -> Plan:
    q = query or Query()
    for flag, value in (("--tp", tp), ("--pp", pp), ("--dp-attn", dp_attn), ("--ep", ep)):
        PARALLEL.check(flag, value)
    if batch is not None and batch < 1:
        raise InputError(f"--batch must be at least 1 (got {batch})")
    BATCH.check("--batch", batch)
    w, topo = _load(workload, topology, q)
    L = pinned_layout(w, topo, tp, pp, dp_attn, ep)
    if batch is not None and batch % dp_attn:
        raise InputError(f"--batch {batch} is not a multiple of --dp-attn {dp_attn}")
    chosen = batch if batch is not None else int(max_feasible_batch(w, topo, L)[0])
    auto_failed = chosen == 0
    b = max(chosen, dp_attn)
    ev = evaluate_arrays(w, topo, L, np.array([b]))
    viol = violations(ev, 0)
    per = option_metrics(ev, 0)
    ids = assign_gpus(topo, [_first_fit(topo, L)], [int(L.chunk_gpus[0])], [1])
    rows = [L.row(0)]
    message = ""
    if auto_failed:
        message = "no batch meets every limit; shown at the smallest batch"
    return _econ(w, topo, Plan(
        kind="evaluation",
        status="violates" if viol else "ok",
        message=message,
        inputs=inputs_dict(w, topo, {"batch": batch, "mode": "aggregated"}),
        replicas=annotate_placement(replica_entries(rows, [b], ids, topo, [per]), topo),
        metrics={**per, "replicas": 1, "concurrency": int(b * pp)},
        memory_per_gpu_gb=memory_dict(ev, 0),
        time_breakdown_ms=breakdown_dict(ev, 0),
        bottleneck=bottleneck_name(ev, 0),
        binding_constraints=[] if viol else batch_binding(w, topo, L, b),
        alternatives=[],
        solver={},
        violations=viol,
    ))


def _econ(w: Workload, topo: Topology, p: Plan) -> Plan:
    p.serving_economics = economics(w, topo, p.metrics)
    return p


def _first_fit(topo: Topology, L: Layouts) -> list[int]:
    """Pieces per domain for one replica: the first domains with room, as many pieces
    in a domain as it has room for (the planner's packing allows that too)."""
    size, k = int(L.chunk_gpus[0]), int(L.chunks[0])
    counts = [0] * topo.n_domains
    for j in range(topo.n_domains):
        fit = min(k, len(topo.available_in(j)) // size)
        counts[j], k = fit, k - fit
    if k:
        raise InfeasibleError(
            f"topology: layout needs {int(L.chunks[0])} {topo.domain_unit}s with {size} free GPUs each; "
            f"{topo.name} has too few: add {topo.domain_flag}"
        )
    return counts


# --------------------------------------------------------------------------- serving modes


def _plan_modes(w: Workload, topo: Topology, mode: str, objective: str, demand_tps, max_gpus, time_limit_s: float) -> Plan:
    """``disagg``: the pooled plan. ``auto``: both modes, the better objective wins
    (ties go to aggregated, the simpler deployment); both figures are reported."""
    from .plan.disagg_plan import plan_disagg

    if mode == "disagg":
        return plan_disagg(w, topo, objective=objective, demand_tps=demand_tps, max_gpus=max_gpus, time_limit_s=time_limit_s)
    found: dict[str, Plan] = {}
    errors: dict[str, PlannerError] = {}
    for name, run in (
        ("aggregated", lambda: _plan_agg(w, topo, objective, demand_tps, max_gpus, time_limit_s / 2)),
        ("disaggregated", lambda: plan_disagg(w, topo, objective=objective, demand_tps=demand_tps, max_gpus=max_gpus, time_limit_s=time_limit_s / 2)),
    ):
        try:
            found[name] = run()
        except (InfeasibleError, TimeLimitError) as exc:  # a mode the deadline stopped: the other's plan, not proven best
            errors[name] = exc
    if not found:
        timed_out = [e for e in errors.values() if isinstance(e, TimeLimitError)]
        raise timed_out[0] if timed_out else errors["aggregated"]
    value = {k: float(p.solver["objective_value"]) for k, p in found.items()}
    sign = -1.0 if objective == "throughput" else 1.0
    chosen = min(found, key=lambda k: (sign * value[k], k != "aggregated"))
    p = found[chosen]
    p.inputs["requested_mode"] = "auto"
    p.solver["modes_compared"] = {
        k: (_rounded(value[k]) if k in value else _why_not(errors[k])) for k in ("aggregated", "disaggregated")
    }
    if any(isinstance(e, TimeLimitError) for e in errors.values()):  # the other mode might have been cheaper
        p.status = "feasible"
        p.solver.update(status="feasible", stopped_by=WALL_LIMIT if deadline.was_hit() else "work limit", bound=None, gap=None)
    return p


def _why_not(exc: PlannerError) -> str:
    return str(exc) if isinstance(exc, TimeLimitError) else f"infeasible: {exc}"


def _rounded(x: float) -> float:
    return float(f"{x:.6g}")
