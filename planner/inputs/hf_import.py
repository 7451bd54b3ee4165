"""Build a workload from a Hugging Face ``config.json``.

The architecture keys of each supported model family are mapped onto the
``model:`` section of a workload file and validated with the same schema, so
an imported model and a shipped YAML of the same model give the same
parameter counts and KV-cache bytes. Traffic and SLOs get neutral defaults
(the CLI overrides them with flags); nothing is published, so nothing is
checked against a model card.

Every error is an :class:`~planner.inputs.errors.InputError` whose one line starts
with the file's path and names the problem (the unsupported architecture, the
missing key, where the JSON is malformed).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Callable

from .hf_quant import weight_precision
from .datafiles import read_json
from .errors import InputError, shown_value
from .schema import validate
from .workload import Workload, WorkloadFile, workload_from_spec

DEFAULT_ISL = 2048
DEFAULT_OSL = 512
DEFAULT_TTFT_MS = 2000.0
DEFAULT_TPOT_MS = 50.0

Config = dict[str, Any]


class _Reader:
    """Typed access to a config's keys; errors name the file, the key and the architecture."""

    def __init__(self, cfg: Config, path: str, arch: str):
        self.cfg, self.path, self.arch = cfg, path, arch

    def fail(self, problem: str) -> InputError:
        return InputError(f"{self.path}: {problem}")

    def has(self, key: str) -> bool:
        return self.cfg.get(key) is not None

    def num(self, key: str, default: int | None = None, *, minimum: int = 1) -> int:
        value = self.cfg.get(key)
        if value is None:
            if default is not None:
                return default
            raise self.fail(f"missing key {key!r} (needed for {self.arch})")
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            kind = "a positive integer" if minimum >= 1 else "a non-negative integer"
            raise self.fail(f"key {key!r} must be {kind} (got {shown_value(value)})")
        return value

    def opt_int(self, key: str) -> int | None:
        return self.num(key) if self.has(key) else None

    def flag(self, key: str, default: bool) -> bool:
        value = self.cfg.get(key)
        if value is None:
            return default
        if not isinstance(value, bool):
            raise self.fail(f"key {key!r} must be true or false (got {shown_value(value)})")
        return value

    def int_list(self, key: str) -> list[int]:
        value = self.cfg.get(key) or []
        if not isinstance(value, list) or not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
            raise self.fail(f"key {key!r} must be a list of layer indices (got {shown_value(value)})")
        return value

    def str_list(self, key: str) -> list[str] | None:
        value = self.cfg.get(key)
        if value is None:
            return None
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self.fail(f"key {key!r} must be a list of strings (got {shown_value(value)})")
        return value


# --------------------------------------------------------------------------- families


