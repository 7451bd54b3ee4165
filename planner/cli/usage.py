"""One error style for the whole CLI: click's own usage errors (unknown option,
bad value, missing option or command) become one ``error:`` line naming the
command, the flag and where the fix is documented, like every PlannerError.
Installed as the ``planner`` group's class, so every way of running the app
(console script, ``python -m planner.cli``, typer's CliRunner) gets it."""

from __future__ import annotations

import sys

import typer
from typer.core import TyperGroup

from ..inputs.errors import PlannerError, one_line


def _is_usage_error(exc: BaseException) -> bool:
    """click's (or typer's vendored click's) own exceptions: usage errors, bad
    parameter values, missing options, aborts. Matched by module, since typer
    vendors click under a private name."""
    module = type(exc).__module__ or ""
    return module.split(".")[0] in ("click", "typer") and hasattr(exc, "format_message")


def usage_line(exc: BaseException) -> str:
    """click's usage errors (unknown option, bad value, missing option or command)
    as one line naming the command, the flag and where the fix is documented."""
    ctx = getattr(exc, "ctx", None)
    where = ctx.command_path if ctx is not None else "planner"
    if type(exc).__name__ == "NoArgsIsHelpError":
        return f"{where}: give a command (plan, evaluate, compare, fleet, export, ...); see '{where} --help'"
    message = exc.format_message().rstrip(".")
    return one_line(f"{where}: {message[:1].lower()}{message[1:]}; see '{where} --help'")


class OneLineGroup(TyperGroup):
    """The ``planner`` group: every error a user can cause, including click's own
    usage errors, is printed as one ``error:`` line with exit 2 (PlannerError:
    its own code) instead of click/typer's multi-line usage box."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        try:
            rv = super().main(args=args, prog_name="planner", complete_var=complete_var, standalone_mode=False, **extra)
            code = rv if isinstance(rv, int) and not isinstance(rv, bool) else 0
        except PlannerError as exc:
            typer.echo(f"error: {one_line(exc)}", err=True)
            code = exc.exit_code
        except Exception as exc:
            if _is_usage_error(exc):
                typer.echo(f"error: {usage_line(exc)}", err=True)
                code = int(getattr(exc, "exit_code", 2) or 2)
            elif type(exc).__name__ == "Abort" and (type(exc).__module__ or "").split(".")[0] in ("click", "typer"):
                typer.echo("error: aborted", err=True)
                code = 1
            else:
                raise
        if standalone_mode:
            sys.exit(code)
        return code
