"""CLI exit codes and one-line errors (plan, evaluate, listings)."""

import json

import pytest
from typer.testing import CliRunner

from planner.cli.main import app

runner = CliRunner()


def run(*args):
    return runner.invoke(app, list(args))


def one_line_error(result, code):
    assert result.exit_code == code, result.output
    lines = [l for l in result.output.strip().splitlines() if l.strip()]
    assert len(lines) == 1, result.output
    assert lines[0].startswith("error: ")
    assert "Traceback" not in result.output
    return lines[0]


def test_plan_json_has_the_documented_shape(tmp_path):
    out = tmp_path / "plan.json"
    r = run("plan", "--workload", "llama-3.1-70b", "--topology", "hgx-h100", "--nodes", "2", "--json", "--out", str(out))
    assert r.exit_code == 0, r.output
    d = json.loads(out.read_text())
    assert d == json.loads(r.output)
    assert d["schema_version"] and d["status"] in ("optimal", "feasible")
    for key in ("gpus_used", "tpot_ms", "ttft_ms", "output_tokens_per_s", "output_tokens_per_s_per_gpu",
                "tokens_per_s_per_user", "usd_per_mtok_output", "usd_per_mtok_input", "usd_per_hour"):
        assert key in d["metrics"]
    assert set(d["memory_per_gpu_gb"]) >= {"weights", "kv_cache", "activations", "reserve", "total", "capacity"}
    assert set(d["replicas"][0]["layout"]) == {"tp", "ep", "pp", "dp_attn"}
    assert d["inputs"]["workload"]["sha256"] and d["inputs"]["topology"]["sha256"]
    assert d["solver"]["status"] == d["status"]
    m = d["metrics"]
    # dollars per hour and tokens per second agree with the all-in price per token
    assert m["usd_per_mtok_all_in"] == pytest.approx(m["usd_per_hour"] / 3600 / m["output_tokens_per_s"] * 1e6, rel=1e-3)
    assert m["usd_per_hour"] == pytest.approx(m["gpus_used"] * d["inputs"]["price_usd_per_gpu_hour"], rel=1e-3)


def test_default_plan_runs_on_builtin_defaults():
    r = run("plan")
    assert r.exit_code == 0, r.output
    assert "deepseek-v3" in r.output and "gb200-nvl72" in r.output


def test_evaluate_reports_a_violated_limit_without_failing():
    r = run("evaluate", "--workload", "llama-3.1-70b", "--topology", "hgx-h100", "--tp", "8", "--batch", "4096", "--json")
    assert r.exit_code == 0, r.output
    d = json.loads(r.output)
    assert d["status"] == "violates"
    assert any(v.startswith("memory") for v in d["violations"])


def test_missing_file_is_one_line_exit_2():
    line = one_line_error(run("plan", "--workload", "no/such/file.yaml"), 2)
    assert "no/such/file.yaml" in line


def test_unknown_name_is_one_line_exit_2_with_suggestion():
    line = one_line_error(run("plan", "--topology", "gb200-nvl27"), 2)
    assert "gb200-nvl27" in line and "gb200-nvl72" in line


def test_negative_length_is_one_line_exit_2():
    line = one_line_error(run("plan", "--workload", "llama-3.1-8b", "--topology", "hgx-h100", "--isl", "-5"), 2)
    assert "--isl" in line


def test_impossible_slo_is_one_line_exit_3_naming_tpot():
    line = one_line_error(run("plan", "--workload", "llama-3.1-70b", "--topology", "hgx-h100", "--tpot-ms", "0.5"), 3)
    assert "tpot" in line and "ms" in line


def test_model_too_big_names_memory():
    line = one_line_error(run("plan", "--workload", "deepseek-v3", "--topology", "hgx-h100"), 3)
    assert "memory" in line and "GB" in line


def test_wrong_domain_flag_is_rejected():
    line = one_line_error(run("plan", "--topology", "gb200-nvl72", "--nodes", "2"), 2)
    assert "--racks" in line


def test_listings_name_every_shipped_file():
    from planner.inputs.datafiles import shipped_names

    r = run("topologies")
    assert r.exit_code == 0
    rows = [ln.split()[0] for ln in r.output.strip().splitlines()[1:] if ln.strip() and not ln.startswith("*")]
    assert rows == shipped_names("topologies")  # a header, then one row per shipped topology
    r = run("workloads")
    assert r.exit_code == 0
    assert all(n in r.output for n in shipped_names("workloads"))
