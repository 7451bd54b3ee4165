"""Data files are read with libyaml when PyYAML has it (about ten times faster
than the pure-Python parser). The oracle is PyYAML's pure-Python SafeLoader,
which the planner used before: every shipped file must give the same values,
and any text, well-formed or not, the same value or the same one-line error."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from planner.inputs.datafiles import _parse_yaml
from planner.inputs.errors import InputError
from planner.inputs.safeio import MAX_NESTING
from planner.inputs.yaml_read import load as load_yaml, loaders

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = sorted(
    p for folder in ("topologies", "workloads", "hardware", "models", "examples", "planner", "tests/data")
    for p in (ROOT / folder).rglob("*.yaml")
)
FUZZ = settings(max_examples=150, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
NASTY_BYTES = list(":-[]{}\t\n #&*!|>'\"%@`,?") + ["\x00", "\x85", "\ufeff", "\u2028", "é"]


def _reference(text: str):
    """What reading ``text`` gave with the pure-Python parser only: the value, or
    the error line (depth and alias checks first, as the planner does)."""
    depth = 0
    try:
        for event in yaml.parse(text, Loader=yaml.SafeLoader):
            if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
                depth += 1
                if depth > MAX_NESTING:
                    return "nested"
            elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
                depth -= 1
            elif isinstance(event, yaml.AliasEvent):
                return "alias"
    except yaml.YAMLError:
        pass
    try:
        return yaml.load(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        return ("error", mark.line if mark else None, mark.column if mark else None, getattr(exc, "problem", None))
    except ValueError as exc:
        return "too long" if "limit" in str(exc) else "bad tag"
    except (IndexError, KeyError, AttributeError, TypeError):  # PyYAML's constructors on e.g. "!!bool x"
        return "bad tag"


def _planner(text: str):
    """The same outcome through the planner's reader (libyaml first)."""
    try:
        return _parse_yaml.__wrapped__("f.yaml", "", text)
    except InputError as exc:
        line = str(exc)
        if "nested deeper" in line:
            return "nested"
        if "aliases" in line:
            return "alias"
        if "too long" in line:
            return "too long"
        if "explicit tag" in line:
            return "bad tag"
        if "expected a mapping" in line:
            return _reference(text)  # the value was read; the planner only refuses its type
        return ("message", line)


def _same(text: str) -> None:
    got, want = _planner(text), _reference(text)
    if isinstance(got, tuple) and got[0] == "message":
        kind, line, column, problem = want
        where = f" at line {line + 1}, column {column + 1}" if line is not None else ""
        assert got[1] == f"f.yaml: malformed YAML{where}: {problem or 'invalid YAML'}", (text, got, want)
    else:
        assert repr(got) == repr(want), (text, got, want)


def test_libyaml_is_used_when_present():
    """Not a check of speed: that the fast path exists where PyYAML was built with it."""
    if not getattr(yaml, "__with_libyaml__", False):
        pytest.skip("PyYAML without libyaml: the pure-Python loader is the only one")
    assert loaders("a: 1\nb: >-\n  text\n") == (yaml.CSafeLoader, yaml.SafeLoader)
    for text in ("a:\t1\n", "a: |#x\n  b\n", "a: [1?2]\n", "a: !\n"):
        assert loaders(text) == (yaml.SafeLoader,), text


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_shipped_file_reads_the_same_as_with_the_pure_python_parser(path):
    text = path.read_text(encoding="utf-8")
    assert repr(load_yaml(text)) == repr(yaml.load(text, Loader=yaml.SafeLoader))


@pytest.mark.parametrize("text", [
    "name: x\nmodel: {n_layers: 3\nslo: [\n",  # unclosed flow
    "a: 1\n b: 2\n",  # bad indentation
    "a: b: c\n",  # mapping value where none may be
    "a: !!python/object/apply:os.system ['true']\n",  # unsafe tag
    "a: &x 1\nb: *x\n",  # alias
    "[" * (MAX_NESTING + 1) + "]" * (MAX_NESTING + 1),  # too deep
    "a: 1\na: 2\n",  # duplicate key: the last wins, as before
    "a: 0x1F\nb: 1_000\nc: .inf\nd: 2001-12-14\ne: yes\nf: ~\ng: 1e3\n",  # YAML 1.1 scalars
    "a: " + "9" * 5000 + "\n",  # an integer longer than Python converts
    "a: !!bool x\n", "a: !!int\n", "a: !!float x\n", "a: !!timestamp 2001-13-45\n",  # tags PyYAML cannot build
    "a:\t1\n",
    "\ufeffa: 1\n",
    "a: \x00\n",
    "- 1\n- 2\n",
    "",
])
def test_hand_picked_texts_read_the_same(text):
    _same(text)


@pytest.mark.parametrize("value", ["!!bool x", "!!int", "!!int '-'", "!!float x", "!!float ''", "!!timestamp x"])
def test_a_value_its_tag_cannot_hold_is_a_one_line_error(value):
    """PyYAML's constructors raise KeyError, IndexError, AttributeError or
    ValueError on these; each is a malformed file, not a crash."""
    with pytest.raises(InputError, match=r"^f\.yaml: malformed YAML: a value its explicit tag"):
        _parse_yaml.__wrapped__("f.yaml", "", f"name: {value}\n")


@FUZZ
@given(data=st.data())
def test_corrupted_shipped_text_gives_the_same_value_or_error(data):
    text = list(data.draw(st.sampled_from(SHIPPED)).read_text(encoding="utf-8")[:1500])
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(0, len(text) - 1))
        op = data.draw(st.sampled_from(["delete", "insert", "replace"]))
        char = data.draw(st.sampled_from(NASTY_BYTES))
        if op == "delete":
            del text[i]
        elif op == "insert":
            text.insert(i, char)
        else:
            text[i] = char
    _same("".join(text))
