"""Fetching one file with the client's own download machinery, hashing the bytes as they arrive.

``hf_hub_download`` writes the file and gives back a path: verifying it afterwards means reading it a second
time. So `fetch` calls the two functions it is built on: ``get_hf_file_metadata`` (the HEAD, redirects, Xet
detection) and ``http_get`` (ranged resume, the client's retries), handing ``http_get`` a writer that hashes
each chunk on its way to disk. On the Xet path ``hf_xet`` writes the file itself, so that file is hashed once
it is complete: the one place where Xet and LFS differ for a download.
"""

from __future__ import annotations

import hashlib
import queue
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Callable

from .errors import UntrustedRepoError
from .hashing import file_digest


@dataclass(frozen=True)
class Fetched:
    """A file `pull` brought to this machine: its size and sha256, as read from its bytes."""

    size: int
    sha256: str
    streamed: bool  # hashed while downloading (False: hashed after, e.g. written by hf_xet)


class TooLarge(UntrustedRepoError):
    pass


class _HashingWriter:
    """A file object for ``http_get``: hashes, counts and forwards every chunk; refuses bytes past `limit`.

    The hashing runs on a thread of its own, a few chunks behind the download: done inline it would add its time
    to the download's, chunk by chunk (hashlib releases the GIL, so the two overlap)."""

    _AHEAD = 4  # chunks queued for the hasher at most (the client reads 10 MB at a time): bounded memory

    def __init__(self, f: BinaryIO, limit: int, label: str, on_bytes: Callable[[int], None]) -> None:
        self._f, self._limit, self._label, self._on_bytes = f, limit, label, on_bytes
        self._sha = hashlib.sha256()
        self._chunks: queue.Queue[bytes | None] = queue.Queue(maxsize=self._AHEAD)
        self._hasher = threading.Thread(target=self._hash, name=f"sha256 {label}", daemon=True)
        self._hasher.start()
        self.size = 0
        self.rewound = False

    def _hash(self) -> None:
        while (chunk := self._chunks.get()) is not None:
            self._sha.update(chunk)

    def write(self, chunk: bytes) -> int:
        self.size += len(chunk)
        if self.size > self._limit:  # a repo could serve an endless body: stop at the promised size
            raise TooLarge(f"{self._label}: the Hub sent more than the {self._limit} bytes its manifest entry "
                           "promises", "the repo changed after its export: push the model again")
        if self._hasher.is_alive():  # the digest covers what was written before `close`/`hexdigest`
            self._chunks.put(bytes(chunk))  # a copy only if the caller passed a reusable buffer
        self._on_bytes(len(chunk))
        return self._f.write(chunk)

    # http_get rewinds when a server ignores a Range request; the running hash is then void.
    def seek(self, offset: int, whence: int = 0) -> int:
        self.rewound = True
        self.size = self._f.seek(offset, whence)  # the file starts empty: its position is what it holds
        return self.size

    def truncate(self, size: int | None = None) -> int:
        self.rewound = True
        return self._f.truncate(size)

    def tell(self) -> int:
        return self._f.tell()

    def close(self) -> None:
        """Stop the hasher (also after a failed download); idempotent."""
        if self._hasher.is_alive():
            self._chunks.put(None)
            self._hasher.join()

    def hexdigest(self) -> str:
        self.close()
        return self._sha.hexdigest()


class _NoBar:
    """A bar that shows nothing (pull draws its own overall bar). Unlike the client's `silent_tqdm` it answers
    every call the Xet download reporter makes (`set_postfix_str`, `refresh`, ...): a missing one raises inside
    hf_xet's progress callback, which prints a traceback on every Xet download."""

    total = 0
    n = 0

    def __init__(self, *args, **kwargs) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        pass

    def __getattr__(self, name: str):
        return lambda *args, **kwargs: None


def fetch(url: str, target: Path, *, size: int, label: str, token: str | None, endpoint: str | None,
          on_bytes: Callable[[int], None]) -> Fetched:
    """Download `url` into `target` (a new file), refusing more than `size` bytes; returns what was received."""
    from huggingface_hub.file_download import get_hf_file_metadata, http_get, xet_get
    from huggingface_hub.utils import build_hf_headers, silent_tqdm
    from huggingface_hub.utils._runtime import is_xet_available

    headers = build_hf_headers(token=token)
    meta = get_hf_file_metadata(url, token=token, endpoint=endpoint, retry_on_errors=False)  # retry.py retries
    if meta.size is not None and meta.size != size:
        raise UntrustedRepoError(f"{label}: the Hub has {meta.size} bytes; its manifest entry says {size}",
                                 "the repo changed after its export: push the model again")
    if meta.xet_file_data is not None and is_xet_available():
        xet_get(incomplete_path=target, xet_file_data=meta.xet_file_data, headers=headers, expected_size=size,
                displayed_filename=label, tqdm_class=_NoBar)
        digest = file_digest(target)
        on_bytes(digest.size)
        return Fetched(digest.size, digest.sha256, streamed=False)
    with open(target, "wb") as f:
        writer = _HashingWriter(f, size, label, on_bytes)
        try:
            http_get(meta.location, writer, headers=headers, expected_size=size,  # type: ignore[arg-type]
                     displayed_filename=label, tqdm_class=silent_tqdm)
        finally:
            writer.close()
    if writer.rewound:
        digest = file_digest(target)
        return Fetched(digest.size, digest.sha256, streamed=False)
    return Fetched(writer.size, writer.hexdigest(), streamed=True)


def fetch_bytes(url: str, *, limit: int, label: str, token: str | None, endpoint: str | None) -> bytes:
    """A small file (the manifest) into memory, refusing more than `limit` bytes: untrusted bytes are parsed
    before anything is written to disk."""
    import io

    from huggingface_hub.file_download import get_hf_file_metadata, http_get
    from huggingface_hub.utils import build_hf_headers, silent_tqdm

    meta = get_hf_file_metadata(url, token=token, endpoint=endpoint, retry_on_errors=False)  # retry.py retries
    if meta.size is not None and meta.size > limit:
        raise TooLarge(f"{label} is {meta.size} bytes; at most {limit} are accepted",
                       "this is not a manifest written by ludwig-hub-export: push the model again")
    buffer = io.BytesIO()
    writer = _HashingWriter(buffer, limit, label, lambda n: None)
    try:
        http_get(meta.location, writer, headers=build_hf_headers(token=token),  # type: ignore[arg-type]
                 displayed_filename=label, tqdm_class=silent_tqdm)
    finally:
        writer.close()
    return buffer.getvalue()
