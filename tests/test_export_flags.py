"""Exported commands use each engine's current flags and ask for the redundant
experts the cost model assumes (every GPU of an EP group holds ceil(E/ep) expert
slots, so ep not dividing E leaves ceil(E/ep)*ep - E redundant copies)."""

from __future__ import annotations

import json
import math

import pytest

from planner import api
from planner.inputs.query import Query
from planner.plan.export import ENGINES, launch_commands
from planner.plan.export_experts import redundant

E_DSV3 = 256


@pytest.fixture(scope="module")
def ep72() -> dict:
    return api.evaluate("deepseek-v3", "gb200-nvl72", Query(), tp=1, dp_attn=72, ep=72).to_dict()


@pytest.fixture(scope="module")
def ep8() -> dict:
    return api.evaluate("deepseek-v3", "gb200-nvl72", Query(), tp=1, dp_attn=8, ep=8).to_dict()


@pytest.mark.parametrize("experts,ep", [(256, 72), (256, 8), (256, 96), (384, 72), (128, 48), (8, 1)])
def test_redundant_slots_fill_every_gpu_evenly(experts: int, ep: int) -> None:
    r = redundant(experts, ep)
    assert r >= 0 and (experts + r) % max(ep, 1) == 0
    assert r < ep  # never a whole spare slot per GPU
    assert r == (0 if ep <= 1 else math.ceil(experts / ep) * ep - experts)


def test_ep72_asks_each_engine_for_32_redundant_experts(ep72: dict) -> None:
    slots = math.ceil(E_DSV3 / 72) * 72
    v = launch_commands(ep72, "vllm")
    assert all("--enable-eplb" in c.args and json.loads(c.value("--eplb-config")) == {"num_redundant_experts": slots - E_DSV3} for c in v)
    s = launch_commands(ep72, "sglang")
    assert all("--enable-eplb" in c.args and c.value("--ep-num-redundant-experts") == str(slots - E_DSV3) for c in s)
    (t,) = launch_commands(ep72, "trtllm")
    assert t.config["moe_config"] == {"backend": "WideEP", "load_balancer": {"num_slots": slots}}
    assert t.value("--config") == t.files[0][0]


@pytest.mark.parametrize("engine", ENGINES)
def test_no_redundant_experts_when_ep_divides_the_experts(ep8: dict, engine: str) -> None:
    for c in launch_commands(ep8, engine):
        assert "--enable-eplb" not in c.args and "moe_config" not in c.config


def test_dense_models_get_no_expert_settings() -> None:
    p = api.evaluate("llama-3.1-70b", "hgx-h100", Query(), tp=8).to_dict()
    for engine in ENGINES:
        for c in launch_commands(p, engine):
            assert "--enable-eplb" not in c.args and "moe_config" not in c.config


def test_trtllm_takes_its_options_file_with_config_not_the_legacy_alias(ep8: dict) -> None:
    (t,) = launch_commands(ep8, "trtllm")
    assert "--config" in t.args and "--extra_llm_api_options" not in t.args


def test_vllm_disaggregated_router_is_the_supported_vllm_router(ep8: dict) -> None:
    import copy

    plan = copy.deepcopy(ep8)
    rep = plan["replicas"][0]
    pre, dec = copy.deepcopy(rep), copy.deepcopy(rep)
    pre["role"], dec["role"], dec["id"] = "prefill", "decode", 1
    shift = 8
    for st in dec["stages"]:
        for key in ("gpu_ids",):
            st[key] = [g + shift for g in st[key]]
        st["tp_groups"] = [[g + shift for g in grp] for grp in st["tp_groups"]]
        if st.get("expert_tp_groups"):
            st["expert_tp_groups"] = [[g + shift for g in grp] for grp in st["expert_tp_groups"]]
    dec["gpu_ids"] = [g + shift for g in dec["gpu_ids"]]
    plan["replicas"] = [pre, dec]
    plan["pools"] = {"prefill": {"replicas": 1}, "decode": {"replicas": 1}}
    router = launch_commands(plan, "vllm")[-1]
    assert router.role == "router" and router.program == ("vllm-router",)
    assert not any("tests/" in w or w.endswith(".py") for w in router.program + router.args)
    assert router.value("--vllm-pd-disaggregation") == "true"
    assert router.value("--prefill") == "http://${HOST_0}:8000" and router.value("--decode").startswith("http://${HOST_2}:")
