"""`planner plan --engine E` keeps to layouts E launches: the exporter, which
refuses what an engine cannot express, is the oracle."""

from __future__ import annotations

import pytest

from planner import api
from planner.inputs.errors import InputError
from planner.inputs.query import Query
from planner.physics.engine_limits import ENGINES, refusal
from planner.plan.export import engine_table, launch_commands

CASES = [  # the default plan, MoE with attention DP and EP across nodes, a dense model on 4-GPU trays, a small MoE
    ("deepseek-v3", "gb200-nvl72", Query()),
    ("deepseek-r1", "hgx-h100", Query(domains=4)),
    ("qwen3-235b-a22b", "hgx-h100", Query(domains=1)),
    ("deepseek-r1", "hgx-h200", Query(domains=2)),
    ("qwen3-235b-a22b", "hgx-h100", Query(domains=2)),
    ("llama-3.1-70b", "gb200-nvl72", Query()),
    ("mixtral-8x7b", "hgx-h100", Query()),
]


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("workload,topology,query", CASES, ids=[c[0] for c in CASES])
def test_a_plan_for_an_engine_exports_for_it(engine, workload, topology, query) -> None:
    p = api.plan(workload, topology, query, time_limit_s=20, engine=engine)
    doc = p.to_dict()
    assert doc["inputs"]["engine"] == engine
    assert launch_commands(doc, engine)  # raises InputError naming the limit if the engine cannot express it


@pytest.mark.parametrize("workload,topology,query,refused", [
    ("deepseek-v3", "gb200-nvl72", Query(), {"vllm", "sglang", "trtllm"}),  # the default plan: attention DP with pipeline stages, and TP2 x DP2
    ("qwen3-235b-a22b", "hgx-h100", Query(domains=1), {"trtllm"}),  # attention TP x DP
])
def test_without_the_engine_the_search_picks_what_an_engine_refuses(workload, topology, query, refused) -> None:
    """The filter matters: unconstrained, these plans use layouts some engines cannot launch,
    their exporters say so, and the rule read on the layout names the same engines."""
    doc = api.plan(workload, topology, query, time_limit_s=20).to_dict()
    said = set()
    for engine in ENGINES:
        try:
            launch_commands(doc, engine)
        except InputError:
            said.add(engine)
    assert said == refused
    ruled = {e for e in ENGINES for r in doc["replicas"]
             if refusal(e, r["layout"]["tp"], r["layout"]["dp_attn"], r["layout"]["ep"], r["layout"]["pp"], doc["inputs"]["topology"]["gpus_per_host"])}
    assert ruled == refused


def test_every_refusal_is_a_limit_the_engine_states() -> None:
    keys = {refusal(e, tp, dp, ep, pp, 4) for e in ENGINES for tp in (1, 2, 8) for dp in (1, 2, 8)
            for ep in (1, 2, 16) for pp in (1, 2)} - {None}
    stated = {k for e in ENGINES for k in engine_table()[e]["limits"]}
    assert keys and keys <= stated


def test_an_unknown_engine_is_one_line() -> None:
    with pytest.raises(InputError, match="--engine must be one of vllm, sglang, trtllm"):
        api.plan("llama-3.1-8b", "hgx-h100", engine="tensorrt\n$(rm -rf /)")


EXAMPLES = __import__("pathlib").Path(__file__).resolve().parent.parent / "examples"


def test_a_fleet_for_an_engine_exports_for_it_and_unconstrained_it_would_not() -> None:
    """The example fleet places 4-GPU pieces of one replica two to a node unconstrained;
    engines run the same number of ranks on every node of an instance."""
    from planner.plan.export_fleet import fleet_commands
    from planner.plan.fleet import plan_fleet

    inv, dem = EXAMPLES / "inventory.yaml", EXAMPLES / "demands.yaml"
    free = plan_fleet(inv, dem, time_limit_s=30).document()
    with pytest.raises(InputError, match="same number of ranks|cannot express"):
        fleet_commands(free, "vllm")
    for engine in ENGINES:
        f = plan_fleet(inv, dem, time_limit_s=30, engine=engine)
        assert f.engine == engine and f.to_dict()["engine"] == engine
        assert fleet_commands(f.document(), engine)
    assert "engine" not in free.model_dump(exclude_none=True)


def test_an_infeasible_plan_for_an_engine_says_the_engine_narrowed_the_search() -> None:
    from planner.inputs.errors import InfeasibleError

    with pytest.raises(InfeasibleError, match=r"^tpot: .*\(only layouts sglang launches: --engine\)$"):
        api.plan("llama-3.1-70b", "hgx-h100", Query(tpot_ms=1.0), time_limit_s=10, engine="sglang", mode="agg")


