"""Fetching one file of a repo at a commit through huggingface_hub's public ``HfFileSystem`` (the client's own
downloads, resume and retries), hashing each chunk on its way to disk so the file is not read again to be verified.
A Xet file is written by ``hf_xet`` itself, so it is hashed once complete."""

from __future__ import annotations

import hashlib
import queue
import threading
from pathlib import Path
from typing import BinaryIO, Callable

from ..errors import UntrustedRepoError
from ..hashing import Digest, file_digest


class TooLarge(UntrustedRepoError):
    pass


class _HashingWriter:
    """A file object for ``http_get``: hashes, counts and forwards every chunk; refuses bytes past `limit`. It
    hashes on a thread of its own, a few chunks behind, so hashing and download overlap (hashlib frees the GIL)."""

    _AHEAD = 4  # chunks queued for the hasher at most (the client reads 10 MB at a time): bounded memory

    def __init__(self, f: BinaryIO, limit: int, label: str, on_bytes: Callable[[int], None]) -> None:
        self._f, self._limit, self._label, self._on_bytes = f, limit, label, on_bytes
        self._sha = hashlib.sha256()
        self._chunks: queue.Queue[bytes | None] = queue.Queue(maxsize=self._AHEAD)
        self._hasher = threading.Thread(target=self._hash, name=f"sha256 {label}", daemon=True)
        self._hasher.start()
        self.size = 0  # bytes hashed, in order from the start
        self._pos = 0
        self.rewound = False

    def _hash(self) -> None:
        while (chunk := self._chunks.get()) is not None:
            self._sha.update(chunk)

    def write(self, chunk: bytes) -> int:
        if self._pos + len(chunk) > self._limit:  # a repo could serve an endless body: stop at the promised size
            raise TooLarge(f"{self._label}: the Hub sent more than the {self._limit} bytes its manifest entry "
                           "promises", "the repo changed after its export: push the model again")
        if self._pos != self.size:  # bytes written elsewhere than after the hashed ones: the running hash is void
            self.rewound = True
        if not self.rewound and self._hasher.is_alive():
            self._chunks.put(bytes(chunk))  # a copy only if the caller passed a reusable buffer
            self.size += len(chunk)
        self._pos += len(chunk)
        self._on_bytes(len(chunk))
        return self._f.write(chunk)

    # http_get rewinds when a server ignores a Range request, and get_file seeks back to the start when done;
    # only a write after a move voids the running hash.
    def seek(self, offset: int, whence: int = 0) -> int:
        self._pos = self._f.seek(offset, whence)
        return self._pos

    def truncate(self, size: int | None = None) -> int:
        return self._f.truncate(size)

    def tell(self) -> int:
        return self._pos

    def close(self) -> None:
        """Stop the hasher (also after a failed download); idempotent."""
        if self._hasher.is_alive():
            self._chunks.put(None)
            self._hasher.join()

    def hexdigest(self) -> str:
        self.close()
        return self._sha.hexdigest()


def open_hub(token: str | None, endpoint: str | None):
    """The Hub as a filesystem (one per pull: its listing cache then holds that pull's commit only)."""
    from huggingface_hub import HfFileSystem

    return HfFileSystem(endpoint=endpoint, token=token, skip_instance_cache=True)


def fetch(fs, remote: str, commit: str, target: Path, *, size: int, label: str,
          on_bytes: Callable[[int], None]) -> Digest:
    """Download `remote` (``user/repo/path``) at `commit` into `target` (a new file), refusing more than `size`
    bytes; returns the size and sha256 of what was received."""
    info = fs.info(remote, revision=commit)
    if info.get("size") is not None and info["size"] != size:
        raise UntrustedRepoError(f"{label}: the Hub has {info['size']} bytes; its manifest entry says {size}",
                                 "the repo changed after its export: push the model again")
    if info.get("xet_hash"):  # hf_xet writes the file itself (or the client falls back to HTTP when Xet is off)
        fs.get_file(remote, str(target), revision=commit)
        digest = file_digest(target)
        if digest.size > size:
            raise TooLarge(f"{label}: the Hub sent {digest.size} bytes; its manifest entry promises {size}",
                           "the repo changed after its export: push the model again")
        on_bytes(digest.size)
        return digest
    with open(target, "wb") as f:
        writer = _HashingWriter(f, size, label, on_bytes)
        try:
            fs.get_file(remote, outfile=writer, revision=commit)
        finally:
            writer.close()
    return file_digest(target) if writer.rewound else Digest(writer.size, writer.hexdigest(), None)


def fetch_bytes(fs, remote: str, commit: str, *, limit: int, label: str) -> bytes:
    """A small file (the manifest) into memory, refusing more than `limit` bytes: untrusted bytes are parsed
    before anything is written to disk."""
    size = fs.info(remote, revision=commit).get("size")
    if size is not None and size > limit:
        raise TooLarge(f"{label} is {size} bytes; at most {limit} are accepted",
                       "this is not a manifest written by ludwig-hub-export: push the model again")
    with fs.open(remote, "rb", revision=commit, block_size=0) as f:  # block_size=0: one streamed GET
        raw = f.read(limit + 1)
    if len(raw) > limit:
        raise TooLarge(f"{label}: the Hub sent more than {limit} bytes",
                       "this is not a manifest written by ludwig-hub-export: push the model again")
    return raw
