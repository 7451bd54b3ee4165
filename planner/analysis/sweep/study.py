"""Study files for ``planner sweep``: axes, their product, a filter, extra points.

    axes:
      workloads: [llama-3.1-8b, llama-3.1-70b]
      topologies: [hgx-h100, {name: hgx-h200, domains: [1, 2]}]
      traffic: [{isl: 1024, osl: 256}, {isl: 8192, osl: 1024}]
      slo: [{ttft_ms: 2000, tpot_ms: 50}, {tpot_ms: 20}]
      price_multipliers: [1.0, 0.7]
      demand_tps: [null, 20000]
      modes: [agg]
    filter: "gpus_total <= 16 or workload == 'llama-3.1-8b'"
    extra_points:
      - {workload: llama-3.1-8b, topology: hgx-b200, mode: auto}

Everything a scenario names is checked here, before any plan runs: unknown axes
and fields, workloads and topologies that do not exist, domain counts a
topology cannot have, an empty product, a filter outside the safe language.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, Optional, Union

from pydantic import Field, model_validator

from ...inputs.schema import Strict

from . import safe_expr

MAX_SCENARIOS = 1_000_000  # ~2 weeks of single-core planning; beyond that, split the study
MAX_AXIS = 10_000  # values on one axis
MAX_DOMAINS = 4096
MAX_TOKENS = 10_000_000  # per request, far beyond any context window
MAX_MS = 3_600_000.0  # an hour: no SLO is looser
MAX_PRICE = 10_000.0  # $/GPU-hour
MAX_MULTIPLIER = 1000.0
MAX_DEMAND_TPS = 1e12  # as planner fleet: keeps the solver's integers in range
MODES = ("agg", "disagg", "auto")
Mode = Literal["agg", "disagg", "auto"]


# --------------------------------------------------------------------------- file models


class TopologyAxis(Strict):
    """A topology and the domain counts (racks or nodes) to try it at."""

    name: str = Field(min_length=1, max_length=4096, description="Shipped topology name or a topology YAML path (relative to the study file).")
    domains: Optional[list[int]] = Field(
        None, max_length=MAX_AXIS,
        description="Scale-up domains to try (--racks/--nodes of planner plan); omitted: the file's own count.",
    )

    @model_validator(mode="after")
    def _domains_in_range(self) -> "TopologyAxis":
        for d in self.domains or []:
            if not 1 <= d <= MAX_DOMAINS:
                raise ValueError(f"domains must be between 1 and {MAX_DOMAINS} (got {d})")
        return self


class Traffic(Strict):
    """One ISL/OSL pair (tokens per request)."""

    isl: int = Field(ge=1, le=MAX_TOKENS, description="Input tokens per request.")
    osl: int = Field(ge=1, le=MAX_TOKENS, description="Output tokens per request.")


class Slo(Strict):
    """One SLO pair; a side left out keeps the workload file's value."""

    ttft_ms: Optional[float] = Field(None, gt=0, le=MAX_MS, description="Time-to-first-token limit (ms).")
    tpot_ms: Optional[float] = Field(None, gt=0, le=MAX_MS, description="Time-per-output-token limit (ms).")

    @model_validator(mode="after")
    def _one_side(self) -> "Slo":
        if self.ttft_ms is None and self.tpot_ms is None:
            raise ValueError("give ttft_ms, tpot_ms or both")
        return self


Price = float
Demand = Optional[float]


class Axes(Strict):
    """The study's axes; scenarios are their product. An omitted axis keeps planner plan's default."""

    workloads: list[str] = Field(max_length=MAX_AXIS, description="Shipped workload names or workload YAML paths.")
    topologies: list[Union[str, TopologyAxis]] = Field(max_length=MAX_AXIS, description="Topology names, or {name, domains: [...]}.")
    traffic: Optional[list[Traffic]] = Field(None, max_length=MAX_AXIS, description="ISL/OSL pairs; omitted: each workload's own.")
    slo: Optional[list[Slo]] = Field(None, max_length=MAX_AXIS, description="TTFT/TPOT pairs; omitted: each workload's own.")
    prices: Optional[list[Price]] = Field(None, max_length=MAX_AXIS, description="Absolute prices ($/GPU-hour) applied to every topology.")
    price_multipliers: Optional[list[Price]] = Field(
        None, max_length=MAX_AXIS, description="Multipliers on each topology file's own $/GPU-hour (1.0 = list price)."
    )
    demand_tps: Optional[list[Demand]] = Field(
        None, max_length=MAX_AXIS,
        description="Output tokens/s to serve at least cost (planner plan --demand-tps); null = least $/token on the whole inventory.",
    )
    modes: Optional[list[Mode]] = Field(None, max_length=len(MODES), description="Serving modes: agg, disagg, auto (planner plan --mode; default auto).")

    @model_validator(mode="after")
    def _ranges(self) -> "Axes":
        if self.prices is not None and self.price_multipliers is not None:
            raise ValueError("give prices or price_multipliers, not both")
        for p in self.prices or []:
            if not 0 < p <= MAX_PRICE:
                raise ValueError(f"prices must be in (0, {MAX_PRICE:g}] $/GPU-hour (got {p})")
        for m in self.price_multipliers or []:
            if not 0 < m <= MAX_MULTIPLIER:
                raise ValueError(f"price_multipliers must be in (0, {MAX_MULTIPLIER:g}] (got {m})")
        for d in self.demand_tps or []:
            if d is not None and not 0 < d <= MAX_DEMAND_TPS:
                raise ValueError(f"demand_tps must be in (0, {MAX_DEMAND_TPS:g}] tokens/s or null (got {d})")
        return self


