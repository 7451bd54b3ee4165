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
    "workload": ("planner.inputs.workload_file", "WorkloadFile", "A workload file (workloads/*.yaml): model architecture, precisions, traffic, SLOs."),
    "accelerator": ("planner.inputs.hardware", "AcceleratorFile", "An accelerator spec (hardware/accelerators/*.yaml): HBM, bandwidth, FLOP/s."),
    "efficiency": ("planner.inputs.hardware", "EfficiencyFields", "Efficiency factors (hardware/efficiency.yaml, or a topology's efficiency: section)."),
    "inventory": ("planner.plan.fleet", "InventoryFile", "A fleet inventory (planner fleet --inventory): groups of racks or nodes, each a topology times a count."),
    "demands": ("planner.plan.fleet", "DemandsFile", "Fleet demands (planner fleet --demands): workloads with output tokens/s and optional SLO overrides."),
    "topologies": ("planner.inputs.listing", "TopologyListing", "Output of planner topologies --json: every shipped topology with its size, GPU and price."),
    "workloads": ("planner.inputs.listing", "WorkloadListing", "Output of planner workloads --json: every shipped workload with its model ids, size, precision, traffic and SLOs."),
    "plan": ("planner.plan.document", "PLAN_DOCUMENT", "A plan document the planner writes (planner plan/evaluate/fleet --json or --out; read by planner export): kind plan, evaluation or fleet."),
    "study": ("planner.analysis.sweep.study", "StudyFile", "A capacity study (planner sweep): axes whose product, filtered, plus extra points are the scenarios."),
}
DESCRIPTIONS = Path(__file__).resolve().parent / "schema_descriptions.yaml"


def model_class(stem: str) -> Any:
    module, name, _ = MODELS[stem]
    return getattr(importlib.import_module(module), name)


def descriptions() -> dict[str, dict[str, str]]:
    """Field descriptions by model class (planner/schema_descriptions.yaml)."""
    import yaml

    return yaml.safe_load(DESCRIPTIONS.read_text(encoding="utf-8")) or {}


def _describe(body: dict[str, Any], root: str) -> None:
    """Give every property of the root model and of each ``$defs`` model its description."""
    texts = descriptions()
    for name, model in [(root, body), *body.get("$defs", {}).items()]:
        for field, prop in model.get("properties", {}).items():
            text = texts.get(name, {}).get(field)
            if text and "description" not in prop:
                prop["description"] = text


def schema(stem: str) -> dict[str, Any]:
    """The JSON Schema of one file kind, with a title, description and $id."""
    cls = model_class(stem)
    body = cls.model_json_schema(mode="validation")
    _describe(body, cls.__name__)
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
        from ..inputs.safeio import atomic_write

        written.append(atomic_write(path, render(stem), "schema"))
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
