"""``planner fleet``: several workloads with throughput demands on a mixed inventory.

A thin shell over :func:`planner.plan.fleet.plan_fleet`. Exit 0 when every demand is
met; 3 (after printing the plan) when only a fraction can be, naming what binds.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ..common import ENGINE


def register(app: typer.Typer) -> None:
    app.command(name="fleet")(fleet)


def fleet(
    inventory: Path = typer.Option(..., "--inventory", help="Inventory YAML: groups of racks/nodes with counts, prices, unavailable GPUs."),
    demands: Path = typer.Option(..., "--demands", help="Demands YAML: workloads with output tokens/s and SLOs."),
    time_limit: float = typer.Option(60.0, "--time-limit", help="Time limit for the whole command (s): past it, the best plan found with its gap, or exit 4."),
    workers: int = typer.Option(2, "--workers", help="Solver threads."),
    engine: Optional[str] = ENGINE,
    as_json: bool = typer.Option(False, "--json", help="Print the fleet plan as JSON."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Also write the JSON plan to this file."),
) -> None:
    """Choose layouts, replica counts and placement for every demand at least $/hour."""
    from ...inputs.errors import PlannerError
    from ..common import time_limit as time_limit_of
    from ...plan.fleet import plan_fleet

    from ...inputs.ranges import TIME_LIMIT_S, WORKERS

    try:
        WORKERS.check("--workers", workers)
        TIME_LIMIT_S.check("--time-limit", time_limit)
        with time_limit_of(time_limit):
            _fleet(inventory, demands, time_limit, workers, as_json, out, engine)
    except PlannerError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(exc.exit_code)


def _fleet(inventory: Path, demands: Path, time_limit: float, workers: int, as_json: bool, out: Optional[Path],
           engine: Optional[str] = None) -> None:
    """Plan, print, write; then exit 3 (proven: not every demand can be met) or
    4 (the time limit came first: what was found is no proof of capacity)."""
    from ...inputs.errors import InfeasibleError, TimeLimitError
    from ...plan.fleet import plan_fleet
    from ...search import deadline
    from ..common import write_out
    from ..console import progress

    with progress("fleet", None, enabled=not as_json) as bar:
        def step(label: str) -> None:
            bar.advance(label)
            bar.note(f"{label}; then the solve (at most {time_limit:g} s in all)")

        f = plan_fleet(inventory, demands, time_limit_s=time_limit, workers=workers, on_step=step, engine=engine)
    text = f.to_json()
    write_out(out, text)
    if as_json:
        typer.echo(text)
    else:
        _render(f.document())
    binding = "; ".join(b for b in f.binding if not b.startswith("time limit:")) or "unknown"
    if f.status == "partial":  # proven: the common fraction is the most any plan serves
        raise InfeasibleError(f"demand: at most {f.fraction_met:.1%} of every demand can be served (proven); binding: {binding}")
    if f.status == "partial-unproven" and f.fraction_bound is not None and f.fraction_bound < 1.0:
        # meeting every demand is proven impossible (the bound), though this plan's fraction is not proven best
        raise InfeasibleError(
            f"demand: at most {f.fraction_bound:.1%} of every demand can be served (proven); this plan serves "
            f"{f.fraction_met:.1%} of each (not proven best); binding: {binding}"
        )
    if f.status == "partial-unproven":
        raise TimeLimitError(deadline.message(
            f"no plan meeting every demand (the best found serves {f.fraction_met:.1%} of each)"
        ))
    if f.status not in ("optimal", "feasible"):
        raise TimeLimitError(deadline.message())


def _render(d) -> None:
    """Tables of a fleet plan, read from its typed document (planner.plan.fleet_document)."""
    from rich.table import Table

    from ..console import console
    from ...inputs.coverage import cell
    from ...plan.text import layout_label, num as _num

    c = console()
    color = {"optimal": "green", "feasible": "yellow"}.get(d.status, "red")
    c.print(
        f"fleet plan: [{color}]{d.status}[/]  ${_num(d.usd_per_hour)}/h  "
        f"gap {('-' if d.gap is None else f'{d.gap:.3%}')}  "
        f"demand met {_pct(d.fraction_met)}  solver {d.wall_s:.2f} s of {d.time_limit_s:g} s"
    )
    t = Table(title="Workloads", title_justify="left")
    for col in ("demand", "tok/s wanted", "tok/s served", "$/h", "$/Mtok", "replicas", "layout", "batch", "group", "checked"):
        t.add_column(col, justify="left" if col in ("demand", "layout", "group") else "right", no_wrap=col in ("layout", "demand"))
    for w in d.workloads:
        head = [f"{w.name}\n[dim]{w.workload}[/]", _num(w.demand_output_tokens_per_s), _num(w.served_output_tokens_per_s),
                _num(w.usd_per_hour), _num(w.usd_per_mtok_all_in)]
        rows = w.replicas or [None]
        checked = {f.group: cell(f.blind_spot, f.cases, f.median_abs_error, f.modes or (), f.scope or "") for f in w.fidelity or []}
        for k, r in enumerate(rows):
            tail = ([str(r.count), layout_label(r.layout.model_dump()), str(r.batch), r.group, checked.get(r.group, "-")] if r
                    else ["-", "-", "-", "-", "-"])
            t.add_row(*(head if k == 0 else [""] * len(head)), *tail)
    c.print(t)
    t = Table(title="Inventory", title_justify="left")
    for col in ("group", "topology", "domains", "GPUs", "unavailable", "used", "utilisation", "$/GPU-h"):
        t.add_column(col, justify="left" if col in ("group", "topology") else "right")
    for g in d.groups:
        t.add_row(g.name, g.topology, _num(g.domains), _num(g.gpus), _num(g.unavailable), _num(g.used), _pct(g.utilisation),
                  _num(g.price_usd_per_gpu_hour))
    c.print(t)
    if any(w.fidelity for w in d.workloads):
        from ...inputs.coverage import CHECKED_NOTE

        c.print(CHECKED_NOTE, highlight=False)
    if d.engine:
        from rich.markup import escape

        from ...inputs.errors import one_line

        c.print(f"[dim]engine: layouts {escape(one_line(d.engine, 40))} launches, priced with its measured kernel costs (planner export --engine)[/]")
    c.print(f"binding: [bold]{'; '.join(d.binding) or 'none'}[/]")
    m = d.model
    c.print(f"model: {m.options} options, {m.classes} domain classes over {m.domains:,} domains, {m.layouts_rated:,} layouts rated")


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{x:.1%}"
