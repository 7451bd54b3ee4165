"""``planner compare``, ``planner frontier`` and ``planner explain``: thin typer
shells over :mod:`planner.analysis.analysis` (numbers) and :mod:`planner.analysis.report` (views).
Heavy imports happen inside the commands."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

# The rack generations of issue 3, oldest first; ``--topologies all`` takes every shipped one.
DEFAULT_COMPARE = "hgx-h100,hgx-h200,hgx-b200,gb200-nvl72,gb300-nvl72,vr200-nvl144"
DEFAULT_FRONTIER = "hgx-h200,gb200-nvl72"


def _names(text: str) -> list[str]:
    from ...inputs.datafiles import shipped_names
    from ...inputs.errors import InputError

    if text.strip() == "all":
        return shipped_names("topologies")
    names = [t.strip() for t in text.split(",") if t.strip()]
    if not names:
        raise InputError("--topologies: give comma-separated topology names or paths, or 'all'")
    return list(dict.fromkeys(names))


def _write(path: Path, text: str, flag: str) -> None:
    from ...inputs.safeio import atomic_write

    atomic_write(path, text, flag)


TIME_LIMIT = typer.Option(10.0, "--time-limit", help="Time limit for the whole command, every topology included (s): past it, "
                          "each topology's best plan so far, 'time limit' for those without one, and exit 4.")
GPUS = typer.Option(None, "--gpus", help="Shared GPU budget: every topology gets enough domains for this many GPUs and uses at most this many.")
PLOT = typer.Option(None, "--plot", help="Write a plot to this file (.png or .svg).")


def query(isl, osl, kv_len, wd, kd, ttft, tpot, price, cached=None, hit=None, hold=None):
    from ...api import Query

    return Query(isl=isl, osl=osl, kv_len=kv_len, weight_dtype=wd, kv_dtype=kd, ttft_ms=ttft, tpot_ms=tpot, price_per_gpu_hour=price,
                 cached_prefix=cached, prefix_hit_rate=hit, prefix_hold_s=hold)


def register(app: typer.Typer) -> None:
    _register_compare(app)
    _register_frontier(app)
    _register_explain(app)


def _register_compare(app: typer.Typer) -> None:
    from .. import common as c
    from ...inputs.errors import PlannerError
    from ...inputs.jsonout import dumps

    @app.command()
    def compare(
        workload: str = c.W,
        topologies: str = typer.Option(DEFAULT_COMPARE, "--topologies", help="Comma-separated topologies (first = reference for ratios), or 'all'."),
        isl: Optional[int] = c.ISL, osl: Optional[int] = c.OSL, kv_len: Optional[int] = c.KVL,
        weight_dtype: Optional[str] = c.WD, kv_dtype: Optional[str] = c.KD, ttft_ms: Optional[float] = c.TTFT, tpot_ms: Optional[float] = c.TPOT,
        price_per_gpu_hour: Optional[float] = typer.Option(None, "--price-per-gpu-hour", help="One $/GPU-hour for every topology (default: each file's price)."),
        cached_prefix: Optional[int] = c.CACHED, prefix_hit_rate: Optional[float] = c.HIT, prefix_hold_s: Optional[float] = c.HOLD,
        speculative: Optional[str] = c.SPEC, draft_tokens: Optional[int] = c.DRAFT, acceptance_rate: Optional[float] = c.ACCEPT,
        gpus: Optional[int] = GPUS,
        demand_tps: Optional[float] = typer.Option(None, "--demand-tps", help="Serve this many output tokens/s: per topology, the cheapest deployment that does, with its GPUs, nodes or racks, $/hour and $/Mtok."),
        time_limit: float = TIME_LIMIT,
        mode: str = typer.Option("auto", "--mode", help="Serving mode, as plan: auto (default: both, the cheaper), agg (prefill and decode share replicas) or disagg (separate pools)."),
        engine: Optional[str] = c.ENGINE,
        fmt: str = typer.Option("table", "--format", "-f", help="Output format: table, json or csv."),
        as_json: bool = typer.Option(False, "--json", help="Print the comparison as JSON (same as --format json)."),
        plot: Optional[Path] = PLOT, allow_download: bool = c.DL,
    ) -> None:
        """Best plan of one workload on each topology under the same SLOs: $/Mtok, tok/s per GPU and per user, layout,
        $/GPU-hour used (estimates marked *), ratio to the first. With --demand-tps: the cheapest deployment serving
        that demand on each topology."""
        from ...analysis import report
        from ...inputs.listing import check_format

        try:
            fmt = check_format(fmt, as_json)
            if plot is not None:
                if demand_tps is not None:
                    from ...inputs.errors import InputError

                    raise InputError("--plot draws the per-topology best plans; it does not combine with --demand-tps")
                report.check_plot_path(plot)
            q = query(isl, osl, kv_len, weight_dtype, kv_dtype, ttft_ms, tpot_ms, price_per_gpu_hour, cached_prefix, prefix_hit_rate, prefix_hold_s)
            q = c.with_speculative(q, speculative, draft_tokens, acceptance_rate)
            from ...physics import engine_limits

            engine_limits.check(engine)  # before a model is read or downloaded
            names = _names(topologies)
            wl = c.workload_arg(workload, allow_download)
            with c.time_limit(time_limit):
                _compare(wl, names, q, gpus, demand_tps, time_limit, mode, fmt, plot, workload, engine)
        except PlannerError as exc:
            c._fail(exc)

def _compare(wl, names, q, gpus, demand_tps, time_limit, mode, fmt, plot, workload, engine=None) -> None:
    """The comparison (or, with --demand-tps, the demand table) printed in ``fmt``;
    exit 4 after printing when the deadline left a topology without a plan."""
    from .. import common as c
    from ..console import console, progress
    from ...analysis import analysis, report
    from ...inputs.jsonout import dumps

    with progress("compare", len(names), enabled=fmt == "table") as bar:
        if demand_tps is not None:
            if gpus is not None:
                from ...inputs.errors import InputError

                raise InputError("--demand-tps sizes each topology to the demand: drop --gpus")
            from ...analysis.demand import compare_demand

            drows = compare_demand(wl, names, q, demand_tps, time_limit_s=time_limit, mode=mode, on_step=bar.advance, engine=engine)
            _emit_demand(drows, demand_tps, fmt, workload, engine)
            return c.timed_out([(r.topology, r.error) for r in drows], "topologies")
        rows = analysis.compare(wl, names, q, max_gpus=gpus, time_limit_s=time_limit, mode=mode, on_step=bar.advance, engine=engine)
    first = next((r.plan for r in rows if r.plan is not None), None)
    inputs = {k: first.inputs[k] for k in ("workload", "slo", "traffic", "precision")} if first else {"workload": {"name": workload}}
    title = f"{inputs['workload']['name']}" + (f" | TPOT SLO {inputs['slo']['tpot_ms']:g} ms, TTFT {inputs['slo']['ttft_ms']:g} ms" if first else "")
    if engine:
        inputs["engine"] = engine
        title += f" | layouts {engine} launches, its kernel costs"
    if plot is not None:
        report.plot_compare(rows, plot, title=f"{title}: best plan per topology")
    if fmt == "json":
        from ...plan.assembly import SCHEMA_VERSION

        typer.echo(dumps({"schema_version": SCHEMA_VERSION, "kind": "compare", "inputs": inputs, "max_gpus": gpus,
                          "rows": [r.to_dict() for r in rows]}, indent=2))
    elif fmt == "csv":
        typer.echo(_csv([_flat(r.to_dict()) for r in rows]), nl=False)
    else:
        report.compare_table(rows, console(), title=title)
        if plot is not None:
            typer.echo(f"plot written to {plot}")
    c.timed_out([(r.sizing.topology, r.error) for r in rows], "topologies")


def _register_frontier(app: typer.Typer) -> None:
    from .. import common as c
    from ...inputs.errors import PlannerError
    from ...inputs.jsonout import dumps

    @app.command()
    def frontier(
        workload: str = c.W,
        topologies: str = typer.Option(DEFAULT_FRONTIER, "--topologies", "--topology", "-t", help="One or several comma-separated topologies, or 'all'."),
        isl: Optional[int] = c.ISL, osl: Optional[int] = c.OSL, kv_len: Optional[int] = c.KVL,
        weight_dtype: Optional[str] = c.WD, kv_dtype: Optional[str] = c.KD, ttft_ms: Optional[float] = c.TTFT, tpot_ms: Optional[float] = c.TPOT,
        price_per_gpu_hour: Optional[float] = typer.Option(None, "--price-per-gpu-hour", help="One $/GPU-hour for every topology."),
        gpus: Optional[int] = GPUS,
        csv_path: Optional[Path] = typer.Option(None, "--csv", help="Write every frontier point to this CSV file."),
        time_limit: float = TIME_LIMIT,
        fmt: str = typer.Option("table", "--format", "-f", help="Output format: table, json or csv (every frontier point)."),
        as_json: bool = typer.Option(False, "--json", help="Print the frontiers as JSON (same as --format json)."),
        plot: Optional[Path] = PLOT, allow_download: bool = c.DL,
    ) -> None:
        """Pareto frontiers (tok/s per GPU vs tok/s per user; $/Mtok vs TPOT) over every layout and batch that fits memory."""
        from ..console import console, progress
        from ...analysis import analysis, report
        from ...analysis.frontier_csv import CSV_COLUMNS, frontier_rows
        from ...inputs.listing import check_format, to_csv
        from ...plan.assembly import SCHEMA_VERSION

        try:
            fmt = check_format(fmt, as_json)
            if plot is not None:
                report.check_plot_path(plot)
            with c.time_limit(time_limit):
                q = query(isl, osl, kv_len, weight_dtype, kv_dtype, ttft_ms, tpot_ms, price_per_gpu_hour)
                names = _names(topologies)
                with progress("frontier", len(names), enabled=fmt == "table") as bar:
                    res = analysis.frontier(c.workload_arg(workload, allow_download), names, q, max_gpus=gpus, time_limit_s=time_limit,
                                           on_step=bar.advance)
                slo = res[0].slo.get("tpot_ms")
                if plot is not None:
                    report.plot_frontier(res, plot, tpot_slo_ms=slo, title=f"{workload}: Pareto frontiers over every layout and batch (memory limits kept)")
                points = to_csv(frontier_rows(res), list(CSV_COLUMNS))
                if csv_path is not None:
                    _write(csv_path, points, "--csv")
                if fmt == "csv":
                    typer.echo(points, nl=False)
                elif fmt == "json":
                    typer.echo(dumps({"schema_version": SCHEMA_VERSION, "kind": "frontier", "workload": workload, "max_gpus": gpus,
                                           "topologies": [r.to_dict() for r in res]}, indent=2))
                else:
                    report.frontier_table(res, console())
                    for p, what in ((plot, "plot"), (csv_path, "CSV")):
                        if p is not None:
                            typer.echo(f"{what} written to {p}")
                c.timed_out([(r.sizing.topology, r.chosen_error) for r in res], "chosen plans")
        except PlannerError as exc:
            c._fail(exc)


def _register_explain(app: typer.Typer) -> None:
    from .. import common as c
    from ...inputs.errors import PlannerError
    from ...inputs.jsonout import dumps

    @app.command()
    def explain(
        workload: str = c.W, topology: str = c.T, isl: Optional[int] = c.ISL, osl: Optional[int] = c.OSL, kv_len: Optional[int] = c.KVL,
        weight_dtype: Optional[str] = c.WD, kv_dtype: Optional[str] = c.KD, ttft_ms: Optional[float] = c.TTFT, tpot_ms: Optional[float] = c.TPOT,
        nodes: Optional[int] = c.NODES, racks: Optional[int] = c.RACKS, price_per_gpu_hour: Optional[float] = c.PRICE,
        unavailable: Optional[str] = c.DOWN,
        cached_prefix: Optional[int] = c.CACHED, prefix_hit_rate: Optional[float] = c.HIT, prefix_hold_s: Optional[float] = c.HOLD,
        speculative: Optional[str] = c.SPEC, draft_tokens: Optional[int] = c.DRAFT, acceptance_rate: Optional[float] = c.ACCEPT,
        as_json: bool = typer.Option(False, "--json", help="Print the seeds as JSON."),
        plot: Optional[Path] = PLOT, allow_download: bool = c.DL,
    ) -> None:
        """The seeds of the cost model for one workload on one topology, each with its number and a one-line takeaway."""
        from ..console import console
        from ...analysis import report
        from ...analysis.explain import explain as explain_api

        try:
            if plot is not None:
                report.check_plot_path(plot)
            q = c._query(topology, isl, osl, kv_len, weight_dtype, kv_dtype, ttft_ms, tpot_ms, nodes, racks, price_per_gpu_hour, unavailable)
            q = c.with_speculative(c.with_prefix(q, cached_prefix, prefix_hit_rate, prefix_hold_s), speculative, draft_tokens, acceptance_rate)
            e = explain_api(c.workload_arg(workload, allow_download), topology, q)
            if plot is not None:
                report.plot_explain(e, plot)
            if as_json:
                typer.echo(dumps({"kind": "explain", **e.to_dict()}, indent=2))
            else:
                report.explain_table(e, console())
                if plot is not None:
                    typer.echo(f"plot written to {plot}")
        except PlannerError as exc:
            c._fail(exc)


def _flat(d: dict, prefix: str = "") -> dict:
    """One CSV row: nested keys joined with '.', lists with spaces."""
    out: dict = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(_flat(v, key + "."))
        elif isinstance(v, list):
            out[key] = " ".join(json.dumps(x, sort_keys=True) if isinstance(x, dict) else str(x) for x in v)
        else:
            out[key] = v
    return out


def _csv(rows: list[dict]) -> str:
    from ...inputs.listing import to_csv

    # the widest row (a feasible one) sets the column order, so the same columns come in the
    # same order whichever topology is infeasible
    columns = list(dict.fromkeys(k for r in sorted(rows, key=len, reverse=True) for k in r))
    return to_csv(rows, columns)


def _emit_demand(rows, demand_tps: float, fmt: str, workload: str, engine: str | None = None) -> None:
    from ...inputs.jsonout import dumps
    from ..console import console
    from ...analysis import report
    from ...plan.assembly import SCHEMA_VERSION

    if fmt == "json":
        first = next((r.plan for r in rows if r.plan is not None), None)
        inputs = {k: first.inputs[k] for k in ("workload", "slo", "traffic", "precision")} if first else {"workload": {"name": workload}}
        if engine:
            inputs["engine"] = engine
        typer.echo(dumps({"schema_version": SCHEMA_VERSION, "kind": "compare-demand", "demand_tps": demand_tps, "inputs": inputs,
                               "rows": [r.to_dict() for r in rows]}, indent=2))
    elif fmt == "csv":
        typer.echo(_csv([_flat(r.to_dict()) for r in rows]), nl=False)
    else:
        first = next((r.plan for r in rows if r.plan is not None), None)
        head = first.inputs["workload"]["name"] if first else workload
        slo = f" | TPOT SLO {first.inputs['slo']['tpot_ms']:g} ms, TTFT {first.inputs['slo']['ttft_ms']:g} ms" if first else ""
        eng = f" | layouts {engine} launches, its kernel costs" if engine else ""
        report.demand_table(rows, console(), title=f"{head} serving {demand_tps:,.0f} output tokens/s{slo}{eng}: cheapest deployment per topology")
