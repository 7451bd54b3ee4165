"""Workload files: the pydantic models a workload YAML is validated against.

Every numeric field carries its physical range (planner.inputs.ranges); the
domain objects built from a valid file live in :mod:`planner.inputs.workload`.
"""

from __future__ import annotations

from typing import Literal, Optional

from pydantic import ConfigDict, Field, model_validator

from .ranges import COUNT, EXPERTS, FFN_WIDTH, HEADS, HOLD_S, LAYERS, PARAMS_B, SLO_MS, TOKENS, VOCAB, WIDTH
from .schema import Strict, given

Precision = Literal["bf16", "fp16", "fp8", "int8", "fp4"]

# --------------------------------------------------------------------------- schema


class MoEFile(Strict):
    n_routed_experts: EXPERTS.type
    experts_per_token: EXPERTS.type
    expert_d_ff: FFN_WIDTH.type
    n_shared_experts: COUNT.type = 0
    n_dense_layers: COUNT.type = 0  # leading layers with a dense MLP instead of experts

    @model_validator(mode="after")
    def _k(self) -> "MoEFile":
        if self.experts_per_token > self.n_routed_experts:
            raise ValueError("experts_per_token exceeds n_routed_experts")
        return self


class MLAFile(Strict):
    kv_lora_rank: WIDTH.type
    qk_rope_head_dim: WIDTH.type
    qk_nope_head_dim: WIDTH.type
    v_head_dim: WIDTH.type
    q_lora_rank: Optional[WIDTH.type] = None


class SlidingWindowFile(Strict):
    window_tokens: TOKENS.type
    n_layers: COUNT.type  # how many layers use the window (the rest attend globally)


class PublishedFile(Strict):
    total_params_b: Optional[PARAMS_B.type] = None
    active_params_b: Optional[PARAMS_B.type] = None
    source: str = Field(min_length=1)


class MTPFile(Strict):
    """Multi-token-prediction heads the checkpoint ships, usable as a speculative draft."""

    layers: int = Field(ge=1, le=16)  # MTP modules (draft tokens they can propose per step)
    acceptance_rate: float = Field(gt=0, lt=1)  # measured share of draft tokens the target model accepts
    source: str = Field(min_length=1)


class ModelFile(Strict):
    # What _consistent checks that JSON Schema can say, so editors and the loader agree.
    model_config = ConfigDict(json_schema_extra={"allOf": [
        {"if": {"properties": {"attention": {"const": "mla"}}, "required": ["attention"]}, "then": given("mla")},
        {"anyOf": [given("d_ff"), given("moe")]},  # a dense model needs d_ff
    ]})

    n_layers: LAYERS.type
    d_model: WIDTH.type
    vocab_size: VOCAB.type
    n_heads: HEADS.type
    n_kv_heads: Optional[HEADS.type] = None  # GQA; ignored for MLA
    head_dim: Optional[WIDTH.type] = None  # defaults to d_model / n_heads
    attention: Literal["gqa", "mla"] = "gqa"
    d_ff: Optional[FFN_WIDTH.type] = None  # dense MLP width (dense models, or MoE dense layers)
    tied_embeddings: bool = False
    moe: Optional[MoEFile] = None
    mla: Optional[MLAFile] = None
    sliding_window: Optional[SlidingWindowFile] = None
    attention_bias: bool = False
    max_position_embeddings: Optional[TOKENS.type] = None  # longest context the model accepts (config.json)
    mtp: Optional[MTPFile] = None  # multi-token-prediction heads (a speculative draft with a sourced acceptance)

    @model_validator(mode="after")
    def _consistent(self) -> "ModelFile":
        if self.attention == "mla" and self.mla is None:
            raise ValueError("attention: mla needs an 'mla' section")
        if self.head_dim is None and self.n_heads > self.d_model:
            raise ValueError(f"n_heads {self.n_heads} exceeds d_model {self.d_model}: give head_dim")
        if self.attention == "gqa":
            kv = self.n_kv_heads or self.n_heads
            if self.n_heads % kv:
                raise ValueError(f"n_kv_heads {kv} does not divide n_heads {self.n_heads}")
        if self.moe is None and self.d_ff is None:
            raise ValueError("a dense model needs d_ff")
        if self.moe is not None:
            if self.moe.n_dense_layers > self.n_layers:
                raise ValueError("moe.n_dense_layers exceeds n_layers")
            if self.moe.n_dense_layers and self.d_ff is None:
                raise ValueError("moe.n_dense_layers > 0 needs d_ff for the dense layers")
        if self.sliding_window and self.sliding_window.n_layers > self.n_layers:
            raise ValueError("sliding_window.n_layers exceeds n_layers")
        return self


Format = Literal["bf16", "fp16", "fp8", "fp8_block128", "int8", "nvfp4", "mxfp4", "int4_g32", "int4_g64", "int4_g128"]


class PrecisionFile(Strict):
    """``weights`` is a shorthand (formats.SHORTHAND); a component named here
    overrides it with the format its checkpoint ships (formats.FORMATS)."""

    weights: Precision = "bf16"
    attention: Optional[Format] = None
    dense_ffn: Optional[Format] = None
    routed_experts: Optional[Format] = None
    shared_experts: Optional[Format] = None
    embeddings: Optional[Format] = None  # input embeddings and LM head
    kv_cache: Precision = "bf16"
    activations: Precision = "bf16"


class TrafficFile(Strict):
    isl: TOKENS.type  # input tokens per request
    osl: TOKENS.type  # output tokens per request
    kv_len: Optional[TOKENS.type] = None  # context held per sequence; default isl + osl
    prefix_hit_rate: float = Field(0.0, ge=0, lt=1)  # share of input tokens served from a prefix cache
    prefix_hold_s: Optional[HOLD_S.type] = None  # time a cached prefix waits for its next use

    @model_validator(mode="after")
    def _holds_prompt(self) -> "TrafficFile":
        if self.kv_len is not None and self.kv_len < self.isl:
            raise ValueError(f"kv_len {self.kv_len} is shorter than the prompt (isl {self.isl}): the KV cache holds at least the prompt")
        return self


class SLOFile(Strict):
    ttft_ms: SLO_MS.type
    tpot_ms: SLO_MS.type


class WorkloadFile(Strict):
    name: str
    description: str = ""
    source: str = Field(min_length=1)
    model: ModelFile
    precision: PrecisionFile = PrecisionFile()
    traffic: TrafficFile
    slo: SLOFile
    published: Optional[PublishedFile] = None
