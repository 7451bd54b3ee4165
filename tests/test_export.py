"""Engine launch exports: the flags match what the engines document, the
parallel sizes follow the plan's layout, and a layout an engine cannot express
is refused with one line naming the engine."""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from planner import api
from planner.api import Query
from planner.cli.main import app
from planner.inputs.errors import InputError
from planner.plan.export import ENGINES, engine_table, launch_commands

DOCUMENTED = yaml.safe_load((Path(__file__).parent / "data" / "engine_flags.yaml").read_text())
NAMES = {"vllm": "vLLM", "sglang": "SGLang", "trtllm": "TensorRT-LLM"}
GB200_HOST, HGX_HOST = 4, 8  # gpus_per_host of the shipped topologies (compute tray / HGX board)


@pytest.fixture(scope="module")
def plans() -> dict[str, dict]:
    q = Query()
    ev = lambda w, t, **kw: api.evaluate(w, t, q, **kw).to_dict()  # noqa: E731
    return {
        "llama70b-2nodes": api.plan("llama-3.1-70b", "hgx-h100", Query(domains=2)).to_dict(),
        "deepseek-gb200": api.plan("deepseek-v3", "gb200-nvl72", q).to_dict(),
        "llama8b-node": api.plan("llama-3.1-8b", "hgx-h100", q).to_dict(),
        "ds-dp8-ep8": ev("deepseek-v3", "gb200-nvl72", tp=1, dp_attn=8, ep=8),
        "ds-dp4-ep4-pp2": ev("deepseek-v3", "gb200-nvl72", tp=1, dp_attn=4, ep=4, pp=2),
        "ds-h200-dp4-pp2": ev("deepseek-v3", "hgx-h200", tp=1, dp_attn=4, ep=4, pp=2),
        "ds-tp2-dp4-ep4": ev("deepseek-v3", "gb200-nvl72", tp=2, dp_attn=4, ep=4),
        "ds-tp8-ep4": ev("deepseek-v3", "gb200-nvl72", tp=8, ep=4),
        "ds-h200-tp8-ep4": ev("deepseek-v3", "hgx-h200", tp=8, ep=4),
        "ds-fp8kv": api.evaluate("deepseek-v3", "gb200-nvl72", Query(kv_dtype="fp8"), tp=1, dp_attn=8, ep=8).to_dict(),
        "ds-fp4kv": api.evaluate("deepseek-v3", "gb200-nvl72", Query(kv_dtype="fp4"), tp=1, dp_attn=8, ep=8).to_dict(),
    }


def one(plan: dict, i: int) -> dict:
    """Replica ``i`` alone (a disaggregated plan's pools, and so its router, dropped)."""
    p = copy.deepcopy(plan)
    p["replicas"] = [p["replicas"][i]]
    p.pop("pools", None)
    return p


def visible(cmd) -> list[int]:
    return [int(x) for x in dict(cmd.env)["CUDA_VISIBLE_DEVICES"].split(",")]


