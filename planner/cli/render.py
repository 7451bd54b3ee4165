"""Human-readable tables of a plan document (rich): a view of the typed document
(:mod:`planner.plan.document`) that the JSON is written from."""

from __future__ import annotations

from collections import Counter
from rich.console import Console
from rich import box
from rich.markup import escape
from rich.table import Table

from ..plan.document import EvaluationDocument, PlanDocument
from ..plan.plan_parts import Layout
from ..inputs.errors import one_line
from ..inputs.formats import weights_label
from ..plan.text import layout_label, num as _num

Doc = PlanDocument | EvaluationDocument


def _layout(layout: Layout) -> str:
    return layout_label(layout.model_dump())


def render_plan(d: Doc, console: Console) -> None:
    inp = d.inputs
    topo, w = inp.topology, inp.workload
    head = (
        f"[bold]{w.name}[/] on [bold]{topo.name}[/] ({topo.domains} {topo.domain_unit}(s), "
        f"{topo.gpus} GPUs) | ISL {inp.traffic.isl} OSL {inp.traffic.osl} | "
        f"SLO TTFT {inp.slo.ttft_ms:g} ms, TPOT {inp.slo.tpot_ms:g} ms | {weights_label(inp.precision.weights, inp.precision.weight_formats)}"
    )
    console.print(head)
    status = d.status
    color = {"optimal": "green", "ok": "green", "feasible": "yellow"}.get(status, "red")
    console.print(f"status: [{color}]{status}[/]" + (f"  ({d.message})" if d.message else ""))
    for v in d.violations:
        console.print(f"  [red]violates[/] {v}")
    if d.fidelity is not None:
        console.print(f"[{'red' if d.fidelity.blind_spot else 'dim'}]fidelity: {escape(one_line(d.fidelity.note))}[/]")
    if d.inputs.engine:
        eng = escape(one_line(d.inputs.engine, 40))
        what = f"checked against {eng}'s launch limits" if d.kind == "evaluation" else f"layouts {eng} launches"
        console.print(f"[dim]engine: {what}, priced with its measured kernel costs (planner export --engine {eng})[/]")

    pooled = d.pools is not None  # disaggregated: the pools table (render_pools) shows the replicas
    if pooled:
        render_pools(d, console)
    else:
        _replicas_table(d, console)
    _metrics_tables(d, console, pooled)


def _replicas_table(d: Doc, console: Console) -> None:
    groups = Counter((_layout(r.layout), r.batch, len(r.gpu_ids)) for r in d.replicas)
    t = Table(title="Replicas", title_justify="left")
    for col in ("layout", "replicas", "batch", "GPUs each", "domains", "TPOT ms", "tok/s each"):
        t.add_column(col, justify="right" if col != "layout" else "left", no_wrap=col == "layout")
    for (lay, batch, g), n in groups.items():
        first = next(r for r in d.replicas if _layout(r.layout) == lay and r.batch == batch)
        doms = sorted({j for r in d.replicas if _layout(r.layout) == lay for j in r.domains})
        t.add_row(lay, str(n), str(batch), str(g), _short(doms), _num(first.metrics.tpot_ms), _num(first.metrics.output_tokens_per_s))
    console.print(t)


