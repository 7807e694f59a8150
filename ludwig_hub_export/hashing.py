"""File hashes for the Hub: sha256 (LFS oid) and git blob sha1 (regular files), in one read per file.

Cached in a small JSON file by (real path, size, mtime, inode, ctime), so a rerun does not read the weights again.
A digest is stored under the stat taken *before* its read, only when the stat after is the same, and an entry
whose file times are not clearly older than that read is "racy" (git's rule) and never trusted.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

CHUNK = 1 << 20  # large enough that hashlib runs without the GIL at full speed
GIT_SHA1_MAX = 10 * 1000 * 1000  # files this small may be stored as regular git blobs: worth their sha1 too


@dataclass(frozen=True)
class Digest:
    """A file's size and sha256, and its git blob sha1 when it is small enough to be a regular blob."""

    size: int
    sha256: str
    git_sha1: str | None  # None for files too large to be regular blobs

    def matches_remote(self, remote_blob_id: str | None, remote_lfs_sha256: str | None) -> bool:
        return remote_lfs_sha256 == self.sha256 if remote_lfs_sha256 else (
            remote_blob_id is not None and remote_blob_id == self.git_sha1)


def digest_bytes(data: bytes) -> Digest:
    git = hashlib.sha1(b"blob %d\0" % len(data))
    git.update(data)
    return Digest(len(data), hashlib.sha256(data).hexdigest(), git.hexdigest())


def file_digest(path: Path) -> Digest:
    """sha256 (and, for files small enough to be regular blobs, the git sha1) in one read."""
    size = path.stat().st_size
    sha = hashlib.sha256()
    git = hashlib.sha1(b"blob %d\0" % size) if size <= GIT_SHA1_MAX else None
    buffer = bytearray(CHUNK)  # one buffer, reused: several files are hashed at once while others upload
    view = memoryview(buffer)
    with open(path, "rb", buffering=0) as f:
        while n := f.readinto(buffer):
            sha.update(view[:n])
            if git is not None:
                git.update(view[:n])
    return Digest(size, sha.hexdigest(), git.hexdigest() if git else None)


