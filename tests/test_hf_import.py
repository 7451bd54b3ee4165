"""Importing a Hugging Face config.json gives the same model as the shipped YAML."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from planner.inputs.errors import InputError
from planner.inputs.hf_import import load_hf_config
from planner.inputs.query import load_workload

DATA = Path(__file__).parent / "data" / "hf"
MODELS = sorted(p.name for p in DATA.iterdir() if (p / "config.json").is_file())


def test_the_reference_configs_are_present() -> None:
    assert set(MODELS) >= {"llama-3.1-70b", "deepseek-v3", "mixtral-8x7b", "qwen3-235b-a22b", "gpt-oss-120b"}


@pytest.mark.parametrize("name", MODELS)
def test_import_matches_shipped_yaml(name: str) -> None:
    imported = load_hf_config(str(DATA / name / "config.json"))
    shipped = load_workload(name)
    assert imported.name == name  # no _name_or_path: the folder names the model
    assert imported.model.total_params == shipped.model.total_params
    assert imported.model.active_params == shipped.model.active_params
    for context in (None, 100, 1_000, 100_000):
        assert imported.kv_bytes_per_token(context) == shipped.kv_bytes_per_token(context)
    assert imported.weight_dtype == shipped.weight_dtype
    assert imported.kv_dtype == "bf16"


@pytest.mark.parametrize("name", MODELS)
def test_load_workload_dispatches_json_and_defaults_traffic(name: str) -> None:
    w = load_workload(str(DATA / name / "config.json"))
    assert (w.isl, w.osl, w.kv_len) == (2048, 512, 2560)
    assert (w.ttft_s, w.tpot_s) == pytest.approx((2.0, 0.05))
    assert w.published_total_params is None
    assert len(w.sha256) == 64


def test_a_folder_holding_config_json_is_accepted() -> None:
    assert load_hf_config(str(DATA / "mixtral-8x7b")).model == load_workload("mixtral-8x7b").model


def test_weight_precision_follows_the_checkpoint() -> None:
    assert load_hf_config(str(DATA / "deepseek-v3" / "config.json")).weight_dtype == "fp8"
    assert load_hf_config(str(DATA / "gpt-oss-120b" / "config.json")).weight_dtype == "fp4"
    assert load_hf_config(str(DATA / "llama-3.1-70b" / "config.json")).weight_dtype == "bf16"


def _write(tmp_path: Path, cfg: dict | str, folder: str = "my-model") -> Path:
    path = tmp_path / folder / "config.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(cfg if isinstance(cfg, str) else json.dumps(cfg))
    return path


def _base(name: str) -> dict:
    return json.loads((DATA / name / "config.json").read_text())


def _one_line_error(path: Path) -> str:
    with pytest.raises(InputError) as info:
        load_hf_config(str(path))
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(str(path))
    return message


def test_unsupported_architecture_is_named(tmp_path: Path) -> None:
    cfg = _base("llama-3.1-70b") | {"architectures": ["FooForCausalLM"]}
    message = _one_line_error(_write(tmp_path, cfg))
    assert "config.json" in message
    assert "'FooForCausalLM' is not supported" in message
    assert "LlamaForCausalLM" in message and "GptOssForCausalLM" in message


def test_malformed_json_names_the_file(tmp_path: Path) -> None:
    message = _one_line_error(_write(tmp_path, '{"architectures": ["LlamaForCausalLM"], "hidden_size": }'))
    assert "config.json" in message and "malformed JSON" in message and "line 1" in message


def test_missing_key_is_named(tmp_path: Path) -> None:
    cfg = _base("qwen3-235b-a22b")
    del cfg["moe_intermediate_size"]
    message = _one_line_error(_write(tmp_path, cfg))
    assert "'moe_intermediate_size'" in message and "Qwen3MoeForCausalLM" in message


def test_wrongly_typed_key_is_named(tmp_path: Path) -> None:
    cfg = _base("mixtral-8x7b") | {"hidden_size": "4096"}
    assert "'hidden_size'" in _one_line_error(_write(tmp_path, cfg))


def test_missing_file_is_reported(tmp_path: Path) -> None:
    assert "no such file" in _one_line_error(tmp_path / "nowhere" / "config.json")


def test_name_or_path_wins_over_the_folder(tmp_path: Path) -> None:
    cfg = _base("llama-3.1-70b") | {"_name_or_path": "meta-llama/Llama-3.1-70B-Instruct"}
    assert load_hf_config(str(_write(tmp_path, cfg))).name == "meta-llama/Llama-3.1-70B-Instruct"


def test_dense_llama_family_imports(tmp_path: Path) -> None:
    """Llama 3.1 8B, and Qwen2/Qwen3 dense variants of it: Qwen2 always adds q/k/v biases."""
    llama8 = _base("llama-3.1-70b") | {
        "hidden_size": 4096, "intermediate_size": 14336, "num_attention_heads": 32, "num_hidden_layers": 32,
    }
    imported = load_hf_config(str(_write(tmp_path, llama8, "llama-3.1-8b")))
    assert imported.model.total_params == load_workload("llama-3.1-8b").model.total_params

    qwen2 = llama8 | {"architectures": ["Qwen2ForCausalLM"]}
    qwen3 = llama8 | {"architectures": ["Qwen3ForCausalLM"], "head_dim": 128}
    biases = 32 * (32 * 128 + 2 * 8 * 128)
    assert load_hf_config(str(_write(tmp_path, qwen2, "q2"))).model.total_params == imported.model.total_params + biases
    assert load_hf_config(str(_write(tmp_path, qwen3, "q3"))).model.total_params == imported.model.total_params


def test_qwen_sliding_window_counts_layers_from_max_window_layers(tmp_path: Path) -> None:
    cfg = _base("qwen3-235b-a22b") | {"use_sliding_window": True, "sliding_window": 4096, "max_window_layers": 90}
    m = load_hf_config(str(_write(tmp_path, cfg))).model
    assert (m.window_tokens, m.n_window_layers) == (4096, 4)


def test_deepseek_dense_layer_count_follows_first_k_dense_replace(tmp_path: Path) -> None:
    kimi_like = _base("deepseek-v3") | {
        "num_attention_heads": 64, "n_routed_experts": 384, "first_k_dense_replace": 1, "vocab_size": 163840,
    }
    imported = load_hf_config(str(_write(tmp_path, kimi_like, "kimi-k2")))
    shipped = load_workload("kimi-k2")
    assert imported.model.total_params == shipped.model.total_params
    assert imported.model.active_params == shipped.model.active_params


def test_unmodelled_quantisation_falls_back_with_a_note(tmp_path: Path) -> None:
    cfg = _base("llama-3.1-70b") | {"quantization_config": {"quant_method": "awq", "bits": 4}}
    w = load_hf_config(str(_write(tmp_path, cfg)))
    assert w.weight_dtype == "bf16"
    assert any("awq" in note for note in w.extra["notes"])
