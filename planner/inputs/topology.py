"""Topologies: a graph of GPUs, scale-up switches and scale-out links.

A file describes one scale-up domain compactly (switch, mesh or torus) and
how many domains there are. Every domain is a copy of the same links
(:func:`domain_links`), so ``build_topology`` derives what the cost model needs
from the links of one domain: per-GPU scale-up and scale-out bandwidth, the
all-to-all bandwidth a domain sustains, hop latencies, and the bandwidth a
group of GPUs gets. Its cost does not grow with the number of domains.
``Topology.graph`` expands the whole inventory into a networkx graph on demand
(the scale-up domains are its connected components over scale-up links; a test
checks that both views agree).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import TYPE_CHECKING, Literal, Optional

from pydantic import ConfigDict, Field, PositiveFloat, PositiveInt, model_validator

from . import units
from .datafiles import read_yaml, resolve
from .errors import InputError
from .hardware import (
    Accelerator,
    AcceleratorFile,
    Efficiency,
    EfficiencyFields,
    accelerator_from_spec,
    load_accelerator,
    load_efficiency,
)
from .kv_tiers import load_tiers
from .ranges import MAX_GPUS as RANGE_MAX_GPUS, DOMAINS, GPU_ID, LATENCY_US, LINK_GB_PER_S, NIC_GBIT_PER_S, PARALLEL, PRICE_USD_PER_GPU_HOUR, SWITCHES
from .fabric import Fabric, build_graph, derive_domains, group_bw, up_bw_per_gpu, worst_latency  # noqa: F401  (derive_domains: part of the API)
from .schema import Strict, given, validate

if TYPE_CHECKING:  # networkx loads only when someone asks for the whole graph (Topology.graph)
    import networkx as nx
    import numpy as np

# --------------------------------------------------------------------------- schema

# Size limits that keep the graph, the candidate enumeration and the solver
# interactive (they are memory and time bounds of this program, not hardware facts).
MAX_GPUS = RANGE_MAX_GPUS  # GPUs in one topology, all domains
MAX_SCALE_UP_LINKS = 2_000_000  # graph edges inside domains, all domains


def scale_up_links(spec: "ScaleUpFile") -> int:
    """Scale-up edges one domain adds to the graph (see domain_links)."""
    n = spec.domain_gpus
    if spec.kind == "switch":
        return n * int(spec.switches_per_domain)
    if spec.kind == "mesh":
        return n * (n - 1) // 2
    return n * sum(1 for d in spec.torus_dims if d > 1)


def check_size(spec: "ScaleUpFile", n_domains: int) -> str | None:
    """Why a topology of ``n_domains`` such domains is too large to plan, or None."""
    gpus, links = spec.domain_gpus * n_domains, scale_up_links(spec) * n_domains
    if gpus > MAX_GPUS:
        return f"{n_domains} domains of {spec.domain_gpus} GPUs = {gpus} GPUs, more than the {MAX_GPUS} the planner handles"
    if links > MAX_SCALE_UP_LINKS:
        return f"{links} scale-up links in {n_domains} domains, more than the {MAX_SCALE_UP_LINKS} the planner handles"
    return None


class PriceFile(Strict):
    usd_per_gpu_hour: PRICE_USD_PER_GPU_HOUR.type
    estimated: bool = False  # an estimate, not a quote: comparisons mark it
    who: str = ""
    date: str = ""
    source: str = Field(min_length=1)


class ScaleUpFile(Strict):
    # What _shape checks, said in JSON Schema so editors and the loader agree.
    model_config = ConfigDict(json_schema_extra={"allOf": [
        {"if": {"properties": {"kind": {"const": "switch"}}}, "then": given("gpus_per_domain", "switches_per_domain")},
        {"if": {"properties": {"kind": {"const": "mesh"}}}, "then": given("gpus_per_domain")},
        {"if": {"properties": {"kind": {"const": "torus"}}}, "then": given("torus_dims")},
    ]})

    kind: Literal["switch", "mesh", "torus"]
    gpus_per_domain: Optional[PARALLEL.type] = None
    switches_per_domain: Optional[SWITCHES.type] = None
    torus_dims: Optional[list[PARALLEL.type]] = Field(None, max_length=8)
    bw_per_gpu_gb_per_s: LINK_GB_PER_S.type  # one direction, summed over the GPU's links
    latency_us: Optional[LATENCY_US.type] = None  # GPU to GPU, one hop of the fabric
    source: str = Field(min_length=1)

    @model_validator(mode="after")
    def _shape(self) -> "ScaleUpFile":
        if self.kind == "torus":
            if not self.torus_dims:
                raise ValueError("torus_dims is required for kind: torus")
            n = math.prod(self.torus_dims)
            if n > MAX_GPUS:
                raise ValueError(f"torus_dims make {n} GPUs per domain, more than the {MAX_GPUS} the planner handles")
            if self.gpus_per_domain not in (None, n):
                raise ValueError(f"gpus_per_domain {self.gpus_per_domain} != product of torus_dims {n}")
        elif not self.gpus_per_domain:
            raise ValueError(f"gpus_per_domain is required for kind: {self.kind}")
        if self.kind == "switch" and not self.switches_per_domain:
            raise ValueError("switches_per_domain is required for kind: switch")
        return self

    @property
    def domain_gpus(self) -> int:
        return math.prod(self.torus_dims) if self.kind == "torus" else int(self.gpus_per_domain)


class ScaleOutFile(Strict):
    nic_gbit_per_s_per_gpu: NIC_GBIT_PER_S.type  # one direction
    latency_us: Optional[LATENCY_US.type] = None
    source: str = Field(min_length=1)


class TopologyFile(Strict):
    name: str
    description: str = ""
    accelerator: str | AcceleratorFile
    domain_unit: Literal["node", "rack", "pod", "server"] = "node"
    domains: DOMAINS.type = 1
    gpus_per_host: PARALLEL.type
    price: PriceFile
    scale_up: ScaleUpFile
    scale_out: ScaleOutFile
    unavailable_gpus: list[GPU_ID.type] = Field([], max_length=MAX_GPUS)
    kv_tiers: list[str] = []  # names in hardware/kv-tiers.yaml: memories below HBM that can hold cached prefixes
    efficiency: Optional[EfficiencyFields] = None
    notes: str = ""

    @model_validator(mode="after")
    def _hosts(self) -> "TopologyFile":
        if self.scale_up.domain_gpus % self.gpus_per_host:
            raise ValueError(
                f"gpus_per_host {self.gpus_per_host} does not divide the {self.scale_up.domain_gpus} GPUs of a domain"
            )
        too_big = check_size(self.scale_up, self.domains)
        if too_big:
            raise ValueError(too_big)
        return self


# --------------------------------------------------------------------------- domain object


@dataclass(frozen=True)
class Topology:
    name: str
    description: str
    accelerator: Accelerator
    efficiency: Efficiency
    price_usd_per_gpu_hour: float
    price_source: str
    domain_unit: str
    gpus_per_host: int
    scale_up_kind: str
    domains: tuple[tuple[int, ...], ...]  # GPU ids of each scale-up domain, from the graph
    unavailable: frozenset[int]
    scale_up_bw_per_gpu: float  # bytes/s one direction (min over GPUs)
    scale_out_bw_per_gpu: float  # bytes/s one direction
    alltoall_bw_per_gpu: float  # bytes/s one direction, a whole-domain all-to-all
    scale_up_latency_s: float  # worst GPU-to-GPU path inside a domain
    scale_out_latency_s: float
    source_path: str = ""
    sha256: str = ""
    kv_tiers: tuple = ()  # per-GPU inputs.kv_tiers.Tier, as the topology lists them
    fabric: "Fabric | None" = field(default=None, compare=False, repr=False)  # the links one domain is made of

    @cached_property
    def graph(self) -> "nx.Graph":
        """The whole inventory as a networkx graph, built on first use (the planner
        itself needs only one domain's links; tests and views use the graph)."""
        return build_graph(self.fabric, self.n_domains)

    @property
    def n_gpus(self) -> int:
        return sum(len(d) for d in self.domains)

    @property
    def domain_size(self) -> int:
        return max(len(d) for d in self.domains)

    @property
    def n_domains(self) -> int:
        return len(self.domains)

    def available_in(self, j: int) -> list[int]:
        return [g for g in self.domains[j] if g not in self.unavailable]

    @property
    def n_available(self) -> int:
        return self.n_gpus - len(self.unavailable)

    @property
    def domain_flag(self) -> str:
        return domain_flag(self.domain_unit)


def domain_flag(unit: str) -> str:
    """The CLI flag that counts domains of this unit: --nodes for nodes and servers,
    --racks for racks and pods (there is no --pods or --servers)."""
    return "--nodes" if unit in ("node", "server") else "--racks"


# --------------------------------------------------------------------------- links


def fabric_of(spec: "TopologyFile", eff: Efficiency) -> Fabric:
    up_lat = (spec.scale_up.latency_us * units.US) if spec.scale_up.latency_us is not None else eff.p2p_latency_s
    out_lat = (spec.scale_out.latency_us * units.US) if spec.scale_out.latency_us is not None else eff.scale_out_latency_s
    up = spec.scale_up
    return Fabric(up.kind, up.domain_gpus, int(up.switches_per_domain or 0), tuple(up.torus_dims or ()), spec.gpus_per_host,
                  up.bw_per_gpu_gb_per_s * units.GB, up_lat, spec.scale_out.nic_gbit_per_s_per_gpu * units.GBIT, out_lat)


def _alltoall_bw(spec: ScaleUpFile, per_gpu: float) -> float:
    """Per-GPU bandwidth of an all-to-all over a whole domain.

    Through a switch or a full mesh every GPU can send at its full link rate.
    On a torus the bisection binds: with k chips along the longest ring, a
    chip's all-to-all volume V crosses the bisection in V*k/(8*b) for per-link
    bandwidth b, an effective per-chip rate of 8*b/k.
    """
    if spec.kind != "torus":
        return per_gpu
    dims = [d for d in spec.torus_dims if d > 1]
    links = sum(2 if d > 2 else 1 for d in dims)
    b = per_gpu / links
    return min(per_gpu, 8 * b / max(dims))


def build_topology(
    ref: str,
    n_domains: int | None = None,
    price_usd_per_gpu_hour: float | None = None,
    unavailable: list[int] | None = None,
) -> Topology:
    path = resolve("topologies", ref)
    loaded = read_yaml(path)
    spec = validate(TopologyFile, loaded.data, path)
    if isinstance(spec.accelerator, str):
        try:
            acc = load_accelerator(spec.accelerator)
        except InputError as exc:
            raise InputError(f"{path}: field 'accelerator': {exc}") from None
    else:
        acc = accelerator_from_spec(spec.accelerator)
    eff = load_efficiency(spec.efficiency)
    count = DOMAINS.check(domain_flag(spec.domain_unit), n_domains) if n_domains is not None else spec.domains
    too_big = check_size(spec.scale_up, count)
    if too_big:
        raise InputError(f"{domain_flag(spec.domain_unit)} {count}: {too_big}")
    PRICE_USD_PER_GPU_HOUR.check("--price-per-gpu-hour", price_usd_per_gpu_hour)
    fab = fabric_of(spec, eff)
    n = spec.scale_up.domain_gpus
    domains = tuple(tuple(range(j * n, j * n + n)) for j in range(count))  # = derive_domains(build_graph(...)), tested
    n_total = n * count
    bad = sorted(i for i in spec.unavailable_gpus if not 0 <= i < n_total)
    if bad:
        raise InputError(f"{path}: field 'unavailable_gpus': GPU id {bad[0]} is outside 0..{n_total - 1}")
    bad = sorted(i for i in unavailable or [] if not 0 <= i < n_total)
    if bad:
        raise InputError(f"--unavailable: GPU id {bad[0]} is outside 0..{n_total - 1} ({count} {spec.domain_unit}s of {spec.scale_up.domain_gpus} GPUs of {spec.name}; add {domain_flag(spec.domain_unit)} for more)")
    down = set(spec.unavailable_gpus) | set(unavailable or [])
    lat = worst_latency(fab)
    up_bw = up_bw_per_gpu(fab) if n > 1 else 0.0
    return Topology(
        name=spec.name,
        description=spec.description,
        accelerator=acc,
        efficiency=eff,
        price_usd_per_gpu_hour=price_usd_per_gpu_hour or spec.price.usd_per_gpu_hour,
        price_source=("command line" if price_usd_per_gpu_hour else f"{spec.price.who} {spec.price.date} {spec.price.source}".strip()),
        domain_unit=spec.domain_unit,
        gpus_per_host=spec.gpus_per_host,
        scale_up_kind=spec.scale_up.kind,
        domains=domains,
        unavailable=frozenset(down),
        scale_up_bw_per_gpu=up_bw,
        scale_out_bw_per_gpu=fab.out_bw_per_gpu,
        alltoall_bw_per_gpu=_alltoall_bw(spec.scale_up, up_bw),
        scale_up_latency_s=lat,
        scale_out_latency_s=fab.out_latency_s,
        source_path=str(path),
        sha256=loaded.sha256,
        kv_tiers=load_tiers(list(spec.kv_tiers), spec.gpus_per_host, f"{path}: "),
        fabric=fab,
    )


def with_price(topo: Topology, usd_per_gpu_hour: float) -> Topology:
    return replace(topo, price_usd_per_gpu_hour=usd_per_gpu_hour, price_source="override")


def scale_up_group_bw(topo: Topology, size) -> "np.ndarray":
    """Bytes/s per GPU (one direction) that a collective inside a group of ``size``
    GPUs of one domain can use: through a switch every link of the GPU; on a full
    mesh or a torus only the links to the group's other members (a 2-GPU group on an
    8-GPU mesh has one link of seven). The group is ``size`` consecutive GPU ids, as
    the planner places TP and EP groups (plan.groups). Vectorised over ``size``."""
    import numpy as np

    size = np.asarray(size, dtype=np.float64)
    if topo.scale_up_kind == "switch":
        return np.full_like(size, topo.scale_up_bw_per_gpu)
    n_dom = topo.fabric.domain_gpus
    values = {float(n): group_bw(topo.fabric, int(min(max(n, 1), n_dom)), topo.scale_up_bw_per_gpu) for n in np.unique(size)}
    return np.vectorize(lambda n: values[float(n)], otypes=[np.float64])(size)
