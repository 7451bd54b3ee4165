"""Fleet planning, the two ends around the solver: cost-model options and domain
classes in (:func:`build_problem`), a placed, explained plan out (:func:`report`)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from ..inputs import units
from ..inputs.errors import InfeasibleError, InputError
from ..physics.engine_limits import with_active_engine
from ..search import deadline, problem as core
from ..search.loop import Solution, solve
from ..search.options import explain_infeasible, options, pick_for_solver
from .assembly import _r, layout_dict
from .fleet_kinds import kind_classes, kinds_of, split

FLEET_GAP = 1e-4  # the fleet search stops once no plan can be cheaper by more than this fraction


@dataclass(frozen=True)
class Built:
    problem: core.Problem
    meta: list[dict[str, Any]]  # per option: role, layout, batch, per-replica metrics
    unservable: dict[int, str]  # workload index -> why no group can serve it
    n_layouts: int
    time_limit_s: float
    kinds: list = None  # identical groups solved as one (planner.plan.fleet_kinds)
    vmap: list = None  # per kind: (group, domain) of each of its domain indices


def _workload(d, path: str):
    from ..inputs.query import Query, load_workload

    q = Query(isl=d.isl, osl=d.osl, ttft_ms=d.ttft_ms, tpot_ms=d.tpot_ms)
    try:
        return load_workload(d.workload), q
    except InputError as exc:
        raise InputError(f"{path}: demand {d.name!r}: {exc}") from None


def _meta(role: str, row, batch: int, tpot_s: float | None, ttft_s: float | None, usd_per_mtok: float | None) -> dict[str, Any]:
    return {
        "role": role,
        "layout": layout_dict(row),
        "batch": int(batch),
        "tpot_ms": _r(tpot_s / units.MS) if tpot_s is not None else None,
        "ttft_ms": _r(ttft_s / units.MS) if ttft_s is not None else None,
        "usd_per_mtok_all_in": _r(usd_per_mtok) if usd_per_mtok is not None else None,
    }


def _agg_options(w, topo, wi: int, gi: int, biggest: int):
    """Non-dominated aggregated options of a workload on a group (search.options.pick_for_solver)."""
    o = options(w, topo)
    if not o.feasible.any():
        return len(o.layouts), [], [], explain_infeasible(w, topo, o)
    L, ev = o.layouts, o.ev
    opts, meta = [], []
    for i in pick_for_solver(o):
        if int(L.chunk_gpus[i]) > biggest:
            continue
        opts.append(core.Option(core.AGG, int(L.gpus[i]), int(L.chunks[i]), float(ev.output_tps[i]), float(ev.usd_per_s[i]), workload=wi, group=gi))
        meta.append(_meta("aggregated", L.row(int(i)), o.batch[i], ev.tpot_s[i], ev.ttft_s[i], ev.usd_per_mtok_all_in[i]))
    return len(L), opts, meta, "" if opts else "no option fits a domain's free GPUs"


def _pool_options(w, topo, wi: int, gi: int, biggest: int, base: int):
    """Prefill and decode options of a workload on a group (KV over the scale-out
    network), with the pairs that miss TTFT; ``base``: index of the first option."""
    from .disagg_plan import pool_candidates

    c = pool_candidates(w, topo, scale_up=False)
    if isinstance(c, str):
        return 0, [], [], frozenset(), c
    opts, meta, keep_p, keep_d = [], [], [], []
    for n, i in enumerate(c.p_idx):
        if int(c.L.chunk_gpus[i]) <= biggest:
            keep_p.append(n)
            opts.append(core.Option(core.PREFILL, int(c.L.gpus[i]), int(c.L.chunks[i]), 0.0, float(c.pre.ev.usd_per_s[i]), rps=float(c.pre.ev.requests_per_s[i]), workload=wi, group=gi))
            meta.append(_meta("prefill", c.L.row(i), c.L.dp[i] * c.pre.prompts_per_rank[i], None, c.pre.ev.queue_s[i] + c.pre.ev.latency_s[i], None))
    Ld, dev = c.dec.layouts, c.dec.ev
    for k in range(len(Ld)):
        if int(Ld.chunk_gpus[k]) <= biggest:
            keep_d.append(k)
            opts.append(core.Option(core.DECODE, int(Ld.gpus[k]), int(Ld.chunks[k]), float(dev.output_tps[k]), float(dev.usd_per_s[k]), rps=float(dev.output_tps[k]) / w.osl, workload=wi, group=gi))
            meta.append(_meta("decode", Ld.row(k), c.dec.batch[k], dev.tpot_s[k], None, dev.usd_per_mtok_output[k]))
    bad = frozenset((base + a, base + len(keep_p) + b) for a, n in enumerate(keep_p) for b, k in enumerate(keep_d) if not c.compat[n][k])
    if not keep_p or not keep_d:
        return c.n_layouts, [], [], frozenset(), "no prefill/decode pair fits a domain's free GPUs"
    return c.n_layouts, opts, meta, bad, ""


def build_problem(groups, demands, path: str, time_limit_s: float, workers: int = 1, on_step=None) -> Built:
    """Options of every demand on every allowed group (aggregated, or prefill and
    decode pools for ``mode: disagg``), and the groups' domain classes."""
    from ..inputs.query import load

    opts_out: list[core.Option] = []
    meta: list[dict[str, Any]] = []
    bad: set[tuple[int, int]] = set()
    unservable: dict[int, str] = {}
    n_layouts = 0
    kinds = kinds_of(groups, demands)
    for wi, d in enumerate(demands):
        base, q = _workload(d, path)
        reasons = []
        for gi, kind in enumerate(kinds):  # options are rated once per kind, on its first group
            g = groups[kind.members[0]]
            if d.groups is not None and g.spec.name not in d.groups:
                continue
            deadline.check()  # past the deadline with no plan yet: exit 4 naming the part that took longest
            deadline.part(f"rating the layouts of demand {d.name!r} on group {g.spec.name!r}")
            w, topo = load(base, g.topo, q)
            topo = with_active_engine(topo)  # --engine: its measured kernel costs
            try:
                if d.mode == "disagg":
                    n, opts, mt, pairs, why = _pool_options(w, topo, wi, gi, max(g.free), len(opts_out))
                    bad |= pairs
                else:
                    n, opts, mt, why = _agg_options(w, topo, wi, gi, max(g.free))
            except InfeasibleError as exc:
                reasons.append(f"{g.spec.name}: {exc}")
                continue
            n_layouts += n
            if why:
                reasons.append(f"{g.spec.name}: {why}")
            opts_out += opts
            meta += mt
        if not any(o.workload == wi for o in opts_out):
            unservable[wi] = "; ".join(reasons) or "no inventory group allowed"
        if on_step is not None:
            on_step(f"rated layouts of {d.name}")
    classes, vmap = kind_classes(groups, kinds)
    deadline.part(f"the CP-SAT solve of {len(opts_out):,} options over {sum(c.count for c in classes):,} domains in {len(groups)} groups")
    demand = tuple(0.0 if wi in unservable else float(d.output_tokens_per_s) for wi, d in enumerate(demands))
    problem = core.Problem(
        tuple(opts_out), classes, "demand", demand, incompatible=frozenset(bad), budget=core.budget_for(time_limit_s), partial=True, rel_gap=FLEET_GAP,
        names=("output_tokens_per_s of a demand", "price_usd_per_gpu_hour of a group"),
    )
    return Built(problem, meta, unservable, n_layouts, time_limit_s, kinds, vmap)


