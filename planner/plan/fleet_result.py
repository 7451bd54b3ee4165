"""The result of fleet planning (:func:`planner.plan.fleet.plan_fleet`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .document import SCHEMA_VERSION, document, dump, strict_dumps


@dataclass(frozen=True)
class FleetPlan:
    status: str  # optimal | feasible | partial | partial-unproven | unknown
    usd_per_hour: float
    bound_usd_per_hour: float
    gap: float  # (cost - bound) / cost; 0 when optimal
    fraction_met: float  # common fraction of every demand served
    fraction_bound: float  # proven upper bound on that fraction
    wall_s: float
    time_limit_s: float
    workloads: list[dict[str, Any]]
    groups: list[dict[str, Any]]
    binding: list[str]
    replicas: list[dict[str, Any]] = field(default_factory=list)  # concrete placement
    model: dict[str, Any] = field(default_factory=dict)
    engine: str | None = None  # planner fleet --engine: layouts that engine launches, its kernel costs

    def document(self):
        """The typed document (:class:`planner.plan.fleet_document.FleetDocument`)."""
        fields = {k: getattr(self, k) for k in self.__dataclass_fields__ if not (k == "engine" and self.engine is None)}
        return document({"schema_version": SCHEMA_VERSION, "kind": "fleet", **fields})

    def to_dict(self) -> dict[str, Any]:
        """The typed document as plain JSON data."""
        return dump(self.document())

    def to_json(self) -> str:
        """Strict JSON: no NaN or Infinity; a bound that does not exist is null."""
        return strict_dumps(self.to_dict())
