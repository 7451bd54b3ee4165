"""A small, safe expression language for study filters.

    filter: "gpus_total <= 64 and not (workload == 'deepseek-v3' and isl > 8192)"

The text is parsed with :mod:`ast` and walked here node by node; nothing is
handed to ``eval``. Allowed: names of scenario fields, numbers, strings,
``None``/``true``/``false``, lists/tuples of constants (for ``in``),
``and``/``or``/``not``, comparisons (``== != < <= > >= in not in``), and
arithmetic ``+ - * /`` on numbers. Anything else (calls, attributes,
subscripts, lambdas, comprehensions) is rejected when the study is read.
"""

from __future__ import annotations

import ast
import operator
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

MAX_CHARS = 2000  # a filter is a line or two, not a program
MAX_NODES = 400

_CMP = {
    ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt, ast.LtE: operator.le,
    ast.Gt: operator.gt, ast.GtE: operator.ge,
    ast.In: lambda a, b: a in b, ast.NotIn: lambda a, b: a not in b,
}
_ARITH = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv}
_CONST_NAMES = {"true": True, "false": False, "True": True, "False": False, "None": None, "null": None}


class ExprError(ValueError):
    """A filter that is not in the allowed language, or fails on a scenario."""


@dataclass(frozen=True)
class Expr:
    text: str
    tree: ast.Expression

    def __call__(self, env: Mapping[str, Any]) -> bool:
        value = _eval(self.tree.body, env)
        if not isinstance(value, bool):
            raise ExprError(f"evaluates to {value!r}, not true/false")
        return value


def parse(text: str, names: Iterable[str]) -> Expr:
    """Parse and check ``text``; ``names`` are the fields a filter may mention."""
    if len(text) > MAX_CHARS:
        raise ExprError(f"longer than {MAX_CHARS} characters")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as exc:
        raise ExprError(f"syntax error at column {exc.offset or 0}: {exc.msg}") from None
    known = set(names)
    count = 0
    for node in ast.walk(tree):
        count += 1
        if count > MAX_NODES:
            raise ExprError(f"more than {MAX_NODES} terms")
        _check(node, known)
    return Expr(text, tree)


def _check(node: ast.AST, known: set[str]) -> None:
    allowed = (
        ast.Expression, ast.BoolOp, ast.And, ast.Or, ast.UnaryOp, ast.Not, ast.USub, ast.UAdd,
        ast.Compare, ast.BinOp, ast.Constant, ast.Name, ast.Load, ast.Tuple, ast.List,
        *_CMP, *_ARITH,
    )
    if not isinstance(node, allowed):
        raise ExprError(f"{type(node).__name__.lower()} is not allowed (only fields, constants, and/or/not, comparisons, + - * /)")
    if isinstance(node, ast.Name) and node.id not in known and node.id not in _CONST_NAMES:
        import difflib

        close = difflib.get_close_matches(node.id, sorted(known), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else f"; known: {', '.join(sorted(known))}"
        raise ExprError(f"unknown field {node.id!r}{hint}")
    if isinstance(node, ast.Constant) and not isinstance(node.value, (int, float, str, bool, type(None))):
        raise ExprError(f"constant {node.value!r} is not allowed")
    if isinstance(node, (ast.Tuple, ast.List)) and not all(isinstance(e, (ast.Constant, ast.UnaryOp)) for e in node.elts):
        raise ExprError("lists may hold only constants")


def _eval(node: ast.AST, env: Mapping[str, Any]) -> Any:
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Name):
        return env[node.id] if node.id in env else _CONST_NAMES[node.id]
    if isinstance(node, (ast.Tuple, ast.List)):
        return tuple(_eval(e, env) for e in node.elts)
    if isinstance(node, ast.BoolOp):
        if isinstance(node.op, ast.And):
            return all(_truth(_eval(v, env)) for v in node.values)
        return any(_truth(_eval(v, env)) for v in node.values)
    if isinstance(node, ast.UnaryOp):
        v = _eval(node.operand, env)
        if isinstance(node.op, ast.Not):
            return not _truth(v)
        _number(v, "unary minus")
        return -v if isinstance(node.op, ast.USub) else v
    if isinstance(node, ast.BinOp):
        a, b = _eval(node.left, env), _eval(node.right, env)
        _number(a, "arithmetic")
        _number(b, "arithmetic")
        if isinstance(node.op, ast.Div) and b == 0:
            raise ExprError("division by zero")
        return _ARITH[type(node.op)](a, b)
    if isinstance(node, ast.Compare):
        left = _eval(node.left, env)
        for op, right_node in zip(node.ops, node.comparators):
            right = _eval(right_node, env)
            try:
                ok = _CMP[type(op)](left, right)
            except TypeError:
                raise ExprError(f"cannot compare {left!r} with {right!r}") from None
            if not ok:
                return False
            left = right
        return True
    raise ExprError(f"{type(node).__name__} is not allowed")  # unreachable after _check


def _truth(v: Any) -> bool:
    if not isinstance(v, bool):
        raise ExprError(f"{v!r} is not true/false (use a comparison)")
    return v


def _number(v: Any, what: str) -> None:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise ExprError(f"{what} needs numbers, got {v!r}")