class ExtraPoint(Strict):
    """One scenario added by hand (outside the product, not filtered)."""

    workload: str = Field(min_length=1, max_length=4096, description="Shipped workload name or a workload YAML path (relative to the study file).")
    topology: str = Field(min_length=1, max_length=4096, description="Shipped topology name or a topology YAML path (relative to the study file).")
    domains: Optional[int] = Field(None, ge=1, le=MAX_DOMAINS, description="Scale-up domains (racks or nodes); omitted: the topology file's count.")
    isl: Optional[int] = Field(None, ge=1, le=MAX_TOKENS, description="Input tokens per request (with osl); omitted: the workload's.")
    osl: Optional[int] = Field(None, ge=1, le=MAX_TOKENS, description="Output tokens per request (with isl); omitted: the workload's.")
    ttft_ms: Optional[float] = Field(None, gt=0, le=MAX_MS, description="Time-to-first-token limit (ms); omitted: the workload's.")
    tpot_ms: Optional[float] = Field(None, gt=0, le=MAX_MS, description="Time-per-output-token limit (ms); omitted: the workload's.")
    price: Optional[float] = Field(None, gt=0, le=MAX_PRICE, description="Absolute price ($/GPU-hour); omitted: the topology's list price.")
    price_multiplier: Optional[float] = Field(None, gt=0, le=MAX_MULTIPLIER, description="Multiplier on the topology's list price.")
    demand_tps: Optional[float] = Field(None, gt=0, le=MAX_DEMAND_TPS, description="Output tokens/s to serve at least cost; omitted: least $/token on the whole inventory.")
    mode: Mode = Field("auto", description="Serving mode: agg, disagg or auto.")

    @model_validator(mode="after")
    def _one_price(self) -> "ExtraPoint":
        if self.price is not None and self.price_multiplier is not None:
            raise ValueError("give price or price_multiplier, not both")
        if (self.isl is None) != (self.osl is None):
            raise ValueError("give isl and osl together")
        return self


class StudyFile(Strict):
    """A capacity study: axes whose product (optionally filtered) plus extra points are the scenarios."""

    name: str = Field("study", min_length=1, max_length=200, description="A label for the study.")
    description: str = Field("", max_length=10_000, description="Free text: what the study asks (not read by the planner).")
    axes: Axes = Field(description="The axes whose product (filtered) gives the scenarios.")
    filter: Optional[str] = Field(
        None, max_length=safe_expr.MAX_CHARS,
        description="Keep only product scenarios where this expression is true (fields, constants, and/or/not, comparisons, + - * /).",
    )
    extra_points: list[ExtraPoint] = Field(default_factory=list, max_length=MAX_AXIS, description="Scenarios added by hand.")
    time_limit_s: float = Field(10.0, gt=0, le=3600, description="Time limit per scenario, covering its whole plan: loading, rating, solve (planner plan --time-limit).")


# --------------------------------------------------------------------------- scenarios

# Fields a filter may use: the effective inputs of a scenario.
FILTER_FIELDS = (
    "workload", "topology", "accelerator", "domain_unit", "domains", "gpus_total", "isl", "osl", "ttft_slo_ms", "tpot_slo_ms",
    "price_usd_per_gpu_hour", "price_multiplier", "demand_tps", "mode",
)


@dataclass(frozen=True)
class Scenario:
    """One planning question. ``query`` holds exactly what the study set (passed
    to :func:`planner.api.plan` as planner plan would get it); ``inputs`` holds
    the effective values (file defaults filled in) that the result row carries."""

    scenario_id: str
    index: int
    source: str  # product | extra
    workload_ref: str  # resolved path or shipped name, for the worker
    topology_ref: str
    query: dict[str, Any]  # isl, osl, ttft_ms, tpot_ms, domains, price_per_gpu_hour (None = default)
    demand_tps: Optional[float]
    mode: str
    time_limit_s: float
    inputs: dict[str, Any]


@dataclass(frozen=True)
class Study:
    name: str
    path: str
    scenarios: tuple[Scenario, ...]
    product_size: int
    filtered_out: int
    extra_duplicates: int
    fingerprint: str  # identifies the scenario set; a results folder belongs to one
