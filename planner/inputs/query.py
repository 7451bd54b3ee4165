"""The question a user asks, read into inputs: a workload (shipped name, YAML or
Hugging Face config.json) and a topology, with the command line's overrides applied.

This sits above :mod:`planner.inputs.workload` and :mod:`planner.inputs.hf_import`
so that neither has to import the other.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .datafiles import read_yaml, resolve
from .errors import InputError
from .schema import validate
from .topology import Topology, build_topology
from .workload import Workload, WorkloadFile, with_overrides, workload_from_spec


@dataclass(frozen=True)
class Query:
    """Everything a planning question needs besides the two files."""

    isl: int | None = None
    osl: int | None = None
    kv_len: int | None = None
    weight_dtype: str | None = None
    kv_dtype: str | None = None
    ttft_ms: float | None = None
    tpot_ms: float | None = None
    domains: int | None = None  # --nodes / --racks
    price_per_gpu_hour: float | None = None
    unavailable_gpus: tuple[int, ...] = ()
    cached_prefix: int | None = None  # prompt tokens already in the prefix cache (--cached-prefix)
    prefix_hit_rate: float | None = None  # or: share of input tokens that hit it (--prefix-hit-rate)
    prefix_hold_s: float | None = None  # seconds a cached prefix waits for its next use (--prefix-hold-s)


def load(workload: str | Workload, topology: str | Topology, q: Query) -> tuple[Workload, Topology]:
    w = workload if isinstance(workload, Workload) else load_workload(workload)
    w = with_overrides(
        w, isl=q.isl, osl=q.osl, kv_len=q.kv_len, weight_dtype=q.weight_dtype, kv_dtype=q.kv_dtype,
        ttft_ms=q.ttft_ms, tpot_ms=q.tpot_ms, cached_prefix=q.cached_prefix, prefix_hit_rate=q.prefix_hit_rate,
        prefix_hold_s=q.prefix_hold_s,
    )
    if isinstance(topology, Topology):
        topo = topology
        if q.domains is not None or q.price_per_gpu_hour is not None or q.unavailable_gpus:
            raise InputError("pass overrides when loading the topology by name, not with a Topology object")
    else:
        topo = build_topology(topology, q.domains, q.price_per_gpu_hour, list(q.unavailable_gpus))
    return w, topo


def load_workload(ref: str, allow_download: bool = False) -> Workload:
    """A shipped workload name, a workload YAML path, a Hugging Face config.json
    (or a folder holding one), or a Hugging Face model id such as
    ``Qwen/Qwen2.5-72B-Instruct`` (see :mod:`planner.inputs.model_ids`; the Hub is
    asked only when ``allow_download``)."""
    from pathlib import Path

    from .hf_import import load_hf_config  # only when asked: keeps start-up light
    from .model_ids import find, looks_like_id, resolve_id

    if ref.endswith(".json") or Path(ref).is_dir():
        return load_hf_config(ref)
    if looks_like_id(ref) and not Path(ref).exists():
        shipped, config = resolve_id(ref, allow_download)
        if config is None:
            return load_workload(shipped)
        entry = find(ref)
        return load_hf_config(str(config), name=entry.id if entry else ref)
    path = resolve("workloads", ref)
    loaded = read_yaml(path)
    spec = validate(WorkloadFile, loaded.data, path)
    return workload_from_spec(spec, str(path), loaded.sha256)



def query_dict(q: Query) -> dict[str, Any]:
    return {k: v for k, v in q.__dict__.items() if v not in (None, ())}
