"""An object read whole in one request, in order, with the next piece fetched while the caller handles this one.

fsspec's async filesystems (s3fs, and others that implement ``open_async``) stream a plain GET; their ``open``
and ``cat_file`` make one ranged GET per block instead. A streamed read is one request per file, and its body
keeps arriving while the previous piece is hashed and handed on (a single read-ahead thread).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

PIECE = 8 << 20  # what each read hands on; two are in memory at most (one handled, one arriving)


class Stream:
    """Iterate for the pieces; `close()` always (it waits for a read in flight, then lets the request go)."""

    def __init__(self, fs, file) -> None:
        self._fs, self._file = fs, file
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="storage-read-ahead")
        self._next = None

    def _read(self) -> bytes:
        from fsspec.asyn import sync

        return sync(self._fs.loop, _fill, self._file, PIECE)

    def __iter__(self):
        self._next = self._pool.submit(self._read)
        while True:
            piece = self._next.result()
            if not piece:
                return
            self._next = self._pool.submit(self._read)  # the next piece arrives while this one is handled
            yield piece

    def close(self) -> None:
        from fsspec.asyn import sync

        self._pool.shutdown(wait=True, cancel_futures=True)
        try:
            sync(self._fs.loop, self._file.close)
        except Exception:  # noqa: BLE001 - closing a failed or finished stream has nothing left to report
            pass


async def _fill(file, n: int) -> bytes:
    """Up to `n` bytes (fewer only at the end): a body read returns what has arrived, often 64 KiB."""
    parts, got = [], 0
    while got < n:
        part = await file.read(n - got)
        if not part:
            break
        parts.append(part)
        got += len(part)
    return b"".join(parts)


def streamed(fs, path: str) -> Stream | None:
    """A streamed read of `path`, or None when `fs` has none (the caller reads by ranges)."""
    if not getattr(fs, "async_impl", False):
        return None
    from fsspec.asyn import sync

    try:
        file = sync(fs.loop, fs.open_async, path, "rb")
    except (NotImplementedError, ValueError):
        return None
    return Stream(fs, file)