def _metrics_tables(d: Doc, console: Console, pooled: bool) -> None:
    m = d.metrics
    t = Table(title="Metrics", title_justify="left", show_header=False)
    t.add_column("metric")
    t.add_column("value", justify="right")
    rows = [
        ("GPUs used", _num(m.gpus_used)),
        ("output tokens/s", _num(m.output_tokens_per_s)),
        ("output tokens/s per GPU", _num(m.output_tokens_per_s_per_gpu)),
        ("tokens/s per user", _num(m.tokens_per_s_per_user)),
        ("TPOT", _num(m.tpot_ms, "ms")),
        ("TTFT", _num(m.ttft_ms, "ms")),
        ("$ per M output tokens", _num(m.usd_per_mtok_output)),
        ("$ per M input tokens", _num(m.usd_per_mtok_input)),
        ("$ per M output tokens, all-in", _num(m.usd_per_mtok_all_in)),
        ("$ per hour", _num(m.usd_per_hour)),
    ]
    for r in rows:
        t.add_row(*r)
    console.print(t)

    mem, br = d.memory_per_gpu_gb, d.time_breakdown_ms
    where = "the decode pool's bottleneck stage" if pooled else "the bottleneck stage"
    t = Table(title=f"Memory per GPU and time of one step of {where}", title_justify="left")
    for col, just in (("memory", "left"), ("GB", "right"), ("step part", "left"), ("ms", "right")):
        t.add_column(col, justify=just)
    mem_rows = [("weights", "weights"), ("KV cache", "kv_cache"), ("activations", "activations"), ("runtime reserve", "reserve"), ("total", "total"), ("usable", "capacity")]
    time_rows = [
        ("compute", "compute"), ("HBM: weights", "memory_weights"), ("HBM: KV", "memory_kv"), ("TP all-reduce", "comm_tp_allreduce"),
        ("MoE dispatch+combine", "comm_moe_dispatch_combine"), ("PP hops (per token)", "comm_pp_hops"), ("fixed overhead", "overhead"),
        ("stage step", "stage_step"), ("prefill (TTFT part)", "prefill"),
    ]
    for k in range(max(len(mem_rows), len(time_rows))):
        left = (mem_rows[k][0], _num(getattr(mem, mem_rows[k][1]))) if k < len(mem_rows) else ("", "")
        right = (time_rows[k][0], _num(getattr(br, time_rows[k][1]))) if k < len(time_rows) else ("", "")
        t.add_row(*left, *right)
    console.print(t)
    binding = ", ".join(d.binding_constraints) or "none"
    console.print(f"bottleneck: [bold]{d.bottleneck}[/]   binding constraints: [bold]{binding}[/]")
    _alternatives_table(d, console, pooled)
    s = d.solver
    if s.status is not None:
        console.print(
            f"solver: CP-SAT {s.status}, objective {s.objective} = {_num(s.objective_value)}, "
            f"bound {_num(s.bound)}, {s.wall_time_s:.3f} s, {s.options_to_solver} of {s.options_considered} layouts"
        )


def _alternatives_table(d: Doc, console: Console, pooled: bool) -> None:
    if d.alternatives:
        title = "Next best decode-pool layouts (decode-only cost, prefill not included)" if pooled else "Next best layouts"
        t = Table(title=title, title_justify="left")
        for col in ("layout", "batch", "GPUs", "TPOT ms", "tok/s/GPU", "$/Mtok out", "$/Mtok all-in", "bottleneck"):
            t.add_column(col, justify="right" if col not in ("layout", "bottleneck") else "left", no_wrap=col == "layout")
        for a in d.alternatives:
            t.add_row(
                _layout(a.layout), str(a.batch), str(a.gpus_used), _num(a.tpot_ms),
                _num(a.output_tokens_per_s_per_gpu), _num(a.usd_per_mtok_output), _num(a.usd_per_mtok_all_in), a.bottleneck,
            )
        console.print(t)


def _short(ids: list[int]) -> str:
    if len(ids) <= 4:
        return ",".join(map(str, ids))
    return f"{ids[0]}..{ids[-1]} ({len(ids)})"


def render_pools(d: Doc, console: Console) -> None:
    """The two pools of a disaggregated plan and their request-rate balance, and
    (``--mode auto``) what each serving mode would cost."""
    compared = d.solver.modes_compared
    if compared:
        shown = ", ".join(f"{k} {_num(v) if isinstance(v, float) else v}" for k, v in compared.items())
        console.print(f"mode: [bold]{d.inputs.mode}[/] (auto compared {d.solver.objective}: {shown})")
    pools = d.pools
    if pools is None:
        return
    t = Table(title="Pools (disaggregated serving; n replicas, figures per replica)", title_justify="left", box=box.SIMPLE_HEAD)
    for col in ("pool", "layout", "n", "GPUs", "batch", "req/s", "TTFT|TPOT ms", "$/h"):
        t.add_column(col, justify="left" if col in ("pool", "layout") else "right", no_wrap=True)
    for role, pool in (("prefill", pools.prefill), ("decode", pools.decode)):
        for o in pool.options:
            t.add_row(
                role, _layout(o.layout), str(o.replicas), str(o.gpus_each), str(o.batch), _num(o.requests_per_s_each),
                _num(o.ttft_ms if role == "prefill" else o.tpot_ms), _num(o.usd_per_hour_each),
            )
    console.print(t)
    b = pools.balance
    link = (pools.prefill.kv_transfer_link or "").replace("_", "-")
    console.print(
        f"balance: prefill {_num(b.prefill_requests_per_s)} req/s >= decode {_num(b.decode_requests_per_s)} req/s "
        f"(x{b.prefill_over_decode:.3f}); KV moves over {link} links"
    )