def test_compare_for_an_engine_gives_each_rack_a_plan_that_engine_launches() -> None:
    from planner.analysis import analysis

    rows = analysis.compare("deepseek-v3", ["hgx-h200", "gb200-nvl72"], time_limit_s=20, workers=1, engine="sglang")
    assert all(r.plan is not None for r in rows)
    for r in rows:
        doc = r.plan.to_dict()
        assert doc["inputs"]["engine"] == "sglang" and launch_commands(doc, "sglang")


def test_a_demand_compare_for_an_engine_sizes_plans_that_engine_launches() -> None:
    from planner.analysis.demand import compare_demand

    rows = compare_demand("qwen3-235b-a22b", ["hgx-h100"], None, 20000, time_limit_s=20, workers=1, engine="trtllm")
    assert rows[0].plan is not None
    doc = rows[0].plan.to_dict()
    assert doc["inputs"]["engine"] == "trtllm" and launch_commands(doc, "trtllm")


def test_limits_are_read_as_the_exporter_reads_them() -> None:
    """Expert-TP groups exist only with ep > 1 (a dense TP8 across GB200 trays is fine for
    TensorRT-LLM); a stage over several hosts with EP4 of 8 GPUs is not."""
    assert refusal("trtllm", 8, 1, 1, 1, 4) is None
    assert refusal("trtllm", 1, 8, 4, 1, 4) == "expert_tp_strided"
    assert refusal("sglang", 1, 8, 8, 2, 8) == "dp_attention_with_pp"
    assert refusal("vllm", 1, 8, 4, 1, 8) == "partial_expert_parallel"
    assert refusal("vllm", 1, 16, 16, 1, 8) is None  # DP ranks of one GPU each sit inside hosts
    assert refusal("vllm", 8, 2, 16, 1, 4) == "dp_rank_across_hosts"
    assert refusal("sglang", 4, 1, 1, 1, 8, chunks=1) is None
    assert refusal("sglang", 4, 5, 20, 1, 8, chunks=5) == "uneven_hosts"  # 4-GPU pieces of a 20-GPU replica


def test_a_plan_the_exporter_would_refuse_is_refused_in_one_line_not_returned() -> None:
    """GPU 1 down on a GB200 rack: the replicas keep to whole trays around it and the plan
    exports. With one or two GPUs down on every tray (3, 2, 3, 2 ... left) the placer,
    which keeps a piece to one tray or to whole trays and otherwise takes GPUs in order,
    leaves a 12-GPU DeepSeek replica on trays holding 3, 2, 3, 2, 2 of it (an even split,
    3 x 4 or 2 x 6, exists but is not searched): the planner says so rather than hand over
    a plan the exporter refuses, and with whole trays marked down (the advice) the plan
    exports."""
    from planner.inputs.errors import InfeasibleError

    p = api.plan("deepseek-v3", "gb200-nvl72", Query(unavailable_gpus=(1,)), time_limit_s=20, engine="sglang", mode="agg")
    assert launch_commands(p.to_dict(), "sglang")
    ragged = tuple(g for tray in range(18) for g in ([4 * tray] if tray % 2 == 0 else [4 * tray, 4 * tray + 1]))
    with pytest.raises(InfeasibleError, match=r"^engine: .*sglang cannot launch.*mark whole hosts unavailable"):
        api.plan("deepseek-v3", "gb200-nvl72", Query(unavailable_gpus=ragged), time_limit_s=20, engine="sglang", mode="agg")
    p = api.plan("deepseek-v3", "gb200-nvl72", Query(unavailable_gpus=(0, 1, 2, 3)), time_limit_s=20, engine="sglang")
    assert launch_commands(p.to_dict(), "sglang")


def test_trtllm_expert_groups_of_a_stage_that_does_not_divide_a_host() -> None:
    """tp1 dp6 ep3 pp4 on 8-GPU hosts: 6-GPU stages straddle hosts, and TensorRT-LLM's strided
    expert-TP ranks (2 per group) then reach two nodes."""
    assert refusal("trtllm", 1, 6, 3, 4, 8) == "expert_tp_strided"


def test_evaluate_for_an_engine_reports_a_layout_it_cannot_launch_as_a_violation() -> None:
    """Attention TP2 x DP4 on GB200: SGLang launches it, TensorRT-LLM does not."""
    args = dict(tp=2, dp_attn=4, ep=8, pp=1)
    ok = api.evaluate("deepseek-v3", "gb200-nvl72", **args, engine="sglang")
    bad = api.evaluate("deepseek-v3", "gb200-nvl72", **args, engine="trtllm")
    assert not any(v.startswith("engine:") for v in ok.violations)
    assert bad.status == "violates" and [v for v in bad.violations if v.startswith("engine: TensorRT-LLM cannot express attention")]
    assert bad.to_dict()["inputs"]["engine"] == "trtllm"
