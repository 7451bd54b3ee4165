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
        cross_validate: bool = typer.Option(
            True, "--cross-validate/--no-cross-validate",
            help="Also refit the free constants without each record and each model family and score the held-out cases (several minutes of CPU on the shipped cases).",
        ),
    ) -> None:
        """Predicted vs measured for every expressible record, the signed error, then the median and maximum absolute error."""
        from ...analysis import calibration, fidelity

        from ..console import progress

        try:
            with progress("validate", None, enabled=not as_json) as bar:
                report = fidelity.validate(measurements, on_step=bar.advance)
            cv = calibration.cross_validate(measurements) if cross_validate else None
        except PlannerError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(exc.exit_code)
        if as_json:
            import json

            from ...inputs.jsonout import dumps

            data = report.to_dict()
            if cv is not None:
                data["cross_validation"] = calibration.to_dict(cv)
            typer.echo(dumps(data, indent=2))
        else:
            typer.echo("\n".join(fidelity.report_lines(report) + (calibration.cv_lines(cv) if cv is not None else [])))
