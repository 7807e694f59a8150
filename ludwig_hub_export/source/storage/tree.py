"""A remote tree listed once (``fs.find``) behind the pathlib subset layout detection and `check` use, so finding
the layout costs no request per file; contents are read only when asked (ranged reads for headers). Keys that
would not map to a safe relative path (``..``, empty parts, backslashes, control characters) are refused."""

from __future__ import annotations

import io
import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import PurePosixPath

from ...errors import InvalidModelError
from .streams import Pin, read_range
from .urls import display, filesystem, storage_errors

_UNSAFE_PART = re.compile(r"[\x00-\x1f\x7f\\]")
HEADER_BLOCK = 64 << 10  # a header read's first request: most headers fit, and it costs what 104 bytes cost


@dataclass
class Entry:
    size: int
    is_dir: bool
    mtime: float
    version: str | None  # ETag / generation: changes whenever the content does
    version_id: str | None = None  # S3 VersionId, from a version-aware listing: that version stays readable


@dataclass
class RemoteTree:
    fs: object
    root: str  # the path inside fs (bucket/prefix), no trailing slash
    url: str  # as the user gave it
    storage_options: dict
    entries: dict[str, Entry] = field(default_factory=dict)  # relative posix path ("" = root) -> entry
    refused: dict[str, str] = field(default_factory=dict)  # key -> why it was not taken

    def full(self, rel: str) -> str:
        return f"{self.root}/{rel}" if rel else self.root

    def url_of(self, rel: str) -> str:
        base = self.url.rstrip("/")
        return f"{base}/{rel}" if rel else base

    def errors(self, rel: str, doing: str = "reading"):
        return storage_errors(self.url_of(rel), self.storage_options, doing)


def open_tree(url: str, storage_options: dict) -> StoragePath:
    fs, root = filesystem(url, storage_options)
    tree = RemoteTree(fs, root, url, storage_options)
    with tree.errors(""):
        listing = fs.find(root, withdirs=True, detail=True)
        if not listing and not fs.exists(root):
            raise FileNotFoundError(root)
    root_key = fs._strip_protocol(root).rstrip("/")
    for key, info in listing.items():
        key = fs._strip_protocol(key).rstrip("/")
        if key == root_key:
            tree.entries[""] = entry_of(info)
            continue
        rel = key[len(root_key) + 1:] if key.startswith(root_key + "/") else None
        why = _unsafe(rel)
        if why:
            tree.refused[key] = why
            continue
        tree.entries[rel] = entry_of(info)
        parts = rel.split("/")
        for depth in range(len(parts)):  # stores without directory objects: the directories are implied
            tree.entries.setdefault("/".join(parts[:depth]), Entry(0, True, 0.0, None))
    tree.entries.setdefault("", Entry(0, True, 0.0, None))
    return StoragePath(tree, "")


def _unsafe(rel: str | None) -> str | None:
    if rel is None:
        return "outside the listed prefix"
    if not rel or rel.startswith("/") or any(p in ("", ".", "..") for p in rel.split("/")):
        return "empty, '.' or '..' path component"
    if _UNSAFE_PART.search(rel):
        return "backslash or control character in the name"
    return None


def entry_of(info: dict) -> Entry:
    is_dir = info.get("type") == "directory"
    mtime = 0.0
    for value in map(info.get, ("LastModified", "last_modified", "mtime", "updated", "created")):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00")) if isinstance(value, str) else value
        except ValueError:
            continue
        if isinstance(value, (datetime, int, float)):
            mtime = value.timestamp() if isinstance(value, datetime) else float(value)
            break
    version = next((str(info[k]).strip('"') for k in ("ETag", "etag", "generation", "md5Hash", "content_md5")
                    if info.get(k)), None)
    version_id = info.get("VersionId")
    return Entry(int(info.get("size") or 0), is_dir, mtime, version,
                 str(version_id) if version_id and version_id != "null" else None)


@dataclass(frozen=True)
class _Stat:
    st_size: int
    st_mtime: float

    @property
    def st_mtime_ns(self) -> int:  # the sweep journal's fingerprint signs a trial's files by it
        return int(self.st_mtime * 1e9)


