"""Bad input of every kind: one line naming the file (or flag), the field path and
what was expected, exit code 2, never a traceback. Driven through the real CLI."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from planner.cli.main import app
from planner.inputs.datafiles import data_dir

runner = CliRunner()
DELETE = object()


def error_line(args: list[str], code: int = 2) -> str:
    result = runner.invoke(app, args)
    assert result.exit_code == code, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    assert lines[0].startswith("error: "), lines[0]
    assert "Traceback" not in result.output
    return lines[0]


def shipped(kind: str, name: str) -> dict:
    return yaml.safe_load((data_dir(kind) / f"{name}.yaml").read_text())


def edited(data: dict, path: tuple, value) -> dict:
    """A copy of ``data`` with the field at ``path`` set (or deleted, or renamed
    when ``value`` is ("rename", new_key))."""
    out = copy.deepcopy(data)
    node = out
    for key in path[:-1]:
        node = node[key]
    if value is DELETE:
        del node[path[-1]]
    elif isinstance(value, tuple) and value[0] == "rename":
        node[value[1]] = node.pop(path[-1])
    else:
        node[path[-1]] = value
    return out


def write(tmp_path: Path, data, name: str = "edited.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data, sort_keys=False) if not isinstance(data, str) else data)
    return path


H100 = ("topologies", "hgx-h100", "--topology")
LLAMA = ("workloads", "llama-3.1-70b", "--workload")
MIXTRAL = ("workloads", "mixtral-8x7b", "--workload")

# (file, field path, new value, fragments the one line must contain)
FILE_CASES = [
    # unknown keys, with the nearest known key suggested
    (H100, ("gpus_per_host",), ("rename", "gpus_per_hots"), ["unknown field 'gpus_per_hots'", "did you mean 'gpus_per_host'"]),
    (H100, ("scale_up", "bw_per_gpu_gb_per_s"), ("rename", "bw_per_gpu_gbps"),
     ["'scale_up.bw_per_gpu_gbps'", "did you mean 'bw_per_gpu_gb_per_s'"]),
    (LLAMA, ("model", "n_kv_heads"), ("rename", "n_kv_head"), ["'model.n_kv_head'", "did you mean 'n_kv_heads'"]),
    (LLAMA, ("traffic", "isl"), ("rename", "input_len"), ["'traffic.input_len'", "known: isl, osl, kv_len"]),
    # ranges and units
    (H100, ("scale_up", "bw_per_gpu_gb_per_s"), -5, ["'scale_up.bw_per_gpu_gb_per_s'", "positive", "-5"]),
    (H100, ("scale_out", "nic_gbit_per_s_per_gpu"), 0, ["'scale_out.nic_gbit_per_s_per_gpu'", "positive"]),
    (H100, ("price", "usd_per_gpu_hour"), 0, ["'price.usd_per_gpu_hour'", "positive", "got 0"]),
    (H100, ("price", "usd_per_gpu_hour"), float("inf"), ["'price.usd_per_gpu_hour'", "up to 10,000 $/GPU-hour", "got inf"]),
    (H100, ("scale_up", "latency_us"), -1.0, ["'scale_up.latency_us'", "from 0 to"]),
    (H100, ("unavailable_gpus",), [3, 99], ["'unavailable_gpus'", "99", "outside 0..7"]),
    (H100, ("efficiency",), {"hbm_fraction": 1.5, "sources": {"hbm_fraction": "test"}},
     ["'efficiency.hbm_fraction'", "to 1", "1.5"]),
    (H100, ("efficiency",), {"hbm_fraction": 0.5}, ["'efficiency'", "sources.hbm_fraction is required"]),
    (H100, ("gpus_per_host",), 3, ["gpus_per_host 3 does not divide the 8 GPUs"]),
    (H100, ("scale_up", "kind"), "ring", ["'scale_up.kind'", "'switch', 'mesh' or 'torus'", "got a string"]),
    # too large to plan: refused at once instead of building a graph until memory runs out
    (H100, ("domains",), 100000, ["'domains'", "up to 65,536 domains", "got 100000"]),
    (H100, ("scale_up",), {"kind": "mesh", "gpus_per_domain": 20000, "bw_per_gpu_gb_per_s": 450, "source": "t"},
     ["scale-up links", "more than the 2000000"]),
    (LLAMA, ("traffic", "isl"), -1, ["'traffic.isl'", "positive", "-1"]),
    (LLAMA, ("slo", "tpot_ms"), 0, ["'slo.tpot_ms'", "positive"]),
    (LLAMA, ("model", "n_kv_heads"), 7, ["'model'", "n_kv_heads 7 does not divide n_heads 64"]),
    (MIXTRAL, ("model", "moe", "experts_per_token"), 9, ["'model.moe'", "experts_per_token exceeds n_routed_experts"]),
    (LLAMA, ("precision", "weights"), "fp3", ["'precision.weights'", "'bf16'", "got a string"]),
    # wrong types
    (H100, ("domains",), "two", ["'domains'", "integer", "not a string"]),
    (LLAMA, ("model", "n_layers"), "eighty", ["'model.n_layers'", "integer", "not a string"]),
    (LLAMA, ("slo", "tpot_ms"), [50], ["'slo.tpot_ms'", "number", "not a list"]),
    (LLAMA, ("model", "tied_embeddings"), "maybe", ["'model.tied_embeddings'", "valid boolean", "got a string"]),
    (H100, ("scale_up",), "nvlink", ["'scale_up'", "valid dictionary"]),
    # required fields
    (LLAMA, ("slo", "tpot_ms"), DELETE, ["missing required field 'slo.tpot_ms'"]),
    (H100, ("price", "source"), DELETE, ["missing required field 'price.source'"]),
    # the accelerator: a shipped name, or a mapping written inline
    (H100, ("accelerator",), "h100-sxn", ["field 'accelerator'", "unknown accelerator 'h100-sxn'", "did you mean 'h100-sxm'"]),
    (H100, ("accelerator",), 5, ["field 'accelerator'", "valid string", "got 5"]),
]


@pytest.mark.parametrize("target,path,value,fragments", FILE_CASES, ids=lambda c: None)
def test_a_bad_file_field_is_one_line_naming_file_field_and_expectation(tmp_path, target, path, value, fragments):
    kind, name, flag = target
    bad = write(tmp_path, edited(shipped(kind, name), path, value))
    line = error_line(["plan", flag, str(bad)])
    assert str(bad) in line
    for fragment in fragments:
        assert fragment in line, line


def test_an_inline_accelerator_is_checked_field_by_field(tmp_path):
    """A union field ("a name or a mapping"): the message is about the mapping's
    field, not a complaint that the mapping is not a string."""
    topo = shipped("topologies", "hgx-h100")
    acc = yaml.safe_load((data_dir("hardware") / "accelerators" / "h100-sxm.yaml").read_text())
    typo = write(tmp_path, edited(topo, ("accelerator",), edited(acc, ("hbm_gb",), ("rename", "hbm_gbb"))), "typo.yaml")
    line = error_line(["plan", "--topology", str(typo)])
    assert "unknown field 'accelerator.hbm_gbb'" in line and "did you mean 'hbm_gb'" in line
    negative = write(tmp_path, edited(topo, ("accelerator",), edited(acc, ("hbm_gb",), -1)), "neg.yaml")
    line = error_line(["plan", "--topology", str(negative)])
    assert "'accelerator.hbm_gb'" in line and "positive" in line and "valid string" not in line


# (flags after the command, fragments of the one line)
FLAG_CASES = [
    (["evaluate", "-w", "llama-3.1-70b", "-t", "gb200-nvl72", "--tp", "128"], ["--tp 128", "64 attention heads"]),
    (["evaluate", "-w", "llama-3.1-8b", "-t", "gb200-nvl72", "--tp", "64"], ["--tp 64", "32 attention heads"]),
    (["evaluate", "-w", "llama-3.1-70b", "-t", "hgx-h100", "--tp", "16"], ["--tp 16", "8-GPU scale-up domain"]),
    (["evaluate", "-w", "llama-3.1-70b", "-t", "hgx-h100", "--tp", "8", "--batch", "0"], ["--batch", "at least 1"]),
    (["evaluate", "-w", "llama-3.1-70b", "-t", "hgx-h100", "--tp", "8", "--ep", "2"], ["--ep 2", "dense model"]),
    (["plan", "-w", "llama-3.1-70b", "-t", "hgx-h100", "--isl", "-5"], ["--isl", "positive", "-5"]),
    (["plan", "-w", "llama-3.1-70b", "-t", "hgx-h100", "--osl", "0"], ["--osl", "positive"]),
    (["plan", "-w", "llama-3.1-70b", "-t", "hgx-h100", "--tpot-ms", "0"], ["--tpot-ms", "positive"]),
    (["plan", "-w", "llama-3.1-70b", "-t", "hgx-h100", "--tpot-ms", "inf"], ["--tpot-ms", "positive", "got inf"]),
    (["plan", "-w", "llama-3.1-70b", "-t", "hgx-h100", "--price-per-gpu-hour", "0"], ["--price-per-gpu-hour", "positive"]),
    (["plan", "-w", "llama-3.1-70b", "-t", "hgx-h100", "--weight-dtype", "fp3"], ["--weight-dtype", "bf16", "'fp3'"]),
    (["plan", "-w", "llama-3.1-70b", "-t", "hgx-h100", "--nodes", "0"], ["--nodes", "positive integer"]),
    (["plan", "-w", "llama-3.1-70b", "-t", "hgx-h100", "--gpus", "0"], ["--gpus", "positive integer"]),
    (["plan", "-w", "llama-3.1-70b", "-t", "hgx-h100", "--time-limit", "0"], ["--time-limit", "positive"]),
    (["plan", "-w", "llama-3.1-70b", "-t", "hgx-h100", "--demand-tps", "-1"], ["--demand-tps", "positive"]),
    (["plan", "-w", "llama-3.1-70b", "-t", "hgx-h100", "--unavailable", "1,x"], ["--unavailable", "'1,x'"]),
    (["plan", "-w", "llama-3.1-70b", "-t", "hgx-h100", "--unavailable", "8"], ["--unavailable", "8", "outside 0..7"]),
    (["plan", "-w", "llama-3.1-70b", "-t", "hgx-h100", "--racks", "2"], ["counts nodes", "--nodes"]),
    (["plan", "-w", "llama-3.1-70b", "-t", "hgx-h100", "--nodes", "100000"], ["--nodes", "up to 65,536", "got 100,000"]),
    (["plan", "-w", "llama-3.1-70b", "-t", "hgx-h100", "--demand-tps", "inf"], ["--demand-tps", "positive", "got inf"]),
]


@pytest.mark.parametrize("args,fragments", FLAG_CASES, ids=lambda c: None)
def test_a_bad_flag_is_one_line_naming_the_flag(args, fragments):
    line = error_line(args)
    for fragment in fragments:
        assert fragment in line, line


def test_missing_file_names_the_path(tmp_path):
    missing = tmp_path / "nowhere" / "topo.yaml"
    line = error_line(["plan", "--topology", str(missing)])
    assert str(missing) in line and "no such file" in line
    line = error_line(["plan", "--workload", str(tmp_path / "w.yml")])
    assert "w.yml" in line and "no such file" in line


def test_a_directory_is_not_a_file(tmp_path):
    folder = tmp_path / "folder.yaml"
    folder.mkdir()
    assert "not a file" in error_line(["plan", "--topology", str(folder)])


def test_unknown_shipped_name_suggests_the_nearest_and_lists_them():
    line = error_line(["plan", "--workload", "llama3.1-70b"])
    assert "unknown workload 'llama3.1-70b'" in line and "did you mean 'llama-3.1-70b'" in line and "deepseek-v3" in line
    line = error_line(["plan", "--topology", "gb200-nvl27"])
    assert "unknown topology 'gb200-nvl27'" in line and "did you mean 'gb200-nvl72'" in line


def test_malformed_yaml_names_file_and_line(tmp_path):
    bad = write(tmp_path, "name: x\nmodel: {n_layers: 3\nslo: [\n", "broken.yaml")
    line = error_line(["plan", "--workload", str(bad)])
    assert str(bad) in line and "malformed YAML at line" in line


def test_a_yaml_list_is_not_a_file_of_fields(tmp_path):
    bad = write(tmp_path, "- gpus_per_host: 8\n- domains: 2\n", "list.yaml")
    line = error_line(["plan", "--topology", str(bad)])
    assert str(bad) in line and "expected a mapping" in line and "list" in line


def test_an_empty_or_binary_file_is_one_line(tmp_path):
    empty = write(tmp_path, "", "empty.yaml")
    assert "expected a mapping" in error_line(["plan", "--topology", str(empty)])
    binary = tmp_path / "binary.yaml"
    binary.write_bytes(b"\xff\xfe\x00name")
    assert "not UTF-8" in error_line(["plan", "--workload", str(binary)])


def test_yaml_is_loaded_safely(tmp_path):
    """A python-object tag is refused as malformed YAML, never executed."""
    bad = write(tmp_path, "name: !!python/object/apply:os.system ['echo pwned']\n", "tag.yaml")
    line = error_line(["plan", "--topology", str(bad)])
    assert "malformed YAML" in line


def test_a_file_that_passes_the_schema_still_checks_what_it_names(tmp_path):
    """Cross-file references are validated too: the accelerator a topology names."""
    topo = edited(shipped("topologies", "hgx-h100"), ("accelerator",), str(tmp_path / "acc.yaml"))
    line = error_line(["plan", "--topology", str(write(tmp_path, topo))])
    assert "field 'accelerator'" in line and "acc.yaml: no such file" in line


# --------------------------------------------------------------------------- published JSON Schema


def test_published_json_schemas_are_up_to_date():
    from planner.cli import schema_export

    stale = schema_export.stale()
    assert not stale, f"docs/schema out of date for {stale}: run python -m planner.cli.schema_export"


def _shipped_files():
    root = data_dir("topologies").parent
    yield from (("topology", p) for p in sorted((root / "topologies").glob("*.yaml")))
    yield from (("workload", p) for p in sorted((root / "workloads").glob("*.yaml")))
    yield from (("accelerator", p) for p in sorted((root / "hardware" / "accelerators").glob("*.yaml")))
    yield ("efficiency", root / "hardware" / "efficiency.yaml")
    yield ("inventory", root / "examples" / "inventory.yaml")
    yield ("demands", root / "examples" / "demands.yaml")


def test_every_shipped_file_validates_against_its_published_schema():
    """An independent validator (jsonschema) agrees with pydantic on every shipped file,
    and rejects the same mistakes: an unknown key, a negative bandwidth, a zero price."""
    jsonschema = pytest.importorskip("jsonschema")
    from planner.cli import schema_export

    for stem, path in _shipped_files():
        schema = yaml.safe_load(schema_export.path_for(stem).read_text())
        jsonschema.validate(yaml.safe_load(path.read_text()), schema)
    topo_schema = yaml.safe_load(schema_export.path_for("topology").read_text())
    good = shipped("topologies", "hgx-h100")
    for path, value in ((("gpus_per_host",), ("rename", "gpus_per_hots")), (("scale_up", "bw_per_gpu_gb_per_s"), -5),
                        (("price", "usd_per_gpu_hour"), 0)):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(edited(good, path, value), topo_schema)
