"""A real S3 API on loopback for tests and benchmarks: moto's server mode, with a request log and faults.

moto serves the S3 protocol (buckets, objects, ranged GETs, multipart) from memory; this wraps its WSGI app so
that every request is recorded (method, bucket/key, Range header, status, body bytes sent) and so that faults
can be scripted: access denied on a prefix, or a download cut off mid-body. The client under test is the real
one (s3fs/botocore) pointed here by ``AWS_ENDPOINT_URL``; nothing of it is mocked.
"""

from __future__ import annotations

import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import unquote

_DENIED = (b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessDenied</Code>'
           b"<Message>Access Denied</Message></Error>")


@dataclass
class S3Request:
    method: str
    path: str  # bucket/key, unquoted
    query: str
    range: str | None  # the Range header, e.g. "bytes=0-7"
    status: int = 0
    bytes_sent: int = 0  # response body bytes


@dataclass
class _Cut:
    prefix: str
    after: int  # body bytes sent before the connection drops
    times: int | None  # None: every time
    then: Callable[[], None] | None = None  # run as the connection drops (e.g. overwrite the object)


@dataclass
class S3Faults:
    denied: list[str] = field(default_factory=list)  # key prefixes (bucket/key) answered 403
    cuts: list[_Cut] = field(default_factory=list)

    def deny(self, prefix: str) -> None:
        self.denied.append(prefix)

    def cut(self, prefix: str, after: int, times: int | None = None, then: Callable[[], None] | None = None) -> None:
        """GETs of objects under `prefix` drop the connection after `after` body bytes (`times` times), running
        `then()` first if given (it may overwrite the object: what a resumed read finds then)."""
        self.cuts.append(_Cut(prefix, after, times, then))

    def clear(self) -> None:
        self.denied.clear()
        self.cuts.clear()


class PacedLink:
    """A link of `rate` bytes/s shared by every response body: a bucket across a network, not on loopback (where
    the server's own CPU, shared with the client's, sets the pace)."""

    PIECE = 1 << 20

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self._lock = threading.Lock()
        self._free_at = 0.0

    def send(self, n: int) -> None:
        with self._lock:
            now = time.monotonic()
            self._free_at = max(now, self._free_at) + n / self.rate
            wait = self._free_at - now
        time.sleep(wait)


class LocalS3:
    """``LocalS3().start()``; ``env()`` gives the client's environment; ``requests()`` the log. `bandwidth`
    (bytes/s, all downloads together) paces response bodies like a remote bucket's link."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, bandwidth: float | None = None) -> None:
        self.host, self.port = host, port
        self.link = PacedLink(bandwidth) if bandwidth else None
        self.faults = S3Faults()
        self.log: list[S3Request] = []
        self._lock = threading.Lock()
        self._server = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def env(self) -> dict[str, str]:
        """What a client needs: the endpoint, a region and (moto accepts any) credentials."""
        return {"AWS_ENDPOINT_URL": self.url, "AWS_ACCESS_KEY_ID": "local-s3-key",
                "AWS_SECRET_ACCESS_KEY": "local-s3-secret-value", "AWS_DEFAULT_REGION": "us-east-1"}

    def start(self) -> LocalS3:
        from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
        from werkzeug.serving import make_server

        class QuietHandler(MotoRequestHandler):
            def log(self, *args, **kwargs) -> None:  # the request log is `requests()`, not stderr
                pass

        app = DomainDispatcherApplication(create_backend_app)
        self._server = make_server(self.host, self.port, self._recording(app), threaded=True,
                                   request_handler=QuietHandler)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, name="local-s3", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(timeout=10)
            self._server = None

    def reset(self) -> None:
        """Empty every bucket (moto's own reset), the log and the faults."""
        urllib.request.urlopen(urllib.request.Request(f"{self.url}/moto-api/reset", method="POST"), timeout=10)
        self.faults.clear()
        with self._lock:
            self.log.clear()

    def requests(self, method: str | None = None, prefix: str = "") -> list[S3Request]:
        with self._lock:
            return [r for r in self.log if (method is None or r.method == method) and r.path.startswith(prefix)]

    def bytes_sent(self, prefix: str = "") -> int:
        return sum(r.bytes_sent for r in self.requests("GET", prefix))

    # --- the WSGI wrapper ----------------------------------------------------------------------------------
    def _recording(self, app):
        def wsgi(environ, start_response):
            path = unquote(environ.get("PATH_INFO", "")).lstrip("/")
            record = S3Request(environ["REQUEST_METHOD"], path, environ.get("QUERY_STRING", ""),
                               environ.get("HTTP_RANGE"))
            if not path.startswith("moto-api"):
                with self._lock:
                    self.log.append(record)

            def recording_start(status, headers, exc_info=None):
                record.status = int(status.split()[0])
                return start_response(status, headers, exc_info)

            if record.method in ("GET", "HEAD") and any(path.startswith(p) for p in self.faults.denied):
                recording_start("403 Forbidden", [("Content-Type", "application/xml"),
                                                  ("Content-Length", str(len(_DENIED)))])
                record.bytes_sent = len(_DENIED) if record.method == "GET" else 0
                return [_DENIED] if record.method == "GET" else [b""]
            cut = self._cut_for(record)
            body = app(environ, recording_start)
            return self._counted(body, record, cut)

        return wsgi

    def _cut_for(self, record: S3Request) -> _Cut | None:
        if record.method != "GET" or "/" not in record.path or record.query and \
                not record.query.startswith("versionId="):  # an object's GET (a version of it), not a listing
            return None
        with self._lock:
            return next((c for c in self.faults.cuts if record.path.startswith(c.prefix)
                         and (c.times is None or c.times > 0)), None)

    def _fire(self, cut: _Cut) -> bool:
        """Counted only when a body really is cut (a short ranged read of a header passes untouched)."""
        with self._lock:
            if cut.times is None:
                return True
            if cut.times > 0:
                cut.times -= 1
                return True
            return False

    def _counted(self, body, record: S3Request, cut: _Cut | None):
        try:
            for chunk in body:
                if cut is not None and record.bytes_sent + len(chunk) > cut.after and self._fire(cut):
                    part = chunk[:max(0, cut.after - record.bytes_sent)]
                    record.bytes_sent += len(part)
                    yield part
                    if cut.then is not None:
                        cut.then()
                    raise ConnectionAbortedError("local S3 fault: connection cut mid-body")
                if self.link is None:
                    record.bytes_sent += len(chunk)
                    yield chunk
                    continue
                for start in range(0, len(chunk), PacedLink.PIECE):
                    piece = chunk[start:start + PacedLink.PIECE]
                    self.link.send(len(piece))
                    record.bytes_sent += len(piece)
                    yield piece
        finally:
            close = getattr(body, "close", None)
            if close is not None:
                close()