def signature(st: os.stat_result, resolution_ns: int = 1) -> list:
    """What tells a file changed without reading it: size, mtime, inode and ctime (which `cp -p` or `touch -d`
    cannot set back; objects in storage have neither). Times truncated to `resolution_ns` (10**9: 1-second)."""
    ctime = getattr(st, "st_ctime_ns", None)
    return [st.st_size, st.st_mtime_ns // resolution_ns * resolution_ns, getattr(st, "st_ino", None),
            None if ctime is None else ctime // resolution_ns * resolution_ns]


# How far a file's times must be behind its read for the stat to vouch for the content: whole-second times come
# from a filesystem that keeps seconds (or FAT's 2 s); finer ones from a kernel clock ticking every 1-10 ms.
COARSE_MARGIN_NS = 2_000_000_000
FINE_MARGIN_NS = 100_000_000


def racy(times_ns, at_ns: int) -> bool:
    """git's "racily clean" rule: True when a file with (mtime, ctime) `times_ns` may have changed within the tick
    of `at_ns` (just before its content was read), unseen by a later stat: its digest must be read again."""
    times = [t for t in times_ns if t is not None]
    if not times:
        return True  # nothing tells a change: never trust the stat alone
    margin = COARSE_MARGIN_NS if all(t % 1_000_000_000 == 0 for t in times) else FINE_MARGIN_NS
    return max(times) >= at_ns - margin


@dataclass(frozen=True)
class FileState:
    """A file's stat as `HashCache.stat` took it: `key` names the file and its state; `at_ns`: just before it."""

    key: str
    size: int
    times_ns: tuple  # (mtime, ctime), at the cache's resolution
    at_ns: int


def write_atomically(path: Path, text: str) -> None:
    """`text` into `path` (its directory made), whole or not at all. Raises OSError."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def default_cache_path() -> Path:
    root = os.environ.get("LUDWIG_HUB_EXPORT_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "ludwig-hub-export")
    return Path(root) / "hashes.json"


class JsonEntries:
    """The entries of a digest cache file, most recently used last, at most `MAX_ENTRIES`: keys name files that
    come and go, and every push reads and writes the file whole."""

    MAX_ENTRIES = 4096

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        try:
            entries = json.loads(path.read_text())
        except (OSError, ValueError):
            entries = {}
        self._entries: dict[str, list] = entries if isinstance(entries, dict) else {}

    def get(self, key: str):
        with self._lock:
            hit = self._entries.pop(key, None)
            if hit is not None:
                self._entries[key] = hit  # used now: last to be dropped
            return hit

    def put(self, key: str, value: list) -> None:
        with self._lock:
            self._entries.pop(key, None)
            self._entries[key] = value

    def save(self) -> None:
        # Snapshot and write under one lock, or an older snapshot written last loses a newer entry.
        with self._lock:
            data = json.dumps(dict(list(self._entries.items())[-self.MAX_ENTRIES:]))
            try:
                write_atomically(self.path, data)
            except OSError:
                pass  # a cache that cannot be written only costs a re-read next time


class HashCache:
    """Digests of local files by their stat (one read by someone else: `stat` before it, then `put`)."""

    MAX_TRIES = 3  # reads of a file that changes while it is hashed, before giving up on it

    def __init__(self, path: Path | None = None, resolution_ns: int = 1) -> None:
        self.path = path if path is not None else default_cache_path()
        self.resolution_ns = resolution_ns  # 1: file times as the OS reports them (a test may coarsen them)
        self._lock = threading.Lock()
        self.bytes_read = 0
        self._entries = JsonEntries(self.path)
        self._reading: dict[str, object] = {}  # key -> Future of a file being hashed now

    def stat(self, path: Path) -> FileState:
        """The file's state now: take it before a read whose digest is to be cached (see `put`)."""
        at = time.time_ns()  # before the stat: a change after this moment may still get times of this tick
        st = os.stat(path)
        sig = signature(st, self.resolution_ns)
        return FileState("|".join(map(str, [Path(path).resolve(), *sig])), st.st_size, (sig[1], sig[3]), at)

    def _hit(self, state: FileState) -> Digest | None:
        hit = self._entries.get(state.key)
        if not isinstance(hit, list) or len(hit) != 4:
            return None  # none, or written before entries said when (and may be keyed by the wrong stat)
        size, sha256, git_sha1, at = hit
        if not isinstance(at, int) or racy(state.times_ns, at):
            return None
        return Digest(size, sha256, git_sha1)

    def _store(self, state: FileState, digest: Digest, at_ns: int) -> bool:
        """Keep `digest` under `state` unless the entry would be racy (it would never be trusted)."""
        if digest.size != state.size or racy(state.times_ns, at_ns):
            return False
        self._entries.put(state.key, [digest.size, digest.sha256, digest.git_sha1, at_ns])
        return True

    def digest(self, path: Path) -> Digest:
        """From the cache, else from another thread's read of it now (one read per file), else read here."""
        state = self.stat(path)
        hit = self._hit(state)
        if hit is not None:
            return hit
        from concurrent.futures import Future

        with self._lock:
            reading = self._reading.get(state.key)
            mine = reading is None
            if mine:
                reading = self._reading[state.key] = Future()
        if not mine:
            return reading.result()
        try:
            result = self._read_unchanged(path, state)
            reading.set_result(result)
            return result
        except BaseException as e:
            reading.set_exception(e)
            raise
        finally:
            with self._lock:
                self._reading.pop(state.key, None)

    def _read_unchanged(self, path: Path, before: FileState) -> Digest:
        """Stat, read, stat again: the digest of a read whose stats before and after agree, else read again."""
        for _ in range(self.MAX_TRIES):
            result = file_digest(path)
            with self._lock:
                self.bytes_read += result.size
            after = self.stat(path)
            if after.key == before.key and result.size == after.size:
                self._store(after, result, before.at_ns)
                return result
            before = after
        from .errors import ExportError

        raise ExportError(f"{path}: the file changed while it was read, {self.MAX_TRIES} times in a row",
                          "wait until whatever writes it (training, a copy, a sync tool) has finished, then run "
                          "the same command again")

    def cached(self, path: Path) -> Digest | None:
        """The digest if this exact file (path, size, mtime, inode, ctime) was hashed before, and not racy."""
        return self._hit(self.stat(path))

    def put(self, path: Path, digest: Digest, before: FileState) -> bool:
        """Remember a digest read elsewhere (by hf_xet while it sent the file), kept only if the file is still as
        `before` (`stat(path)` taken before that read: else the digest may be of other bytes) and not racy."""
        now = self.stat(path)
        return before.key == now.key and self._store(now, digest, before.at_ns)

    def digest_many(self, paths: list[Path]) -> None:
        """Hash several files at once (hashlib releases the GIL on large reads: one file per core)."""
        todo = [p for p in paths if self.cached(p) is None]
        if len(todo) > 1:
            from concurrent.futures import ThreadPoolExecutor  # with logging, ~5 ms: not for a warm cache

            with ThreadPoolExecutor(max_workers=min(len(todo), os.cpu_count() or 2)) as pool:
                list(pool.map(self.digest, todo))
        elif todo:
            self.digest(todo[0])

    def save(self) -> None:
        self._entries.save()
