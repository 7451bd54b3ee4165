"""Read a Hugging Face ``quantization_config`` into per-component weight formats.

A checkpoint's quantisation decides its weight bytes (4x between BF16 and INT4),
so a method this module cannot model is refused in one line naming the field,
never planned as BF16. Modelled (formats.FORMATS gives bytes with scales):

* ``fp8`` / ``fbgemm_fp8``: FP8 linear layers; ``weight_block_size [128, 128]``
  is FP8 with block scales (DeepSeek-V3); embeddings and LM head stay BF16.
* ``mxfp4``: MXFP4 routed experts, everything else BF16 (gpt-oss: attention,
  router, embeddings and LM head are in ``modules_to_not_convert``).
* ``awq`` / ``gptq``: 4-bit group-wise integer weights (group 32, 64 or 128)
  in every decoder linear layer; embeddings and LM head BF16.
* ``modelopt``: ``quant_algo`` FP8 or NVFP4 (NVFP4 MLP/experts, FP8 attention).
* ``compressed-tensors`` with one config group whose weights are 8-bit float
  (per tensor/channel, or 128x128 blocks), 8-bit int per tensor/channel,
  4-bit int group-wise, or 4-bit float in groups of 16 (NVFP4).

A whole number written as a float (``"bits": 4.0``) is read as that integer.
* ``bitsandbytes`` 8-bit (INT8).
"""

from __future__ import annotations

import re
from typing import Any, Callable

from .errors import shown_value
from .formats import SHORTHAND

Precision = dict[str, str]  # PrecisionFile fields: weights shorthand + component overrides
_QUANTISED_LINEARS = ("attention", "dense_ffn", "routed_experts", "shared_experts")
SUPPORTED = "fp8, fbgemm_fp8, mxfp4, awq, gptq, modelopt, compressed-tensors, bitsandbytes (8-bit)"


def _all_linears(fmt: str, shorthand: str) -> Precision:
    return {"weights": shorthand, **{c: fmt for c in _QUANTISED_LINEARS}, "embeddings": "bf16"}


def _shown(value: Any) -> str:
    """A short identifier-like string as written (a scheme name such as W4A8_AWQ);
    anything else as errors.shown_value shows it, never a file's free text."""
    if isinstance(value, str) and re.fullmatch(r"[A-Za-z0-9_.-]{1,32}", value):
        return repr(value)
    return shown_value(value)


def _whole(value: Any) -> Any:
    """A JSON number that is a whole number (4 or 4.0) as an int; anything else
    (true, 4.5, "4") unchanged, so the checks below refuse it by its own value."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _int4(q: dict, fail: Callable[[str], Exception], bits_key: str = "bits", group_key: str = "group_size") -> str:
    bits, group = _whole(q.get(bits_key)), _whole(q.get(group_key))
    if bits != 4:
        raise fail(f"quantization_config.{bits_key} {shown_value(bits)} is not modelled (4-bit group-wise integer weights only)")
    if group not in (32, 64, 128):
        raise fail(f"quantization_config.{group_key} {shown_value(group)} is not modelled (groups of 32, 64 or 128)")
    return f"int4_g{group}"


def _fp8(q: dict, fail: Callable[[str], Exception]) -> Precision:
    block = q.get("weight_block_size")
    if block is None:
        return _all_linears("fp8", "fp8")
    if not isinstance(block, list) or block != [128, 128] or any(isinstance(b, bool) for b in block):  # a number, a string or true is no block shape
        raise fail(f"quantization_config.weight_block_size {shown_value(block)} is not modelled (FP8 block scales of [128, 128] only)")
    return _all_linears("fp8_block128", "fp8")


def _compressed_tensors(q: dict, fail: Callable[[str], Exception]) -> Precision:
    groups = q.get("config_groups")
    if not isinstance(groups, dict) or len(groups) != 1:
        raise fail("quantization_config.config_groups: only one quantisation group is modelled")
    w = next(iter(groups.values())).get("weights") if isinstance(next(iter(groups.values())), dict) else None
    if not isinstance(w, dict):
        raise fail("quantization_config.config_groups: the group has no 'weights' scheme")
    bits, kind, strategy = _whole(w.get("num_bits")), w.get("type"), w.get("strategy")
    if bits == 8 and kind == "int" and strategy in ("tensor", "channel"):  # W8A8-INT8 (SmoothQuant-style) checkpoints
        acts = next(iter(groups.values())).get("input_activations")
        if not (isinstance(acts, dict) and _whole(acts.get("num_bits")) == 8 and acts.get("type") == "int"):
            raise fail("quantization_config.config_groups: 8-bit int weights with activations that are not 8-bit int "
                       "(weight-only W8A16) are not modelled; INT8 tensor-core rates would be wrong")
        return _all_linears("int8", "int8")
    if bits == 8 and kind == "float":
        if strategy in ("tensor", "channel"):
            return _all_linears("fp8", "fp8")
        if strategy == "block" and list(w.get("block_structure") or []) == [128, 128]:
            return _all_linears("fp8_block128", "fp8")
    if bits == 4 and kind == "int" and strategy == "group":
        return _all_linears(_int4(w, fail, "num_bits", "group_size"), "bf16")
    if bits == 4 and kind == "float" and _whole(w.get("group_size")) == 16:
        return _all_linears("nvfp4", "fp4") | {"attention": "nvfp4"}
    raise fail(f"quantization_config.config_groups weights (num_bits {shown_value(bits)}, type {_shown(kind)}, strategy {_shown(strategy)}) "
               "are not modelled (8-bit float per tensor/channel/128x128 block, 8-bit int per tensor/channel, 4-bit int groups, 4-bit float groups of 16)")


def _modelopt(q: dict, fail: Callable[[str], Exception]) -> Precision:
    raw = q.get("quant_algo")
    algo = raw.upper() if isinstance(raw, str) else ""
    if algo == "FP8":
        return {"weights": "fp8", **SHORTHAND["fp8"]}
    if algo == "NVFP4":
        return {"weights": "fp4", **SHORTHAND["fp4"]}
    raise fail(f"quantization_config.quant_algo {_shown(raw)} is not modelled (FP8 or NVFP4)")


def weight_precision(quant: Any, fail: Callable[[str], Exception]) -> Precision:
    """The PrecisionFile weight fields a ``quantization_config`` stands for."""
    if not isinstance(quant, dict):
        raise fail(f"key 'quantization_config' must be a mapping (got {shown_value(quant)})")
    method = str(quant.get("quant_method", "")).lower()
    if method in ("fp8", "fbgemm_fp8"):
        return _fp8(quant, fail)
    if method == "mxfp4":
        return {"weights": "fp4", "attention": "bf16", "dense_ffn": "bf16", "shared_experts": "bf16",
                "routed_experts": "mxfp4", "embeddings": "bf16"}
    if method in ("awq", "gptq"):
        bits_key = "bits" if "bits" in quant or method == "awq" else "w_bit"
        return _all_linears(_int4(quant, fail, bits_key), "bf16")
    if method == "modelopt":
        return _modelopt(quant, fail)
    if method == "compressed-tensors":
        return _compressed_tensors(quant, fail)
    if method == "bitsandbytes" and quant.get("load_in_8bit"):
        return {"weights": "int8", **SHORTHAND["int8"]}
    raise fail(f"quantization_config.quant_method is not modelled (supported: {SUPPORTED}); "
               "write a workload YAML with the precision of each component instead")
