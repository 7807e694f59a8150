"""File hashes for the Hub: sha256 (LFS oid) and git blob sha1 (regular files), in one read per file.

Results are cached by (real path, size, mtime, inode, ctime) so a rerun after an interruption does not read the
weights again. The cache is a small JSON file; losing it only costs time.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
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
        if remote_lfs_sha256:
            return remote_lfs_sha256 == self.sha256
        return remote_blob_id is not None and remote_blob_id == self.git_sha1


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


def signature(st: os.stat_result) -> list:
    """What tells a file changed without reading it: size, mtime, inode and ctime. The ctime because new bytes
    written with the size and mtime put back (`cp -p`, `touch -d`, an archive extracted over the model) change it,
    and nothing can set it back. An object in storage (`storage.tree`) has neither inode nor ctime."""
    return [st.st_size, st.st_mtime_ns, getattr(st, "st_ino", None), getattr(st, "st_ctime_ns", None)]


def write_atomically(path: Path, text: str) -> None:
    """`text` into `path` (its directory made), whole or not at all: a reader never sees half of it. Raises
    OSError."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def default_cache_path() -> Path:
    root = os.environ.get("LUDWIG_HUB_EXPORT_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "ludwig-hub-export")
    return Path(root) / "hashes.json"


class JsonEntries:
    """The entries of a digest cache file, most recently used last, at most `MAX_ENTRIES` of them: keys name
    files that come and go (temporary directories, a sweep's trials), and an unbounded file would be read and
    written whole by every push, growing with every model ever pushed."""

    MAX_ENTRIES = 4096

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        try:
            entries = json.loads(path.read_text())
        except (OSError, ValueError):
            entries = {}
        self._entries: dict[str, list] = entries if isinstance(entries, dict) else {}

    def __contains__(self, key: str) -> bool:
        with self._lock:
            return key in self._entries

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
        # Snapshot and write under one lock: two threads that snapshot, then write in the other order, would
        # leave the older snapshot on disk and lose the newer one's entry (a file downloaded again next time).
        with self._lock:
            data = json.dumps(dict(list(self._entries.items())[-self.MAX_ENTRIES:]))
            try:
                write_atomically(self.path, data)
            except OSError:
                pass  # a cache that cannot be written only costs a re-read next time


class HashCache:
    def __init__(self, path: Path | None = None) -> None:
        self.path = path if path is not None else default_cache_path()
        self._lock = threading.Lock()
        self.bytes_read = 0
        self._entries = JsonEntries(self.path)
        self._reading: dict[str, object] = {}  # key -> Future of a file being hashed now
        self._stopped = threading.Event()

    @staticmethod
    def _key(path: Path) -> str:
        return "|".join(map(str, [path.resolve(), *signature(path.stat())]))

    def digest(self, path: Path) -> Digest:
        """The file's digest: from the cache, else from the read another thread is making of it now (one read
        per file, whoever asks), else read here."""
        key = self._key(path)
        hit = self._entries.get(key)
        if hit is not None:
            return Digest(*hit)
        from concurrent.futures import Future

        with self._lock:
            reading = self._reading.get(key)
            if reading is None:
                reading = self._reading[key] = Future()
                mine = True
            else:
                mine = False
        if not mine:
            return reading.result()
        try:
            result = self._read(path)
            self._entries.put(key, [result.size, result.sha256, result.git_sha1])
            reading.set_result(result)
            return result
        except BaseException as e:
            reading.set_exception(e)
            raise
        finally:
            with self._lock:
                self._reading.pop(key, None)

    def hash_ahead(self, paths: list[Path]) -> None:
        """Start hashing `paths` the cache does not know, one after another in a thread of their own (hashlib
        runs without the GIL, so on another core), while this thread goes on. Whoever asks for one of them later
        gets it from the cache or waits for that read. `stop()` ends it after the file at hand."""
        todo = [p for p in paths if self._key(p) not in self._entries]
        if not todo:
            return

        def run() -> None:
            for path in todo:
                if self._stopped.is_set():
                    return
                try:
                    self.digest(path)
                except Exception:  # noqa: BLE001 - whoever needs this file reads it again and reports the error
                    pass

        threading.Thread(target=run, name="hash-ahead", daemon=True).start()

    def stop(self) -> None:
        """No more hashing ahead (the export ended)."""
        self._stopped.set()

    def cached(self, path: Path) -> Digest | None:
        """The digest if this exact file (path, size, mtime, inode, ctime) was hashed before; never reads it."""
        hit = self._entries.get(self._key(path))
        return Digest(*hit) if hit is not None else None

    def put(self, path: Path, digest: Digest) -> None:
        """Remember a digest computed elsewhere (by the upload client while it sent the file)."""
        self._entries.put(self._key(path), [digest.size, digest.sha256, digest.git_sha1])

    def _read(self, path: Path) -> Digest:
        result = file_digest(path)
        with self._lock:
            self.bytes_read += result.size
        return result

    def digest_many(self, paths: list[Path]) -> None:
        """Hash several files at once (hashlib releases the GIL on large reads: one file per core)."""
        todo = [p for p in paths if self._key(p) not in self._entries]
        if len(todo) > 1:
            from concurrent.futures import ThreadPoolExecutor  # with logging, ~5 ms: not for a warm cache

            with ThreadPoolExecutor(max_workers=min(len(todo), os.cpu_count() or 2)) as pool:
                list(pool.map(self.digest, todo))
        elif todo:
            self.digest(todo[0])

    def save(self) -> None:
        self._entries.save()
