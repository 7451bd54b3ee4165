"""Bounded reads and atomic writes: the only way the planner touches user files.

Reading: a file must be a regular file (a FIFO or a device would block or never
end) no larger than ``MAX_INPUT_BYTES``, and its nesting (YAML or JSON) no
deeper than ``MAX_NESTING``, checked by a linear scan (YAML: yaml_read.py) before any recursive
parser sees it. Errors name the file and the limit, never the file's contents.

Writing: every output file (``--out``, ``--csv``, ``--plot``, schemas) goes
through :func:`atomic_write`: a temporary file in the same folder, flushed and
fsync'ed, then renamed over the target. A failed or interrupted write leaves
the previous file whole; a reader never sees half a file.
"""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

from .errors import InputError

# Bounds of this program, not facts about hardware: the largest shipped data file
# is ~10 kB and a Hugging Face config.json ~50 kB; 8 MiB leaves room for generated
# inventories while keeping a read of /dev/zero-like input from growing without end.
MAX_INPUT_BYTES = 8 * 1024 * 1024
# Deepest nesting of mappings/lists a data file may have (shipped files: 4).
MAX_NESTING = 64


def read_bytes(path: Path, shown: str | Path | None = None, limit: int = MAX_INPUT_BYTES) -> bytes:
    """The bytes of a regular file of at most ``limit`` bytes; one-line error
    naming the file otherwise. Opened non-blocking so a FIFO cannot hang the
    open, then checked with fstat (no race between the check and the read)."""
    shown = path if shown is None else shown
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise InputError(f"{shown}: no such file") from None
    except OSError as exc:
        raise InputError(f"{shown}: cannot read ({exc.strerror})") from None
    try:
        st = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode):
            raise InputError(f"{shown}: is a directory, not a file")
        if not stat.S_ISREG(st.st_mode):
            raise InputError(f"{shown}: not a regular file (a device, FIFO or socket); give a file")
        if st.st_size > limit:
            raise InputError(f"{shown}: {st.st_size:,} bytes, larger than the {limit:,}-byte limit for input files")
        chunks, total = [], 0
        while True:
            try:
                chunk = os.read(fd, 1 << 20)
            except BlockingIOError:  # pragma: no cover - regular files do not block
                continue
            except OSError as exc:
                raise InputError(f"{shown}: cannot read ({exc.strerror})") from None
            if not chunk:
                break
            total += len(chunk)
            if total > limit:  # the file grew while being read
                raise InputError(f"{shown}: larger than the {limit:,}-byte limit for input files")
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def json_depth(text: str) -> int:
    """Deepest bracket nesting of a JSON text, strings skipped (linear, no recursion)."""
    depth = deepest = 0
    in_string = escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in "]}":
            depth -= 1
    return deepest


def check_json_depth(text: str, shown: str | Path) -> None:
    if json_depth(text) > MAX_NESTING:
        raise InputError(f"{shown}: nested deeper than {MAX_NESTING} levels")


# --------------------------------------------------------------------------- writing


def atomic_write(path: Path | str, data: str | bytes, flag: str = "--out") -> Path:
    """Write ``data`` to ``path`` all at once: temporary file in the same folder,
    fsync, rename. ``flag`` names the option in the one-line error."""
    path = Path(path)
    raw = data.encode("utf-8") if isinstance(data, str) else data
    folder = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise InputError(f"{flag} {path}: is a directory; give a file name")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    except OSError as exc:
        raise InputError(f"{flag} {path}: cannot write ({exc.strerror})") from None
    try:
        try:
            view = memoryview(raw)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)
        _keep_mode(path, tmp)
        os.replace(tmp, path)
    except OSError as exc:
        _unlink(tmp)
        raise InputError(f"{flag} {path}: cannot write ({exc.strerror})") from None
    except BaseException:  # an interrupt: no partial file, previous file untouched
        _unlink(tmp)
        raise
    _sync_dir(folder)
    return path


def _keep_mode(path: Path, tmp: str) -> None:
    """The new file gets the old file's permissions, or the umask default (mkstemp makes 0600)."""
    try:
        mode = stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        mode = 0o666 & ~umask
    os.chmod(tmp, mode)


def _unlink(tmp: str) -> None:
    try:
        os.unlink(tmp)
    except OSError:
        pass


def _sync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
