"""How a record's planner block reaches the cost model (docs/fidelity.md, "Adding a
record"): stated speculative decoding and per-component weight formats change the
pinned evaluation, and records that split one table are held out together when
cross-validating."""

from __future__ import annotations

import numpy as np
import pytest
import yaml

from planner.analysis import calibration, fidelity


def _case(metric: str, **update) -> fidelity.Case:
    cases, _ = fidelity.load_cases()
    (c,) = [c for c in cases if c.name == f"TRTLLM-BLOG-DSR1-B200-MINLATENCY:{metric}"]
    return fidelity.Case(c.record_id, c.measured, c.spec.model_copy(update=update), c.cv_group)


def test_stated_mtp_speeds_a_batch1_user_up_by_less_than_its_tokens_per_step():
    """1.92 tokens per verification step (MTP 1) cannot buy 1.92x: the step verifies
    two tokens per sequence and the draft head runs once more."""
    plain = fidelity.predict(_case("tps_per_user_without_mtp")).predicted
    mtp1 = fidelity.predict(_case("tps_per_user_mtp1")).predicted
    assert 1.0 < mtp1 / plain < 1.92


def test_stated_weight_formats_replace_the_workloads_own():
    """BF16 attention weights (the blog's precision table) stream twice the bytes of the
    workload's FP8 attention: a batch-1 decode step gets slower, not faster."""
    bf16 = fidelity.predict(_case("tps_per_user_without_mtp")).predicted
    fp8 = fidelity.predict(_case("tps_per_user_without_mtp", weight_formats=None)).predicted
    assert bf16 < fp8


def test_an_unknown_weight_format_is_a_one_line_error():
    from planner.inputs.errors import InputError

    wf = fidelity.WeightFormatsFile(attention="fp3")
    with pytest.raises(InputError, match="unknown weight format 'fp3'"):
        fidelity.predict(_case("tps_per_user_without_mtp", weight_formats=wf))


def _record(rid: str, group: str | None, tp: int, value: float) -> dict:
    block = {"cases": [{"metric": "t", "workload": "llama-3.1-8b", "topology": "hgx-h100", "tp": tp,
                        "isl": 128, "osl": 128, "batch": 1, "mode": "latency"}]}
    if group:
        block["cv_group"] = group
    return {"id": rid, "metrics": [{"name": "t", "value": value}], "planner": block}


def test_records_that_share_a_cv_group_are_held_out_together(tmp_path, monkeypatch):
    path = tmp_path / "m.yaml"
    recs = [_record("A", "T", 1, 150.0), _record("B", "T", 2, 200.0), _record("C", None, 4, 250.0)]
    path.write_text(yaml.safe_dump({"records": recs}))
    held = []
    real_fit = calibration.fit

    def spy(table, keep=None):
        if keep is not None:
            held.append(tuple(bool(k) for k in ~keep))
        return real_fit(table, keep)

    monkeypatch.setattr(calibration, "fit", spy)
    cases, _ = fidelity.load_cases(path)
    assert [c.group for c in cases] == ["T", "T", "C"]
    calibration.cross_validate(path)
    # leave-one-record-out: the group {A, B} at once, then C; never A alone
    assert held[:2] == [(True, True, False), (False, False, True)]
    assert not any(h == (True, False, False) for h in held)
