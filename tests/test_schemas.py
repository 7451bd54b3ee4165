"""The published JSON Schemas and the loaders give the same verdict.

Every shipped file passes both; a set of deliberately broken files fails both,
checked with an independent validator (jsonschema). The few rules only the
loader can check (arithmetic across fields, limits of the program) are listed
here and in docs/schemas.md; each is shown to pass the schema and fail the
loader, so a disagreement is always a documented one. Every property of every
published schema has a description for editors to show.
"""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from planner.cli import schema_export
from planner.inputs.datafiles import data_dir
from planner.inputs.errors import InputError
from planner.inputs.schema import validate

jsonschema = pytest.importorskip("jsonschema")

ROOT = data_dir("topologies").parent
OWNED = ("topology", "workload", "accelerator", "efficiency", "inventory", "demands", "topologies", "workloads")


def _schema(stem: str) -> dict:
    return yaml.safe_load(schema_export.path_for(stem).read_text())


def _schema_ok(stem: str, data) -> bool:
    v = jsonschema.Draft202012Validator(_schema(stem))
    return not list(v.iter_errors(data))


def _loader_ok(stem: str, data) -> bool:
    try:
        validate(schema_export.model_class(stem), data, f"{stem}.yaml")
    except InputError:
        return False
    return True


def _shipped() -> list[tuple[str, Path]]:
    files = [("topology", p) for p in sorted((ROOT / "topologies").glob("*.yaml"))]
    files += [("workload", p) for p in sorted((ROOT / "workloads").glob("*.yaml"))]
    files += [("accelerator", p) for p in sorted((ROOT / "hardware" / "accelerators").glob("*.yaml"))]
    files += [("efficiency", ROOT / "hardware" / "efficiency.yaml"), ("inventory", ROOT / "examples" / "inventory.yaml"),
              ("demands", ROOT / "examples" / "demands.yaml")]
    return files


def _load(rel: str) -> dict:
    return yaml.safe_load((ROOT / rel).read_text())


def _edit(data: dict, path: tuple, value) -> dict:
    """A copy of ``data`` with the field at ``path`` set (``DROP`` removes it)."""
    out = copy.deepcopy(data)
    node = out
    for key in path[:-1]:
        node = node[key]
    if value is DROP:
        node.pop(path[-1])
    else:
        node[path[-1]] = value
    return out


DROP = object()
H100 = "topologies/hgx-h100.yaml"
NVL = "topologies/gb200-nvl72.yaml"
TPU = "topologies/tpu-v5p-pod.yaml"
LLAMA = "workloads/llama-3.1-70b.yaml"
DSV3 = "workloads/deepseek-v3.yaml"
ACC = "hardware/accelerators/h100-sxm.yaml"
EFF = "hardware/efficiency.yaml"
INV = "examples/inventory.yaml"
DEM = "examples/demands.yaml"

# (name, schema stem, file, field path, new value): each must fail schema AND loader
BROKEN = [
    ("switch fabric without switches_per_domain", "topology", NVL, ("scale_up", "switches_per_domain"), DROP),
    ("switch fabric with switches_per_domain null", "topology", NVL, ("scale_up", "switches_per_domain"), None),
    ("switch fabric without gpus_per_domain", "topology", H100, ("scale_up", "gpus_per_domain"), DROP),
    ("torus without torus_dims", "topology", TPU, ("scale_up", "torus_dims"), DROP),
    ("unknown fabric kind", "topology", H100, ("scale_up", "kind"), "ring"),
    ("zero price", "topology", H100, ("price", "usd_per_gpu_hour"), 0),
    ("price without source", "topology", H100, ("price", "source"), ""),
    ("misspelt key", "topology", H100, ("gpus_per_hots",), 8),
    ("zero domains", "topology", H100, ("domains",), 0),
    ("unknown domain unit", "topology", H100, ("domain_unit",), "blade"),
    ("efficiency override without its source", "topology", H100, ("efficiency",), {"hbm_fraction": 0.7}),
    ("efficiency fraction above 1", "topology", H100, ("efficiency",), {"hbm_fraction": 1.5, "sources": {"hbm_fraction": "x"}}),
    ("mla attention without an mla section", "workload", DSV3, ("model", "mla"), DROP),
    ("dense model without d_ff", "workload", LLAMA, ("model", "d_ff"), DROP),
    ("unknown precision", "workload", LLAMA, ("precision", "weights"), "fp3"),
    ("zero input tokens", "workload", LLAMA, ("traffic", "isl"), 0),
    ("missing SLO", "workload", LLAMA, ("slo",), DROP),
    ("negative TPOT", "workload", LLAMA, ("slo", "tpot_ms"), -1),
    ("fractional layer count", "workload", LLAMA, ("model", "n_layers"), 80.5),
    ("accelerator without a source for hbm_gb", "accelerator", ACC, ("sources", "hbm_gb"), DROP),
    ("accelerator with a blank source", "accelerator", ACC, ("sources", "hbm_gb"), "   "),
    ("accelerator without bf16 FLOP/s", "accelerator", ACC, ("dense_tflops",), {"fp8": 1979}),
    ("accelerator with an unknown precision", "accelerator", ACC, ("dense_tflops", "fp3"), 100),
    ("accelerator TDP without source", "accelerator", ACC, ("sources", "tdp_w"), DROP),
    ("efficiency fraction above 1 by precision", "efficiency", EFF, ("flops_fraction", "bf16"), 1.2),
    ("efficiency fraction for an unknown precision", "efficiency", EFF, ("flops_fraction", "fp3"), 0.5),
    ("efficiency factor without source", "efficiency", EFF, ("sources", "hbm_fraction"), DROP),
    ("inventory with no groups", "inventory", INV, ("groups",), []),
    ("inventory group of zero domains", "inventory", INV, ("groups", 0, "count"), 0),
    ("demand of zero tokens/s", "demands", DEM, ("demands", 0, "output_tokens_per_s"), 0),
    ("demand without a workload", "demands", DEM, ("demands", 0, "workload"), DROP),
]

