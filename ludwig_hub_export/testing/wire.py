"""HTTP/1.1 plumbing for the local Hub: request bodies (sized or chunked), answers, dropped connections."""

from __future__ import annotations

import json
import socket
import struct
from dataclasses import dataclass, field
from typing import Iterable, Iterator

CHUNK = 1 << 20
# JSON and NDJSON bodies are read into memory; anything bigger than this is refused rather than buffered.
MAX_BUFFERED_BODY = 512 * 1024 * 1024


class HubError(Exception):
    """An error answer, shaped like the Hub's: JSON ``{"error": ...}`` plus ``X-Error-Code``/``X-Error-Message``."""

    def __init__(self, status: int, message: str, code: str | None = None, headers: dict | None = None,
                 body: dict | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.headers = dict(headers or {})
        self.body = body

    def to_response(self) -> "Response":
        headers = {"X-Error-Message": self.message, **self.headers}
        if self.code:
            headers["X-Error-Code"] = self.code
        return Response.json(self.status, self.body if self.body is not None else {"error": self.message}, headers)


@dataclass
class Response:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    stream: Iterable[bytes] | None = None  # sent instead of body; Content-Length must be in headers

    @classmethod
    def json(cls, status: int, obj, headers: dict | None = None) -> "Response":
        return cls(status, {"Content-Type": "application/json", **(headers or {})}, json.dumps(obj).encode())


class BodyReader:
    """Reads a request body once, from Content-Length or chunked transfer coding, counting the bytes."""

    def __init__(self, rfile, headers) -> None:
        self.rfile = rfile
        self.chunked = "chunked" in headers.get("Transfer-Encoding", "").lower()
        length = headers.get("Content-Length")
        self.length = int(length) if length is not None and not self.chunked else (None if self.chunked else 0)
        self.received = 0
        self.finished = self.length == 0

    def iter_chunks(self, limit: int | None = None) -> Iterator[bytes]:
        """Yield the body in pieces; stop after about `limit` bytes when given (the rest stays unread)."""
        if self.finished:
            return
        if self.chunked:
            yield from self._iter_chunked(limit)
            return
        remaining = self.length - self.received
        while remaining > 0:
            if limit is not None and self.received >= limit:
                return
            data = self.rfile.read(min(CHUNK, remaining))
            if not data:
                raise ConnectionError("client closed the connection mid-body")
            self.received += len(data)
            remaining -= len(data)
            yield data
        self.finished = True

    def _iter_chunked(self, limit: int | None) -> Iterator[bytes]:
        while True:
            if limit is not None and self.received >= limit:
                return
            line = self.rfile.readline(65537)
            if not line:
                raise ConnectionError("client closed the connection mid-body")
            size = int(line.split(b";", 1)[0].strip() or b"0", 16)
            if size == 0:
                while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                self.finished = True
                return
            left = size
            while left > 0:
                data = self.rfile.read(min(CHUNK, left))
                if not data:
                    raise ConnectionError("client closed the connection mid-body")
                left -= len(data)
                self.received += len(data)
                yield data
            self.rfile.readline(3)  # CRLF after the chunk

    def read(self) -> bytes:
        if self.length is not None and self.length > MAX_BUFFERED_BODY:
            raise HubError(413, f"request body of {self.length} bytes is too large for this endpoint")
        parts, total = [], 0
        for part in self.iter_chunks():
            total += len(part)
            if total > MAX_BUFFERED_BODY:
                raise HubError(413, "request body is too large for this endpoint")
            parts.append(part)
        return b"".join(parts)

    def json(self):
        raw = self.read()
        try:
            return json.loads(raw or b"null")
        except ValueError as e:
            raise HubError(400, f"request body is not valid JSON: {e}") from None

    def discard(self, max_bytes: int = 64 * 1024 * 1024) -> bool:
        """Drain a small unread body so the connection can be reused; False when it is too big to drain."""
        if self.finished:
            return True
        if self.length is not None and self.length - self.received > max_bytes:
            return False
        try:
            for _ in self.iter_chunks(limit=self.received + max_bytes):
                pass
        except (ConnectionError, ValueError, OSError):
            return False
        return self.finished


def reset_connection(sock: socket.socket) -> None:
    """Close with an RST instead of a FIN, as a crashed proxy would."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    try:
        sock.close()
    except OSError:
        pass


def read_range(path, start: int, length: int) -> Iterator[bytes]:
    """`length` bytes of a file from `start`, 1 MiB at a time (a ranged read of a blob or a xorb, a grant's bytes)."""
    with open(path, "rb") as f:
        f.seek(start)
        while length > 0:
            data = f.read(min(1 << 20, length))
            if not data:
                return
            length -= len(data)
            yield data
