"""File schemas: pydantic models that reject unknown keys and out-of-range values.

``validate`` turns a pydantic error into one line naming the file, the field
path, what was expected and (for a misspelt key) the closest known key.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from .errors import InputError

M = TypeVar("M", bound=BaseModel)


class Strict(BaseModel):
    """Base for file schemas: unknown keys are errors, models are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def _fields_at(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    """Known field names of the sub-model that ``loc`` points into."""
    current: Any = model
    for part in loc[:-1]:
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


def validate(model: type[M], data: dict[str, Any], path: Path | str) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = tuple(err.get("loc", ()))
        field = ".".join(str(p) for p in loc) or "(top level)"
        if err.get("type") == "extra_forbidden":
            known = _fields_at(model, loc)
            close = difflib.get_close_matches(str(loc[-1]), known, n=1) if loc else []
            hint = f"; did you mean {close[0]!r}?" if close else (f"; known: {', '.join(known)}" if known else "")
            raise InputError(f"{path}: unknown field {field!r}{hint}") from None
        if err.get("type") == "missing":
            raise InputError(f"{path}: missing required field {field!r}") from None
        msg = err.get("msg", "invalid value")
        value = err.get("input")
        shown = "" if isinstance(value, (dict, list)) else f" (got {value!r})"
        more = f" (+{len(exc.errors()) - 1} more)" if len(exc.errors()) > 1 else ""
        raise InputError(f"{path}: field {field!r}: {msg}{shown}{more}") from None
