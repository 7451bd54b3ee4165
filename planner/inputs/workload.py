"""Workloads: a model's architecture, precisions, traffic shape and SLOs.

Parameter counts and KV-cache bytes are computed from the architecture (not
copied from a model card) so that a user's own model works the same way;
``published`` numbers in a file are there to test the arithmetic.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from . import units
from .formats import COMPONENTS, WeightPrecisions
from .errors import InputError
from .ranges import HOLD_S, SLO_MS, TOKENS
from .workload_file import (  # noqa: F401  (re-exported: the file models are part of this module's API)
    MLAFile, MoEFile, ModelFile, MTPFile, Precision, PrecisionFile, PublishedFile,
    SLOFile, SlidingWindowFile, TrafficFile, WorkloadFile,
)

# --------------------------------------------------------------------------- domain objects


@dataclass(frozen=True)
class Model:
    n_layers: int
    d_model: int
    vocab_size: int
    n_heads: int
    n_kv_heads: int
    head_dim: int
    attention: str  # "gqa" | "mla"
    d_ff: int  # dense MLP width (0 if none)
    tied_embeddings: bool = False
    attention_bias: bool = False
    # MoE (n_routed_experts == 0 for a dense model)
    n_routed_experts: int = 0
    experts_per_token: int = 0
    expert_d_ff: int = 0
    n_shared_experts: int = 0
    n_dense_layers: int = 0
    # MLA
    kv_lora_rank: int = 0
    qk_rope_head_dim: int = 0
    qk_nope_head_dim: int = 0
    v_head_dim: int = 0
    q_lora_rank: int = 0
    # sliding-window attention
    window_tokens: int = 0
    n_window_layers: int = 0
    max_position_embeddings: int = 0  # 0: not stated
    mtp_layers: int = 0  # MTP heads shipped with the checkpoint (0: none)
    mtp_acceptance_rate: float = 0.0  # their measured acceptance rate per draft token

    # ---- structure
    @property
    def is_moe(self) -> bool:
        return self.n_routed_experts > 0

    @property
    def n_moe_layers(self) -> int:
        return self.n_layers - self.n_dense_layers if self.is_moe else 0

    @property
    def n_mlp_dense_layers(self) -> int:
        return self.n_layers - self.n_moe_layers

    # ---- parameter counts (weights only; norms included, biases where declared)
    @property
    def attn_params_per_layer(self) -> int:
        d, h = self.d_model, self.n_heads
        if self.attention == "mla":
            qk = self.qk_nope_head_dim + self.qk_rope_head_dim
            if self.q_lora_rank:
                q = d * self.q_lora_rank + self.q_lora_rank + self.q_lora_rank * h * qk
            else:
                q = d * h * qk
            kv_down = d * (self.kv_lora_rank + self.qk_rope_head_dim) + self.kv_lora_rank
            kv_up = self.kv_lora_rank * h * (self.qk_nope_head_dim + self.v_head_dim)
            out = h * self.v_head_dim * d
            return q + kv_down + kv_up + out
        hd, kv = self.head_dim, self.n_kv_heads
        params = d * h * hd + 2 * d * kv * hd + h * hd * d
        if self.attention_bias:
            params += h * hd + 2 * kv * hd
        return params

    @property
    def dense_mlp_params(self) -> int:
        return 3 * self.d_model * self.d_ff  # gated MLP: gate, up, down

    @property
    def expert_params(self) -> int:
        return 3 * self.d_model * self.expert_d_ff

    @property
    def router_params(self) -> int:
        return self.d_model * self.n_routed_experts

    @property
    def embedding_params(self) -> int:
        return self.vocab_size * self.d_model * (1 if self.tied_embeddings else 2)

    @property
    def norm_params_per_layer(self) -> int:
        return 2 * self.d_model

    @property
    def total_params(self) -> int:
        per_layer = self.attn_params_per_layer + self.norm_params_per_layer
        moe = self.n_moe_layers * (
            (self.n_routed_experts + self.n_shared_experts) * self.expert_params + self.router_params
        )
        dense = self.n_mlp_dense_layers * self.dense_mlp_params
        return self.n_layers * per_layer + moe + dense + self.embedding_params + self.d_model

    def params_by_component(self) -> dict[str, int]:
        """Parameters by weight component (formats.COMPONENTS); norms and routers
        ride with attention, they sum to total_params."""
        per_layer = self.attn_params_per_layer + self.norm_params_per_layer
        return {
            "attention": self.n_layers * per_layer + self.n_moe_layers * self.router_params + self.d_model,
            "dense_ffn": self.n_mlp_dense_layers * self.dense_mlp_params,
            "routed_experts": self.n_moe_layers * self.n_routed_experts * self.expert_params,
            "shared_experts": self.n_moe_layers * self.n_shared_experts * self.expert_params,
            "embeddings": self.embedding_params,
        }

    @property
    def active_params(self) -> int:
        """Parameters a token touches: all but the routed experts it does not use."""
        unused = self.n_moe_layers * (self.n_routed_experts - self.experts_per_token) * self.expert_params
        return self.total_params - unused

    @property
    def sparsity(self) -> float:
        return self.total_params / self.active_params

    # ---- KV cache
    @property
    def kv_elems_per_token_per_layer(self) -> int:
        if self.attention == "mla":
            return self.kv_lora_rank + self.qk_rope_head_dim  # one latent per token, shared by all heads
        return 2 * self.n_kv_heads * self.head_dim  # K and V

    def kv_tokens_held(self, context: float) -> float:
        """Token-layers of KV held for one sequence of ``context`` tokens, summed over layers."""
        full = self.n_layers - self.n_window_layers
        return full * context + self.n_window_layers * min(context, self.window_tokens)

    def attn_flops_per_token_per_ctx(self) -> int:
        """Attention-core FLOPs for one query token against one cached token, one layer."""
        if self.attention == "mla":  # weight-absorbed: scores over latent+rope, values over latent
            return 2 * self.n_heads * (2 * self.kv_lora_rank + self.qk_rope_head_dim)
        return 4 * self.n_heads * self.head_dim  # QK^T and PV

    @property
    def kv_shardable_heads(self) -> int:
        """How many ways tensor parallelism can split the KV cache (1 for MLA)."""
        return 1 if self.attention == "mla" else self.n_kv_heads


@dataclass(frozen=True)
class Workload:
    name: str
    description: str
    model: Model
    weight_dtype: str
    kv_dtype: str
    act_dtype: str
    isl: int
    osl: int
    kv_len: int
    ttft_s: float
    tpot_s: float
    prefix_hit_rate: float = 0.0  # share of input tokens whose KV is already cached: no prefill compute
    prefix_hold_s: float = 0.0  # seconds a cached prefix waits between uses (0: not stated)
    spec_method: str = ""  # speculative decoding: "" (off), mtp or ngram
    spec_draft_tokens: int = 0  # draft tokens proposed per verification step
    spec_acceptance: float = 0.0  # share of draft tokens accepted (per token, given its predecessors)
    weights: WeightPrecisions = WeightPrecisions()  # storage format per weight component
    published_total_params: float | None = None
    published_active_params: float | None = None
    published_source: str = ""
    source: str = ""
    source_path: str = ""
    sha256: str = ""
    extra: dict = field(default_factory=dict, compare=False)

    @property
    def cached_prefix_tokens(self) -> float:
        """Input tokens per request whose KV comes from the prefix cache (mean)."""
        return self.isl * self.prefix_hit_rate

    @property
    def prefill_isl(self) -> float:
        """Input tokens per request that prefill computes (the cache misses)."""
        return self.isl - self.cached_prefix_tokens

    @property
    def weight_bytes(self) -> float:
        """Every weight of the model at its component's format, block scales included."""
        return sum(n * self.weights.bytes(c) for c, n in self.model.params_by_component().items())

    def kv_bytes_per_token(self, context: float | None = None) -> float:
        """KV bytes one token adds, averaged over layers for a ``context``-token sequence."""
        ctx = self.kv_len if context is None else context
        per_layer = self.model.kv_elems_per_token_per_layer * units.dtype_bytes(self.kv_dtype)
        return per_layer * self.model.kv_tokens_held(ctx) / ctx


