"""Results as they finish: Parquet parts plus an index, next to the output file.

    results.parquet            the merged table (written at the end, atomically)
    results.parquet.parts/
        index.json             study fingerprint, and which part holds which scenario ids
        part-000001.parquet    rows, one part per flush

Every file is written to a temporary name, fsynced and renamed, so a part or
the index is either whole or absent. A part is written before the index names
it; a part the index does not name (the process died between the two) is read
back and adopted on restart, so no finished scenario is lost or run twice.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from ...inputs.errors import InputError
from ...inputs.safeio import atomic_write

from .columns import NAMES, SCHEMA_VERSION, arrow_schema

INDEX = "index.json"
FLUSH_ROWS = 64  # rows per part, at most
FLUSH_S = 5.0  # a part at least this often while results arrive


def parts_dir(out: Path) -> Path:
    return out.with_name(out.name + ".parts")


def parquet_bytes(table) -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq

    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    return sink.getvalue().to_pybytes()


class Store:
    """The results folder of one study; ``done`` maps scenario id -> part name."""

    def __init__(self, out: Path, fingerprint: str, study_name: str, restart: bool = False,
                 flush_rows: int = FLUSH_ROWS, flush_s: float = FLUSH_S):
        self.out, self.dir = out, parts_dir(out)
        self.fingerprint, self.study_name = fingerprint, study_name
        self.flush_rows, self.flush_s = flush_rows, flush_s
        self.buffer: list[dict[str, Any]] = []
        self.last_flush = time.monotonic()
        self.parts: dict[str, list[str]] = {}
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise InputError(f"--out {out}: cannot create {self.dir} ({exc.strerror})") from None
        self._lock()
        if restart:
            for p in self.dir.glob("*.parquet"):
                p.unlink()
            (self.dir / INDEX).unlink(missing_ok=True)
        self._load()

    def _lock(self) -> None:
        """One sweep per results folder: a second one would run the same scenarios.
        The lock is the kernel's (flock), so a killed sweep does not leave it held."""
        try:
            import fcntl
        except ImportError:  # not POSIX: no lock
            return
        self._lock_file = open(self.dir / "lock", "w")
        try:
            fcntl.flock(self._lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            self._lock_file.close()
            raise InputError(f"--out {self.out}: another planner sweep is writing to {self.dir}") from None

    # ---- reading what is there
    def _load(self) -> None:
        import pyarrow.parquet as pq

        index = self.dir / INDEX
        if index.exists():
            try:
                data = json.loads(index.read_text())
            except (OSError, ValueError) as exc:
                raise InputError(f"{index}: unreadable results index ({exc}); rerun with --restart") from None
            if data.get("fingerprint") != self.fingerprint:
                raise InputError(
                    f"--out {self.out}: {self.dir} holds results of a different study "
                    f"({data.get('study')!r}, {len(data.get('parts', {}))} parts): use another --out, or --restart to discard them"
                )
            self.parts = {k: list(v) for k, v in data.get("parts", {}).items() if (self.dir / k).exists()}
        for tmp in self.dir.glob(".*.tmp"):  # left by a kill mid-write (atomic_write's temporary names)
            tmp.unlink()
        adopted = False
        for part in sorted(self.dir.glob("part-*.parquet")):
            if part.name not in self.parts:  # written, but the index was not updated before a kill
                ids = pq.read_table(part, columns=["scenario_id"]).column("scenario_id").to_pylist()
                self.parts[part.name] = ids
                adopted = True
        if adopted or not index.exists():
            self._write_index()
        self.done = {sid: name for name, ids in self.parts.items() for sid in ids}
        if len(self.done) != sum(len(v) for v in self.parts.values()):
            raise RuntimeError(f"{self.dir}: a scenario appears in two parts; the results folder is corrupt")

    def _write_index(self) -> None:
        body = {"schema_version": SCHEMA_VERSION, "study": self.study_name, "fingerprint": self.fingerprint, "parts": self.parts}
        atomic_write(self.dir / INDEX, json.dumps(body, sort_keys=True), flag="--out")

    # ---- writing as results arrive
    def add(self, row: dict[str, Any]) -> None:
        if row["scenario_id"] in self.done:
            raise RuntimeError(f"scenario {row['scenario_id']} finished twice")
        self.buffer.append(row)
        self.done[row["scenario_id"]] = ""
        if len(self.buffer) >= self.flush_rows or time.monotonic() - self.last_flush >= self.flush_s:
            self.flush()

    def flush(self) -> None:
        import pyarrow as pa

        self.last_flush = time.monotonic()
        if not self.buffer:
            return
        seq = 1 + max((int(n[5:11]) for n in self.parts), default=0)
        name = f"part-{seq:06d}.parquet"
        table = pa.Table.from_pylist(self.buffer, schema=arrow_schema())
        atomic_write(self.dir / name, parquet_bytes(table), flag="--out")
        self.parts[name] = [r["scenario_id"] for r in self.buffer]
        for sid in self.parts[name]:
            self.done[sid] = name
        self._write_index()
        self.buffer = []

    # ---- the merged table
    def merge(self, ids_in_order: list[str]):
        """Write ``out``: one row per scenario of the study, in study order."""
        import pyarrow as pa
        import pyarrow.compute as pc
        import pyarrow.parquet as pq

        self.flush()
        tables = [pq.read_table(self.dir / name, schema=arrow_schema()) for name in sorted(self.parts)]
        table = pa.concat_tables(tables) if tables else arrow_schema().empty_table()
        got = table.column("scenario_id").to_pylist()
        if sorted(got) != sorted(ids_in_order) or len(set(got)) != len(got):
            raise RuntimeError(f"{self.dir}: results do not cover the study exactly once ({len(got)} rows, {len(ids_in_order)} scenarios)")
        table = table.take(pc.sort_indices(table, sort_keys=[("scenario_index", "ascending")]))
        meta = {"study": self.study_name, "fingerprint": self.fingerprint, "columns_version": SCHEMA_VERSION}
        table = table.replace_schema_metadata({"rack_planner.sweep": json.dumps(meta, sort_keys=True)})
        atomic_write(self.out, parquet_bytes(table), flag="--out")
        return table


__all__ = ["Store", "parts_dir", "parquet_bytes", "NAMES"]