class StoragePath:
    """A path in a `RemoteTree`: the pathlib methods layout detection and `check` call, answered from the
    listing, plus reads through the filesystem. Shown as its (redacted) URL."""

    def __init__(self, tree: RemoteTree, rel: str) -> None:
        self.tree = tree
        self.rel = rel

    # --- names ---------------------------------------------------------------------------------------------
    def __str__(self) -> str:
        return display(self.tree.url_of(self.rel))

    def __repr__(self) -> str:
        return f"StoragePath({str(self)!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, StoragePath) and other.tree is self.tree and other.rel == self.rel

    def __hash__(self) -> int:
        return hash((id(self.tree), self.rel))

    def __lt__(self, other: StoragePath) -> bool:
        return self.rel < other.rel

    def __truediv__(self, name: str) -> StoragePath:
        name = str(name).strip("/")
        return StoragePath(self.tree, f"{self.rel}/{name}" if self.rel else name)

    @property
    def url(self) -> str:
        return self.tree.url_of(self.rel)

    @property
    def name(self) -> str:
        return PurePosixPath(self.rel).name if self.rel else PurePosixPath(self.tree.root).name

    @property
    def suffix(self) -> str:
        return PurePosixPath(self.name).suffix

    @property
    def parent(self) -> StoragePath:
        # The tree's root is the top: nothing above what the user named is listed (or trusted).
        return StoragePath(self.tree, self.rel.rpartition("/")[0]) if self.rel else self

    def relative_to(self, other: StoragePath) -> PurePosixPath:
        if not self.is_relative_to(other):
            raise ValueError(f"{self} is not under {other}")
        return PurePosixPath(self.rel[len(other.rel):].lstrip("/") or ".")

    def is_relative_to(self, other: object) -> bool:
        return isinstance(other, StoragePath) and other.tree is self.tree and (
            not other.rel or self.rel == other.rel or self.rel.startswith(other.rel + "/"))

    def resolve(self) -> StoragePath:
        return self

    # --- what the listing says -----------------------------------------------------------------------------
    def _entry(self) -> Entry | None:
        return self.tree.entries.get(self.rel)

    def exists(self) -> bool:
        return self._entry() is not None

    def is_file(self) -> bool:
        entry = self._entry()
        return entry is not None and not entry.is_dir

    def is_dir(self) -> bool:
        entry = self._entry()
        return entry is not None and entry.is_dir

    def is_symlink(self) -> bool:
        return False  # object stores have none

    def iterdir(self):
        return (path for path in self.rglob("*") if path.parent == self)

    def rglob(self, pattern: str):  # "*" only: all that `describe` asks
        prefix = f"{self.rel}/" if self.rel else ""
        return (StoragePath(self.tree, rel) for rel in sorted(self.tree.entries) if rel and rel.startswith(prefix))

    def stat(self) -> _Stat:
        entry = self._entry()
        if entry is None:
            raise FileNotFoundError(str(self))
        if entry.is_dir:  # a directory's time is its newest file's: "the most recent run" works as locally
            prefix = f"{self.rel}/" if self.rel else ""
            mtime = max((e.mtime for r, e in self.tree.entries.items() if r.startswith(prefix)), default=0.0)
            return _Stat(0, mtime)
        return _Stat(entry.size, entry.mtime)

    @property
    def pin(self) -> Pin | None:
        """What every read of this object is pinned to: the version listed (`streams.Pin`)."""
        entry = self._entry()
        return Pin(entry.version, entry.version_id) if entry and not entry.is_dir else None

    # --- contents ------------------------------------------------------------------------------------------
    def read_bytes(self) -> bytes:
        with self.tree.errors(self.rel):
            return read_range(self.tree.fs, self.tree.full(self.rel), self.pin)

    def open(self, mode: str = "rb"):
        """A seekable read-only binary file whose reads are ranged GETs (headers, a log's tail); see `_Reading`."""
        return _Reading(self, self.stat().st_size)


class _Reading(io.RawIOBase):
    """Reads as ranged GETs. A read at offset 0 fetches at least `HEADER_BLOCK` bytes: a safetensors header usually
    fits, so one round trip to the bucket instead of two. Storage failures become our errors."""

    def __init__(self, path: StoragePath, size: int) -> None:
        self.path, self.size = path, size
        self.pos = 0
        self._head = b""  # what the first read fetched, from offset 0

    def readable(self) -> bool:  # io.RawIOBase says False unless told
        return True

    def seekable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        end = self.size if n < 0 else min(self.size, self.pos + n)
        if self.pos >= end:
            return b""
        if self.pos == 0 and not self._head:
            self._head = self._get(0, max(end, min(self.size, HEADER_BLOCK)))
        out = self._head[self.pos:end]
        if self.pos + len(out) < end:
            out += self._get(self.pos + len(out), end)
        self.pos += len(out)
        return out

    def _get(self, start: int, end: int) -> bytes:
        with self.path.tree.errors(self.path.rel):  # pinned: a header read in two parts is of one version
            return read_range(self.path.tree.fs, self.path.tree.full(self.path.rel), self.path.pin, start, end)

    def seek(self, offset: int, whence: int = 0) -> int:
        self.pos = max(0, offset if whence == 0 else self.pos + offset if whence == 1 else self.size + offset)
        return self.pos


def require_safe(path: StoragePath) -> None:
    """No key under `path` was refused by the listing (those refused are shown as URLs)."""
    root, top = path.tree.full(path.rel), path.tree.root
    refused = {display(path.tree.url_of(k[len(top) + 1:])) if k.startswith(top + "/") else k: why
               for k, why in path.tree.refused.items() if k.startswith(root + "/")}
    if refused:
        shown = "; ".join(f"{k} ({why})" for k, why in list(refused.items())[:3])
        raise InvalidModelError(f"{path}: {len(refused)} object name(s) cannot be mapped to files safely: {shown}",
                                "rename or remove those objects; nothing was read or uploaded")
