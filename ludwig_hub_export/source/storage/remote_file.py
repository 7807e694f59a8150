"""A file in object storage on its way to the Hub: staged once, hashed as it arrives, removed once the Hub holds it;
its digest cached by URL + version + size + mtime (no version or mtime: not cached), so a rerun downloads nothing
the Hub has. Every read is of the version listed (`streams.Pin`), never a splice of two: a cut stream is resumed by
ranges only where they are pinned (S3), else read again from byte 0 and checked against a fresh listing. A changed
object is read again whole (same size) up to `MAX_TRIES` times.
"""

from __future__ import annotations

import hashlib
import shutil
import threading
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from ...errors import ExportError, StorageError
from ...hashing import GIT_SHA1_MAX, Digest, JsonEntries, default_cache_path
from .streams import ObjectChanged, pinnable, read_range, streamed
from .tree import StoragePath, entry_of
from .urls import display

CHUNK = 32 << 20  # one ranged GET per chunk while staging (AWS suggests 8-16 MB parts; fewer for slow servers)
PARALLEL_CHUNKS = 4  # ranged GETs in flight per file: object stores serve one stream slower than several
MAX_TRIES = 3  # reads of an object that changes while it is read, before giving up


class _Cut(StorageError):
    """A stream that ended early where the rest cannot be read pinned: start over from byte 0."""


class DigestCache:
    """sha256 (and git sha1) of remote objects by URL + version; a small JSON file beside `hashing.HashCache`'s."""

    def __init__(self, path: Path | None = None) -> None:
        self._entries = JsonEntries(path or default_cache_path().parent / "remote-digests.json")

    def get(self, key: str | None) -> Digest | None:
        hit = self._entries.get(key) if key is not None else None
        try:
            return Digest(int(hit[0]), str(hit[1]), hit[2]) if hit else None
        except (TypeError, ValueError, IndexError):
            return None  # a damaged entry only costs a download

    def put(self, key: str | None, digest: Digest) -> None:
        if key is None:
            return
        self._entries.put(key, [digest.size, digest.sha256, digest.git_sha1])
        self._entries.save()  # now: an interrupted push keeps what it learned


class StagingBudget:
    """Bytes of staged copies allowed on disk at once (one file larger than that alone is still allowed):
    downloads wait here until uploads release their copies, so peak disk stays near the largest file."""

    def __init__(self, limit: int = 0) -> None:
        self.limit = limit
        self.used = 0
        self._cond = threading.Condition()

    def acquire(self, n: int) -> None:
        with self._cond:
            while self.used and self.used + n > self.limit:
                self._cond.wait()
            self.used += n

    def release(self, n: int) -> None:
        with self._cond:
            self.used -= n
            self._cond.notify_all()


