"""Hugging Face model ids (``Qwen/Qwen2.5-72B-Instruct``) as workloads.

An id is looked up, in order:

1. in the catalog shipped with the package (``models/catalog.yaml``): a shipped
   workload file, or a ``config.json`` written from the public checkpoint's
   architecture numbers; no network, no Hugging Face account;
2. in the local Hugging Face cache (``$HF_HUB_CACHE``, else ``$HF_HOME/hub``,
   else ``~/.cache/huggingface/hub``), where any earlier download left it;
3. on the Hugging Face Hub with ``huggingface_hub``, only when the caller allows
   a download (``planner ... --allow-download``): only ``config.json`` is fetched.

An id found nowhere is a one-line error naming the closest known ids and how to
point at a ``config.json`` instead.
"""

from __future__ import annotations

import difflib
import os
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from .datafiles import data_dir, read_yaml
from .errors import InputError

# owner/name, as the Hub spells repository ids (letters, digits, '-', '_', '.')
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,95}/[A-Za-z0-9][A-Za-z0-9_.-]{0,95}$")


@dataclass(frozen=True)
class CatalogEntry:
    id: str
    workload: str  # shipped workload name, or "" when a config.json is shipped
    aliases: tuple[str, ...]
    published_total_params_b: float | None
    source: str

    @property
    def config_path(self) -> Path:
        return data_dir("models") / self.id / "config.json"


def looks_like_id(ref: str) -> bool:
    """``owner/name`` with no file suffix: a Hub id rather than a path."""
    return bool(_ID.match(ref)) and not ref.endswith((".yaml", ".yml", ".json")) and ".." not in ref


@lru_cache(maxsize=1)
def catalog() -> tuple[CatalogEntry, ...]:
    """Every model id the package resolves offline."""
    path = data_dir("models") / "catalog.yaml"
    rows = read_yaml(path).data.get("models") or []
    out = []
    for i, row in enumerate(rows):
        if not isinstance(row, dict) or not isinstance(row.get("id"), str):
            raise InputError(f"{path}: models[{i}] needs an 'id'")
        out.append(CatalogEntry(
            id=row["id"], workload=str(row.get("workload") or ""), aliases=tuple(row.get("aliases") or ()),
            published_total_params_b=row.get("published_total_params_b"), source=str(row.get("source", "")),
        ))
    return tuple(out)


def known_ids() -> list[str]:
    """Every id (and alias) the catalog answers, sorted case-insensitively."""
    return sorted({i for e in catalog() for i in (e.id, *e.aliases)}, key=str.lower)


def find(model_id: str) -> CatalogEntry | None:
    """The catalog entry for an id or alias; ids compare case-insensitively, as on the Hub."""
    key = model_id.lower()
    for e in catalog():
        if key == e.id.lower() or key in (a.lower() for a in e.aliases):
            return e
    return None


def cache_dir() -> Path:
    """Where huggingface_hub keeps downloads (the same environment variables it reads)."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"])
    home = os.environ.get("HF_HOME") or os.path.join(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache", "huggingface")
    return Path(home) / "hub"


def cached_config(model_id: str) -> Path | None:
    """``config.json`` of ``model_id`` in the local Hugging Face cache, if any
    (the snapshot ``refs/main`` points at, else the only/last-sorted one)."""
    repo = cache_dir() / ("models--" + model_id.replace("/", "--"))
    snapshots = repo / "snapshots"
    if not snapshots.is_dir():
        return None
    ref = repo / "refs" / "main"
    if ref.is_file():
        candidate = snapshots / ref.read_text(encoding="utf-8", errors="replace").strip() / "config.json"
        if candidate.is_file():
            return candidate
    found = sorted(p for p in snapshots.glob("*/config.json") if p.is_file())
    return found[-1] if found else None


def download_config(model_id: str) -> Path:
    """Fetch only ``config.json`` from the Hub (into the usual cache); one-line errors."""
    try:
        from huggingface_hub import hf_hub_download
    except ImportError:
        raise InputError(
            f"{model_id}: downloading needs huggingface_hub (pip install 'rack-planner[hub]' or pip install huggingface_hub)"
        ) from None
    try:
        return Path(hf_hub_download(repo_id=model_id, filename="config.json"))
    except Exception as exc:  # the library raises many network/auth types; the user needs one line
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(f"{model_id}: cannot download config.json from the Hugging Face Hub ({type(exc).__name__}: {reason})") from None


def closest(model_id: str, n: int = 3) -> list[str]:
    """Known ids nearest to ``model_id`` (by the name after the owner, then the whole id)."""
    ids = known_ids()
    by_name = {i.split("/", 1)[1].lower(): i for i in ids}
    want = model_id.split("/", 1)[-1].lower()
    hits = [by_name[k] for k in difflib.get_close_matches(want, list(by_name), n=n, cutoff=0.4)]
    for extra in difflib.get_close_matches(model_id.lower(), [i.lower() for i in ids], n=n, cutoff=0.4):
        full = next(i for i in ids if i.lower() == extra)
        if full not in hits:
            hits.append(full)
    return hits[:n]


def unknown(model_id: str, allow_download: bool) -> InputError:
    near = closest(model_id)
    hint = f"closest known: {', '.join(near)}; " if near else ""
    where = "" if allow_download else ", or add --allow-download to fetch its config.json from the Hub"
    return InputError(
        f"unknown model id {model_id!r} (not shipped, not in the Hugging Face cache {cache_dir()}); {hint}"
        f"give a path to its config.json or to a folder holding one{where} (planner support lists the shipped ids)"
    )


def resolve_id(model_id: str, allow_download: bool = False) -> tuple[str, Path | None]:
    """Where ``model_id`` comes from: (shipped workload name, None) or ("", config.json path)."""
    entry = find(model_id)
    if entry is not None:
        return (entry.workload, None) if entry.workload else ("", entry.config_path)
    cached = cached_config(model_id)
    if cached is not None:
        return "", cached
    if allow_download:
        return "", download_config(model_id)
    raise unknown(model_id, allow_download)
