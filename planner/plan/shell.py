"""The one way a word reaches a shell script the planner prints (``planner
export``): shlex.quote for everything, except the planner's own placeholders
``$MODEL`` and ``${HOST_<n>}``, which are written in double quotes so the shell
expands them without splitting or globbing. Here-documents escape all other
expansions; a user's ``--model`` is checked and always quoted as data."""

from __future__ import annotations

import re
import shlex

from ..inputs.errors import InputError

# The only text the shell may expand: the $MODEL and ${HOST_<n>} placeholders the
# planner itself writes. Everything else is quoted by shlex.quote.
_PLACEHOLDER = re.compile(r"\$MODEL(?![A-Za-z0-9_])|\$\{HOST_[0-9]+\}")
_EOF = "PLANNER_EOF"
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _q(word: str, literal: bool = False) -> str:
    """One shell word that the shell reads back as ``word``: literal text through
    shlex.quote, placeholders in double quotes (expanded, never split or globbed).
    ``literal``: the word is data (a user's --model) even if it looks like one."""
    word = str(word)
    if literal:
        return shlex.quote(word)
    parts, pos = [], 0
    for m in _PLACEHOLDER.finditer(word):
        if m.start() > pos:
            parts.append(shlex.quote(word[pos:m.start()]))
        parts.append(f'"{m.group()}"')
        pos = m.end()
    if pos < len(word) or not parts:
        parts.append(shlex.quote(word[pos:]))
    return "".join(parts)


def _env_name(name: str) -> str:
    if not _ENV_NAME.match(name):
        raise InputError(f"engine_flags.yaml: {name!r} is not an environment variable name")
    return name


def _heredoc(text: str) -> str:
    """A here-document body that writes ``text``: with placeholders, the shell's
    other expansions (``$``, backquote, backslash) are escaped so only the
    placeholders expand; without, the delimiter is quoted and nothing expands."""
    text = text.rstrip()
    if _EOF in text.splitlines():
        raise InputError("export: a file body holds the here-document delimiter")
    if not _PLACEHOLDER.search(text):
        return text
    out, pos = [], 0
    esc = lambda t: t.replace("\\", "\\\\").replace("$", "\\$").replace("`", "\\`")  # noqa: E731
    for m in _PLACEHOLDER.finditer(text):
        out += [esc(text[pos:m.start()]), m.group()]
        pos = m.end()
    out.append(esc(text[pos:]))
    return "".join(out)


def check_model(model: str) -> str:
    """A --model value: any path or id, but not an engine option (leading '-')
    and without control characters (a newline would end the shell command)."""
    import unicodedata

    if not model.strip():
        raise InputError("--model: give a checkpoint path or Hugging Face id")
    if model.startswith("-"):
        raise InputError("--model must not start with '-' (the engine would read it as an option); prefix a path with ./")
    if any(unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp") for ch in model):
        raise InputError("--model must not contain control characters (newlines, escapes)")
    return model
