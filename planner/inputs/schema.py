"""File schemas: pydantic models that reject unknown keys and out-of-range values.

``validate`` turns a pydantic error into one line naming the file, the field
path, what was expected and (for a misspelt key) the closest known key.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from .errors import InputError, one_line, shown_value

M = TypeVar("M", bound=BaseModel)


class Strict(BaseModel):
    """Base for file schemas: unknown keys are errors, models are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


def given(*fields: str) -> dict[str, Any]:
    """JSON Schema fragment: ``fields`` are present and not null. Models use it in
    ``json_schema_extra`` to publish the cross-field rules their validators check,
    so an editor and the loader give the same verdict."""
    return {"required": list(fields), "properties": {f: {"not": {"type": "null"}} for f in fields}}


def _fields_at(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    """Known field names of the sub-model that ``loc`` points into."""
    current: Any = model
    for part in loc[:-1]:
        if isinstance(part, int):  # a list index: same sub-model
            continue
        fields = getattr(current, "model_fields", None)
        if not fields or not isinstance(part, str) or part not in fields:
            return []
        annotation = fields[part].annotation
        for candidate in getattr(annotation, "__args__", ()) + (annotation,):
            if isinstance(candidate, type) and issubclass(candidate, BaseModel):
                current = candidate
                break
        else:
            return []
    fields = getattr(current, "model_fields", None)
    return list(fields) if fields else []


def _model_in(annotation: Any) -> Any:
    for candidate in getattr(annotation, "__args__", ()) + (annotation,):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    return None


def _clean_loc(model: type[BaseModel], loc: tuple[Any, ...], unknown_key: bool = False) -> tuple[Any, ...]:
    """The error location as the file's field path: pydantic inserts a tag for the
    member of a union it tried (``str``, ``function-after[..., AcceleratorFile]``);
    a user never wrote those, so they are dropped. ``unknown_key``: the last part is
    a key the user wrote that the model does not know."""
    out: list[Any] = []
    current: Any = model
    for k, part in enumerate(loc):
        fields = getattr(current, "model_fields", None) if current is not None else None
        if fields is None or (unknown_key and k == len(loc) - 1):
            out.append(part)
            current = None if fields is None else current
        elif isinstance(part, str) and part in fields:
            out.append(part)
            current = _model_in(fields[part].annotation)
        elif isinstance(part, int):  # an index into a list of sub-models
            out.append(part)
        # else: a union-member tag; skip it
    return tuple(out)


def _pick(errors: list[dict[str, Any]]) -> tuple[dict[str, Any], int]:
    """The error to report, and how many other real ones there are. A misspelt key
    also makes the real one "missing": report the misspelling. A union reports every
    member's complaint: a mapping given to a field that is "a name or a mapping" is
    not a bad string."""
    real = [e for e in errors if not (str(e.get("type", "")).endswith("_type") and isinstance(e.get("input"), (dict, list)))]
    real = real or errors
    extra = [e for e in real if e.get("type") == "extra_forbidden"]
    return (extra or real)[0], len(real) - 1


def validate(model: type[M], data: dict[str, Any], path: Path | str) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors()
        err, others = _pick(errors)
        loc = _clean_loc(model, tuple(err.get("loc", ())), err.get("type") == "extra_forbidden")
        field = one_line("".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc).lstrip("."), 120) or "(top level)"
        if err.get("type") == "extra_forbidden":
            known = _fields_at(model, loc)
            close = difflib.get_close_matches(str(loc[-1]), known, n=1) if loc else []
            hint = f"; did you mean {close[0]!r}?" if close else (f"; known: {', '.join(known)}" if known else "")
            raise InputError(f"{path}: unknown field {field!r}{hint}") from None
        if err.get("type") == "missing":
            raise InputError(f"{path}: missing required field {field!r}") from None
        msg = str(err.get("msg", "invalid value")).removeprefix("Value error, ")
        value = err.get("input")
        shown = "" if isinstance(value, (dict, list)) else f" (got {shown_value(value)})"
        more = f" (+{others} more)" if others else ""
        where = f"field {field!r}: " if loc else ""
        raise InputError(f"{path}: {where}{msg}{shown}{more}") from None