# Rules only the loader checks, each named in docs/schemas.md: (phrase in the docs, stem, file, path, value)
LOADER_ONLY = [
    ("`n_kv_heads` divides `n_heads`", "workload", LLAMA, ("model", "n_kv_heads"), 7),
    ("`experts_per_token <=\n  n_routed_experts`", "workload", DSV3, ("model", "moe", "experts_per_token"), 300),
    ("`gpus_per_host` divides the GPUs of a domain", "topology", H100, ("gpus_per_host",), 3),
    ("`gpus_per_domain` equals the product of `torus_dims`", "topology", TPU, ("scale_up", "gpus_per_domain"), 7),
    ("at most 65,536 GPUs", "topology", H100, ("domains",), 10_000),  # 80,000 GPUs: each count in range, the product not
    ("group names are unique", "inventory", INV, ("groups", 1, "name"), "gb200-racks"),
    ("`price_source` is required with a group's `price_usd_per_gpu_hour`", "inventory", INV, ("groups", 1, "price_source"), ""),
]


@pytest.mark.parametrize("stem,path", _shipped(), ids=[f"{s}:{p.name}" for s, p in _shipped()])
def test_every_shipped_file_passes_schema_and_loader(stem: str, path: Path) -> None:
    data = yaml.safe_load(path.read_text())
    assert _schema_ok(stem, data) and _loader_ok(stem, data)


@pytest.mark.parametrize("case", BROKEN, ids=[c[0] for c in BROKEN])
def test_each_broken_file_fails_schema_and_loader_alike(case) -> None:
    _, stem, rel, path, value = case
    data = _edit(_load(rel), path, value)
    assert (_schema_ok(stem, data), _loader_ok(stem, data)) == (False, False)


@pytest.mark.parametrize("case", LOADER_ONLY, ids=[c[0].replace("\n", " ") for c in LOADER_ONLY])
def test_loader_only_rules_are_documented_and_only_the_loader_rejects_them(case) -> None:
    phrase, stem, rel, path, value = case
    assert phrase in (ROOT / "docs" / "schemas.md").read_text()
    data = _edit(_load(rel), path, value)
    assert (_schema_ok(stem, data), _loader_ok(stem, data)) == (True, False)


def _properties(schema: dict):
    """(where, name, body) of every property of the root and each $defs model."""
    for where, model in [("<root>", schema), *schema.get("$defs", {}).items()]:
        for name, body in model.get("properties", {}).items():
            yield where, name, body


@pytest.mark.parametrize("stem", OWNED)
def test_every_property_has_a_description(stem: str) -> None:
    missing = [f"{w}.{n}" for w, n, body in _properties(_schema(stem)) if not str(body.get("description", "")).strip()]
    assert not missing, f"{stem}: add descriptions to planner/cli/schema_descriptions.yaml for {missing}"


def test_descriptions_name_only_fields_that_exist() -> None:
    known: dict[str, set[str]] = {}
    for stem in schema_export.MODELS:
        s = schema_export.schema(stem)
        root = schema_export.model_class(stem).__name__
        for where, name, _ in _properties(s):
            known.setdefault(root if where == "<root>" else where, set()).add(name)
    stale = [f"{model}.{f}" for model, fields in schema_export.descriptions().items() for f in fields
             if f not in known.get(model, set())]
    assert not stale, f"descriptions of fields that no longer exist: {stale}"
