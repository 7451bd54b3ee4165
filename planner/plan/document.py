"""The plan document: one typed model for every result the planner writes.

``kind`` says which: ``plan`` (``planner plan``, aggregated or disaggregated),
``evaluation`` (``planner evaluate``, one pinned layout) or ``fleet``
(``planner fleet``). Every writer goes through :func:`to_json` (strict JSON: a
number that is not finite is an error, a bound that does not exist is ``null``),
and every reader through :func:`read_document`. The JSON Schema published as
``docs/schema/plan.schema.json`` is generated from these models
(``python -m planner.cli.schema_export``).

Versions: 1.0 wrote the same plan and evaluation shapes; a 1.0 fleet lacks the
per-workload traffic and per-group host size that export needs, so export
refuses it with a line saying so. Other major versions are refused.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from ..inputs.errors import InputError
from .fleet_document import FleetDocument
from .plan_parts import Alternative, Fidelity, Inputs, Memory, Metrics, Pools, Replica, ServingEconomics, Solver, TimeBreakdown, d

SCHEMA_VERSION = "1.2"  # 1.2: workload family, fidelity, weight formats
READABLE_VERSIONS = ("1.0", "1.1", "1.2")


class _Result(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)

    schema_version: str = d("Format version of this document (major.minor); readers accept 1.x.")
    status: str = d("plan: optimal (proven), feasible (time limit hit; see solver.gap), infeasible. "
                    "evaluation: ok or violates (see violations).")
    message: str = d("A note for the reader, empty when there is nothing to say.")
    inputs: Inputs = d("What was asked: files (with hashes), SLOs, traffic, precisions, price and options.")
    replicas: list[Replica] = d("Every replica with its layout, batch and concrete GPU ids.")
    metrics: Metrics = d("Metrics of the whole deployment (sums of rates and dollars, worst latencies).")
    memory_per_gpu_gb: Memory = d("HBM per GPU of the main layout (the decode pool's, when disaggregated), GB.")
    time_breakdown_ms: TimeBreakdown = d("Where one step of the main layout goes, ms.")
    bottleneck: str = d("The largest term of the step: compute, memory:weights, memory:kv, communication or overhead.")
    binding_constraints: list[str] = d("What stops the plan from being cheaper or larger (memory, tpot, ttft, gpus, ...).")
    violations: list[str] = d("Each limit the evaluated layout breaks, with its numbers (evaluate only).")
    alternatives: list[Alternative] = d("The next best distinct layouts, each at its best batch, with metrics.")
    solver: Solver = d("How the search went; empty for an evaluation.")
    pools: Optional[Pools] = d("Disaggregated plans: the prefill and decode pools and their balance.", None)
    serving_economics: Optional[ServingEconomics] = d("Prefix-cache prices of input tokens and where cached prefixes wait.", None)
    fidelity: Optional[Fidelity] = d("What the cost model was checked against for this model family and accelerator "
                                     "(docs/fidelity.md); null in documents written before it.", None)


class PlanDocument(_Result):
    """A plan: layouts, replica counts and placement chosen by the search."""

    kind: Literal["plan"] = d("Document kind: a plan chosen by the search.")


class EvaluationDocument(_Result):
    """An evaluation: one pinned layout, at a given or its largest feasible batch."""

    kind: Literal["evaluation"] = d("Document kind: one pinned layout, evaluated.")


Document = Annotated[Union[PlanDocument, EvaluationDocument, FleetDocument], Field(discriminator="kind")]
_KINDS = {"plan": PlanDocument, "evaluation": EvaluationDocument, "fleet": FleetDocument}


def _adapter() -> TypeAdapter:
    """The union of the three kinds (built on first use: readers and the schema)."""
    global _UNION
    if _UNION is None:
        _UNION = TypeAdapter(Document)
    return _UNION


_UNION: TypeAdapter | None = None


class PLAN_DOCUMENT:  # noqa: N801  (named like the models the schema exporter lists)
    """The union of the three kinds, published as docs/schema/plan.schema.json."""

    @staticmethod
    def model_json_schema(mode: str = "validation") -> dict[str, Any]:
        return _adapter().json_schema(mode=mode)
_ORDER = ("schema_version", "kind")


def document(data: dict[str, Any]) -> PlanDocument | EvaluationDocument | FleetDocument:
    """Type a document the planner just built. A mismatch is a bug in the planner
    (a key missing from the models below, or a value that is not finite)."""
    try:
        return _KINDS[data["kind"]].model_validate(data)
    except ValidationError as exc:
        raise ValueError(f"plan document does not match planner/plan/document.py: {exc}") from None


def dump(doc: BaseModel) -> dict[str, Any]:
    """Plain JSON data, keys in document order, optional keys only where set."""
    data = doc.model_dump(mode="json", exclude_unset=True, by_alias=True)
    return {**{k: data[k] for k in _ORDER if k in data}, **{k: v for k, v in data.items() if k not in _ORDER}}


def strict_dumps(data: Any, indent: int | None = 2) -> str:
    """JSON with no NaN or Infinity anywhere (``allow_nan=False``)."""
    return json.dumps(data, indent=indent, allow_nan=False)


def to_json(data: dict[str, Any]) -> str:
    """Type, then write: the one way a plan, evaluation or fleet document becomes JSON."""
    return strict_dumps(dump(document(data)))


def _where(err: dict[str, Any]) -> str:
    return ".".join(str(p) for p in err["loc"] if not (isinstance(p, str) and p in ("plan", "evaluation", "fleet"))) or "(top)"


def read_document(data: Any, source: str = "plan") -> PlanDocument | EvaluationDocument | FleetDocument:
    """A plan file's JSON as a typed document; one-line InputError otherwise."""
    if not isinstance(data, dict):
        raise InputError(f"{source}: expected a JSON object at the top level")
    version = str(data.get("schema_version", ""))
    if version.split(".")[0] != "1":
        raise InputError(f"{source}: schema_version {version or 'missing'} is not 1.x; write the plan with this planner")
    data = {"kind": "plan", **data}  # 1.0 plans written before kind existed
    if data["kind"] not in ("plan", "evaluation", "fleet"):
        raise InputError(f"{source}: kind {data['kind']!r} is not a plan, evaluation or fleet document")
    try:
        return _adapter().validate_python(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        raise InputError(f"{source}: {_where(err)}: {err['msg']}") from None

