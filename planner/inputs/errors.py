"""Errors a user can cause. The CLI turns each into one line and an exit code."""

from __future__ import annotations


class PlannerError(Exception):
    """Base class: a message fit to show a user as one line."""

    exit_code = 2


class InputError(PlannerError):
    """A malformed file, an unknown name, a value out of range (exit 2)."""

    exit_code = 2


class InfeasibleError(PlannerError):
    """Nothing satisfies the limits; the message names the binding one (exit 3)."""

    exit_code = 3


class TimeLimitError(PlannerError):
    """The time limit ended the search before any plan or any proof (exit 4)."""

    exit_code = 4


def one_line(text: object, limit: int = 400) -> str:
    """``text`` fit for one line of a terminal: control and format characters
    (newlines, escapes, bidi overrides) become spaces, runs of space collapse, and
    anything past ``limit`` characters is cut. Every message the CLI prints goes
    through here, so no input can split an error or inject terminal codes."""
    import unicodedata

    cleaned = "".join(" " if unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp", "Cs", "Co", "Cn") else ch for ch in str(text))
    cleaned = " ".join(cleaned.split())
    return cleaned if len(cleaned) <= limit else cleaned[: limit - 3] + "..."


def shown_value(value: object) -> str:
    """How an error shows a value read from a file: numbers, booleans and null as
    written; anything else only by its type, so that an error never repeats a
    file's contents (a credentials file read by mistake stays unprinted)."""
    if value is None or isinstance(value, (bool, int, float)):
        text = repr(value)
        return text if len(text) <= 40 else f"a {len(text)}-digit number"
    kind = {str: "a string", list: "a list", dict: "a mapping"}.get(type(value), type(value).__name__)
    return kind
