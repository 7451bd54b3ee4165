"""Capacity studies: many planning scenarios from one study file, run locally or on Ray.

    from planner.analysis.sweep import load_study, run_study
    study = load_study("examples/sweep-study.yaml")
    summary = run_study(study, Path("results.parquet"), workers=2)

See docs/sweep.md for the study file, the backends and the result columns.
"""

from .run import run_study  # noqa: F401
from .expand import load_study  # noqa: F401
