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