def _gqa_common(r: _Reader) -> dict[str, Any]:
    """Keys every GQA decoder in the list shares."""
    model: dict[str, Any] = {
        "n_layers": r.num("num_hidden_layers"),
        "d_model": r.num("hidden_size"),
        "vocab_size": r.num("vocab_size"),
        "n_heads": r.num("num_attention_heads"),
        "tied_embeddings": r.flag("tie_word_embeddings", False),
    }
    model["n_kv_heads"] = r.num("num_key_value_heads", model["n_heads"])
    model["head_dim"] = r.num("head_dim", model["d_model"] // model["n_heads"] or 1)
    return model


def _window_from_layer_types(r: _Reader, n_layers: int) -> dict[str, int] | None:
    """Sliding window from ``layer_types`` (newer configs list each layer's attention)."""
    types = r.str_list("layer_types")
    if types is None:
        return None
    if len(types) != n_layers:
        raise r.fail(f"key 'layer_types' lists {len(types)} layers but num_hidden_layers is {n_layers}")
    n_window = sum(t == "sliding_attention" for t in types)
    if not n_window:
        return {}
    return {"window_tokens": r.num("sliding_window"), "n_layers": n_window}


def _qwen_window(r: _Reader, n_layers: int) -> dict[str, int] | None:
    """Qwen2/Qwen3: when ``use_sliding_window`` is set, layers from ``max_window_layers`` on use the window."""
    listed = _window_from_layer_types(r, n_layers)
    if listed is not None:
        return listed or None
    if not r.flag("use_sliding_window", False):
        return None
    first = min(r.num("max_window_layers", n_layers, minimum=0), n_layers)
    if first >= n_layers:
        return None
    return {"window_tokens": r.num("sliding_window"), "n_layers": n_layers - first}


def _dense_gqa(r: _Reader, attention_bias: bool, window: dict[str, Any] | None) -> dict[str, Any]:
    """A dense GQA decoder (Llama, Qwen2, Qwen3): shared fields, MLP width, biases, window."""
    model = _gqa_common(r)
    model["d_ff"] = r.num("intermediate_size")
    model["attention_bias"] = attention_bias
    if window:
        model["sliding_window"] = window
    return model


def _llama(r: _Reader) -> dict[str, Any]:
    return _dense_gqa(r, r.flag("attention_bias", False), _window_from_layer_types(r, r.num("num_hidden_layers")))


def _qwen2(r: _Reader) -> dict[str, Any]:
    # Qwen2 always has q/k/v biases; its config has no key for them
    return _dense_gqa(r, True, _qwen_window(r, r.num("num_hidden_layers")))


def _qwen3(r: _Reader) -> dict[str, Any]:
    return _dense_gqa(r, r.flag("attention_bias", False), _qwen_window(r, r.num("num_hidden_layers")))


def _qwen3_moe(r: _Reader) -> dict[str, Any]:
    model = _gqa_common(r)
    model["attention_bias"] = r.flag("attention_bias", False)
    n_layers = model["n_layers"]
    # A layer is dense if listed in mlp_only_layers or off the decoder_sparse_step grid
    # (transformers' Qwen3MoeDecoderLayer). Only the count matters to the arithmetic.
    step = r.num("decoder_sparse_step", 1)
    only_mlp = set(r.int_list("mlp_only_layers"))
    n_dense = sum(1 for i in range(n_layers) if i in only_mlp or (i + 1) % step != 0)
    model["moe"] = {
        "n_routed_experts": r.num("num_experts"),
        "experts_per_token": r.num("num_experts_per_tok"),
        "expert_d_ff": r.num("moe_intermediate_size"),
        "n_dense_layers": n_dense,
    }
    if n_dense:
        model["d_ff"] = r.num("intermediate_size")
    window = _qwen_window(r, n_layers)
    if window:
        model["sliding_window"] = window
    return model


def _mixtral(r: _Reader) -> dict[str, Any]:
    model = _gqa_common(r)
    model["moe"] = {
        "n_routed_experts": r.num("num_local_experts"),
        "experts_per_token": r.num("num_experts_per_tok"),
        "expert_d_ff": r.num("intermediate_size"),
    }
    if r.has("sliding_window"):  # Mixtral applies a set window to every layer
        model["sliding_window"] = {"window_tokens": r.num("sliding_window"), "n_layers": model["n_layers"]}
    return model


def _deepseek_v3(r: _Reader) -> dict[str, Any]:
    n_layers = r.num("num_hidden_layers")
    # transformers' DeepseekV3: layer i is MoE when i >= first_k_dense_replace and
    # i % moe_layer_freq == 0. The multi-token-prediction module
    # (num_nextn_predict_layers) is a training/speculation add-on and is not counted.
    first_dense = min(r.num("first_k_dense_replace", 0, minimum=0), n_layers)
    freq = r.num("moe_layer_freq", 1)
    n_moe = sum(1 for i in range(first_dense, n_layers) if i % freq == 0)
    model: dict[str, Any] = {
        "n_layers": n_layers,
        "d_model": r.num("hidden_size"),
        "vocab_size": r.num("vocab_size"),
        "n_heads": r.num("num_attention_heads"),
        "attention": "mla",
        "tied_embeddings": r.flag("tie_word_embeddings", False),
        "attention_bias": r.flag("attention_bias", False),
        "mla": {
            "kv_lora_rank": r.num("kv_lora_rank"),
            "qk_rope_head_dim": r.num("qk_rope_head_dim"),
            "qk_nope_head_dim": r.num("qk_nope_head_dim"),
            "v_head_dim": r.num("v_head_dim"),
            "q_lora_rank": r.opt_int("q_lora_rank"),
        },
        "moe": {
            "n_routed_experts": r.num("n_routed_experts"),
            "experts_per_token": r.num("num_experts_per_tok"),
            "expert_d_ff": r.num("moe_intermediate_size"),
            "n_shared_experts": r.num("n_shared_experts", 0, minimum=0),
            "n_dense_layers": n_layers - n_moe,
        },
    }
    if n_layers - n_moe:
        model["d_ff"] = r.num("intermediate_size")
    return model


def _gpt_oss(r: _Reader) -> dict[str, Any]:
    model = _gqa_common(r)
    model["attention_bias"] = r.flag("attention_bias", True)
    per_token = "num_experts_per_tok" if r.has("num_experts_per_tok") else "experts_per_token"
    model["moe"] = {
        "n_routed_experts": r.num("num_local_experts"),
        "experts_per_token": r.num(per_token),
        "expert_d_ff": r.num("intermediate_size"),
    }
    window = _window_from_layer_types(r, model["n_layers"])
    if window is None and r.has("sliding_window"):
        # transformers' GptOssConfig default: even-numbered layers (0, 2, ...) are windowed
        window = {"window_tokens": r.num("sliding_window"), "n_layers": (model["n_layers"] + 1) // 2}
    if window:
        model["sliding_window"] = window
    return model


def _glm4_moe(r: _Reader) -> dict[str, Any]:
    """GLM-4.5 / GLM-4.5-Air: GQA with biases, the first ``first_k_dense_replace`` layers
    dense, the rest routed + shared experts (the multi-token-prediction layer,
    ``num_nextn_predict_layers``, is a speculation add-on and is not counted)."""
    model = _gqa_common(r)
    model["attention_bias"] = r.flag("attention_bias", True)
    n_dense = min(r.num("first_k_dense_replace", 0, minimum=0), model["n_layers"])
    model["moe"] = {
        "n_routed_experts": r.num("n_routed_experts"),
        "experts_per_token": r.num("num_experts_per_tok"),
        "expert_d_ff": r.num("moe_intermediate_size"),
        "n_shared_experts": r.num("n_shared_experts", 0, minimum=0),
        "n_dense_layers": n_dense,
    }
    if n_dense:
        model["d_ff"] = r.num("intermediate_size")
    return model


FAMILIES: dict[str, Callable[[_Reader], dict[str, Any]]] = {
    "LlamaForCausalLM": _llama,
    "Qwen2ForCausalLM": _qwen2,
    "Qwen3ForCausalLM": _qwen3,
    "Qwen3MoeForCausalLM": _qwen3_moe,
    "MixtralForCausalLM": _mixtral,
    "DeepseekV3ForCausalLM": _deepseek_v3,
    "GptOssForCausalLM": _gpt_oss,
    "Glm4MoeForCausalLM": _glm4_moe,
}


# --------------------------------------------------------------------------- precision

_TORCH_DTYPES = {"bfloat16": "bf16", "float16": "fp16", "half": "fp16", "float32": "bf16", "float": "bf16"}
def _weight_precision(r: _Reader) -> tuple[dict[str, str], list[str]]:
    """Weight formats as shipped (PrecisionFile fields), and notes on anything taken on trust."""
    notes: list[str] = []
    quant = r.cfg.get("quantization_config")
    if quant is not None:
        return weight_precision(quant, r.fail), notes
    dtype = r.cfg.get("torch_dtype", r.cfg.get("dtype"))
    if dtype is None:
        return {"weights": "bf16"}, notes
    name = str(dtype).removeprefix("torch.")
    if name not in _TORCH_DTYPES:
        raise r.fail(f"key 'torch_dtype' is not a known dtype; expected one of {', '.join(_TORCH_DTYPES)}")
    if name in ("float32", "float"):
        notes.append("float32 checkpoint: weights planned as bf16, as served")
    return {"weights": _TORCH_DTYPES[name]}, notes


# --------------------------------------------------------------------------- entry point


def _read_json(path: Path, shown: str) -> tuple[Config, bytes]:
    return read_json(path, shown)


def _architecture(cfg: Config, shown: str) -> str:
    archs = cfg.get("architectures")
    supported = ", ".join(FAMILIES)
    if archs is None:
        raise InputError(f"{shown}: missing key 'architectures' (one of: {supported})")
    if isinstance(archs, str):
        archs = [archs]
    if not isinstance(archs, list) or not archs or not all(isinstance(a, str) for a in archs):
        raise InputError(f"{shown}: key 'architectures' must be a non-empty list of class names (got {shown_value(archs)})")
    for arch in archs:
        if arch in FAMILIES:
            return arch
    names = ", ".join(repr(a) for a in archs)
    noun = "architecture" if len(archs) == 1 else "architectures"
    verb = "is" if len(archs) == 1 else "are"
    raise InputError(f"{shown}: {noun} {names} {verb} not supported; supported: {supported}")


def load_hf_config(path: str, name: str | None = None) -> Workload:
    """A workload from a Hugging Face ``config.json`` (or a folder holding one),
    named ``name`` (a model id) when given."""
    file = Path(path)
    if file.is_dir():
        file = file / "config.json"
        if not file.is_file():
            raise InputError(f"{path}: folder has no config.json (give the folder a Hugging Face download lays out, or a config.json path)")
    shown = str(file)
    cfg, raw = _read_json(file, shown)
    arch = _architecture(cfg, shown)
    reader = _Reader(cfg, shown, arch)
    model = FAMILIES[arch](reader)
    if reader.has("max_position_embeddings"):
        model["max_position_embeddings"] = reader.num("max_position_embeddings")
    weights, notes = _weight_precision(reader)

    if name is None:
        name = cfg.get("_name_or_path")
    if not isinstance(name, str) or not name.strip():
        name = file.resolve().parent.name or file.stem
    spec = validate(
        WorkloadFile,
        {
            "name": name,
            "description": f"{name} - imported from a Hugging Face config.json ({arch})",
            "source": f"Architecture from the Hugging Face config.json at {shown} ({arch})",
            "model": model,
            "precision": {**weights, "kv_cache": "bf16", "activations": "bf16"},
            "traffic": {"isl": DEFAULT_ISL, "osl": DEFAULT_OSL},
            "slo": {"ttft_ms": DEFAULT_TTFT_MS, "tpot_ms": DEFAULT_TPOT_MS},
        },
        shown,
    )
    workload = workload_from_spec(spec, shown, hashlib.sha256(raw).hexdigest())
    workload.extra.update({"hf_architecture": arch, "notes": notes})
    return workload