@dataclass(eq=False)
class RemoteFile:
    """One object to upload: `digest_if_known()` costs nothing, `stage()` downloads once and hashes."""

    path: StoragePath
    cache: DigestCache
    staged: Path | None = None
    digest: Digest | None = None
    bytes_downloaded: int = 0
    budget: StagingBudget = field(default_factory=StagingBudget)  # one of its own: no wait
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def url(self) -> str:
        return display(self.path.url)

    @property
    def size(self) -> int:
        return self.path.stat().st_size

    @property
    def cache_key(self) -> str | None:
        stat, version = self.path.stat(), self.path.pin.etag
        return f"{self.url}|{version}|{stat.st_size}|{stat.st_mtime}" if version is not None or stat.st_mtime else None

    def digest_if_known(self) -> Digest | None:
        if self.digest is None:
            self.digest = self.cache.get(self.cache_key)
        return self.digest

    def stage(self, staging_dir: Path) -> Path:
        """Download into `staging_dir` (once: later calls return the same file), hashing as the bytes arrive."""
        with self._lock:
            if self.staged is not None and self.staged.exists():
                return self.staged
            staging_dir.mkdir(parents=True, exist_ok=True)
            size = self.size
            free = shutil.disk_usage(staging_dir).free
            if free < size:
                raise ExportError(f"{staging_dir}: {free} bytes free, {self.url} needs {size}",
                                  "free disk space, or point TMPDIR at a larger disk (files are staged there one "
                                  "at a time)")
            token = hashlib.sha1(self.path.url.encode()).hexdigest()[:12]
            target = staging_dir / f"{token}-{self.path.name}"
            self.budget.acquire(size)
            try:
                with open(target, "wb") as out, self.path.tree.errors(self.path.rel, "downloading"):
                    digest = self._read(out, size)
            except BaseException:
                target.unlink(missing_ok=True)
                self.budget.release(size)
                raise
            self.staged, self.digest = target, digest
            self.cache.put(self.cache_key, digest)
            return target

    def _read(self, out, size: int) -> Digest:
        """The object's bytes, all of one version, in order into `out`, and their digest; when it changed (or a
        cut cannot be resumed pinned), `out` is emptied and it is read again from byte 0."""
        tries = 1
        while True:
            try:
                return self._read_once(out.write, size)
            except (ObjectChanged, _Cut) as e:
                if tries < MAX_TRIES:
                    # Read again whole: the new version (re-listed), or the same one from byte 0 after a cut.
                    if isinstance(e, ObjectChanged):
                        self._relist(size)
                    out.seek(0)
                    out.truncate()
                    tries += 1
                elif isinstance(e, _Cut):
                    raise StorageError(f"{self.url}: the download was cut and this storage cannot resume it pinned "
                                       "to one version of the object", "run the same command again") from None
                else:
                    raise StorageError(f"{self.url}: the object changed while it was read ({tries} time(s)); "
                                       "nothing mixing two versions of it is published", "run the same command "
                                       "again once whatever writes it has finished: it reads the object as it is "
                                       "then") from None

    def _entry_now(self):
        """The object's entry as the store tells it now, not as its listing (or fsspec's cache of it) said."""
        tree = self.path.tree
        full = tree.full(self.path.rel)
        with tree.errors(self.path.rel, "reading"):
            invalidate = getattr(tree.fs, "invalidate_cache", None)
            if invalidate is not None:
                invalidate(full)
            return entry_of(tree.fs.info(full))

    def _relist(self, size: int) -> None:
        """The object as it is now, in place of what the listing said: the same size, or the plan is stale."""
        entry = self._entry_now()
        if entry.size != size or entry.is_dir:
            raise StorageError(f"{self.url}: the object changed while it was read (now {entry.size} bytes, "
                               f"{size} when listed)", "run the same command again: it lists the model again")
        self.path.tree.entries[self.path.rel] = entry

    def _check_unchanged(self) -> None:
        """After an unpinned read: the object must still be the one listed, else what was read may be of another
        version, or of two. What both the listing and `info` say (some stores fill different fields in each): a
        false alarm costs one more read; a missed change would publish two versions' bytes."""
        listed, now = self.path.tree.entries.get(self.path.rel), self._entry_now()
        if listed is None or now.size != listed.size or (
                now.version != listed.version if now.version and listed.version else
                bool(now.mtime and listed.mtime) and now.mtime != listed.mtime):
            raise ObjectChanged(f"{self.url}: the object changed while it was read", "run the same command again")

    def _read_once(self, write, size: int) -> Digest:
        tree = self.path.tree
        sha = hashlib.sha256()
        git = hashlib.sha1(b"blob %d\0" % size) if size <= GIT_SHA1_MAX else None
        pinned = pinnable(tree.fs, self.path.pin)
        pieces = self._pieces(tree.full(self.path.rel), size, pinned)
        got = 0
        try:
            while True:
                with tree.errors(self.path.rel, "downloading"):  # not around `write`: its failures are its own
                    chunk = next(pieces, None)
                if chunk is None:
                    break
                sha.update(chunk)
                if git is not None:
                    git.update(chunk)
                write(chunk)
                got += len(chunk)
        finally:
            pieces.close()
            self.bytes_downloaded += got
        if not pinned and got == size:
            self._check_unchanged()
        if got != size:
            raise StorageError(f"{self.url}: the download ended after {got} of {size} bytes (the object changed or "
                               "the connection dropped)", "run the same command again")
        return Digest(size, sha.hexdigest(), git.hexdigest() if git else None)

    def _pieces(self, full: str, size: int, pinned: bool):
        """One streamed GET where there is one (some servers read the whole object for every ranged GET), the rest
        by ranged GETs the client retries: pinned, or only from byte 0 (else `_Cut`: read again)."""
        got = 0
        pin = self.path.pin
        try:
            stream = streamed(self.path.tree.fs, full, pin)
        except ObjectChanged:
            raise
        except Exception:  # noqa: BLE001 - as below: the ranged reads retry, then say what failed
            stream = None
        if stream is not None:
            try:
                for piece in stream:
                    got += len(piece)
                    yield piece
            except Exception:  # noqa: BLE001 - a failure that persists is raised by the ranged reads below
                pass
            finally:
                stream.close()
        if got < size:
            if got and not pinned:
                raise _Cut()
            yield from self._ranged(full, got, size, pin)

    def _ranged(self, full: str, offset: int, size: int, pin):
        """Ranged GETs, a few in flight, in order; at most PARALLEL_CHUNKS + 1 chunks in memory."""
        fs = self.path.tree.fs
        ranges = iter([(start, min(start + CHUNK, size)) for start in range(offset, size, CHUNK)])
        with ThreadPoolExecutor(max_workers=PARALLEL_CHUNKS) as pool:
            window = deque((pool.submit(read_range, fs, full, pin, s, e), (s, e))
                           for _, (s, e) in zip(range(PARALLEL_CHUNKS), ranges))
            try:
                while window:
                    future, (start, end) = window.popleft()
                    chunk = future.result()
                    if len(chunk) != end - start:
                        return  # a short answer: the object changed or the connection dropped (said by `_read`)
                    following = next(ranges, None)
                    if following is not None:
                        window.append((pool.submit(read_range, fs, full, pin, *following), following))
                    yield chunk
            finally:
                for future, _ in window:
                    future.cancel()

    def release(self) -> None:
        """Remove the staged copy (the Hub holds the bytes now, or they are not needed)."""
        with self._lock:
            if self.staged is not None:
                self.staged.unlink(missing_ok=True)
                self.staged = None
                self.budget.release(self.size)
