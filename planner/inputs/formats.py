"""Weight storage formats: bytes per parameter including block scales, and the
tensor-core precision their GEMMs run in.

These are definitions of the formats (each cites its specification), not
measured values. A block-scaled format stores ``value_bits`` per element plus
one ``scale_bits`` scale (and ``zero_bits`` zero point) per ``block_values``
elements:

    bytes/param = (value_bits + (scale_bits + zero_bits) / block_values) / 8

NVFP4: 4 + 8/16 = 4.5 bits = 0.5625 B. MXFP4: 4 + 8/32 = 4.25 bits = 0.53125 B.
FP8 with 128x128 block scales (DeepSeek-V3): 8 + 32/16384 bits = 1.00024 B.
INT4 group-wise (AWQ/GPTQ, group 128, fp16 scale + zero): 4 + 32/128 = 4.25 bits.

A GEMM runs at the rate of ``compute`` when the accelerator has the format's
``native`` tensor cores (FP4 formats need FP4 hardware, FP8 formats FP8
hardware). Without them the engine dequantises the weights to 16 bits inside the
kernel (Marlin, Triton and the Hopper MXFP4 path are weight-only): the weights
still stream at the narrow width, the arithmetic runs at the BF16 rate.
"""

from __future__ import annotations

from collections import Counter

from dataclasses import dataclass

from .errors import InputError


@dataclass(frozen=True)
class Format:
    name: str
    value_bits: float
    scale_bits: float  # per block
    zero_bits: float  # per block (asymmetric integer formats)
    block_values: int  # elements sharing one scale (0: a per-tensor scale, negligible)
    native: str  # tensor-core precision the format needs to run without dequantising
    compute: str  # precision the GEMM runs in on that hardware (the activations' format)
    source: str

    @property
    def bytes_per_param(self) -> float:
        per_block = (self.scale_bits + self.zero_bits) / self.block_values if self.block_values else 0.0
        return (self.value_bits + per_block) / 8.0

    def compute_dtype(self, peak_flops: dict) -> str:
        """The precision its GEMMs run in on an accelerator with these dense peaks."""
        if self.native in peak_flops and self.compute in peak_flops:
            return self.compute
        return "bf16"  # weight-only dequantisation to 16 bits

    def scales_promoted_on(self, peak_flops: dict, block_scaled_mma: bool) -> bool:
        """True when this accelerator computes the format in FP8 but its tensor cores
        cannot apply per-block scales (``Accelerator.block_scaled_mma`` false): the
        kernel promotes each block's partial sums on CUDA cores (Hopper DeepGEMM)."""
        return self.native == "fp8" and self.block_values > 0 and self.compute_dtype(peak_flops) == "fp8" and not block_scaled_mma

    def weight_only_on(self, peak_flops: dict) -> bool:
        """True when this accelerator runs the format's GEMMs weight-only: weights
        narrower than 16 bits dequantised to BF16 inside the kernel. W4A16 formats
        (compute bf16) always are; FP8/FP4 formats are where their tensor cores are
        missing. INT8 (W8A8) runs on integer tensor cores, not a dequantising kernel:
        without an int8 peak in the accelerator file it keeps the BF16 rate."""
        if self.value_bits >= 16 or self.native == "int8":
            return False
        return self.compute == "bf16" or self.native not in peak_flops


FORMATS: dict[str, Format] = {f.name: f for f in (
    Format("bf16", 16, 0, 0, 0, "bf16", "bf16", "IEEE-754-style bfloat16, 2 bytes"),
    Format("fp16", 16, 0, 0, 0, "bf16", "bf16", "IEEE-754 binary16, 2 bytes; runs at the 16-bit tensor-core rate"),
    Format("fp8", 8, 0, 0, 0, "fp8", "fp8", "OCP FP8 (E4M3) with one per-tensor scale (negligible bytes)"),
    Format("fp8_block128", 8, 32, 0, 128 * 128, "fp8", "fp8",
           "DeepSeek-V3 technical report (arXiv 2412.19437) section 3.3: FP8 E4M3 weights with one FP32 scale per 128x128 block "
           "(config.json quantization_config weight_block_size [128, 128])"),
    Format("int8", 8, 0, 0, 0, "int8", "int8", "INT8 with per-channel scales (negligible bytes)"),
    Format("nvfp4", 4, 8, 0, 16, "fp4", "fp4",
           "NVIDIA NVFP4 (Blackwell): E2M1 values with one FP8 (E4M3) scale per 16 values, plus a per-tensor FP32 scale (negligible)"),
    Format("mxfp4", 4, 8, 0, 32, "fp4", "fp8",
           "OCP Microscaling Formats (MX) v1.0 spec: E2M1 values with one E8M0 (8-bit) scale per 32 values. Engines pair MXFP4 "
           "weights with MXFP8 activations (W4A8), a mixed FP8/FP4 tensor-core instruction that runs at the FP8 rate on Blackwell"),
    *(Format(f"int4_g{g}", 4, 16, 16, g, "int4", "bf16",
             f"AWQ (arXiv 2306.00978) / GPTQ (arXiv 2210.17323) group-wise INT4: one FP16 scale and one zero point per {g} "
             "weights (zero stored packed in 4 bits by some engines; counted at 16 here, the upper bound); weight-only (W4A16)")
      for g in (32, 64, 128)),
)}

