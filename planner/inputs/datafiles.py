"""Finding and reading the shipped YAML data files (topologies, workloads, hardware).

A name like ``gb200-nvl72`` resolves to the shipped file; anything that looks
like a path (has a suffix or a separator) is read from disk.
"""

from __future__ import annotations

import copy
import hashlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from .errors import InputError

_PKG = Path(__file__).resolve().parent.parent  # the planner package


def data_dir(kind: str) -> Path:
    """The shipped folder for ``kind`` (topologies, workloads, hardware)."""
    installed = _PKG / "_data" / kind
    if installed.is_dir():
        return installed
    return _PKG.parent / kind  # editable install / source checkout


def shipped_names(kind: str, sub: str = "") -> list[str]:
    folder = data_dir(kind) / sub if sub else data_dir(kind)
    return sorted(p.stem for p in folder.glob("*.yaml"))


@dataclass(frozen=True)
class LoadedFile:
    path: Path
    data: dict[str, Any]
    sha256: str


def _looks_like_path(ref: str) -> bool:
    return "/" in ref or "\\" in ref or ref.endswith((".yaml", ".yml", ".json"))


def resolve(kind: str, ref: str, sub: str = "") -> Path:
    """Path of a shipped name or a user path; one-line error if neither exists."""
    if _looks_like_path(ref):
        path = Path(ref)
        if not path.exists():
            raise InputError(f"{ref}: no such file")
        return path  # not a regular file: refused by read_text, before any read
    folder = data_dir(kind) / sub if sub else data_dir(kind)
    path = folder / f"{ref}.yaml"
    if not path.is_file():
        names = shipped_names(kind, sub)
        hint = _closest(ref, names)
        label = sub.rstrip("s") if sub else {"topologies": "topology"}.get(kind, kind.rstrip("s"))
        raise InputError(
            f"unknown {label} {ref!r}{hint}; shipped: {', '.join(names)} (or give a path to a YAML file)"
        )
    return path


def _closest(ref: str, names: list[str]) -> str:
    import difflib

    close = difflib.get_close_matches(ref, names, n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def read_text(path: Path, shown: str | Path | None = None) -> tuple[str, bytes]:
    """A file's UTF-8 text and raw bytes; one-line error naming the file."""
    from .safeio import read_bytes

    shown = path if shown is None else shown
    raw = read_bytes(path, shown)
    try:
        return raw.decode("utf-8"), raw
    except UnicodeDecodeError:
        raise InputError(f"{shown}: not UTF-8 text") from None


def read_json(path: Path, shown: str | Path | None = None, top: str = "a JSON object") -> tuple[dict[str, Any], bytes]:
    """A JSON object and its raw bytes; one-line error naming the file (and ``top``,
    what the top level should be, when it is not an object)."""
    import json

    shown = path if shown is None else shown
    from .safeio import check_json_depth

    text, raw = read_text(path, shown)
    check_json_depth(text, shown)
    try:
        data = json.loads(text, parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        raise InputError(f"{shown}: malformed JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}") from None
    except _NonFinite as exc:
        raise InputError(f"{shown}: {exc.args[0]} is not a JSON number; write a finite number") from None
    except ValueError:  # an integer literal longer than Python converts
        raise InputError(f"{shown}: a number too long to read") from None
    if not isinstance(data, dict):
        raise InputError(f"{shown}: expected {top} at the top level, got {type(data).__name__}")
    return data, raw


class _NonFinite(ValueError):
    pass


def _no_constant(name: str):
    raise _NonFinite(name)


def read_yaml(path: Path) -> LoadedFile:
    """Read a YAML (or JSON) mapping safely; one-line error naming the file.

    The file is read every time, but the same bytes are parsed once per process
    (``compare``, ``frontier`` and ``fleet`` read the same accelerator and
    efficiency files for every topology); each caller gets its own copy."""
    text, raw = read_text(path)
    sha = hashlib.sha256(raw).hexdigest()
    data = copy.deepcopy(_parse_yaml(str(path), sha, text))
    return LoadedFile(path=path, data=data, sha256=sha)


_BAD_TAG = "a value its explicit tag (!!int, !!float, !!bool, !!timestamp, ...) cannot hold; drop the tag or fix the value"


@lru_cache(maxsize=256)
def _parse_yaml(path: str, sha256: str, text: str) -> dict[str, Any]:
    """The mapping in ``text`` (keyed on path and content hash; errors are not cached)."""
    from . import yaml_read

    yaml_read.check_depth(text, path)
    try:
        data = yaml_read.load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise InputError(f"{path}: malformed YAML{where}: {problem}") from None
    except ValueError as exc:
        if "limit" in str(exc):  # an integer literal longer than Python converts
            raise InputError(f"{path}: a number too long to read") from None
        raise InputError(f"{path}: malformed YAML: {_BAD_TAG}") from None
    except (IndexError, KeyError, AttributeError, TypeError):  # PyYAML's constructors on e.g. "!!bool x"
        raise InputError(f"{path}: malformed YAML: {_BAD_TAG}") from None
    if not isinstance(data, dict):
        raise InputError(f"{path}: expected a mapping of fields at the top level, got {type(data).__name__}")
    return data
