"""Accelerator specs and efficiency factors, loaded from ``hardware/``.

Files state datasheet units (GB, TB/s, TFLOP/s); the dataclasses hold SI.
Every number in a file carries a source under ``sources:``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Optional

from pydantic import ConfigDict, Field, PositiveFloat, model_validator

from . import units
from .datafiles import read_yaml, resolve
from .errors import InputError
from .ranges import FRACTION, FRACTION0, HBM_GB, HBM_TB_PER_S, LATENCY_US, MEMORY_GB, PARALLEL, PASSES, TFLOPS, TOKENS, TOKENS_F, VARIATION, WATTS
from .schema import Strict, given, validate

# keys of flops_fraction: compute precisions, plus block-scaled FP8 (its own measured fraction)
FRACTION_KEYS = set(units.DTYPE_BYTES) | {"fp8_block", "weight_only"}

# --------------------------------------------------------------------------- schemas


class AcceleratorFile(Strict):
    # _sourced's rule in JSON Schema: every number has a non-empty source.
    model_config = ConfigDict(json_schema_extra={"allOf": [
        {"properties": {"sources": {"required": ["hbm_gb", "hbm_tb_per_s", "dense_tflops"], "additionalProperties": {"pattern": "\\S"}}}},
        {"properties": {"dense_tflops": {"required": ["bf16"], "propertyNames": {"enum": sorted(units.DTYPE_BYTES)}}}},
        {"if": given("tdp_w"), "then": {"properties": {"sources": {"required": ["tdp_w"]}}}},
        {"if": given("block_scaled_mma"), "then": {"properties": {"sources": {"required": ["block_scaled_mma"]}}}},
    ]})

    name: str
    description: str = ""
    vendor: str = ""
    hbm_gb: HBM_GB.type
    hbm_tb_per_s: HBM_TB_PER_S.type
    dense_tflops: dict[str, TFLOPS.type] = Field(max_length=16)
    tdp_w: Optional[WATTS.type] = None
    block_scaled_mma: Optional[bool] = None  # tensor cores apply per-block scales themselves (no CUDA-core promotion)
    estimated: bool = False
    sources: dict[str, str]

    @model_validator(mode="after")
    def _sourced(self) -> "AcceleratorFile":
        given_keys = (("tdp_w",) if self.tdp_w else ()) + (("block_scaled_mma",) if self.block_scaled_mma is not None else ())
        for key in ("hbm_gb", "hbm_tb_per_s", "dense_tflops") + given_keys:
            if not self.sources.get(key, "").strip():
                raise ValueError(f"sources.{key} is required: every number needs its source")
        for dtype in self.dense_tflops:
            if dtype not in units.DTYPE_BYTES:
                raise ValueError(f"dense_tflops: unknown precision {dtype!r}")
        if "bf16" not in self.dense_tflops:
            raise ValueError("dense_tflops must include bf16")
        return self


def _sources_required(schema: dict) -> None:
    """JSON Schema of EfficiencyFields._sourced: each factor given needs sources.<factor>."""
    schema["allOf"] = [
        {"if": given(key), "then": {"required": ["sources"], "properties": {"sources": {"required": [key]}}}}
        for key in schema.get("properties", {}) if key != "sources"
    ] + [
        {"properties": {"sources": {"additionalProperties": {"pattern": "\\S"}}}},
        *({"properties": {key: {"anyOf": [{"type": "null"}, {"type": "object", "propertyNames": {"enum": sorted(FRACTION_KEYS)},
                                                               "additionalProperties": {"exclusiveMinimum": 0, "maximum": 1}}]}}}
          for key in ("flops_fraction", "prefill_flops_fraction")),
    ]


class EfficiencyFields(Strict):
    """Achieved fractions of peak and fixed latencies. All optional so that a
    topology can override a subset; the shipped defaults set every one."""

    model_config = ConfigDict(json_schema_extra=_sources_required)

    flops_fraction: Optional[dict[str, FRACTION.type]] = Field(None, max_length=16)
    prefill_flops_fraction: Optional[dict[str, FRACTION.type]] = Field(None, max_length=16)
    hbm_fraction: Optional[FRACTION.type] = None
    scale_up_bw_fraction: Optional[FRACTION.type] = None
    scale_out_bw_fraction: Optional[FRACTION.type] = None
    allreduce_latency_us: Optional[LATENCY_US.type] = None
    alltoall_latency_us: Optional[LATENCY_US.type] = None
    allgather_latency_us: Optional[LATENCY_US.type] = None
    nccl_allreduce_latency_us: Optional[LATENCY_US.type] = None
    custom_allreduce_max_gpus: Optional[PARALLEL.type] = None
    scale_out_latency_us: Optional[LATENCY_US.type] = None
    p2p_latency_us: Optional[LATENCY_US.type] = None
    layer_overhead_us: Optional[LATENCY_US.type] = None
    step_overhead_us: Optional[LATENCY_US.type] = None
    comm_overlap: Optional[FRACTION0.type] = None
    moe_expert_load_cv: Optional[VARIATION.type] = None
    memory_usable_fraction: Optional[FRACTION.type] = None
    runtime_reserve_gb: Optional[MEMORY_GB.type] = None
    prefill_chunk_tokens: Optional[TOKENS.type] = None
    activation_bytes_per_token_per_d_model: Optional[PASSES.type] = None
    queue_intervals: Optional[PASSES.type] = None
    moe_half_tokens: Optional[TOKENS_F.type] = None
    moe_min_tile_rows: Optional[TOKENS_F.type] = None
    moe_max_tile_rows: Optional[TOKENS_F.type] = None
    moe_layer_overhead_us: Optional[LATENCY_US.type] = None
    moe_row_overhead_us: Optional[LATENCY_US.type] = None
    token_layer_overhead_us: Optional[LATENCY_US.type] = None
    elementwise_passes: Optional[PASSES.type] = None
    mlp_intermediate_passes: Optional[PASSES.type] = None
    moe_row_passes: Optional[PASSES.type] = None
    gqa_shared_kv_loads: Optional[bool] = None
    attention_dp_prefill_balance: Optional[FRACTION0.type] = None
    request_overhead_us: Optional[LATENCY_US.type] = None
    swa_kv_windowed: Optional[bool] = None
    moe_allgather: Optional[bool] = None
    moe_dispatch_quantized: Optional[bool] = None
    block_fp8_gemm_extra_us: Optional[LATENCY_US.type] = None
    block_fp8_gemm_extra_us_per_kblock: Optional[LATENCY_US.type] = None
    sources: dict[str, str] = {}

    @model_validator(mode="after")
    def _sourced(self) -> "EfficiencyFields":
        for key in type(self).model_fields:
            if key != "sources" and getattr(self, key) is not None and not self.sources.get(key, "").strip():
                raise ValueError(f"sources.{key} is required: every number needs its source")
        for key in ("flops_fraction", "prefill_flops_fraction"):
            for dtype, frac in (getattr(self, key) or {}).items():
                if dtype not in FRACTION_KEYS or not 0 < frac <= 1:
                    raise ValueError(f"{key}.{dtype}: expected a known precision with a fraction in (0, 1]")
        return self


# --------------------------------------------------------------------------- domain objects


@dataclass(frozen=True)
class Accelerator:
    name: str
    description: str
    hbm_bytes: float
    hbm_bw_bytes_per_s: float
    peak_flops: dict[str, float]  # dense FLOP/s by precision
    tdp_w: float | None
    estimated: bool
    sources: dict[str, str] = field(default_factory=dict, compare=False)
    block_scaled_mma: bool = False  # block-scaled FP8 GEMMs run at the plain FP8 rate (scales applied in the MMA)

    def compute_dtype(self, weight_dtype: str) -> str:
        """The precision GEMMs run in: the weight format if supported, else the next wider."""
        order = units.DTYPE_WIDENING
        start = order.index(weight_dtype) if weight_dtype in order else order.index("bf16")
        for dtype in order[start:]:
            if dtype in self.peak_flops:
                return dtype
        return "bf16"


@dataclass(frozen=True)
class Efficiency:
    """Calibrated constants that turn peak numbers into achievable ones (SI)."""

    flops_fraction: dict[str, float]
    prefill_flops_fraction: dict[str, float]
    hbm_fraction: float
    scale_up_bw_fraction: float
    scale_out_bw_fraction: float
    allreduce_latency_s: float
    alltoall_latency_s: float
    scale_out_latency_s: float
    p2p_latency_s: float
    layer_overhead_s: float
    step_overhead_s: float
    comm_overlap: float
    moe_expert_load_cv: float  # coefficient of variation of the routed load across experts (physics/expert_load.py)
    memory_usable_fraction: float
    runtime_reserve_bytes: float
    prefill_chunk_tokens: int
    activation_bytes_per_token_per_d_model: float
    queue_intervals: float
    sources: dict[str, str] = field(default_factory=dict, compare=False)
    moe_half_tokens: float = 0.0  # rows each busy expert's grouped GEMM costs beyond its tokens at the largest tile (costmodel.grouped_gemm_efficiency)
    moe_min_tile_rows: float = 0.0  # smallest row tile grouped-GEMM kernels pick for an expert's few tokens (0: no lower limit)
    moe_max_tile_rows: float = 0.0  # row tile at which moe_half_tokens applies in full (0: the padding never shrinks)
    moe_layer_overhead_s: float = 0.0  # fixed cost of an MoE layer beyond layer_overhead_s (routing, permutes)
    moe_row_overhead_s: float = 0.0  # time per routed token copy a GPU's experts handle, per MoE layer, beyond its FLOPs and bytes
    token_layer_overhead_s: float = 0.0  # time per token a GPU's rank carries, per layer, beyond the counted FLOPs, bytes and passes
    elementwise_passes: float = 0.0  # d_model-wide activation reads+writes per token per layer (norms, residuals)
    mlp_intermediate_passes: float = 0.0  # reads+writes of the MLP hidden activation per token per layer
    moe_row_passes: float = 0.0  # d_model-wide reads+writes per routed token copy (permute, quantise, gather)
    gqa_shared_kv_loads: bool = True  # decode attention loads each KV head once per GQA group (False: per query head)
    attention_dp_prefill_balance: float = 1.0  # share of a prompt chunk's excess on one attention-DP rank the scheduler removes
    request_overhead_s: float = 0.0  # fixed cost from a request's arrival to its first token beyond the prefill passes
    swa_kv_windowed: bool = True  # the KV cache holds only the window of a sliding-window layer (False: the whole context)
    moe_allgather: bool = False  # attention-DP experts exchange tokens by all-gather + reduce-scatter (False: all-to-all)
    moe_dispatch_quantized: bool = True  # dispatch sends tokens in the experts' GEMM precision (False: activation precision)
    allgather_latency_s: float = 0.0  # fixed latency of one all-gather or reduce-scatter of an MoE exchange (NCCL)
    nccl_allreduce_latency_s: float = 0.0  # fixed latency of an all-reduce over more GPUs than the engines' own kernel serves (NCCL)
    custom_allreduce_max_gpus: int = 8  # largest group the engines' own all-reduce kernel serves; beyond it NCCL
    # time one block-scaled FP8 dense GEMM takes beyond the reference engines' kernel on accelerators
    # that promote the block scales on CUDA cores: per launch, plus per 128-wide block of its reduction
    # (an engine's kernels: hardware/engines.yaml)
    block_fp8_gemm_extra_s: float = 0.0
    block_fp8_gemm_extra_s_per_kblock: float = 0.0

    def flops_eff(self, dtype: str, prefill: bool = False) -> float:
        table = self.prefill_flops_fraction if prefill else self.flops_fraction
        return table.get(dtype, table["bf16"])


_US_FIELDS = {
    "allreduce_latency_us": "allreduce_latency_s",
    "alltoall_latency_us": "alltoall_latency_s",
    "allgather_latency_us": "allgather_latency_s",
    "nccl_allreduce_latency_us": "nccl_allreduce_latency_s",
    "scale_out_latency_us": "scale_out_latency_s",
    "p2p_latency_us": "p2p_latency_s",
    "layer_overhead_us": "layer_overhead_s",
    "step_overhead_us": "step_overhead_s",
    "moe_layer_overhead_us": "moe_layer_overhead_s",
    "request_overhead_us": "request_overhead_s",
    "moe_row_overhead_us": "moe_row_overhead_s",
    "token_layer_overhead_us": "token_layer_overhead_s",
    "block_fp8_gemm_extra_us": "block_fp8_gemm_extra_s",
    "block_fp8_gemm_extra_us_per_kblock": "block_fp8_gemm_extra_s_per_kblock",
}


def apply_fields(base: dict, fields: EfficiencyFields) -> dict:
    """``base`` (Efficiency fields, SI) with the given fields of ``fields`` converted and applied."""
    out = dict(base)
    for key in type(fields).model_fields:
        value = getattr(fields, key)
        if key == "sources" or value is None:
            continue
        if key in _US_FIELDS:
            out[_US_FIELDS[key]] = value * units.US
        elif key == "runtime_reserve_gb":
            out["runtime_reserve_bytes"] = value * units.GB
        elif key in ("flops_fraction", "prefill_flops_fraction"):
            out[key] = {**out.get(key, {}), **value}
        else:
            out[key] = value
    out["sources"] = {**out.get("sources", {}), **fields.sources}
    return out


def load_accelerator(ref: str) -> Accelerator:
    path = resolve("hardware", ref, sub="accelerators")
    spec = validate(AcceleratorFile, read_yaml(path).data, path)
    return accelerator_from_spec(spec)


def accelerator_from_spec(spec: AcceleratorFile) -> Accelerator:
    return Accelerator(
        name=spec.name,
        description=spec.description,
        hbm_bytes=spec.hbm_gb * units.GIB,  # datasheet HBM capacities are binary gigabytes
        hbm_bw_bytes_per_s=spec.hbm_tb_per_s * units.TB,
        peak_flops={k: v * units.TFLOPS for k, v in spec.dense_tflops.items()},
        tdp_w=spec.tdp_w,
        estimated=spec.estimated,
        sources=dict(spec.sources),
        block_scaled_mma=bool(spec.block_scaled_mma),
    )


def default_efficiency_path() -> Path:
    return resolve("hardware", "efficiency")


def load_efficiency(overrides: EfficiencyFields | None = None, path: Path | None = None) -> Efficiency:
    """The shipped (calibrated) efficiency factors, with optional overrides."""
    path = path or default_efficiency_path()
    fields = validate(EfficiencyFields, read_yaml(path).data, path)
    merged = apply_fields({}, fields)
    missing = [f for f in Efficiency.__dataclass_fields__ if f not in merged]
    if missing:
        raise InputError(f"{path}: missing required field {missing[0]!r}")
    if overrides is not None:
        merged = apply_fields(merged, overrides)
    return Efficiency(**merged)


def with_overrides(eff: Efficiency, **changes) -> Efficiency:
    return replace(eff, **changes)