# what --weight-dtype and a precision file's `weights:` shorthand mean per component:
# the formats a public checkpoint of that kind ships. Quantised checkpoints keep the
# embeddings and LM head in BF16 (ModelOpt's NVFP4/FP8 recipes exclude lm_head); every
# transformer-block linear layer takes the format. A checkpoint that keeps more at high
# precision says so per component (workloads/deepseek-r1-fp4.yaml: FP8 attention).
SHORTHAND: dict[str, dict[str, str]] = {
    "bf16": dict(attention="bf16", dense_ffn="bf16", routed_experts="bf16", shared_experts="bf16", embeddings="bf16"),
    "fp16": dict(attention="fp16", dense_ffn="fp16", routed_experts="fp16", shared_experts="fp16", embeddings="fp16"),
    "fp8": dict(attention="fp8", dense_ffn="fp8", routed_experts="fp8", shared_experts="fp8", embeddings="bf16"),
    "int8": dict(attention="int8", dense_ffn="int8", routed_experts="int8", shared_experts="int8", embeddings="bf16"),
    "fp4": dict(attention="nvfp4", dense_ffn="nvfp4", routed_experts="nvfp4", shared_experts="nvfp4", embeddings="bf16"),
}
COMPONENTS = ("attention", "dense_ffn", "routed_experts", "shared_experts", "embeddings")


def get(name: str) -> Format:
    try:
        return FORMATS[name]
    except KeyError:
        raise InputError(f"unknown weight format {name!r}; expected one of {', '.join(FORMATS)}") from None


@dataclass(frozen=True)
class WeightPrecisions:
    """The storage format of each weight component of a model."""

    attention: str = "bf16"
    dense_ffn: str = "bf16"
    routed_experts: str = "bf16"
    shared_experts: str = "bf16"
    embeddings: str = "bf16"  # input embeddings and the LM head

    @classmethod
    def shorthand(cls, weights: str, **components: str | None) -> "WeightPrecisions":
        if weights not in SHORTHAND:
            raise InputError(f"weights {weights!r}: expected one of {', '.join(SHORTHAND)}")
        base = dict(SHORTHAND[weights])
        base.update({k: v for k, v in components.items() if v is not None})
        for k, v in base.items():
            get(v)
        return cls(**base)

    def bytes(self, component: str) -> float:
        return get(getattr(self, component)).bytes_per_param

    def compute(self, component: str, peak_flops: dict) -> str:
        return get(getattr(self, component)).compute_dtype(peak_flops)

    def as_dict(self) -> dict[str, str]:
        return {c: getattr(self, c) for c in COMPONENTS}


def weights_label(shorthand: str, formats: dict[str, str] | None) -> str:
    """How a plan's header names its weights: the shorthand when every component
    takes the shorthand's format, else the commonest format and the exceptions
    ("int4_g128 weights, embeddings bf16"; "bf16 weights, routed_experts mxfp4")."""
    formats = {c: formats[c] for c in COMPONENTS if formats and c in formats}  # a plan file may hold anything else
    if not formats or formats == SHORTHAND.get(shorthand):
        return f"{shorthand} weights"
    counts = Counter(formats.values())
    main = max(counts, key=lambda f: (counts[f], f == formats.get("routed_experts")))
    rest = ", ".join(f"{c} {f}" for c, f in formats.items() if f != main)
    return f"{main} weights, {rest}"

