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


def load(workload: str | Workload, topology: str | Topology, q: Query) -> tuple[Workload, Topology]:
    w = workload if isinstance(workload, Workload) else load_workload(workload)
    w = with_overrides(
        w, isl=q.isl, osl=q.osl, kv_len=q.kv_len, weight_dtype=q.weight_dtype, kv_dtype=q.kv_dtype,
        ttft_ms=q.ttft_ms, tpot_ms=q.tpot_ms,
    )
    if isinstance(topology, Topology):
        topo = topology
        if q.domains is not None or q.price_per_gpu_hour is not None or q.unavailable_gpus:
            raise InputError("pass overrides when loading the topology by name, not with a Topology object")
    else:
        topo = build_topology(topology, q.domains, q.price_per_gpu_hour, list(q.unavailable_gpus))
    return w, topo


def load_workload(ref: str) -> Workload:
    """A shipped workload name, a workload YAML path, or a Hugging Face config.json."""
    if ref.endswith(".json"):
        from .hf_import import load_hf_config  # only when asked: keeps start-up light

        return load_hf_config(ref)
    path = resolve("workloads", ref)
    loaded = read_yaml(path)
    spec = validate(WorkloadFile, loaded.data, path)
    return workload_from_spec(spec, str(path), loaded.sha256)



def query_dict(q: Query) -> dict[str, Any]:
    return {k: v for k, v in q.__dict__.items() if v not in (None, ())}
