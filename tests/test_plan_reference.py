"""Speed work must not change answers: the plans for a fixed set of queries
(tests/plan_reference.py) equal the ones the program gave before the speed-ups,
apart from wall-clock fields. The reference was written by the program before
the change, an oracle independent of the code under test."""

import json

import pytest

from tests.plan_reference import QUERIES, REFERENCE, answer

REF = json.loads(REFERENCE.read_text())


def test_reference_covers_every_query():
    assert sorted(REF) == sorted(name for name, _ in QUERIES)


@pytest.mark.parametrize("name,args", QUERIES, ids=[q[0] for q in QUERIES])
def test_plan_is_unchanged(name, args):
    got = answer(args)
    want = REF[name]
    assert got["exit_code"] == want["exit_code"], got
    # compare whole documents; on failure name the first differing path
    assert got["json"] == want["json"], f"{name}: first difference at {_first_diff(got['json'], want['json'])}"


def _first_diff(a, b, path="$"):
    if type(a) is not type(b):
        return f"{path}: {a!r} != {b!r}"
    if isinstance(a, dict):
        for k in sorted(set(a) | set(b)):
            if k not in a or k not in b:
                return f"{path}.{k}: only in {'got' if k in a else 'reference'}"
            if a[k] != b[k]:
                return _first_diff(a[k], b[k], f"{path}.{k}")
    if isinstance(a, list):
        if len(a) != len(b):
            return f"{path}: {len(a)} items != {len(b)}"
        for i, (x, y) in enumerate(zip(a, b)):
            if x != y:
                return _first_diff(x, y, f"{path}[{i}]")
    return f"{path}: {a!r} != {b!r}"
