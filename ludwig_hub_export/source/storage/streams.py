"""An object streamed in one GET (fsspec's ``open``/``cat_file`` make one ranged GET per block), the next piece
read ahead while the caller handles this one; and every read of an object pinned to its listed version, so a
read in several requests never splices two: on S3 each carries ``If-Match`` (and ``VersionId``) through s3fs's
public ``call_s3`` (412: `ObjectChanged`). Other stores are unpinned (`pinnable`): the caller starts over.
"""

from __future__ import annotations

import errno
import functools
import inspect
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from fsspec.asyn import sync

from ...errors import StorageError

PIECE = 8 << 20  # what each read hands on; two are in memory at most (one handled, one arriving)


class Stream:
    """Iterate for the pieces; `close()` always (it waits for a read in flight, then lets the request go)."""

    def __init__(self, fs, file) -> None:
        self._fs, self._file = fs, file
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="storage-read-ahead")
        self._next = None
        self._read = functools.partial(sync, fs.loop, _fill, file, PIECE)

    def __iter__(self):
        self._next = self._pool.submit(self._read)
        while True:
            piece = self._next.result()
            if not piece:
                return
            self._next = self._pool.submit(self._read)  # the next piece arrives while this one is handled
            yield piece

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
        try:
            sync(self._fs.loop, _close, self._file)
        except Exception:  # noqa: BLE001 - closing a failed or finished stream has nothing left to report
            pass


async def _close(file) -> None:
    """fsspec's streamed file closes asynchronously, a GetObject body synchronously."""
    if inspect.isawaitable(closing := file.close()):
        await closing


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


@dataclass(frozen=True)
class Pin:
    """The version of an object every read of it must get: its ETag as listed, and its S3 VersionId when the
    listing was version-aware (`s3fs` with ``version_aware=True``); the old version stays readable then."""

    etag: str | None = None
    version_id: str | None = None


class ObjectChanged(StorageError):
    """The object is no longer the version its reads are pinned to (S3 answered 412 to If-Match)."""


def pinnable(fs, pin: Pin | None) -> bool:
    """Whether reads of `fs` can be pinned to `pin` (S3 through s3fs: If-Match, VersionId)."""
    return pin is not None and bool(pin.etag or pin.version_id) and callable(getattr(fs, "call_s3", None)) \
        and callable(getattr(fs, "split_path", None))


def read_range(fs, path: str, pin: Pin | None, start: int | None = None, end: int | None = None) -> bytes:
    """Bytes [start, end) of the object (all of it without them), of the pinned version where `pinnable`."""
    if not pinnable(fs, pin):
        return fs.cat_file(path, start=start, end=end)
    ranged = {} if start is None else {"Range": f"bytes={start}-{end - 1}"}
    body = _get_pinned(fs, path, pin, ranged)["Body"]
    try:
        return sync(fs.loop, body.read)
    finally:
        body.close()


def _get_pinned(fs, path: str, pin: Pin, extra: dict) -> dict:
    bucket, key, _ = fs.split_path(path)
    kwargs = {"Bucket": bucket, "Key": key, **extra}
    if pin.version_id:
        kwargs["VersionId"] = pin.version_id
    if pin.etag:
        kwargs["IfMatch"] = f'"{pin.etag.strip(chr(34))}"'
    try:
        return fs.call_s3("get_object", **kwargs)
    except OSError as e:
        if _precondition_failed(e):
            raise ObjectChanged(f"{path}: the object changed while it was read (its ETag is no longer "
                                f"{pin.etag})", "run the same command again: it reads the object as it is now") \
                from None
        raise


def _precondition_failed(error: BaseException) -> bool:
    """s3fs turns a 412 into OSError(EINVAL, "At least one of the pre-conditions ..."), botocore's as its cause."""
    cause = error.__cause__
    response = getattr(cause, "response", None) or {}
    if response.get("Error", {}).get("Code") in ("PreconditionFailed", "412") or \
            response.get("ResponseMetadata", {}).get("HTTPStatusCode") == 412:
        return True
    return getattr(error, "errno", None) == errno.EINVAL and "pre-condition" in str(error).lower()


def streamed(fs, path: str, pin: Pin | None) -> Stream | None:
    """A streamed read of `path` (pinned where `pinnable`), or None when `fs` has none (read by ranges then)."""
    if pinnable(fs, pin):
        return Stream(fs, _get_pinned(fs, path, pin, {})["Body"])
    if not getattr(fs, "async_impl", False):
        return None
    try:
        file = sync(fs.loop, fs.open_async, path, "rb")
    except (NotImplementedError, ValueError):
        return None
    return Stream(fs, file)
