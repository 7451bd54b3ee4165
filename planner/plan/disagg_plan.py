"""Planning in disaggregated mode: pool options -> CP-SAT pool sizes -> a Plan.

Two placements are solved and the cheaper kept: *split* (pools anywhere, KV
over the scale-out network) and *colocated* (one-piece replicas, each domain's
prefill keeps up with its own decode, KV over scale-up links).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..inputs import units
from ..physics.candidates import Layouts, enumerate_layouts
from ..physics.costmodel import evaluate as evaluate_arrays
from ..physics.disagg import PrefillOptions, decode_options, decode_workload, kv_shard_gpus, kv_transfer_s
from ..inputs.errors import InfeasibleError, TimeLimitError
from ..search import deadline, problem as core
from ..search.control import WALL_LIMIT
from ..search.loop import Solution, cost_lower_bound, solve, summary
from ..search.pool_options import BATCH_FRACTIONS, Decode, PoolCandidates, decode_choices, pool_candidates, pool_problem
from .assembly import (
    Plan,
    annotate_placement,
    _r,
    assign_gpus,
    bottleneck_name,
    breakdown_dict,
    inputs_dict,
    layout_dict,
    memory_dict,
    option_metrics,
    replica_entries,
)
from ..inputs.topology import Topology
from ..inputs.workload import Workload

COLOCATED_MAX_DOMAINS = 8  # colocated pools keep one domain class per domain


@dataclass
class PoolPlan(Plan):
    """A Plan with the two pools spelled out (top-level ``pools`` in the JSON)."""

    pools: dict[str, Any] = field(default_factory=dict)

    def _raw(self) -> dict[str, Any]:
        return {**super()._raw(), "pools": self.pools}


@dataclass(frozen=True)
class _Variant:
    link: str  # scale_out | scale_up
    pre: PrefillOptions
    p_idx: list[int]
    d_idx: list[int]
    problem: core.Problem
    sol: "_PoolView"


@dataclass(frozen=True)
class _PoolView:
    """The core's solution split into the prefill and the decode options."""

    sol: Solution
    prefill: tuple[int, ...]
    decode: tuple[int, ...]
    p_pieces: tuple[tuple[int, ...], ...]  # [option][domain]
    d_pieces: tuple[tuple[int, ...], ...]

    def __getattr__(self, name):
        return getattr(self.sol, name)


def _view(sol: Solution, n_pre: int, n_domains: int) -> _PoolView:
    per = tuple(tuple(d.get(j, 0) for j in range(n_domains)) for d in sol.pieces)
    return _PoolView(sol, sol.replicas[:n_pre], sol.replicas[n_pre:], per[:n_pre], per[n_pre:])


def _ttft_parts(w: Workload, topo: Topology, pre: PrefillOptions, i: int, L: Layouts, k: int, scale_up: bool) -> tuple[float, float, float]:
    xfer = float(kv_transfer_s(w, topo, kv_shard_gpus(w, pre.layouts.take([i]))[0], kv_shard_gpus(w, L.take([k]))[0], scale_up))
    return float(pre.ev.queue_s[i]), float(pre.ev.latency_s[i]), xfer


def _pools(w: Workload, topo: Topology, scale_up: bool) -> str:
    return f"{'colocated' if scale_up else 'split'} prefill/decode pools of {w.name} on {topo.n_domains} {topo.domain_unit}s of {topo.name}"


def _solve_variant(w, topo, dec: Decode, scale_up, c: PoolCandidates | str | None, problem: core.Problem | None) -> _Variant | None:
    """The solved pools of one KV link; None when it has no candidates (``problem`` None)."""
    if problem is None:
        return None
    deadline.part(f"the CP-SAT solve of the {_pools(w, topo, scale_up)} ({len(problem.options)} options)")
    sol = _view(solve(problem), len(c.p_idx), topo.n_domains)
    return _Variant("scale_up" if scale_up else "scale_out", c.pre, c.p_idx, list(range(len(dec.layouts))), problem, sol)


def _better(a: _Variant, b: _Variant, objective: str) -> bool:
    if b.sol.objective is None:
        return True
    if a.sol.objective is None:
        return False
    if objective == "throughput":
        return a.sol.objective >= b.sol.objective
    return a.sol.objective <= b.sol.objective


def _split_cannot_win(topo: Topology, colocated: _Variant) -> bool:
    """One domain: split pools would share it, only with the KV charged to the slower
    link, so each of their plans is a colocated plan that is no faster (never better)."""
    return topo.n_domains == 1 and colocated.sol.status in ("optimal", "feasible")