def model_from_spec(m: ModelFile) -> Model:
    moe = m.moe
    mla = m.mla
    return Model(
        n_layers=m.n_layers,
        d_model=m.d_model,
        vocab_size=m.vocab_size,
        n_heads=m.n_heads,
        n_kv_heads=(m.n_kv_heads or m.n_heads) if m.attention == "gqa" else m.n_heads,
        head_dim=m.head_dim or m.d_model // m.n_heads,
        attention=m.attention,
        d_ff=m.d_ff or 0,
        tied_embeddings=m.tied_embeddings,
        attention_bias=m.attention_bias,
        n_routed_experts=moe.n_routed_experts if moe else 0,
        experts_per_token=moe.experts_per_token if moe else 0,
        expert_d_ff=moe.expert_d_ff if moe else 0,
        n_shared_experts=moe.n_shared_experts if moe else 0,
        n_dense_layers=moe.n_dense_layers if moe else 0,
        kv_lora_rank=mla.kv_lora_rank if mla else 0,
        qk_rope_head_dim=mla.qk_rope_head_dim if mla else 0,
        qk_nope_head_dim=mla.qk_nope_head_dim if mla else 0,
        v_head_dim=mla.v_head_dim if mla else 0,
        q_lora_rank=(mla.q_lora_rank or 0) if mla else 0,
        window_tokens=m.sliding_window.window_tokens if m.sliding_window else 0,
        n_window_layers=m.sliding_window.n_layers if m.sliding_window else 0,
        max_position_embeddings=m.max_position_embeddings or 0,
        mtp_layers=m.mtp.layers if m.mtp else 0,
        mtp_acceptance_rate=m.mtp.acceptance_rate if m.mtp else 0.0,
    )


