"""The measured kernel tables the physics is scored against (tests/data/*.csv):
comment lines start with ``#``, then a CSV header and rows. They ship with the
source tree, not with the installed package."""

from __future__ import annotations

import csv
from functools import lru_cache
from pathlib import Path

from ..inputs.errors import InputError


@lru_cache(maxsize=None)
def read_rows(path: Path, what: str) -> tuple[dict, ...]:
    """The rows of one table, read once (callers do not modify them); ``what`` names
    the table in the one-line error when the file is absent."""
    if not path.is_file():
        raise InputError(f"{path}: the {what} table ships with the source tree (tests/data), not with the installed package")
    with open(path, newline="") as fh:
        return tuple(csv.DictReader(line for line in fh if not line.startswith("#")))
