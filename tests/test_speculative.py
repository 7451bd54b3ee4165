"""Speculative decoding / MTP: tokens per step, the price of verification, DeepSeek's
published MTP figures, and the flags the engine exports set (docs/serving-economics.md)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from planner import api
from planner.cli.main import app
from planner.inputs.query import load
from planner.physics import speculative as spec
from planner.physics.candidates import pinned_layout
from planner.physics.costmodel import evaluate, step_terms

runner = CliRunner()


def test_tokens_per_step_is_the_geometric_sum_of_acceptances():
    assert spec.tokens_per_step(0.875, 1) == pytest.approx(1.875)
    assert spec.tokens_per_step(0.8, 3) == pytest.approx(1 + 0.8 + 0.64 + 0.512)
    assert spec.tokens_per_step(0.5, 0) == 1.0


def _ds(q: api.Query, domains=2):
    w, topo = load("deepseek-v3", "gb200-nvl72", q)
    return w, topo, pinned_layout(w, topo, 1, 1, 8, 8)


def test_mtp_raises_tokens_per_step_by_a_and_pays_the_verification_compute():
    """Acceptance a: each step emits 1 + a tokens per sequence at equal batch. The
    verification step runs 2 query tokens per sequence: the compute of a batch twice
    as wide, but each sequence's KV read once; and the MTP head adds a draft pass."""
    a = 0.875
    w0, topo, L = _ds(api.Query())
    w1, _, _ = _ds(api.Query(speculative="mtp"))
    assert w1.spec_acceptance == a and w1.spec_draft_tokens == 1
    B, ctx = 256.0, 2000.0
    verify = step_terms(w1, topo, L, 2 * B, 0.0, ctx, queries_per_seq=2)
    wide = step_terms(w0, topo, L, 2 * B, 0.0, ctx)
    plain = step_terms(w0, topo, L, B, 0.0, ctx)
    assert float(np.squeeze(verify.compute_s)) == pytest.approx(float(np.squeeze(wide.compute_s)))
    assert float(np.squeeze(verify.kv_s)) < float(np.squeeze(wide.kv_s))
    assert float(np.squeeze(verify.compute_s)) > float(np.squeeze(plain.compute_s))
    e0 = evaluate(w0, topo, L, np.array([B]), aggregated=False)
    e1 = evaluate(w1, topo, L, np.array([B]), aggregated=False)
    step0, step1 = float(e0.tpot_s[0]), float(e1.tpot_s[0]) * (1 + a)  # a step emits 1 + a tokens
    assert float(e1.output_tps[0]) * step1 / B == pytest.approx(1 + a)  # tokens per sequence per step
    assert step0 < step1 < 2 * step0  # verification costs, but less than a second step
    assert 1 < float(e1.output_tps[0]) / float(e0.output_tps[0]) < 1 + a


def test_deepseek_fleet_with_mtp_reproduces_tokens_per_node_and_per_user():
    """DeepSeek's fleet (open-infra-index day 6): decode at EP144/DP144 on 18 H800 nodes,
    mean KV 4,989, 20-22 output tokens/s per user, ~14.8k output tokens/s per node, with
    MTP (DeepSeek-V3 report 5.4.3: 85-90% acceptance, 1.8x TPS). At the implied 88
    sequences per GPU both figures reproduce within 25%; MTP's TPS gain at a small batch
    is 1.8x within 25%."""
    def run(b, s):
        w, topo = load("deepseek-v3", "hgx-h800", api.Query(domains=18, isl=4989, osl=1, kv_len=4989, speculative=s))
        ev = evaluate(w, topo, pinned_layout(w, topo, 1, 1, 144, 144), np.array([b * 144]), aggregated=False)
        return float(ev.output_tps[0]) / 18, 1.0 / float(ev.tpot_s[0])
    per_node, per_user = run(88, "mtp")
    assert per_node == pytest.approx(14_800, rel=0.25)
    assert per_user == pytest.approx(21, rel=0.25)
    assert run(8, "mtp")[1] / run(8, None)[1] == pytest.approx(1.8, rel=0.25)


@pytest.mark.parametrize("args,needle", [
    (["-w", "llama-3.1-70b", "-t", "hgx-h100", "--speculative", "mtp"], "no MTP heads"),
    (["-w", "llama-3.1-70b", "-t", "hgx-h100", "--speculative", "ngram"], "--acceptance-rate"),
    (["-w", "deepseek-v3", "-t", "hgx-h100", "--draft-tokens", "2"], "need --speculative"),
    (["-w", "deepseek-v3", "-t", "hgx-h100", "--speculative", "mtp", "--acceptance-rate", "1.5"], "--acceptance-rate must"),
])
def test_bad_speculative_options_exit_2_in_one_line(args, needle):
    r = runner.invoke(app, ["plan", *args])
    assert r.exit_code == 2
    lines = [x for x in r.output.strip().splitlines() if x]
    assert len(lines) == 1 and needle in lines[0]


def test_plan_records_speculation_and_exports_set_the_engines_flags(tmp_path):
    out = tmp_path / "p.json"
    r = runner.invoke(app, ["evaluate", "-w", "deepseek-v3", "-t", "gb200-nvl72", "--tp", "1", "--dp-attn", "8", "--ep", "8",
                            "--speculative", "mtp", "--json", "--out", str(out)])
    assert r.exit_code == 0, r.output
    s = json.loads(out.read_text())["inputs"]["speculative"]
    assert s == {"method": "mtp", "draft_tokens": 1, "acceptance_rate": 0.875, "tokens_per_step": 1.875}
    expect = {"vllm": '--speculative-config \'{"method":"mtp","num_speculative_tokens":1}\'',
              "sglang": "--speculative-algorithm EAGLE --speculative-num-steps 1 --speculative-eagle-topk 1 --speculative-num-draft-tokens 2",
              "trtllm": "decoding_type: MTP"}
    for engine, text in expect.items():
        r = runner.invoke(app, ["export", str(out), "--engine", engine])
        assert r.exit_code == 0, r.output
        assert text in r.output