def workload_from_spec(spec: WorkloadFile, path: str = "", sha256: str = "") -> Workload:
    t = spec.traffic
    pub = spec.published
    return Workload(
        name=spec.name,
        description=spec.description,
        model=model_from_spec(spec.model),
        weight_dtype=spec.precision.weights,
        weights=WeightPrecisions.shorthand(spec.precision.weights, **{c: getattr(spec.precision, c) for c in COMPONENTS}),
        kv_dtype=spec.precision.kv_cache,
        act_dtype=spec.precision.activations,
        isl=t.isl,
        osl=t.osl,
        kv_len=t.kv_len or t.isl + t.osl,
        ttft_s=spec.slo.ttft_ms * units.MS,
        tpot_s=spec.slo.tpot_ms * units.MS,
        prefix_hit_rate=t.prefix_hit_rate,
        prefix_hold_s=t.prefix_hold_s or 0.0,
        published_total_params=pub.total_params_b * 1e9 if pub and pub.total_params_b else None,
        published_active_params=pub.active_params_b * 1e9 if pub and pub.active_params_b else None,
        published_source=pub.source if pub else "",
        source=spec.source,
        source_path=path,
        sha256=sha256,
    )


def with_overrides(
    w: Workload,
    *,
    isl: int | None = None,
    osl: int | None = None,
    kv_len: int | None = None,
    weight_dtype: str | None = None,
    kv_dtype: str | None = None,
    ttft_ms: float | None = None,
    tpot_ms: float | None = None,
    cached_prefix: int | None = None,
    prefix_hit_rate: float | None = None,
    prefix_hold_s: float | None = None,
    speculative: str | None = None,
    draft_tokens: int | None = None,
    acceptance_rate: float | None = None,
) -> Workload:
    """Apply command-line overrides, rejecting out-of-range values by flag name."""
    for flag, value in (("--isl", isl), ("--osl", osl), ("--kv-len", kv_len)):
        TOKENS.check(flag, value)
    for flag, value in (("--ttft-ms", ttft_ms), ("--tpot-ms", tpot_ms)):
        SLO_MS.check(flag, value)
    HOLD_S.check("--prefix-hold-s", prefix_hold_s)
    for flag, value in (("--weight-dtype", weight_dtype), ("--kv-dtype", kv_dtype)):
        if value is not None and value not in ("bf16", "fp16", "fp8", "int8", "fp4"):
            raise InputError(f"{flag} must be one of bf16, fp16, fp8, int8, fp4 (got {value!r})")
    new_isl = isl or w.isl
    new_osl = osl or w.osl
    default_kv = w.kv_len if (isl is None and osl is None) else new_isl + new_osl
    if kv_len is not None and kv_len < new_isl:
        raise InputError(f"--kv-len {kv_len} is shorter than the prompt ({new_isl} input tokens): give --kv-len >= --isl")
    if kv_len is None and default_kv < new_isl:
        raise InputError(f"--isl {new_isl} is longer than the workload's kv_len {default_kv}: give --kv-len >= --isl")
    out = replace(
        w,
        isl=new_isl,
        osl=new_osl,
        kv_len=kv_len or default_kv,
        weight_dtype=weight_dtype or w.weight_dtype,
        weights=WeightPrecisions.shorthand(weight_dtype) if weight_dtype else w.weights,
        kv_dtype=kv_dtype or w.kv_dtype,
        ttft_s=ttft_ms * units.MS if ttft_ms else w.ttft_s,
        tpot_s=tpot_ms * units.MS if tpot_ms else w.tpot_s,
        prefix_hit_rate=_hit_rate(new_isl, cached_prefix, prefix_hit_rate, w.prefix_hit_rate),
        prefix_hold_s=prefix_hold_s or w.prefix_hold_s,
    )
    out = _speculative(out, speculative, draft_tokens, acceptance_rate)
    check_context(out, explicit_kv_len=kv_len is not None)
    return out


