"""``planner sweep`` and ``planner report``: thin typer shells over
:mod:`planner.analysis.sweep` (run a study) and :mod:`planner.analysis.sweep.report` (view it)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer


def _progress(total_todo: int):
    """A rich progress bar on a TTY (done / failed / ETA), else nothing."""
    if not sys.stderr.isatty() or total_todo == 0:
        return None
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    bar = Progress(
        TextColumn("sweep"), BarColumn(), MofNCompleteColumn(), TextColumn("failed {task.fields[failed]}"),
        TextColumn("ETA"), TimeRemainingColumn(), console=Console(stderr=True), transient=True,
    )
    return bar


def _summary_lines(study, summary, out: Path) -> list[str]:
    t = summary.totals
    lines = [
        f"study {study.name!r}: {summary.scenarios} scenarios (product {study.product_size}, "
        f"{study.filtered_out} filtered out, {len(study.scenarios) - (study.product_size - study.filtered_out)} extra points"
        + (f", {study.extra_duplicates} extra points already in the product" if study.extra_duplicates else "") + ")",
        f"ran {summary.ran}, {summary.skipped} already done; in the results: {t['optimal']} optimal, {t['feasible']} feasible "
        f"(not proven optimal), {t['infeasible']} infeasible, "
        f"{t['time-limit']} stopped by the time limit, {t['error']} errors",
        f"wrote {out} ({summary.rows_written} rows) in {summary.wall_s:.1f} s",
    ]
    return lines


def register(app: typer.Typer) -> None:
    from .. import common as c
    from ...inputs.errors import PlannerError

    @app.command()
    def sweep(
        study: Path = typer.Argument(..., help="Study file (YAML): axes, filter, extra points. Schema: docs/schema/study.schema.json."),
        out: Path = typer.Option(..., "--out", "-o", help="Results (Parquet). Parts and an index go to OUT.parts/ as scenarios finish."),
        workers: Optional[int] = typer.Option(None, "--workers", help="Local worker processes (default: the usable cores); 1 = in this process."),
        ray: Optional[str] = typer.Option(None, "--ray", help="Run on Ray: 'auto' starts a local instance, or a cluster ADDRESS. Needs pip install 'rack-planner[ray]'."),
        restart: bool = typer.Option(False, "--restart", help="Discard results already in OUT.parts/ and start over."),
        flush_every: Optional[int] = typer.Option(None, "--flush-every", min=1, max=100_000, help="Write a part at least every N finished scenarios (default 64; also every 5 s)."),
    ) -> None:
        """Run a capacity study: every scenario of the study through the same planner as `planner plan`; resumable."""
        from ...analysis.sweep.run import run_study
        from ...inputs import interrupts
        from ...analysis.sweep.expand import load_study

        try:
            s = load_study(study)
            state = {"bar": None, "task": None, "failed": 0}

            def on_start(total: int, skipped: int) -> None:
                bar = _progress(total - skipped)
                if bar is not None:
                    bar.start()
                    state["bar"], state["task"] = bar, bar.add_task("sweep", total=total - skipped, failed=0)

            def on_row(row: dict) -> None:
                if row["status"] == "error":
                    state["failed"] += 1
                if state["bar"] is not None:
                    state["bar"].update(state["task"], advance=1, failed=state["failed"])

            try:
                summary = run_study(s, out, workers=workers, ray=ray, restart=restart, flush_rows=flush_every,
                                    on_row=on_row, on_start=on_start)
            except interrupts.Interrupted:
                typer.echo(f"note: finished scenarios are kept in {out}.parts/; rerun the same command to resume", err=True)
                raise
            finally:
                if state["bar"] is not None:
                    state["bar"].stop()
            for line in _summary_lines(s, summary, out):
                typer.echo(line)
            if summary.feasible == 0:
                typer.echo("error: no scenario of the study is feasible (see the reason column)", err=True)
                raise typer.Exit(3)
        except PlannerError as exc:
            c._fail(exc)

    @app.command()
    def report(
        results: Path = typer.Argument(..., help="Results of planner sweep (Parquet)."),
        html: Optional[Path] = typer.Option(None, "--html", help="Write one self-contained HTML page (plots and a sortable table; works offline)."),
        csv: Optional[Path] = typer.Option(None, "--csv", help="Write the rows as CSV."),
    ) -> None:
        """Report on sweep results: cost frontier per GPU generation, $/Mtok vs SLO, cheapest option per demand, table."""
        from ...analysis.sweep import report as rep

        try:
            if html is None and csv is None:
                from ...inputs.errors import InputError

                raise InputError("report: give --html FILE, --csv FILE or both")
            table = rep.read_results(results)
            if csv is not None:
                rep.write_csv(table, csv)
                typer.echo(f"wrote {csv} ({table.num_rows} rows)")
            if html is not None:
                rep.write_html(table, html, title=rep.title_of(table, results))
                typer.echo(f"wrote {html}")
        except PlannerError as exc:
            c._fail(exc)
