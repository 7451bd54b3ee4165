"""Fuzzing the whole CLI on a bounded budget: hypothesis draws the random choices
of tests/fuzzkit.py (hostile flag values for every command; mutated workload,
topology, config.json, inventory, demands, plan JSON and measurement files) and
each input must be answered cleanly: exit 0, or one 'error:' line with exit 2/3,
within the time budget, and never exit 0 for an input that must be refused.
The long run (>= 2,000 inputs, outcome table) is benchmarks/fuzz.py."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import fuzzkit

FUZZ = settings(max_examples=8, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))


def check(case: fuzzkit.Case, tmp_path_factory) -> None:
    outcome, detail = fuzzkit.run_case(case, tmp_path_factory.mktemp("fuzz"), timeout_s=60)
    assert outcome == "ok", f"{outcome}: planner {case.args} [{case.note}] -> {detail}"


@pytest.mark.parametrize("command", sorted(set(fuzzkit.FLAGS) - {"fleet", "compare"}))
@FUZZ
@given(rng=st.randoms(use_true_random=False))
def test_hostile_flags(command, rng, tmp_path_factory):
    check(fuzzkit.flag_case(rng, command), tmp_path_factory)


@pytest.mark.parametrize("kind", [k for k in fuzzkit.FILE_KINDS if k not in ("inventory", "demands", "measurements")])
@FUZZ
@given(rng=st.randoms(use_true_random=False))
def test_mutated_files(kind, rng, tmp_path_factory):
    check(fuzzkit.file_case(rng, kind), tmp_path_factory)


@pytest.mark.parametrize("kind", ["inventory", "demands", "measurements"])
@settings(FUZZ, max_examples=3)
@given(rng=st.randoms(use_true_random=False))
def test_mutated_slow_files(kind, rng, tmp_path_factory):
    """Fleet and validate answers take seconds when the file is valid: fewer examples."""
    check(fuzzkit.file_case(rng, kind), tmp_path_factory)
