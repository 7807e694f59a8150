"""The local Hub's HTTP handler: every request goes route -> scripted fault (before) -> auth -> rate limit -> the
API method -> scripted fault (after) -> answer, and is recorded on the `LocalHub` (`server.py`). The admin
endpoints under ``/_local/`` let tests and benchmarks drive a hub that runs in another process (`control.py`)."""

from __future__ import annotations

import os
import socket
import time
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, urlsplit

from .accounts import INVALID_CREDENTIALS, Token
from .api_call import Call
from .faults import Fault
from .request_log import RequestRecord
from .routes import CAS_KINDS, route
from .wire import BodyReader, HubError, Response, reset_connection
from .xet_cas import shard_progress

if TYPE_CHECKING:
    from .server import LocalHub

ADMIN_HEADER = "X-Local-Hub-Admin"


class _Dropped(Exception):
    """The connection was closed on purpose (a scripted fault); nothing more is sent."""


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "LocalHub/1"
    # Headers and body go out in two writes: with Nagle's algorithm the body waited for the client's delayed ACK,
    # 40 ms on every answer (the real Hub answers in one go). TCP_NODELAY, as the stdlib offers.
    disable_nagle_algorithm = True

    def log_message(self, format, *args) -> None:  # the request log replaces stderr noise
        pass

    def setup(self) -> None:
        super().setup()
        self._new_connection = True  # until its first request: that one pays the handshakes
        self.rfile, self.wfile = self.server.hub.link.wrap(self.rfile, self.wfile)  # type: ignore[attr-defined]

    def do_GET(self): self._handle()  # noqa: E704
    def do_HEAD(self): self._handle()  # noqa: E704
    def do_POST(self): self._handle()  # noqa: E704
    def do_PUT(self): self._handle()  # noqa: E704
    def do_DELETE(self): self._handle()  # noqa: E704

    def _handle(self) -> None:
        hub: LocalHub = self.server.hub  # type: ignore[attr-defined]
        self._generation = hub._generation
        started = time.monotonic()
        split = urlsplit(self.path)
        body = BodyReader(self.rfile, self.headers)
        kind, params = route(self.command, split.path)
        new_connection = self._new_connection and kind != "admin"  # the admin API is not at a distance
        if kind != "admin":
            self._new_connection = False
            hub.link.request_arrives(new_connection)
        hub._arrived(kind, self._generation, new_connection)
        record = RequestRecord(kind, self.command, split.path, None, None, 0, 0, 0.0,
                               agent=self.headers.get("User-Agent") or "")
        try:
            response = self._process(hub, kind, params, split, body, record)
            if kind != "admin":
                hub.link.answer_departs()
            record.status = response.status
            record.bytes_in = body.received
            hub._log_answer(record, self._generation)
            record.bytes_out = self._send(response, body)
        except _Dropped:
            self.close_connection = True
        except (ConnectionError, OSError):
            self.close_connection = True  # the client went away
        finally:
            record.bytes_in = body.received
            record.seconds = time.monotonic() - started
            hub._record(record, self._generation)

    def _process(self, hub: LocalHub, kind: str, params: dict, split, body: BodyReader,
                 record: RequestRecord) -> Response:
        if kind == "admin":
            return self._admin(hub, params["action"], body)
        response = self._answer(hub, kind, params, split, body, record)
        # Like the Hub: every /api answer, errors and faults included, says where the caller's quota stands.
        token = hub.accounts.lookup(self.headers.get("Authorization"))
        who = f"token:{token.user}:{token.name}" if isinstance(token, Token) else f"ip:{self.client_address[0]}"
        for name, value in hub.rate_limits.state(who, split.path.startswith("/api/")).items():
            response.headers.setdefault(name, value)
        return response

    def _answer(self, hub: LocalHub, kind: str, params: dict, split, body: BodyReader,
                record: RequestRecord) -> Response:
        fault = hub.faults.take(kind, split.path)
        if fault is not None:
            record.fault = " ".join(str(x) for x in (fault.action, fault.status, fault.when) if x is not None)
        if fault is not None and fault.when == "before":
            self._before(fault, body)
            if fault.action == "respond" and fault.status or fault.action == "error_frame":
                return self._fault_response(fault)
        try:
            if kind == "unknown":
                raise HubError(404, f"no such endpoint: {self.command} {split.path}")
            if kind in CAS_KINDS:
                # The CAS authorizes with its own short-lived Xet tokens, not the Hub's.
                if hub.cas is None:
                    raise HubError(404, "this Hub does not speak Xet")
                call = Call(self.command, split.path, parse_qs(split.query), params, self.headers, body, None,
                            hub.url)
                response = getattr(hub.cas, kind)(call)
            else:
                token = self._authenticate(hub)
                record.user = token.user if token else None
                who = f"token:{token.user}:{token.name}" if token else f"ip:{self.client_address[0]}"
                if (limited := hub.rate_limits.check(who, kind, split.path.startswith("/api/"))) is not None:
                    raise HubError(429, "You have been rate-limited; retry after the window resets.",
                                   headers=limited)
                call = Call(self.command, split.path, parse_qs(split.query), params, self.headers, body, token,
                            hub.url)
                response = getattr(hub.api, kind)(call)
        except HubError as e:
            response = e.to_response()
        if fault is not None and fault.when == "after":
            if fault.delay:
                self._sleep(fault.delay)
            if fault.action == "drop":
                self._drop()
            if fault.status is not None or fault.action == "error_frame":
                return self._fault_response(fault)
        return response

    def _authenticate(self, hub: LocalHub) -> Token | None:
        token = hub.accounts.lookup(self.headers.get("Authorization"))
        if token == INVALID_CREDENTIALS:
            raise HubError(401, INVALID_CREDENTIALS)
        return token  # type: ignore[return-value]

    def _sleep(self, seconds: float) -> None:
        """Sleep, but give up (dropping the connection) when the hub is reset meanwhile."""
        hub: LocalHub = self.server.hub  # type: ignore[attr-defined]
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            if hub._generation != self._generation:
                self._drop()
            time.sleep(min(0.05, max(0.0, end - time.monotonic())))

    def _before(self, fault: Fault, body: BodyReader) -> None:
        if fault.delay:
            self._sleep(fault.delay)
        if fault.action == "drop":
            self._drop()
        if fault.action == "reset":
            half = (body.length or 2 * 1024 * 1024) // 2
            try:
                for _ in body.iter_chunks(limit=half):
                    pass
            except (ConnectionError, OSError):
                pass
            reset_connection(self.connection)
            raise _Dropped()

    def _drop(self) -> None:
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        raise _Dropped()

    @staticmethod
    def _fault_response(fault: Fault) -> Response:
        if fault.action == "error_frame":
            message = (fault.body or {}).get("message", "Injected fault: the shard was not committed")
            return shard_progress([], {"type": "error", "message": message, "retryable": fault.retryable})
        status = fault.status or 500
        message = fault.body or {"error": f"Injected fault: HTTP {status}"}
        return Response.json(status, message, fault.headers)

    def _send(self, response: Response, body: BodyReader) -> int:
        # An unread request body would be taken for the next request: drain it or close the connection.
        if not body.finished and not body.discard():
            self.close_connection = True
        self.send_response(response.status)
        headers = dict(response.headers)
        if response.stream is None and "Content-Length" not in headers:
            headers["Content-Length"] = str(len(response.body))
        if self.close_connection:
            headers["Connection"] = "close"
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        if self.command == "HEAD":
            return 0
        sent = 0
        try:
            if response.stream is not None:
                for chunk in response.stream:
                    self.wfile.write(chunk)
                    sent += len(chunk)
            elif response.body:
                self.wfile.write(response.body)
                sent = len(response.body)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        return sent

    # --- admin: lets tests and benchmarks drive a hub running in another process ------------------------------
    def _admin(self, hub: LocalHub, action: str, body: BodyReader) -> Response:
        if self.headers.get(ADMIN_HEADER) != hub.admin_key:
            return Response.json(403, {"error": f"{ADMIN_HEADER} header missing or wrong"})
        if action == "stats" and self.command == "GET":
            with hub._stats_lock:
                return Response.json(200, {**hub.stats.to_dict(), "rss_bytes": _rss_bytes()})
        if action == "faults" and self.command == "POST":
            specs = body.json()
            for spec in specs if isinstance(specs, list) else [specs]:
                hub.faults.add(**spec)
            return Response.json(200, hub.faults.describe())
        if action == "faults" and self.command == "DELETE":
            hub.faults.clear()
            return Response.json(200, [])
        if action == "ratelimit" and self.command == "POST":
            spec = body.json()
            hub.set_rate_limit(spec["bucket"], int(spec["limit"]), float(spec["window"]))
            return Response.json(200, {})
        if action == "users" and self.command == "POST":
            spec = body.json()
            token = hub.add_user(spec["name"], spec.get("orgs"), spec.get("role", "write"))
            return Response.json(200, {"token": token})
        if action == "revoke" and self.command == "POST":
            hub.revoke(body.json()["token"])
            return Response.json(200, {})
        if action == "trusted-publishers" and self.command == "POST":
            spec = body.json()
            issuer = hub.trust_publisher(spec["repo_id"], spec["subject"], spec.get("user"))
            # The key lets the caller play the CI provider (mint id tokens); it signs nothing else.
            return Response.json(200, {"issuer": issuer.name, "key": issuer.key.hex()})
        if action == "reset" and self.command == "POST":
            hub.reset()
            return Response.json(200, {})
        return Response.json(404, {"error": f"unknown admin action {self.command} {action}"})


def _rss_bytes() -> int:
    """Resident memory of this process, from /proc (Linux) without extra dependencies."""
    try:
        with open(f"/proc/{os.getpid()}/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return -1
