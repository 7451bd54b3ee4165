"""Reading YAML text: libyaml's parser when it is safe to, PyYAML's pure-Python
parser otherwise, with the same values and the same errors either way.

libyaml parses about ten times faster (a default plan reads five data files).
Both loaders build values with SafeLoader's constructor and resolver, so a text
both accept gives the same values; they differ only in what they accept:
libyaml takes some text the pure-Python parser refuses (a tab after ``key:``,
``?`` inside a flow scalar, a comment glued to a block scalar header, a bare
``!`` tag). :func:`loaders` sends text with any of those features to the pure
parser alone, and any error from libyaml is re-read by the pure parser, which
reports it. So every file reads exactly as it did before libyaml was used
(tests/test_yaml_loading.py checks this against the pure parser as oracle).

Nesting and aliases are refused before anything composes the text
(:func:`check_depth`): PyYAML composes recursively, so deep input would raise
RecursionError, and an alias shares a node, so a few lines could stand for
exponentially many (billion laughs).
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from .errors import InputError
from .safeio import MAX_NESTING

# characters on which the two parsers part ways (see the module docstring)
_DIFFERS = "?!\t\r\x85\u2028\u2029\ufeff"
# a block scalar header (| or > after "key:", "- " or at a line start) and the rest of its line
_BLOCK_HEADER = re.compile(r"(?:^|[:-])[ ]*[|>]([^\n]*)", re.MULTILINE)
_PLAIN_HEADER = re.compile(r"[-+]?[ ]*")


def loaders(text: str) -> tuple:
    """The loaders to try for ``text``, fastest first: libyaml's (when PyYAML was
    built with it and ``text`` has none of the features the parsers differ on),
    then the pure-Python one."""
    fast = getattr(yaml, "CSafeLoader", None)
    if fast is None or any(c in text for c in _DIFFERS):
        return (yaml.SafeLoader,)
    if any(not _PLAIN_HEADER.fullmatch(m.group(1)) for m in _BLOCK_HEADER.finditer(text)):
        return (yaml.SafeLoader,)
    return (fast, yaml.SafeLoader)


def load(text: str):
    """``text``'s YAML document, read safely (no tags that build objects). An error
    from libyaml is not reported as is: the pure-Python loader reads the text
    again and decides."""
    *fast, pure = loaders(text)
    for loader in fast:
        try:
            return yaml.load(text, Loader=loader)
        except yaml.YAMLError:
            break
    return yaml.load(text, Loader=pure)


def check_depth(text: str, shown: str | Path) -> None:
    """Refuse YAML nested deeper than MAX_NESTING or using aliases, before composing
    it, by walking the parser's event stream (iterative). Malformed text is left
    to :func:`load`, which reports where, naming the file."""
    for loader in loaders(text):
        try:
            _walk(yaml.parse(text, Loader=loader), shown)
            return
        except yaml.YAMLError:
            continue  # malformed for this parser: the next one decides


def _walk(events, shown: str | Path) -> None:
    depth = 0
    for event in events:
        if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
            depth += 1
            if depth > MAX_NESTING:
                raise InputError(f"{shown}: nested deeper than {MAX_NESTING} levels")
        elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
            depth -= 1
        elif isinstance(event, yaml.AliasEvent):
            raise InputError(f"{shown}: YAML aliases (*name) are not supported; write the values out")