def plan_disagg(w: Workload, topo: Topology, *, objective: str, demand_tps, max_gpus, time_limit_s: float) -> Plan:
    deadline.check()
    deadline.part(f"rating the decode layouts of {w.name} on {topo.n_domains} {topo.domain_unit}s of {topo.name}")
    L = enumerate_layouts(w, topo, max_gpus)
    if len(L) == 0:
        raise InfeasibleError(f"topology: no layout of {w.name} can be placed on {topo.n_available} available GPUs of {topo.name}")
    b, dev = decode_options(w, topo, L)
    if not (b > 0).any():
        raise InfeasibleError(f"tpot: no decode layout of {w.name} fits memory and TPOT {w.tpot_s / units.MS:g} ms on {topo.name}")
    dec = decode_choices(w, topo, L, b, dev)
    base = (L, b, dev, dec)
    cands: dict[bool, tuple] = {}

    def candidates(up: bool) -> tuple:
        """(pool candidates or why none, their problem or None), built once per KV link."""
        if up not in cands:
            c = None
            if not (up and topo.n_domains > COLOCATED_MAX_DOMAINS):
                deadline.part(f"rating the {_pools(w, topo, up)}")
                c = pool_candidates(w, topo, up, max_gpus, base)
            ok = c is not None and not isinstance(c, str)
            cands[up] = (c, pool_problem(w, topo, L, dec, c, up, objective, demand_tps, max_gpus, time_limit_s) if ok else None)
        return cands[up]

    variants, cut = [], False
    for up in (True, False):  # colocated first: on a tie the KV really does move over scale-up links
        if variants and deadline.passed():  # the colocated plan stands, not proven best: the answer says so
            cut = True
            break
        deadline.check()
        v = _solve_variant(w, topo, dec, up, *candidates(up))
        if v is not None:
            variants.append(v)
            if up and _split_cannot_win(topo, v):
                break
            if up and objective == "cost" and v.sol.status == "optimal":
                break_even = v.sol.objective
                # the split pools cannot beat a proven colocated optimum below their own lower bound
                split = candidates(False)[1]
                if split is not None and cost_lower_bound(split) >= break_even:
                    break
    if not variants:
        raise InfeasibleError(f"ttft: no prefill layout of {w.name} meets memory and TTFT {w.ttft_s / units.MS:g} ms on {topo.name}")
    # colocated first: on a tie the KV really does move over scale-up links
    best = variants[0] if len(variants) == 1 or _better(variants[0], variants[1], objective) else variants[1]
    if best.sol.objective is None:
        if any(v.sol.status == "unknown" for v in variants):
            raise TimeLimitError(deadline.message())
        if objective == "demand":
            raise InfeasibleError(
                f"demand: {demand_tps:.0f} output tokens/s cannot be served by balanced prefill and decode pools on "
                f"{topo.n_available} available GPUs of {topo.name}: add {topo.domain_flag}"
            )
        raise InfeasibleError(
            f"topology: no prefill/decode pair meets TTFT {w.ttft_s / units.MS:g} ms and fits the free GPUs of {topo.name}"
        )
    deadline.part("assembling the plan")
    p = _assemble(w, topo, L, dec, (L, b, dev), best, objective, demand_tps, max_gpus)
    if cut:
        deadline.mark_hit()
        p.status = "feasible"
        p.solver.update(status="feasible", stopped_by=WALL_LIMIT, bound=None, gap=None)
    return p


