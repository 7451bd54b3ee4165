"""Hugging Face model ids resolve offline from the shipped catalog, then the local
Hugging Face cache, then (only when allowed) the Hub; an unknown id is one line."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from planner.inputs import model_ids
from planner.cli.main import app
from planner.inputs.datafiles import shipped_names
from planner.inputs.errors import InputError
from planner.inputs.query import load_workload

DATA = Path(__file__).parent / "data" / "hf"
ENTRIES = model_ids.catalog()


@pytest.mark.parametrize("entry", ENTRIES, ids=[e.id for e in ENTRIES])
def test_every_catalog_id_loads_offline_and_matches_its_model_card(entry) -> None:
    """Oracle: the parameter count on the model card (rounded there, hence 3%)."""
    w = load_workload(entry.id)
    assert entry.source.startswith("https://huggingface.co/" + entry.id.split("/")[0])
    assert w.model.total_params / 1e9 == pytest.approx(entry.published_total_params_b, rel=0.03)
    for alias in entry.aliases:
        assert load_workload(alias).model == w.model


def test_every_shipped_workload_has_an_id() -> None:
    assert {e.workload for e in ENTRIES if e.workload} == set(shipped_names("workloads"))


@pytest.mark.parametrize("model_id", [
    "meta-llama/Llama-3.1-8B-Instruct", "meta-llama/Llama-3.2-1B-Instruct", "meta-llama/Llama-3.3-70B-Instruct",
    "Qwen/Qwen2.5-72B-Instruct", "Qwen/Qwen3-32B", "Qwen/Qwen3-30B-A3B", "Qwen/Qwen3-235B-A22B",
    "deepseek-ai/DeepSeek-V3", "deepseek-ai/DeepSeek-R1", "mistralai/Mixtral-8x7B-Instruct-v0.1",
    "mistralai/Mixtral-8x22B-Instruct-v0.1", "openai/gpt-oss-120b", "openai/gpt-oss-20b",
    "moonshotai/Kimi-K2-Instruct", "zai-org/GLM-4.5-Air",
])
def test_the_common_open_families_are_known(model_id: str) -> None:
    assert model_ids.find(model_id) is not None


def test_ids_compare_case_insensitively_and_name_the_workload() -> None:
    assert load_workload("qwen/qwen2.5-72b-instruct").name == "Qwen/Qwen2.5-72B-Instruct"
    assert load_workload("Qwen/Qwen3-235B-A22B").model == load_workload("qwen3-235b-a22b").model


def test_quantized_checkpoints_plan_at_their_shipped_precision() -> None:
    assert load_workload("Qwen/Qwen3-235B-A22B-FP8").weight_dtype == "fp8"
    assert load_workload("meta-llama/Llama-3.1-405B-Instruct-FP8").weight_dtype == "fp8"
    assert load_workload("openai/gpt-oss-20b").weight_dtype == "fp4"
    assert load_workload("Qwen/Qwen2.5-72B-Instruct").weight_dtype == "bf16"


def test_glm_moe_counts_dense_layers_and_the_shared_expert() -> None:
    m = load_workload("zai-org/GLM-4.5-Air").model
    assert (m.n_dense_layers, m.n_shared_experts, m.n_routed_experts) == (1, 1, 128)
    assert m.active_params < m.total_params / 5  # ~12B of ~106B active


def _fake_cache(root: Path, model_id: str, source: Path) -> None:
    repo = root / ("models--" + model_id.replace("/", "--"))
    (repo / "snapshots" / "abc123").mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("abc123")
    shutil.copy(source, repo / "snapshots" / "abc123" / "config.json")


def test_an_id_in_the_local_hf_cache_resolves_without_network(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    monkeypatch.setattr(model_ids, "download_config", lambda _id: pytest.fail("no download without --allow-download"))
    _fake_cache(tmp_path, "acme/llama-clone", DATA / "llama-3.1-70b" / "config.json")
    w = load_workload("acme/llama-clone")
    assert w.name == "acme/llama-clone"
    assert w.model == load_workload("llama-3.1-70b").model


def test_the_hub_is_asked_only_when_allowed(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    asked = []

    def fake_download(model_id: str) -> Path:
        asked.append(model_id)
        return DATA / "mixtral-8x7b" / "config.json"

    monkeypatch.setattr(model_ids, "download_config", fake_download)
    with pytest.raises(InputError):
        load_workload("acme/new-model")
    assert asked == []
    assert load_workload("acme/new-model", allow_download=True).model == load_workload("mixtral-8x7b").model
    assert asked == ["acme/new-model"]


def test_an_unknown_id_is_one_line_naming_the_closest_ids_and_the_config_json_way(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    r = CliRunner().invoke(app, ["plan", "--workload", "Qwen/Qwen2.5-70B-Instruct", "--topology", "hgx-h100"])
    assert r.exit_code == 2
    line = r.output.strip()
    assert "\n" not in line and "Traceback" not in line
    assert "Qwen/Qwen2.5-72B-Instruct" in line and "config.json" in line and "--allow-download" in line


def test_a_model_folder_is_a_workload(tmp_path) -> None:
    folder = tmp_path / "Llama-3.1-70B-Instruct"
    folder.mkdir()
    shutil.copy(DATA / "llama-3.1-70b" / "config.json", folder / "config.json")
    r = CliRunner().invoke(app, ["evaluate", "--workload", str(folder), "--topology", "hgx-h100", "--tp", "8", "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["inputs"]["workload"]["name"] == "Llama-3.1-70B-Instruct"
    empty = tmp_path / "empty"
    empty.mkdir()
    r = CliRunner().invoke(app, ["evaluate", "--workload", str(empty), "--topology", "hgx-h100"])
    assert r.exit_code == 2 and "no config.json" in r.output


def test_plan_by_id_offline_from_the_cli(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    r = CliRunner().invoke(app, ["plan", "--workload", "Qwen/Qwen3-235B-A22B", "--topology", "gb200-nvl72",
                                 "--mode", "agg", "--time-limit", "5", "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["inputs"]["workload"]["name"] == "qwen3-235b-a22b"
