"""``planner validate``: the cost model against published measurements, a thin
shell over :func:`planner.analysis.fidelity.validate` (docs/fidelity.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer


def register(app: typer.Typer) -> None:
    from ...inputs.errors import PlannerError

    @app.command()
    def validate(
        measurements: Optional[Path] = typer.Option(
            None, "--measurements", "-m", help="Measurements YAML (format of calibration/measurements.yaml); default: the shipped cases."
        ),
        as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
    ) -> None:
        """Predicted vs measured for every expressible record, the signed error, then the median and maximum absolute error."""
        from ...analysis import fidelity

        from ..console import progress

        try:
            with progress("validate", None, enabled=not as_json) as bar:
                report = fidelity.validate(measurements, on_step=bar.advance)
        except PlannerError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(exc.exit_code)
        if as_json:
            import json

            from ...inputs.jsonout import dumps

            typer.echo(dumps(report.to_dict(), indent=2))
        else:
            typer.echo("\n".join(fidelity.report_lines(report)))