def _assemble(w, topo, L: Layouts, dec: Decode, full, v: _Variant, objective, demand_tps, max_gpus) -> Plan:
    """``L``: every layout (prefill rows index it); ``dec``: the decode options the
    solver saw; ``full``: (layouts, batch, evaluation) of every decode layout, for
    the alternatives."""
    sol, pre, up = v.sol, v.pre, v.link == "scale_up"
    Ld, b, dev = dec.layouts, dec.batch, dec.ev
    p_used = [n for n, r in enumerate(sol.prefill) if r > 0]
    d_used = [n for n, r in enumerate(sol.decode) if r > 0]
    pi = [v.p_idx[n] for n in p_used]
    di = [v.d_idx[n] for n in d_used]
    # worst TTFT over the pairs in use (a request may go to any decode replica)
    parts = {i: max((_ttft_parts(w, topo, pre, i, Ld, k, up) for k in di), key=sum) for i in pi}
    p_metrics = []
    for i in pi:
        q, lat, x = parts[i]
        p_metrics.append({"tpot_ms": None, "ttft_ms": _r((q + lat + x) / units.MS), "output_tokens_per_s": 0.0})
    d_metrics = [option_metrics(dev, k) for k in di]
    ids = assign_gpus(
        topo,
        [list(sol.p_pieces[n]) for n in p_used] + [list(sol.d_pieces[n]) for n in d_used],
        [int(L.chunk_gpus[i]) for i in pi] + [int(Ld.chunk_gpus[k]) for k in di],
        [sol.prefill[n] for n in p_used] + [sol.decode[n] for n in d_used],
    )
    p_batch = [int(L.dp[i] * pre.prompts_per_rank[i]) for i in pi]
    d_batch = [int(b[k]) for k in di]
    replicas = replica_entries([L.row(i) for i in pi] + [Ld.row(k) for k in di], p_batch + d_batch, ids, topo, p_metrics + d_metrics)
    n_pre = sum(sol.prefill[n] for n in p_used)
    for r in replicas:
        r["role"] = "prefill" if r["id"] < n_pre else "decode"
    annotate_placement(replicas, topo)

    p_reps = [sol.prefill[n] for n in p_used]
    d_reps = [sol.decode[n] for n in d_used]
    metrics, p_rps, d_rps, gpus = _totals(w, L, Ld, pre, dev, pi, di, p_reps, d_reps, parts)
    k0 = di[max(range(len(di)), key=lambda n: d_reps[n] * int(Ld.gpus[di[n]]))]
    i0 = pi[max(range(len(pi)), key=lambda n: p_reps[n] * int(L.gpus[pi[n]]))]
    q0, lat0, x0 = parts[i0]
    breakdown = {**breakdown_dict(dev, k0), "prefill": _r(lat0 / units.MS), "queue": _r(q0 / units.MS), "kv_transfer": _r(x0 / units.MS)}
    pools = {
        "prefill": _pool_prefill(w, L, pre, pi, p_reps, parts, v.link),
        "decode": _pool_decode(Ld, b, dev, di, d_reps, w.osl),
        "balance": {
            "prefill_requests_per_s": _r(p_rps),
            "decode_requests_per_s": _r(d_rps),
            "prefill_over_decode": _r(p_rps / d_rps),
        },
    }
    alternatives = _alternatives(full, Ld, di)
    extra = {"objective": objective, "demand_tps": demand_tps, "max_gpus": max_gpus, "mode": "disaggregated"}
    return PoolPlan(
        kind="plan",
        status=sol.status,
        inputs=inputs_dict(w, topo, extra),
        replicas=replicas,
        metrics=metrics,
        memory_per_gpu_gb=memory_dict(dev, k0),
        time_breakdown_ms=breakdown,
        bottleneck=bottleneck_name(dev, k0),
        binding_constraints=_binding(w, topo, Ld, b, k0, gpus, max_gpus, v.problem),
        alternatives=alternatives,
        solver={
            **summary(sol.sol, objective),
            "options_considered": 2 * len(L),
            "decode_batch_fractions": list(BATCH_FRACTIONS),
            "options_to_solver": len(v.p_idx) + len(v.d_idx),
            "dinkelbach_iterations": sol.iterations,
            "kv_transfer_link": v.link,
        },
        pools=pools,
    )


def _totals(w, L, Ld, pre, dev, pi, di, p_reps, d_reps, parts) -> tuple[dict[str, Any], float, float, int]:
    """Metrics of the two pools together, the request rates of each pool, and the GPUs used."""
    n_pre = sum(p_reps)
    out_tps = sum(float(dev.output_tps[k]) * r for k, r in zip(di, d_reps))
    d_usd = sum(float(dev.usd_per_s[k]) * r for k, r in zip(di, d_reps))
    p_usd = sum(float(pre.ev.usd_per_s[i]) * r for i, r in zip(pi, p_reps))
    p_rps = sum(float(pre.ev.requests_per_s[i]) * r for i, r in zip(pi, p_reps))
    d_rps = out_tps / w.osl
    gpus = sum(int(L.gpus[i]) * r for i, r in zip(pi, p_reps)) + sum(int(Ld.gpus[k]) * r for k, r in zip(di, d_reps))
    in_tps = d_rps * w.isl
    ttft = max(sum(parts[i]) for i in pi)
    tpot = max(float(dev.tpot_s[k]) for k in di)
    metrics = {
        "replicas": n_pre + sum(d_reps),
        "gpus_used": gpus,
        "tpot_ms": _r(tpot / units.MS),
        "ttft_ms": _r(ttft / units.MS),
        "output_tokens_per_s": _r(out_tps),
        "output_tokens_per_s_per_gpu": _r(out_tps / gpus),
        "input_tokens_per_s": _r(in_tps),
        "tokens_per_s_per_user": _r(1.0 / tpot),
        "usd_per_mtok_output": _r(d_usd / out_tps * 1e6),
        "usd_per_mtok_input": _r(p_usd / in_tps * 1e6),
        "usd_per_mtok_all_in": _r((p_usd + d_usd) / out_tps * 1e6),
        "usd_per_hour": _r((p_usd + d_usd) * 3600),
    }
    return metrics, p_rps, d_rps, gpus


