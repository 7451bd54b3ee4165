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
    from ...inputs.errors import InputError

    try:
        path.write_text(text)
    except OSError as exc:
        raise InputError(f"{flag} {path}: cannot write ({exc.strerror})") from None


def register(app: typer.Typer) -> None:
    from .. import common as c
    from ...inputs.errors import PlannerError

    GPUS = typer.Option(None, "--gpus", help="Shared GPU budget: every topology gets enough domains for this many GPUs and uses at most this many.")
    PLOT = typer.Option(None, "--plot", help="Write a plot to this file (.png or .svg).")

    def query(isl, osl, kv_len, wd, kd, ttft, tpot, price):
        from ...api import Query

        return Query(isl=isl, osl=osl, kv_len=kv_len, weight_dtype=wd, kv_dtype=kd, ttft_ms=ttft, tpot_ms=tpot, price_per_gpu_hour=price)

    @app.command()
    def compare(
        workload: str = c.W,
        topologies: str = typer.Option(DEFAULT_COMPARE, "--topologies", help="Comma-separated topologies (first = reference for ratios), or 'all'."),
        isl: Optional[int] = c.ISL, osl: Optional[int] = c.OSL, kv_len: Optional[int] = c.KVL,
        weight_dtype: Optional[str] = c.WD, kv_dtype: Optional[str] = c.KD, ttft_ms: Optional[float] = c.TTFT, tpot_ms: Optional[float] = c.TPOT,
        price_per_gpu_hour: Optional[float] = typer.Option(None, "--price-per-gpu-hour", help="One $/GPU-hour for every topology (default: each file's price)."),
        gpus: Optional[int] = GPUS,
        time_limit: float = typer.Option(10.0, "--time-limit", help="Solver time limit per topology (s)."),
        mode: str = typer.Option("agg", "--mode", help="Serving mode: agg (default, fast), disagg, or auto (the cheaper of the two, as plan does; slower)."),
        as_json: bool = typer.Option(False, "--json", help="Print the comparison as JSON."),
        plot: Optional[Path] = PLOT,
    ) -> None:
        """Best plan of one workload on each topology under the same SLOs: $/Mtok, tok/s per GPU and per user, layout, ratio to the first."""
        from rich.console import Console

        from ...analysis import analysis, report
        from ...plan.assembly import SCHEMA_VERSION

        try:
            if plot is not None:
                report.check_plot_path(plot)
            q = query(isl, osl, kv_len, weight_dtype, kv_dtype, ttft_ms, tpot_ms, price_per_gpu_hour)
            rows = analysis.compare(workload, _names(topologies), q, max_gpus=gpus, time_limit_s=time_limit, mode=mode)
            first = next((r.plan for r in rows if r.plan is not None), None)
            inputs = {k: first.inputs[k] for k in ("workload", "slo", "traffic", "precision")} if first else {"workload": {"name": workload}}
            title = f"{inputs['workload']['name']}" + (f" | TPOT SLO {inputs['slo']['tpot_ms']:g} ms, TTFT {inputs['slo']['ttft_ms']:g} ms" if first else "")
            if plot is not None:
                report.plot_compare(rows, plot, title=f"{title}: best plan per topology")
            if as_json:
                typer.echo(json.dumps({"schema_version": SCHEMA_VERSION, "kind": "compare", "inputs": inputs, "max_gpus": gpus,
                                       "rows": [r.to_dict() for r in rows]}, indent=2))
            else:
                report.compare_table(rows, Console(), title=title)
                if plot is not None:
                    typer.echo(f"plot written to {plot}")
        except PlannerError as exc:
            c._fail(exc)

    @app.command()
    def frontier(
        workload: str = c.W,
        topologies: str = typer.Option(DEFAULT_FRONTIER, "--topologies", "--topology", "-t", help="One or several comma-separated topologies, or 'all'."),
        isl: Optional[int] = c.ISL, osl: Optional[int] = c.OSL, kv_len: Optional[int] = c.KVL,
        weight_dtype: Optional[str] = c.WD, kv_dtype: Optional[str] = c.KD, ttft_ms: Optional[float] = c.TTFT, tpot_ms: Optional[float] = c.TPOT,
        price_per_gpu_hour: Optional[float] = typer.Option(None, "--price-per-gpu-hour", help="One $/GPU-hour for every topology."),
        gpus: Optional[int] = GPUS,
        csv_path: Optional[Path] = typer.Option(None, "--csv", help="Write every frontier point to this CSV file."),
        as_json: bool = typer.Option(False, "--json", help="Print the frontiers as JSON."),
        plot: Optional[Path] = PLOT,
    ) -> None:
        """Pareto frontiers (tok/s per GPU vs tok/s per user; $/Mtok vs TPOT) over every layout and batch that fits memory."""
        from rich.console import Console

        from ...analysis import analysis, report
        from ...plan.assembly import SCHEMA_VERSION

        try:
            if plot is not None:
                report.check_plot_path(plot)
            q = query(isl, osl, kv_len, weight_dtype, kv_dtype, ttft_ms, tpot_ms, price_per_gpu_hour)
            res = analysis.frontier(workload, _names(topologies), q, max_gpus=gpus)
            slo = res[0].slo.get("tpot_ms")
            if plot is not None:
                report.plot_frontier(res, plot, tpot_slo_ms=slo, title=f"{workload}: Pareto frontiers over every layout and batch (memory limits kept)")
            if csv_path is not None:
                import csv
                import io

                buf = io.StringIO()
                wr = csv.DictWriter(buf, fieldnames=analysis.CSV_COLUMNS, extrasaction="ignore", lineterminator="\n")
                wr.writeheader()
                wr.writerows(analysis.frontier_rows(res))
                _write(csv_path, buf.getvalue(), "--csv")
            if as_json:
                typer.echo(json.dumps({"schema_version": SCHEMA_VERSION, "kind": "frontier", "workload": workload, "max_gpus": gpus,
                                       "topologies": [r.to_dict() for r in res]}, indent=2))
            else:
                report.frontier_table(res, Console())
                for p, what in ((plot, "plot"), (csv_path, "CSV")):
                    if p is not None:
                        typer.echo(f"{what} written to {p}")
        except PlannerError as exc:
            c._fail(exc)

    @app.command()
    def explain(
        workload: str = c.W, topology: str = c.T, isl: Optional[int] = c.ISL, osl: Optional[int] = c.OSL, kv_len: Optional[int] = c.KVL,
        weight_dtype: Optional[str] = c.WD, kv_dtype: Optional[str] = c.KD, ttft_ms: Optional[float] = c.TTFT, tpot_ms: Optional[float] = c.TPOT,
        nodes: Optional[int] = c.NODES, racks: Optional[int] = c.RACKS, price_per_gpu_hour: Optional[float] = c.PRICE,
        unavailable: Optional[str] = c.DOWN,
        as_json: bool = typer.Option(False, "--json", help="Print the seeds as JSON."),
        plot: Optional[Path] = PLOT,
    ) -> None:
        """The seeds of the cost model for one workload on one topology, each with its number and a one-line takeaway."""
        from rich.console import Console

        from ...analysis import report
        from ...analysis.explain import explain as explain_api

        try:
            if plot is not None:
                report.check_plot_path(plot)
            q = c._query(topology, isl, osl, kv_len, weight_dtype, kv_dtype, ttft_ms, tpot_ms, nodes, racks, price_per_gpu_hour, unavailable)
            e = explain_api(workload, topology, q)
            if plot is not None:
                report.plot_explain(e, plot)
            if as_json:
                typer.echo(json.dumps({"kind": "explain", **e.to_dict()}, indent=2))
            else:
                report.explain_table(e, Console())
                if plot is not None:
                    typer.echo(f"plot written to {plot}")
        except PlannerError as exc:
            c._fail(exc)