def report(b: Built, groups, demands):
    from .fleet_result import FleetPlan

    sol, p, meta = _solve_and_split(b, groups)
    deadline.part("placing the fleet plan")
    replicas = _place(sol, p, meta, groups, [d.name for d in demands])
    used = Counter()
    for r in replicas:
        used[r["group"]] += len(r["gpu_ids"])
    workloads = []
    for wi, d in enumerate(demands):
        mine = [k for k, o in enumerate(p.options) if o.workload == wi and sol.replicas[k] > 0]
        served = sum(p.options[k].tps * sol.replicas[k] for k in mine if p.options[k].role != core.PREFILL)
        usd = sum(p.options[k].usd_per_s * sol.replicas[k] for k in mine)
        workloads.append({
            "name": d.name,
            "workload": d.workload,
            "mode": "disaggregated" if d.mode == "disagg" else "aggregated",
            "demand_output_tokens_per_s": float(d.output_tokens_per_s),
            "served_output_tokens_per_s": _r(served, 6),
            "fraction_served": _r(served / d.output_tokens_per_s, 6),
            "usd_per_hour": _r(usd * 3600),
            "usd_per_mtok_all_in": _r(usd / served * 1e6) if served else None,
            "replicas": [
                {"group": groups[p.options[k].group].spec.name, "count": sol.replicas[k], "gpus_each": p.options[k].gpus,
                 "output_tokens_per_s_each": _r(p.options[k].tps), **meta[k]}
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
    full = sol.status in ("optimal", "feasible")
    usd_h = sol.usd_per_s * 3600 if sol.status != "unknown" else None
    bound_h = sol.bound * 3600 if full and sol.bound is not None else None
    gap = sol.gap if full else _fraction_gap(sol, b)
    return FleetPlan(
        status=status,
        usd_per_hour=_r(usd_h, 8) if usd_h is not None else None,
        bound_usd_per_hour=_r(bound_h, 8) if bound_h is not None else None,
        gap=max(0.0, _r(gap, 4)) if gap else (0.0 if gap == 0 else None),
        fraction_met=fraction,
        fraction_bound=0.0 if b.unservable else sol.fraction_bound,
        wall_s=round(sol.wall_s, 3),
        time_limit_s=b.time_limit_s,
        workloads=workloads,
        groups=group_rows,
        binding=_binding(b, p, sol, groups, group_rows, demands),
        replicas=replicas,
        model={"options": len(b.problem.options), "classes": len(b.problem.classes), "layouts_rated": b.n_layouts,
               "domains": sum(len(c.domains) for c in b.problem.classes), "stopped_by": sol.stopped_by, "work_budget": sol.work,
               "solves": sol.steps},
    )


def _fraction_gap(sol: Solution, b: Built) -> float | None:
    """A partial plan's gap: how far the common fraction served may be from its proven bound."""
    if b.unservable or sol.status not in ("partial", "partial-unproven") or not sol.fraction_bound:
        return None
    return (sol.fraction_bound - sol.fraction) / sol.fraction_bound


def _solve_and_split(b: Built, groups):
    """Solve the kinds' model, then each kind's replicas and pieces per group."""
    sol = solve(b.problem)
    p, sol, origin = split(b.problem, sol, groups, b.kinds, b.vmap)
    return sol, p, [b.meta[k] for k in origin]


def _binding(b: Built, p: core.Problem, sol: Solution, groups, rows, demands) -> list[str]:
    """What stops more demand from being served (empty when every demand is met):
    a workload no group can serve within its SLOs, or inventory groups too full to
    take one more replica of any option that could help."""
    out = [f"slo: {demands[wi].name}: {why}" for wi, why in sorted(b.unservable.items())]
    if sol.status == "unknown":
        return out + ["time limit: no plan was found within --time-limit; raise it"]
    if sol.status in ("optimal", "feasible") and not b.unservable:
        return out
    # the workloads holding the common fraction down: served no more than it
    served = {w: sum(o.tps * sol.replicas[k] for k, o in enumerate(p.options) if o.workload == w and o.role != core.PREFILL) for w in range(len(p.demand_tps))}
    short = {w for w, d in enumerate(p.demand_tps) if d > 0 and served[w] <= d * (sol.fraction + 1e-3)}
    for gi, row in enumerate(rows):
        pieces = [o.piece for o in b.problem.options if gi in b.kinds[o.group].members and o.workload in short]
        if not pieces:
            continue
        biggest_hole = max((f - _used_in(sol, p, gi, j) for j, f in enumerate(groups[gi].free)), default=0)
        if biggest_hole < min(pieces):
            out.append(f"gpus: {row['name']} ({row['used']:,} of {row['free']:,} free GPUs used, no room for another replica)")
    return out or ["packing: the free GPUs are split across domains too finely for another replica"]


def _used_in(sol: Solution, p: core.Problem, gi: int, j: int) -> int:
    return sum(o.piece * sol.pieces[k].get(j, 0) for k, o in enumerate(p.options) if o.group == gi)


def _place(sol: Solution, p: core.Problem, meta, groups, names: list[str]) -> list[dict[str, Any]]:
    """GPU ids for every replica: a replica's pieces are dealt round-robin over
    the domains the solver gave its option (so they sit in different domains
    whenever the solver spread them); then, domain by domain and largest piece
    first, each piece takes GPUs of one host where one has room (best fit), or
    whole hosts, so that engines launching one process set per host can run it."""
    out: list[dict[str, Any]] = []
    count: list[int] = []  # pieces per replica
    wants: list[tuple[int, int, int, int, int]] = []  # (group, domain, -size, replica, piece)
    for k, o in enumerate(p.options):
        n = sol.replicas[k]
        if n == 0:
            continue
        g = groups[o.group]
        where: list[list[int]] = [[] for _ in range(n)]
        slot = 0
        for j in sorted(sol.pieces[k]):
            for _ in range(sol.pieces[k][j]):
                where[slot % n].append(j)
                slot += 1
        for js in where:
            wants += [(o.group, j, -o.piece, len(out), q) for q, j in enumerate(js)]
            count.append(len(js))
            out.append({"id": len(out), "demand": names[o.workload], "group": g.spec.name, "role": meta[k]["role"], "layout": meta[k]["layout"],
                        "batch": meta[k]["batch"], "domains": sorted(set(js)), "gpu_ids": []})
    free: dict[tuple[int, int], list[list[int]]] = {}
    got: dict[tuple[int, int], list[int]] = {}
    for gi, j, neg, rid, q in sorted(wants):
        got[(rid, q)] = _take(groups[gi], (gi, j), -neg, free)
    for rid, r in enumerate(out):
        r["gpu_ids"] = [i for q in range(count[rid]) for i in got[(rid, q)]]
    return out


def _hosts(g, j: int) -> list[list[int]]:
    """Free GPU ids of domain ``j`` of group ``g``, per host."""
    per = max(int(g.topo.gpus_per_host or g.domain_size), 1)
    base = j * g.domain_size
    return [[base + i for i in range(a, min(a + per, g.domain_size)) if base + i not in g.down] for a in range(0, g.domain_size, per)]


def _take(g, key: tuple[int, int], size: int, free: dict) -> list[int]:
    hosts = free.setdefault(key, _hosts(g, key[1]))
    per = max(int(g.topo.gpus_per_host or g.domain_size), 1)
    if size <= per:  # one host: the tightest with room
        fit = min(((len(h), n) for n, h in enumerate(hosts) if len(h) >= size), default=None)
        order = [fit[1]] if fit else []
    elif size % per == 0:  # whole hosts
        order = [n for n, h in enumerate(hosts) if len(h) == per][: size // per]
        order = order if len(order) == size // per else []
    else:
        order = []
    if not order:  # no host-aligned room left: the domain's free GPUs in order
        order = list(range(len(hosts)))
    ids: list[int] = []
    for n in order:
        take = hosts[n][: size - len(ids)]
        ids += take
        hosts[n] = hosts[n][len(take):]
    if len(ids) < size:
        raise AssertionError(f"domain {key[1]} of {g.spec.name} over-filled")  # the packing forbids this
    return ids