def _alternatives(full, Ld: Layouts, di: list[int]) -> list[dict[str, Any]]:
    """The cheapest decode layouts not in the plan, each at its largest batch."""
    alternatives = []
    Lf, bf, evf = full
    chosen = {tuple(sorted(layout_dict(Ld.row(k)).items())) for k in di}
    for k in (int(k) for k in np.argsort(np.where(bf > 0, evf.usd_per_s / evf.output_tps, np.inf), kind="stable") if bf[k] > 0):
        if tuple(sorted(layout_dict(Lf.row(k)).items())) in chosen:
            continue
        alternatives.append({"role": "decode", "layout": layout_dict(Lf.row(k)), "batch": int(bf[k]), "bottleneck": bottleneck_name(evf, k), **option_metrics(evf, k)})
        if len(alternatives) >= 5:
            break
    return alternatives


def _pool_prefill(w, L, pre, pi, reps, parts, link) -> dict[str, Any]:
    opts = []
    for i, r in zip(pi, reps):
        q, lat, x = parts[i]
        opts.append({
            "layout": layout_dict(L.row(i)),
            "replicas": r,
            "gpus_each": int(L.gpus[i]),
            "batch": int(L.dp[i] * pre.prompts_per_rank[i]),  # prompts per pass of a stage
            "tokens_per_pass": int(pre.ev.tokens_per_pass[i]),
            "requests_per_s_each": _r(pre.ev.requests_per_s[i]),
            "input_tokens_per_s_each": _r(pre.ev.input_tps[i]),
            "ttft_ms": _r((q + lat + x) / units.MS),
            "ttft_breakdown_ms": {"queue": _r(q / units.MS), "prefill": _r(lat / units.MS), "kv_transfer": _r(x / units.MS)},
            "memory_per_gpu_gb": _r(pre.ev.memory_bytes[i] / units.GB),
            "usd_per_hour_each": _r(pre.ev.usd_per_s[i] * 3600),
        })
    return _pool(opts, {"kv_transfer_link": link, "kv_bytes_per_request": _r(w.isl * w.kv_bytes_per_token(w.isl))})


def _pool_decode(L, b, dev, di, reps, osl: int) -> dict[str, Any]:
    opts = []
    for k, r in zip(di, reps):
        m = option_metrics(dev, k)
        opts.append({
            "layout": layout_dict(L.row(k)),
            "replicas": r,
            "gpus_each": int(L.gpus[k]),
            "batch": int(b[k]),
            "concurrency": int(b[k] * L.pp[k]),
            "requests_per_s_each": _r(float(dev.output_tps[k]) / osl),
            "output_tokens_per_s_each": m["output_tokens_per_s"],
            "tpot_ms": m["tpot_ms"],
            "memory_per_gpu_gb": _r(dev.memory_bytes[k] / units.GB),
            "usd_per_hour_each": m["usd_per_hour"],
        })
    return _pool(opts, {})


def _pool(opts: list[dict[str, Any]], extra: dict[str, Any]) -> dict[str, Any]:
    main = max(opts, key=lambda o: o["replicas"] * o["gpus_each"])
    return {
        "layout": main["layout"],
        "replicas": sum(o["replicas"] for o in opts),
        "gpus": sum(o["replicas"] * o["gpus_each"] for o in opts),
        "batch": main["batch"],
        **extra,
        "options": opts,
    }


def _binding(w, topo, L, b, k, gpus, max_gpus, problem: core.Problem) -> list[str]:
    """What stops the main decode layout's batch from growing, plus the GPU budget."""
    Lk = L.take([k])
    dp = int(L.dp[k])
    nxt = evaluate_arrays(decode_workload(w), topo, Lk, np.array([int(b[k]) + dp]), aggregated=False)
    out = [name for name, ok in (("memory", nxt.fits_memory[0]), ("tpot", nxt.meets_tpot[0])) if not ok]
    if not out:  # decode runs below its largest batch so that prefill keeps up
        out.append("prefill balance")
    limit = max_gpus if max_gpus is not None else topo.n_available
    smallest = min(o.piece for o in problem.options)
    if limit - gpus < smallest:
        out.append("gpus")
    return out
