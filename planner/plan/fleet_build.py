"""Fleet planning, the two ends around the solver: cost-model options and domain
classes in (:func:`build_problem`), a placed, explained plan out (:func:`report`)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..inputs import units
from ..inputs.errors import InfeasibleError, InputError
from ..search.fleet_model import FleetClass, FleetOption, FleetProblem, FleetSolution, solve_fleet
from .assembly import _r, layout_dict

OPTIONS_PER_PAIR = 4  # cheapest options of distinct placement shapes per (workload, group)


@dataclass(frozen=True)
class Built:
    problem: FleetProblem
    meta: list[dict[str, Any]]  # per option: layout, batch, per-replica metrics
    unservable: dict[int, str]  # workload index -> why no group can serve it
    n_layouts: int


def _workload(d, path: str):
    from ..inputs.query import Query, load_workload

    q = Query(isl=d.isl, osl=d.osl, ttft_ms=d.ttft_ms, tpot_ms=d.tpot_ms)
    try:
        return load_workload(d.workload), q
    except InputError as exc:
        raise InputError(f"{path}: demand {d.name!r}: {exc}") from None


def build_problem(groups, demands, path: str, time_limit_s: float, workers: int) -> Built:
    from ..inputs.query import load
    from ..search.options import explain_infeasible, options

    opts_out: list[FleetOption] = []
    meta: list[dict[str, Any]] = []
    unservable: dict[int, str] = {}
    n_layouts = 0
    for wi, d in enumerate(demands):
        base, q = _workload(d, path)
        reasons = []
        for gi, g in enumerate(groups):
            if d.groups is not None and g.spec.name not in d.groups:
                continue
            w, topo = load(base, g.topo, q)
            try:
                o = options(w, topo)
            except InfeasibleError as exc:
                reasons.append(f"{g.spec.name}: {exc}")
                continue
            n_layouts += len(o.layouts)
            if not o.feasible.any():
                reasons.append(f"{g.spec.name}: {explain_infeasible(w, topo, o)}")
                continue
            biggest = max(g.free)
            shapes: set[tuple[int, int]] = set()
            for i in o.ranked():
                L = o.layouts
                shape = (int(L.chunks[i]), int(L.chunk_gpus[i]))
                if shape in shapes or shape[1] > biggest:
                    continue
                shapes.add(shape)
                opts_out.append(FleetOption(wi, gi, int(L.gpus[i]), shape[0], float(o.ev.output_tps[i]), float(o.ev.usd_per_s[i])))
                meta.append({
                    "layout": layout_dict(L.row(int(i))),
                    "batch": int(o.batch[i]),
                    "tpot_ms": _r(o.ev.tpot_s[i] / units.MS),
                    "ttft_ms": _r(o.ev.ttft_s[i] / units.MS),
                    "usd_per_mtok_all_in": _r(o.ev.usd_per_mtok_all_in[i]),
                })
                if len(shapes) >= OPTIONS_PER_PAIR:
                    break
        if not any(o.workload == wi for o in opts_out):
            unservable[wi] = "; ".join(reasons) or "no inventory group allowed"
    classes = []
    for gi, g in enumerate(groups):
        by = Counter(g.free)
        for cap in sorted(by, reverse=True):
            if cap > 0:
                classes.append(FleetClass(gi, cap, tuple(j for j, f in enumerate(g.free) if f == cap)))
    demand = tuple(0.0 if wi in unservable else float(d.output_tokens_per_s) for wi, d in enumerate(demands))
    problem = FleetProblem(tuple(opts_out), tuple(classes), demand, time_limit_s, workers)
    return Built(problem, meta, unservable, n_layouts)


def report(b: Built, groups, demands):
    from .fleet_result import FleetPlan

    p = b.problem
    sol = solve_fleet(p)
    replicas = _place(sol, p, b.meta, groups, [d.name for d in demands])
    used = Counter()
    for r in replicas:
        used[r["group"]] += len(r["gpu_ids"])
    workloads = []
    for wi, d in enumerate(demands):
        mine = [k for k, o in enumerate(p.options) if o.workload == wi and sol.replicas[k] > 0]
        served = sum(p.options[k].tps * sol.replicas[k] for k in mine)
        usd = sum(p.options[k].usd_per_s * sol.replicas[k] for k in mine)
        workloads.append({
            "name": d.name,
            "workload": d.workload,
            "demand_output_tokens_per_s": float(d.output_tokens_per_s),
            "served_output_tokens_per_s": _r(served, 6),
            "fraction_served": _r(served / d.output_tokens_per_s, 6),
            "usd_per_hour": _r(usd * 3600),
            "usd_per_mtok_all_in": _r(usd / served * 1e6) if served else None,
            "replicas": [
                {"group": groups[p.options[k].group].spec.name, "count": sol.replicas[k], "gpus_each": p.options[k].gpus,
                 "output_tokens_per_s_each": _r(p.options[k].tps), **b.meta[k]}
                for k in mine
            ],
            **({"unservable": b.unservable[wi]} if wi in b.unservable else {}),
        })
    group_rows = []
    for gi, g in enumerate(groups):
        free = sum(g.free)
        group_rows.append({
            "name": g.spec.name, "topology": g.spec.topology, "domains": g.spec.count, "domain_size": g.domain_size,
            "gpus": g.spec.count * g.domain_size, "unavailable": len(g.down), "free": free, "used": used[g.spec.name],
            "utilisation": _r(used[g.spec.name] / free) if free else None,
            "price_usd_per_gpu_hour": g.topo.price_usd_per_gpu_hour, "unavailable_gpu_ids": sorted(g.down),
        })
    status = sol.status
    fraction = sol.fraction
    if b.unservable:
        status, fraction = ("partial" if status in ("optimal", "feasible") else status), 0.0
    usd_h = sol.usd_per_s * 3600
    bound_h = sol.bound_usd_per_s * 3600
    gap = (usd_h - bound_h) / usd_h if usd_h and np.isfinite(bound_h) else (0.0 if usd_h == 0 and status == "optimal" else float("nan"))
    return FleetPlan(
        status=status,
        usd_per_hour=_r(usd_h, 8),
        bound_usd_per_hour=_r(bound_h, 8),
        gap=max(0.0, _r(gap, 4)) if np.isfinite(gap) else gap,
        fraction_met=fraction,
        fraction_bound=0.0 if b.unservable else sol.fraction_bound,
        wall_s=round(sol.wall_s, 3),
        time_limit_s=p.time_limit_s,
        workloads=workloads,
        groups=group_rows,
        binding=_binding(b, sol, groups, group_rows, demands),
        replicas=replicas,
        model={"options": len(p.options), "classes": len(p.classes), "layouts_rated": b.n_layouts,
               "domains": sum(len(c.domains) for c in p.classes)},
    )


def _binding(b: Built, sol: FleetSolution, groups, rows, demands) -> list[str]:
    """What stops more demand from being served (empty when every demand is met):
    a workload no group can serve within its SLOs, or inventory groups too full to
    take one more replica of any option that could help."""
    out = [f"slo: {demands[wi].name}: {why}" for wi, why in sorted(b.unservable.items())]
    if sol.status == "unknown":
        return out + ["time limit: no plan was found within --time-limit; raise it"]
    if sol.status in ("optimal", "feasible") and not b.unservable:
        return out
    # the workloads holding the common fraction down: served no more than it
    p = b.problem
    served = {w: sum(o.tps * sol.replicas[k] for k, o in enumerate(p.options) if o.workload == w) for w in range(len(p.demand_tps))}
    short = {w for w, d in enumerate(p.demand_tps) if d > 0 and served[w] <= d * (sol.fraction + 1e-3)}
    for gi, row in enumerate(rows):
        pieces = [o.piece for o in b.problem.options if o.group == gi and o.workload in short]
        if not pieces:
            continue
        biggest_hole = max((f - _used_in(sol, b.problem, gi, j) for j, f in enumerate(groups[gi].free)), default=0)
        if biggest_hole < min(pieces):
            out.append(f"gpus: {row['name']} ({row['used']:,} of {row['free']:,} free GPUs used, no room for another replica)")
    return out or ["packing: the free GPUs are split across domains too finely for another replica"]


def _used_in(sol: FleetSolution, p: FleetProblem, gi: int, j: int) -> int:
    return sum(o.piece * sol.pieces[k].get(j, 0) for k, o in enumerate(p.options) if o.group == gi)


def _place(sol: FleetSolution, p: FleetProblem, meta, groups, names: list[str]) -> list[dict[str, Any]]:
    """GPU ids for every replica: pieces take a domain's free GPUs in order; a
    replica's pieces are dealt round-robin, so they sit in different domains
    whenever the solver spread them."""
    cursor: dict[tuple[int, int], int] = {}
    out: list[dict[str, Any]] = []
    for k, o in enumerate(p.options):
        n = sol.replicas[k]
        if n == 0:
            continue
        g = groups[o.group]
        reps: list[list[int]] = [[] for _ in range(n)]
        doms: list[set[int]] = [set() for _ in range(n)]
        slot = 0
        for j in sorted(sol.pieces[k]):
            for _ in range(sol.pieces[k][j]):
                ids = _take(g, j, o.piece, cursor)
                reps[slot % n].extend(ids)
                doms[slot % n].add(j)
                slot += 1
        for ids, ds in zip(reps, doms):
            out.append({"id": len(out), "demand": names[o.workload], "group": g.spec.name, "layout": meta[k]["layout"],
                        "batch": meta[k]["batch"], "domains": sorted(ds), "gpu_ids": ids})
    return out


def _take(g, j: int, size: int, cursor: dict[tuple[int, int], int]) -> list[int]:
    base = j * g.domain_size
    ids = [base + i for i in range(g.domain_size) if base + i not in g.down]
    start = cursor.get((id(g), j), 0)
    cursor[(id(g), j)] = start + size
    if start + size > len(ids):
        raise AssertionError(f"domain {j} of {g.spec.name} over-filled")  # the packing forbids this
    return ids[start:start + size]
