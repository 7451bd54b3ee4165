"""The planner's mapping of a published record (the ``planner:`` block of a
measurements file, docs/fidelity.md "Adding a record"): each metric the planner can
express becomes a pinned evaluation (``CaseFile``), every other one says why not."""

from __future__ import annotations

from typing import Literal, Optional

from pydantic import Field

from ..inputs.ranges import BATCH, DOMAINS, FRACTION0, MEASURED, PARALLEL, TOKENS
from ..inputs.schema import Strict

Precision = Literal["bf16", "fp16", "fp8", "int8", "fp4"]

# --------------------------------------------------------------------------- file schema


class EngineFile(Strict):
    """Software properties the record states (not fitted): they replace the
    planner's defaults for this case only. ``name``: the engine the record ran,
    whose measured kernel costs (hardware/engines.yaml) apply as with
    ``planner plan --engine``."""

    name: Optional[Literal["vllm", "sglang", "trtllm"]] = None
    comm_overlap: Optional[FRACTION0.type] = None  # two-batch / dual micro-batch overlap = 1
    gqa_shared_kv_loads: Optional[bool] = None  # False: decode attention loads a KV head per query head
    swa_kv_windowed: Optional[bool] = None  # False: the KV cache holds sliding-window layers at full context
    moe_allgather: Optional[bool] = None  # True: attention-DP experts all-gather tokens and reduce-scatter outputs
    moe_dispatch_quantized: Optional[bool] = None  # False: the exchange carries activation-precision tokens
    source: str = Field(min_length=1)


class WeightFormatsFile(Strict):
    """Per-component weight formats a record states beyond its workload's (names of
    planner/inputs/formats.py), e.g. {attention: bf16} for a checkpoint run with BF16 attention."""

    attention: Optional[str] = None
    dense_ffn: Optional[str] = None
    routed_experts: Optional[str] = None
    shared_experts: Optional[str] = None
    embeddings: Optional[str] = None

    def given(self) -> dict[str, str]:
        return {k: v for k, v in self.model_dump().items() if v is not None}


class CaseFile(Strict):
    """One metric of a record as a pinned evaluation."""

    metric: str = Field(min_length=1)
    workload: str = Field(min_length=1)
    topology: str = Field(min_length=1)
    nodes: Optional[DOMAINS.type] = None  # scale-up domains (nodes or racks)
    weights: Optional[Precision] = None
    weight_formats: Optional[WeightFormatsFile] = None
    kv_cache: Optional[Precision] = None
    tp: PARALLEL.type = 1
    ep: PARALLEL.type = 1
    pp: PARALLEL.type = 1
    dp_attn: PARALLEL.type = 1
    isl: TOKENS.type
    osl: TOKENS.type
    kv_len: Optional[TOKENS.type] = None
    batch: Optional[BATCH.type] = None  # decode micro-batch; None = largest that fits memory
    batch_cap: Optional[BATCH.type] = None  # engine or request-count cap on that largest batch
    prefill_tokens_per_gpu: Optional[TOKENS.type] = None  # mode prefill: tokens per GPU per forward
    mode: Literal["aggregated", "decode", "static", "prefill", "ttft", "latency"]
    engine: Optional[EngineFile] = None
    # speculative decoding the record states (as --speculative/--draft-tokens/--acceptance-rate):
    # the per-token acceptance is derived from the record's stated tokens per step
    speculative: Optional[Literal["mtp", "ngram"]] = None
    draft_tokens: Optional[int] = Field(default=None, ge=1, le=16)
    acceptance_rate: Optional[float] = Field(default=None, gt=0.0, lt=1.0)
    measured_divisor: MEASURED.type = 1.0  # e.g. 8 for a per-node metric
    note: str = ""
    outlier: str = ""  # a known blind spot: evaluated and shown, left out of the error target (say why)


class NotExpressibleFile(Strict):
    metric: str = "*"
    reason: str = Field(min_length=1)


class PlannerBlock(Strict):
    cases: list[CaseFile] = []
    not_expressible: list[NotExpressibleFile] = []
    # records that split one measurement (one table of one source) share a group, so that
    # leave-one-record-out holds the whole table out at once (planner/analysis/calibration.py)
    cv_group: Optional[str] = Field(default=None, min_length=1)
