"""Publish the file schemas as JSON Schema (``docs/schema/*.json``) for editors.

The pydantic models that validate the files are the single source of truth;
this module only renders them. Regenerate after changing a model:

    python -m planner.cli.schema_export            # write docs/schema/*.json
    python -m planner.cli.schema_export --check    # exit 1 if a published file is stale
"""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path
from typing import Any

SCHEMA_DRAFT = "https://json-schema.org/draft/2020-12/schema"
DEFAULT_DIR = Path(__file__).resolve().parents[2] / "docs" / "schema"

# published file stem -> (module, model class, what the file describes)
MODELS: dict[str, tuple[str, str, str]] = {
    "topology": ("planner.inputs.topology", "TopologyFile", "A topology file (topologies/*.yaml): GPUs, scale-up domains, scale-out network, price."),
    "workload": ("planner.inputs.workload", "WorkloadFile", "A workload file (workloads/*.yaml): model architecture, precisions, traffic, SLOs."),
    "accelerator": ("planner.inputs.hardware", "AcceleratorFile", "An accelerator spec (hardware/accelerators/*.yaml): HBM, bandwidth, FLOP/s."),
    "efficiency": ("planner.inputs.hardware", "EfficiencyFields", "Efficiency factors (hardware/efficiency.yaml, or a topology's efficiency: section)."),
    "inventory": ("planner.plan.fleet", "InventoryFile", "A fleet inventory (planner fleet --inventory): groups of racks or nodes, each a topology times a count."),
    "demands": ("planner.plan.fleet", "DemandsFile", "Fleet demands (planner fleet --demands): workloads with output tokens/s and optional SLO overrides."),
}


def model_class(stem: str) -> Any:
    module, name, _ = MODELS[stem]
    return getattr(importlib.import_module(module), name)


def schema(stem: str) -> dict[str, Any]:
    """The JSON Schema of one file kind, with a title, description and $id."""
    body = model_class(stem).model_json_schema(mode="validation")
    head = {
        "$schema": SCHEMA_DRAFT,
        "$id": f"https://rack-planner.invalid/schema/{stem}.schema.json",
        "title": f"rack-planner {stem} file",
        "description": MODELS[stem][2],
    }
    body.pop("title", None)
    body.pop("description", None)
    return {**head, **body}


def render(stem: str) -> str:
    return json.dumps(schema(stem), indent=2, sort_keys=True) + "\n"


def path_for(stem: str, out_dir: Path = DEFAULT_DIR) -> Path:
    return out_dir / f"{stem}.schema.json"


def write(out_dir: Path = DEFAULT_DIR) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for stem in MODELS:
        path = path_for(stem, out_dir)
        path.write_text(render(stem))
        written.append(path)
    return written


def stale(out_dir: Path = DEFAULT_DIR) -> list[str]:
    """Stems whose published file is missing or differs from the models."""
    out = []
    for stem in MODELS:
        path = path_for(stem, out_dir)
        if not path.is_file() or path.read_text() != render(stem):
            out.append(stem)
    return out


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if "--check" in args:
        bad = stale()
        for stem in bad:
            print(f"{path_for(stem)} is out of date: run python -m planner.cli.schema_export")
        return 1 if bad else 0
    for path in write():
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
