"""The shipped workloads: they load, their arithmetic matches the published
parameter counts, and their KV-cache bytes behave like the attention they model."""

from __future__ import annotations

from dataclasses import replace

import pytest

from planner.inputs.datafiles import shipped_names
from planner.inputs.query import load_workload

NAMES = shipped_names("workloads")
TOLERANCE = 0.02

# Where a publisher counts "active" differently from Model.active_params, the
# difference is named here and applied to the computed value, not to the
# published one. gpt-oss's model card leaves the input-embedding table (a row
# lookup, not a matmul) out of its 5.13B active; Model.active_params counts it.
ACTIVE_CONVENTION = {
    "gpt-oss-120b": lambda m: m.active_params - m.vocab_size * m.d_model,
}


def rel_err(computed: float, published: float) -> float:
    return abs(computed - published) / published


def test_the_expected_workloads_ship() -> None:
    expected = {
        "llama-3.1-8b", "llama-3.1-70b", "llama-3.1-405b", "mixtral-8x7b", "deepseek-v3",
        "deepseek-r1", "qwen3-235b-a22b", "gpt-oss-120b", "kimi-k2",
    }
    assert expected <= set(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_loads_by_name_and_cites_its_sources(name: str) -> None:
    w = load_workload(name)
    assert w.name == name
    assert w.source and w.published_source
    assert w.published_total_params and w.published_active_params


@pytest.mark.parametrize("name", NAMES)
def test_total_params_match_published(name: str) -> None:
    w = load_workload(name)
    assert rel_err(w.model.total_params, w.published_total_params) < TOLERANCE, (
        f"{name}: computed {w.model.total_params / 1e9:.2f}B vs published {w.published_total_params / 1e9:.2f}B"
    )


@pytest.mark.parametrize("name", NAMES)
def test_active_params_match_published(name: str) -> None:
    w = load_workload(name)
    active = ACTIVE_CONVENTION.get(name, lambda m: m.active_params)(w.model)
    assert rel_err(active, w.published_active_params) < TOLERANCE, (
        f"{name}: computed {active / 1e9:.2f}B vs published {w.published_active_params / 1e9:.2f}B"
    )


def test_gpt_oss_active_gap_is_exactly_the_input_embedding() -> None:
    """Without the convention adjustment the gap is the embedding table, about 11%."""
    w = load_workload("gpt-oss-120b")
    embedding = w.model.vocab_size * w.model.d_model
    assert 0.57e9 < embedding < 0.59e9
    assert rel_err(w.model.active_params, w.published_active_params) > 0.10


@pytest.mark.parametrize("name", NAMES)
def test_moe_activates_a_fraction_and_dense_activates_all(name: str) -> None:
    m = load_workload(name).model
    if m.is_moe:
        assert m.active_params < m.total_params
        assert m.sparsity > 1
    else:
        assert m.active_params == m.total_params


def test_deepseek_r1_is_deepseek_v3_with_reasoning_traffic() -> None:
    v3, r1 = load_workload("deepseek-v3"), load_workload("deepseek-r1")
    assert r1.model == v3.model
    assert r1.weight_dtype == v3.weight_dtype == "fp8"
    assert r1.osl >= 8 * r1.isl  # short prompt, long chain of thought
    assert r1.kv_len == r1.isl + r1.osl


def test_shipped_weight_formats() -> None:
    formats = {n: load_workload(n).weight_dtype for n in ("gpt-oss-120b", "kimi-k2", "deepseek-v3", "llama-3.1-8b")}
    assert formats == {"gpt-oss-120b": "fp4", "kimi-k2": "fp8", "deepseek-v3": "fp8", "llama-3.1-8b": "bf16"}


# --------------------------------------------------------------------------- KV cache physics


def test_gqa_kv_per_token_by_hand() -> None:
    """K and V, per KV head, per layer, two bytes each."""
    for name, layers, kv_heads, head_dim in (
        ("llama-3.1-8b", 32, 8, 128),
        ("llama-3.1-70b", 80, 8, 128),
        ("llama-3.1-405b", 126, 8, 128),
        ("qwen3-235b-a22b", 94, 4, 128),
    ):
        assert load_workload(name).kv_bytes_per_token() == 2 * kv_heads * head_dim * layers * 2, name


def test_mla_kv_per_token_is_one_latent_per_layer() -> None:
    """MLA caches the compressed latent plus the shared RoPE key: (512 + 64) x 61 layers x 2 bytes."""
    for name in ("deepseek-v3", "deepseek-r1", "kimi-k2"):
        assert load_workload(name).kv_bytes_per_token() == (512 + 64) * 61 * 2, name


def test_mla_kv_is_independent_of_head_count() -> None:
    v3, k2 = load_workload("deepseek-v3"), load_workload("kimi-k2")
    assert v3.model.n_heads == 2 * k2.model.n_heads
    assert v3.kv_bytes_per_token() == k2.kv_bytes_per_token()
    for heads in (1, 16, 64, 256):
        wider = replace(v3, model=replace(v3.model, n_heads=heads))
        assert wider.kv_bytes_per_token() == v3.kv_bytes_per_token()
    # ... whereas GQA KV follows the KV heads, not the query heads
    llama = load_workload("llama-3.1-70b")
    more_q = replace(llama, model=replace(llama.model, n_heads=128))
    more_kv = replace(llama, model=replace(llama.model, n_kv_heads=16))
    assert more_q.kv_bytes_per_token() == llama.kv_bytes_per_token()
    assert more_kv.kv_bytes_per_token() == 2 * llama.kv_bytes_per_token()


def test_mla_caches_far_less_than_gqa_of_similar_size() -> None:
    assert load_workload("deepseek-v3").kv_bytes_per_token() < load_workload("llama-3.1-70b").kv_bytes_per_token() / 4


@pytest.mark.parametrize("name", [n for n in NAMES if n != "gpt-oss-120b"])
def test_full_attention_kv_per_token_does_not_depend_on_context(name: str) -> None:
    w = load_workload(name)
    assert w.model.n_window_layers == 0
    assert w.kv_bytes_per_token(1_000) == w.kv_bytes_per_token(100_000)


def test_sliding_window_caps_kv_growth() -> None:
    w = load_workload("gpt-oss-120b")
    m = w.model
    assert (m.window_tokens, m.n_window_layers, m.n_layers) == (128, 18, 36)
    full_per_layer = 2 * 8 * 64 * 2  # K and V, 8 KV heads, head_dim 64, bf16
    # Within the window every layer holds every token ...
    assert w.kv_bytes_per_token(128) == full_per_layer * 36
    # ... beyond it the windowed layers stop growing, so KV per token falls with context
    contexts = [128, 1_000, 4_096, 32_768, 100_000, 1_000_000]
    per_token = [w.kv_bytes_per_token(c) for c in contexts]
    assert all(a > b for a, b in zip(per_token, per_token[1:]))
    assert w.kv_bytes_per_token(100_000) < w.kv_bytes_per_token(1_000)
    # ... towards the 18 full-attention layers alone
    assert w.kv_bytes_per_token(1_000_000) == pytest.approx(full_per_layer * 18, rel=1e-3)
    # Total KV for a 100k sequence: 18 layers x 100k tokens + 18 layers x 128 tokens
    held = w.kv_bytes_per_token(100_000) * 100_000
    assert held == pytest.approx(full_per_layer * (18 * 100_000 + 18 * 128))
