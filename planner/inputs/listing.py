"""What ``planner topologies``, ``planner workloads`` and ``planner support`` list.

Each listing is a pydantic model, so ``--json`` prints exactly what the
published schemas (docs/schema/topologies.schema.json, workloads.schema.json)
describe; tables and CSV are views of the same rows.
"""

from __future__ import annotations

from typing import Literal, Optional

from pydantic import BaseModel, ConfigDict

LISTING_VERSION = "1.0"


class _Row(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TopologyRow(_Row):
    name: str
    description: str
    accelerator: str
    accelerator_estimated: bool
    hbm_gb: float
    domain_unit: str
    domain_flag: Literal["--nodes", "--racks"]
    domains: int
    gpus_per_domain: int
    gpus: int
    gpus_per_host: int
    scale_up_kind: Literal["switch", "mesh", "torus"]
    price_usd_per_gpu_hour: float
    price_estimated: bool


class TopologyListing(_Row):
    schema_version: Literal["1.0"] = LISTING_VERSION
    kind: Literal["topologies"] = "topologies"
    topologies: list[TopologyRow]


class WorkloadRow(_Row):
    name: str
    description: str
    model_ids: list[str]
    architecture: Literal["dense", "moe"]
    attention: Literal["gqa", "mla"]
    total_params_b: float
    active_params_b: float
    weight_dtype: str
    kv_dtype: str
    isl: int
    osl: int
    ttft_ms: float
    tpot_ms: float


class WorkloadListing(_Row):
    schema_version: Literal["1.0"] = LISTING_VERSION
    kind: Literal["workloads"] = "workloads"
    workloads: list[WorkloadRow]


def topology_row(name: str) -> TopologyRow:
    """One shipped topology, from its file (no graph is built)."""
    from . import units
    from .datafiles import read_yaml, resolve
    from .hardware import accelerator_from_spec, load_accelerator
    from .schema import validate
    from .topology import TopologyFile, domain_flag

    path = resolve("topologies", name)
    spec = validate(TopologyFile, read_yaml(path).data, path)
    acc = load_accelerator(spec.accelerator) if isinstance(spec.accelerator, str) else accelerator_from_spec(spec.accelerator)
    size = spec.scale_up.domain_gpus
    return TopologyRow(
        name=spec.name, description=" ".join(spec.description.split()), accelerator=acc.name,
        accelerator_estimated=acc.estimated, hbm_gb=round(acc.hbm_bytes / units.GIB, 3), domain_unit=spec.domain_unit,
        domain_flag=domain_flag(spec.domain_unit), domains=spec.domains, gpus_per_domain=size, gpus=size * spec.domains,
        gpus_per_host=spec.gpus_per_host, scale_up_kind=spec.scale_up.kind,
        price_usd_per_gpu_hour=spec.price.usd_per_gpu_hour, price_estimated=spec.price.estimated,
    )


def topologies() -> TopologyListing:
    from .datafiles import shipped_names

    return TopologyListing(topologies=[topology_row(n) for n in shipped_names("topologies")])


def workload_row(name: str) -> WorkloadRow:
    from .model_ids import catalog
    from .query import load_workload

    w = load_workload(name)
    m = w.model
    return WorkloadRow(
        name=w.name, description=" ".join(w.description.split()),
        model_ids=sorted((i for e in catalog() if e.workload == name for i in (e.id, *e.aliases)), key=str.lower),
        architecture="moe" if m.is_moe else "dense", attention=m.attention,  # type: ignore[arg-type]
        total_params_b=round(m.total_params / 1e9, 3), active_params_b=round(m.active_params / 1e9, 3),
        weight_dtype=w.weight_dtype, kv_dtype=w.kv_dtype, isl=w.isl, osl=w.osl,
        ttft_ms=round(w.ttft_s * 1e3, 6), tpot_ms=round(w.tpot_s * 1e3, 6),
    )


def workloads() -> WorkloadListing:
    from .datafiles import shipped_names

    return WorkloadListing(workloads=[workload_row(n) for n in shipped_names("workloads")])


def flat(row: BaseModel) -> dict[str, object]:
    """A row for CSV: lists joined with spaces."""
    return {k: " ".join(v) if isinstance(v, list) else v for k, v in row.model_dump().items()}


Format = Literal["table", "json", "csv"]


def check_format(fmt: str, as_json: bool) -> str:
    from .errors import InputError

    if fmt not in ("table", "json", "csv"):
        raise InputError(f"--format must be table, json or csv (got {fmt!r})")
    if as_json and fmt not in ("table", "json"):
        raise InputError(f"give --json or --format {fmt}, not both")
    return "json" if as_json else fmt


def to_csv(rows: list[dict[str, object]], columns: Optional[list[str]] = None) -> str:
    import csv
    import io

    buf = io.StringIO()
    cols = columns or (list(rows[0]) if rows else [])
    wr = csv.DictWriter(buf, fieldnames=cols, extrasaction="ignore", lineterminator="\n")
    wr.writeheader()
    wr.writerows(rows)
    return buf.getvalue()


# --------------------------------------------------------------------------- support


class SupportRow(_Row):
    model: str  # a model id, or a shipped workload name
    architecture: str  # Hugging Face architecture class
    weight_dtype: str
    topology: str
    vendor: str
    engines: list[str]  # engines that run this architecture on this vendor's GPUs
    min_gpus: int  # GPUs whose usable memory holds the weights (no KV cache yet)
    min_domains: int  # scale-up domains those GPUs span at least
    domain_unit: str


def engine_support() -> dict:
    import yaml
    from pathlib import Path

    return yaml.safe_load((Path(__file__).with_name("engine_support.yaml")).read_text(encoding="utf-8"))


def support_models() -> list[str]:
    """Every model the package knows offline: shipped workloads, then catalog ids with a config.json."""
    from .datafiles import shipped_names
    from .model_ids import catalog

    return shipped_names("workloads") + sorted((e.id for e in catalog() if not e.workload), key=str.lower)


def support_rows(models: list[str], topologies: list[str]) -> list[SupportRow]:
    """Models x topologies x engines: which engines serve each model on each topology's
    GPUs, and how many GPUs (and scale-up domains) its weights need at least."""
    import math

    from .datafiles import read_yaml, resolve
    from .hardware import accelerator_from_spec, load_accelerator, load_efficiency
    from .query import load_workload
    from .schema import validate
    from .topology import TopologyFile

    data = engine_support()
    out = []
    loaded = [load_workload(m) for m in models]
    for ref in topologies:
        path = resolve("topologies", ref)
        spec = validate(TopologyFile, read_yaml(path).data, path)
        acc_spec = spec.accelerator
        acc = load_accelerator(acc_spec) if isinstance(acc_spec, str) else accelerator_from_spec(acc_spec)
        vendor = _vendor(acc_spec)
        eff = load_efficiency(spec.efficiency)
        usable = acc.hbm_bytes * eff.memory_usable_fraction - eff.runtime_reserve_bytes
        for model, w in zip(models, loaded):
            arch = w.extra.get("hf_architecture") or data["workload_architectures"].get(w.name, "")
            engines = [k for k, e in data["engines"].items() if vendor in e["vendors"] and arch in e["architectures"]["names"]]
            need = max(1, math.ceil(w.weight_bytes / usable)) if usable > 0 else 0
            out.append(SupportRow(
                model=model, architecture=arch, weight_dtype=w.weight_dtype, topology=spec.name, vendor=vendor,
                engines=engines, min_gpus=need, min_domains=math.ceil(need / spec.scale_up.domain_gpus),
                domain_unit=spec.domain_unit,
            ))
    return out


def _vendor(acc_spec) -> str:
    from .datafiles import read_yaml, resolve

    if isinstance(acc_spec, str):
        return str(read_yaml(resolve("hardware", acc_spec, sub="accelerators")).data.get("vendor", ""))
    return acc_spec.vendor