def _speculative(w: Workload, method: str | None, k: int | None, a: float | None) -> Workload:
    """Speculative decoding from --speculative/--draft-tokens/--acceptance-rate. MTP
    takes its draft length and acceptance from the model's mtp section (sourced) unless
    given; n-gram drafting has no sourced acceptance, so it must be given."""
    if method is None:
        if k is not None or a is not None:
            raise InputError("--draft-tokens and --acceptance-rate need --speculative mtp or ngram")
        return w
    if method == "none":
        return replace(w, spec_method="", spec_draft_tokens=0, spec_acceptance=0.0)
    if method not in ("mtp", "ngram"):
        raise InputError(f"--speculative must be mtp, ngram or none (got {method!r})")
    if k is not None and not 1 <= k <= 16:
        raise InputError(f"--draft-tokens must be an integer from 1 to 16 (got {k})")
    if a is not None and not 0 < a < 1:
        raise InputError(f"--acceptance-rate must be above 0 and below 1 (got {a})")
    m = w.model
    if method == "mtp":
        if not m.mtp_layers:
            raise InputError(f"--speculative mtp: {w.name} states no MTP heads (model.mtp); use --speculative ngram with --acceptance-rate")
        k = k if k is not None else m.mtp_layers
        a = a if a is not None else m.mtp_acceptance_rate
    elif a is None:
        raise InputError("--speculative ngram needs --acceptance-rate (no sourced default for n-gram drafts)")
    return replace(w, spec_method=method, spec_draft_tokens=k if k is not None else 1, spec_acceptance=float(a))


def _hit_rate(isl: int, cached_prefix: int | None, hit_rate: float | None, default: float) -> float:
    """The share of input tokens served from cache, from --cached-prefix (tokens of
    every prompt already cached) or --prefix-hit-rate (a fleet average)."""
    if cached_prefix is not None and hit_rate is not None:
        raise InputError("give --cached-prefix or --prefix-hit-rate, not both")
    if cached_prefix is not None:
        if not 0 <= cached_prefix < isl:
            raise InputError(f"--cached-prefix must be at least 0 and below --isl {isl} (got {cached_prefix}): "
                             "the cached prefix is part of the prompt, and at least one prompt token is new")
        return cached_prefix / isl
    if hit_rate is not None:
        if not 0 <= hit_rate < 1:
            raise InputError(f"--prefix-hit-rate must be in [0, 1) (got {hit_rate})")
        return float(hit_rate)
    return default


def check_context(w: Workload, explicit_kv_len: bool = True) -> None:
    """A sequence holds its prompt and its output, no more (a longer cached prefix
    is part of the prompt: raise --isl and say how much is cached with
    --cached-prefix); and no context exceeds the model's maximum position."""
    flag = "--kv-len" if explicit_kv_len else "traffic.kv_len"
    if w.kv_len > w.isl + w.osl:
        raise InputError(
            f"{flag} {w.kv_len:,} exceeds --isl + --osl = {w.isl + w.osl:,}: context beyond the prompt and output would be a "
            "free cached prefix; count it in --isl and give --cached-prefix (tokens of it already cached)")
    limit = w.model.max_position_embeddings
    if limit and w.kv_len > limit:
        raise InputError(f"context: {w.kv_len:,} tokens ({flag}, default --isl + --osl) exceed {w.name}'s maximum position "
                         f"{limit:,} (max_position_embeddings)")