def host_counts(ids: list[int], gph: int) -> list[int]:
    hosts: dict[int, int] = {}
    for g in ids:
        hosts[g // gph] = hosts.get(g // gph, 0) + 1
    return list(hosts.values())


def expected_refusal(engine: str, rep: dict, gph: int) -> str | None:
    """The documented limit a replica runs into, or None (the test's own reading of the docs)."""
    lay, S = rep["layout"], rep["layout"]["tp"] * rep["layout"]["dp_attn"]
    tp, dp, ep, pp = lay["tp"], lay["dp_attn"], lay["ep"], lay["pp"]
    stages = rep["stages"]
    multi_host_stage = any(len({g // gph for g in st["gpu_ids"]}) > 1 for st in stages)
    if engine == "trtllm" and tp > 1 and dp > 1:
        return "attention tensor parallelism"
    if engine in ("vllm", "sglang") and 1 < ep < S:
        return "expert parallelism over"
    if engine == "trtllm" and 1 < ep < S and multi_host_stage:  # expert TP ranks strided by ep
        return "expert TP groups"
    if engine == "sglang" and dp > 1 and pp > 1:
        return "data-parallel attention"
    dp_ranks = [[g for st in stages for g in st["tp_groups"][d]] for d in range(dp)]  # vLLM: one engine core each
    if engine == "vllm" and dp > 1:
        return "data-parallel rank" if any(len({g // gph for g in r}) > 1 for r in dp_ranks) else None
    if len(set(host_counts(rep["gpu_ids"], gph))) > 1:
        return "hosts hold"
    if engine == "trtllm" and len({tuple(sorted(g % gph for g in rep["gpu_ids"] if g // gph == h)) for h in {g // gph for g in rep["gpu_ids"]}}) > 1:
        return "GPU slots"
    return None


# --------------------------------------------------------------------------- documented flags


def _check_documented(engine: str, cmds) -> None:
    doc = DOCUMENTED[engine]
    for c in cmds:
        allowed = doc["router_flags"] if c.role == "router" else doc["flags"]
        assert set(c.flags()) <= set(allowed), (engine, set(c.flags()) - set(allowed))
        keys = doc.get("router_config_keys", {}) if c.role == "router" else doc["config_keys"]
        assert set(c.config) <= set(keys), (engine, set(c.config) - set(keys))
        assert set(c.launcher_flags()) <= set(doc["launcher_flags"])
        for flag, values in doc["values"].items():
            if c.value(flag) is not None:
                assert c.value(flag) in values, (engine, flag, c.value(flag))


def test_documented_flags_carry_a_source() -> None:
    for engine in ENGINES:
        for section in ("flags", "router_flags", "config_keys", "launcher_flags"):
            for flag, source in DOCUMENTED[engine].get(section, {}).items():
                assert isinstance(source, str) and "/" in source, (engine, flag)


def test_the_exporters_table_names_only_documented_flags() -> None:
    for engine in ENGINES:
        spec, doc = engine_table()[engine], DOCUMENTED[engine]
        assert set(spec["flags"].values()) <= set(doc["flags"])
        assert set(spec.get("config_keys", {}).values()) <= set(doc["config_keys"])
        assert {f.split("=")[0] for f in spec.get("launcher_flags", {}).values()} <= set(doc["launcher_flags"])
        assert {f for f in spec["router_flags"].values()} <= set(doc["router_flags"])
        assert set(spec["sources"]) and all(isinstance(s, str) for s in spec["sources"].values())


@pytest.mark.parametrize("engine", ENGINES)
def test_every_emitted_flag_is_documented(plans: dict, engine: str) -> None:
    emitted = 0
    for plan in plans.values():
        for i in range(len(plan["replicas"])):
            try:
                cmds = launch_commands(one(plan, i), engine)
            except InputError:
                continue
            _check_documented(engine, cmds)
            emitted += len(cmds)
    assert emitted >= 8


# --------------------------------------------------------------------------- sizes from the layout


def sizes(engine: str, cmd) -> dict[str, int]:
    v = lambda f, d=1: int(cmd.value(f) or d)  # noqa: E731
    if engine == "vllm":
        return {"attn_tp": v("--tensor-parallel-size"), "pp": v("--pipeline-parallel-size"), "dp": v("--data-parallel-size"),
                "ep": v("--tensor-parallel-size") * v("--data-parallel-size") if cmd.value("--enable-expert-parallel") else 1,
                "running": v("--max-num-seqs") * v("--data-parallel-size"), "len": v("--max-model-len")}
    if engine == "sglang":
        dp = v("--dp-size") if cmd.value("--enable-dp-attention") else 1
        return {"attn_tp": v("--tp-size") // dp, "pp": v("--pp-size"), "dp": dp, "ep": v("--ep-size"),
                "running": v("--max-running-requests"), "len": v("--context-length")}
    dp = v("--tp_size") if cmd.config.get("enable_attention_dp") else 1
    return {"attn_tp": v("--tp_size") // dp, "pp": v("--pp_size"), "dp": dp, "ep": v("--ep_size"),
            "running": v("--max_batch_size") * dp * v("--pp_size"), "len": v("--max_seq_len")}


def check_replica(engine: str, plan: dict, i: int, gph: int) -> None:
    rep = plan["replicas"][i]
    lay = rep["layout"]
    refusal = expected_refusal(engine, rep, gph)
    if refusal:
        with pytest.raises(InputError, match=NAMES[engine]) as err:
            launch_commands(one(plan, i), engine)
        assert refusal in str(err.value) and "\n" not in str(err.value)
        return
    cmds = launch_commands(one(plan, i), engine)
    hosts = sorted({g // gph for g in rep["gpu_ids"]})
    assert sorted(h for c in cmds for h in c.hosts) == hosts  # one node per host spanned
    assert len(cmds) == (1 if engine == "trtllm" else len(hosts))
    for c in cmds:
        got = sizes(engine, c)
        assert (got["attn_tp"], got["pp"], got["dp"], got["ep"]) == (lay["tp"], lay["pp"], lay["dp_attn"], lay["ep"])
        assert got["running"] >= rep["batch"] * lay["pp"]  # the plan's concurrency fits
        assert got["len"] == plan["inputs"]["traffic"]["kv_len"]
        assert sorted(visible(c)) == sorted({g % gph for g in c.gpu_ids})
        assert c.nnodes == len(hosts)
    assert sorted(g for c in cmds for g in c.gpu_ids) == sorted(rep["gpu_ids"])


@pytest.mark.parametrize("engine", ENGINES)
def test_llama_70b_on_two_hgx_nodes(plans: dict, engine: str) -> None:
    plan = plans["llama70b-2nodes"]
    for i in range(len(plan["replicas"])):
        check_replica(engine, plan, i, HGX_HOST)


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("name", ["deepseek-gb200", "ds-dp8-ep8", "ds-dp4-ep4-pp2", "ds-tp2-dp4-ep4", "ds-tp8-ep4"])
def test_deepseek_on_gb200(plans: dict, engine: str, name: str) -> None:
    plan = plans[name]
    for i in range(len(plan["replicas"])):
        check_replica(engine, plan, i, GB200_HOST)


def test_a_replica_over_two_trays_gets_per_node_commands(plans: dict) -> None:
    plan = plans["ds-dp8-ep8"]  # 8 GPUs, 4 per GB200 compute tray: hosts 0 and 1
    v = launch_commands(plan, "vllm")
    assert [c.value("--data-parallel-start-rank") for c in v] == [None, "4"]
    assert [c.value("--headless") for c in v] == [None, "true"]
    assert {c.value("--data-parallel-address") for c in v} == {"${HOST_0}"}
    s = launch_commands(plan, "sglang")
    assert [c.value("--node-rank") for c in s] == ["0", "1"] and {c.value("--nnodes") for c in s} == {"2"}
    assert {c.value("--dist-init-addr") for c in s} == {f"${{HOST_0}}:{engine_table()['sglang']['defaults']['dist_port']}"}
    (t,) = launch_commands(plan, "trtllm")
    assert t.launcher[:5] == ("srun", "-N", "2", "-w", "${HOST_0},${HOST_1}")
    assert t.launcher[t.launcher.index("--ntasks") + 1] == "8" and t.launcher[t.launcher.index("--ntasks-per-node") + 1] == "4"


def test_vllm_ranks_follow_dp_then_pp_then_tp(plans: dict) -> None:
    plan = plans["ds-h200-dp4-pp2"]  # one 8-GPU node: DP 4 ranks, each a 2-stage pipeline
    (c,) = launch_commands(plan, "vllm")
    stages = plan["replicas"][0]["stages"]
    tp, pp = 1, 2
    for d in range(4):  # vLLM rank = (d * pp + s) * tp + t must hold the plan's stage s, group d
        for s in range(pp):
            assert list(c.gpu_ids[(d * pp + s) * tp:(d * pp + s + 1) * tp]) == stages[s]["tp_groups"][d]


def test_trtllm_expert_groups_match_the_plan(plans: dict) -> None:
    plan = plans["ds-h200-tp8-ep4"]  # expert TP 2 inside EP 4, one 8-GPU node
    (c,) = launch_commands(plan, "trtllm")
    ep = 4  # TensorRT-LLM: moe_ep_rank = rank % ep, so an expert's TP group is the ranks sharing it
    groups = [sorted(c.gpu_ids[r] for r in range(8) if r % ep == j) for j in range(ep)]
    assert sorted(groups) == sorted(sorted(g) for g in plan["replicas"][0]["stages"][0]["expert_tp_groups"])


def test_kv_cache_dtype(plans: dict) -> None:
    fp8 = plans["ds-fp8kv"]
    assert {c.value("--kv-cache-dtype") for c in launch_commands(fp8, "vllm")} == {"fp8"}
    assert {c.value("--kv-cache-dtype") for c in launch_commands(fp8, "sglang")} == {"fp8_e4m3"}
    assert launch_commands(fp8, "trtllm")[0].config["kv_cache_config"] == {"dtype": "fp8"}
    fp4 = plans["ds-fp4kv"]
    assert {c.value("--kv-cache-dtype") for c in launch_commands(fp4, "sglang")} == {"fp4_e2m1"}
    for engine in ("vllm", "trtllm"):
        with pytest.raises(InputError, match=f"{NAMES[engine]} cannot express a fp4 KV cache"):
            launch_commands(fp4, engine)


@pytest.mark.parametrize("engine", ENGINES)
def test_replicas_sharing_a_host_get_distinct_ports(plans: dict, engine: str) -> None:
    plan = copy.deepcopy(plans["llama8b-node"])
    plan.pop("pools", None)  # servers only
    cmds = launch_commands(plan, engine)
    assert len(cmds) == len(plan["replicas"]) > 1
    ports = [(c.hosts[0], c.value("--port")) for c in cmds]
    assert len(set(ports)) == len(ports)
    assert sorted(g for c in cmds for g in visible(c)) == sorted(g % HGX_HOST for r in plan["replicas"] for g in r["gpu_ids"])


# --------------------------------------------------------------------------- disaggregated plans


def shifted(rep: dict, off: int, role: str, rid: int) -> dict:
    m = lambda ids: [g + off for g in ids]  # noqa: E731
    r = copy.deepcopy(rep)
    r.update(id=rid, role=role, gpu_ids=m(r["gpu_ids"]))
    for st in r["stages"]:
        for k in ("gpu_ids", "ep_group"):
            st[k] = m(st[k])
        for k in ("tp_groups", "expert_tp_groups"):
            st[k] = [m(g) for g in st[k]]
    return r


@pytest.fixture(scope="module")
def disagg(plans: dict) -> dict:
    """Two prefill replicas (EP8) and one decode replica (EP16) on one NVL72, in the plan's format plus roles and pools."""
    dec = api.evaluate("deepseek-v3", "gb200-nvl72", Query(), tp=1, dp_attn=16, ep=16).to_dict()["replicas"][0]
    plan = copy.deepcopy(plans["ds-dp8-ep8"])
    pre = plan["replicas"][0]
    plan["replicas"] = [shifted(pre, 0, "prefill", 0), shifted(pre, 8, "prefill", 1), shifted(dec, 16, "decode", 2)]
    plan["pools"] = {"prefill": {"replicas": 2}, "decode": {"replicas": 1}}
    return plan


@pytest.mark.parametrize("engine", ENGINES)
def test_disaggregated_roles_and_router(disagg: dict, engine: str) -> None:
    cmds = launch_commands(disagg, engine)
    _check_documented(engine, cmds)
    servers, router = cmds[:-1], cmds[-1]
    assert router.role == "router" and all(c.role in ("prefill", "decode") for c in servers)
    heads = [c for c in servers if c.node_rank in (0, None)]
    prefill_hosts = [f"${{HOST_{c.hosts[0]}}}" for c in heads if c.role == "prefill"]
    decode_hosts = [f"${{HOST_{c.hosts[0]}}}" for c in heads if c.role == "decode"]
    assert prefill_hosts == ["${HOST_0}", "${HOST_2}"] and decode_hosts == ["${HOST_4}"]
    text = router.shell()
    assert all(h in text for h in prefill_hosts + decode_hosts)
    for c in servers:
        if engine == "vllm":
            role = json.loads(c.value("--kv-transfer-config"))["kv_role"]
            assert role == {"prefill": "kv_producer", "decode": "kv_consumer"}[c.role]
        elif engine == "sglang":
            assert c.value("--disaggregation-mode") == c.role
        else:
            assert c.config["cache_transceiver_config"]["max_tokens_in_buffer"] >= disagg["inputs"]["traffic"]["isl"]
            assert c.config.get("disable_overlap_scheduler", False) == (c.role == "prefill")
    if engine == "trtllm":
        assert router.config["context_servers"]["num_instances"] == 2 and router.config["generation_servers"]["num_instances"] == 1


def test_pools_need_roles(disagg: dict) -> None:
    bad = copy.deepcopy(disagg)
    del bad["replicas"][2]["role"]
    with pytest.raises(InputError, match=r"replicas\[2\]\.role"):
        launch_commands(bad, "sglang")


# --------------------------------------------------------------------------- the command line


def run(*args: str):
    return CliRunner().invoke(app, ["export", *args])


def test_cli_prints_commands_and_json(plans: dict, tmp_path: Path) -> None:
    f = tmp_path / "plan.json"
    f.write_text(json.dumps(plans["ds-dp8-ep8"]))
    res = run(str(f), "--engine", "sglang")
    assert res.exit_code == 0 and res.output.count("sglang.launch_server") == 2
    res = run(str(f), "--engine", "trtllm", "--json")
    data = json.loads(res.output)
    assert res.exit_code == 0 and data["engine"] == "trtllm" and data["commands"][0]["config"] == {
        "enable_attention_dp": True,
        # the cost model spreads prompts over attention-DP ranks (attention_dp_prefill_balance): the engine must too
        "attention_dp_config": {"enable_balance": True},
    }


@pytest.mark.parametrize("content, message", [
    (None, "no such file"),
    ("{not json", "malformed JSON at line 1"),
    ("[1, 2]", "expected a plan object"),
    ('{"schema_version": "1.0", "status": "infeasible", "replicas": []}', "no replicas"),
    ('{"schema_version": "1.0", "replicas": [{"layout": {"tp": 0}}]}', "replicas[0].layout.tp"),
])
def test_cli_bad_plan_file_is_one_line_exit_2(tmp_path: Path, content: str | None, message: str) -> None:
    f = tmp_path / "plan.json"
    if content is not None:
        f.write_text(content)
    res = run(str(f), "--engine", "vllm")
    assert res.exit_code == 2
    lines = res.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and message in lines[0]


def test_cli_refuses_an_inexpressible_layout_and_an_unknown_engine(plans: dict, tmp_path: Path) -> None:
    f = tmp_path / "plan.json"
    f.write_text(json.dumps(plans["ds-tp2-dp4-ep4"]))
    res = run(str(f), "--engine", "trtllm")
    assert res.exit_code == 2 and res.output.strip().startswith("error: TensorRT-LLM cannot express")
    assert len(res.output.strip().splitlines()) == 1
    res = run(str(f), "--engine", "tgi")
    assert res.exit_code == 2 and "--engine must be one of vllm, sglang, trtllm" in res.output


def test_running_requests_cover_the_plans_concurrency(plans: dict) -> None:
    """vLLM counts per DP rank, SGLang per server, TensorRT-LLM per rank and micro-batch."""
    plan = plans["ds-dp8-ep8"]
    rep = plan["replicas"][0]
    conc, dp = rep["batch"] * rep["layout"]["pp"], rep["layout"]["dp_attn"]
    assert int(launch_commands(plan, "vllm")[0].value("--max-num-seqs")) == math.ceil(conc / dp)
    assert int(launch_commands(plan, "sglang")[0].value("--max-running-requests")) == conc
    assert int(launch_commands(plan, "trtllm")[0].value("--max_batch_size")) == math.ceil(rep["batch"] / dp)
