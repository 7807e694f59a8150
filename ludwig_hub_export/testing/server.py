"""The local Hub: a loopback HTTP server that the real ``huggingface_hub`` client can push to and pull from.

    with LocalHub() as hub:
        token = hub.add_user("alice", orgs=["acme"])
        ...  # a client process with hub.env(token) in its environment

Every request goes through one pipeline: route -> scripted fault (before) -> auth -> rate limit -> the API
method -> scripted fault (after) -> answer, and is recorded in `hub.log` and `hub.stats`.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import socket
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from .accounts import INVALID_CREDENTIALS, Accounts, Token
from .api import HubApi, Limits
from .api_call import Call
from .faults import Fault, FaultInjector
from .ratelimit import DEFAULT_API_QUOTA, RateLimiter
from .shape import Link, NetworkShape
from .storage import BlobStore, Commit, FileEntry, RepoStore
from .wire import BodyReader, HubError, Response, reset_connection
from .xet_cas import XetCas, shard_progress

_REV = r"(?P<rev>refs/(?:pr|convert)/[^/]+|[^/]+)"
_API_REPO = r"^/api/(?P<type>models|datasets|spaces)/(?P<ns>[^/]+)/(?P<name>[^/]+)"
_GIT_REPO = r"^/(?:(?P<type>datasets|spaces)/)?(?P<ns>[^/_][^/]*)/(?P<name>[^/]+?)"
ROUTES: list[tuple[str, str, re.Pattern]] = [
    (method, kind, re.compile(pattern))
    for method, kind, pattern in [
        ("GET", "whoami", r"^/api/whoami-v2$"),
        ("POST", "create_repo", r"^/api/repos/create$"),
        ("DELETE", "delete_repo", r"^/api/repos/delete$"),
        ("POST", "validate_yaml", r"^/api/validate-yaml$"),
        ("POST", "oidc_token", r"^/oauth/token$"),
        ("GET", "repo_info", _API_REPO + rf"(?:/revision/{_REV})?$"),
        ("GET", "tree", _API_REPO + rf"/tree/{_REV}(?:/(?P<path>.*))?$"),
        ("POST", "paths_info", _API_REPO + rf"/paths-info/{_REV}$"),
        ("POST", "preupload", _API_REPO + rf"/preupload/{_REV}$"),
        ("POST", "commit", _API_REPO + rf"/commit/{_REV}$"),
        ("GET", "commits", _API_REPO + rf"/commits/{_REV}$"),
        ("GET", "refs", _API_REPO + r"/refs$"),
        ("POST", "create_branch", _API_REPO + r"/branch/(?P<branch>[^/]+)$"),
        ("POST", "create_tag", _API_REPO + rf"/tag/{_REV}$"),
        ("POST", "create_collection", r"^/api/collections$"),
        ("GET", "get_collection", r"^/api/collections/(?P<ns>[^/]+)/(?P<slug>[^/]+)$"),
        ("POST", "add_collection_item", r"^/api/collections/(?P<ns>[^/]+)/(?P<slug>[^/]+)/items$"),
        ("POST", "lfs_batch", _GIT_REPO + r"\.git/info/lfs/objects/batch$"),
        ("POST", "lfs_verify", _GIT_REPO + r"\.git/info/lfs/objects/verify$"),
        ("PUT", "lfs_upload", r"^/_lfs/(?P<oid>[0-9a-f]{64})$"),
        ("GET", "resolve", _GIT_REPO + rf"/resolve/{_REV}/(?P<path>.+)$"),
        ("HEAD", "resolve", _GIT_REPO + rf"/resolve/{_REV}/(?P<path>.+)$"),
        ("GET", "xet_token", _API_REPO + r"/xet-(?P<mode>read|write)-token/(?P<rev>.+)$"),
        # The Xet CAS (xet_cas.py), under /cas: xorbs through upload grants or directly, shards and reconstructions
        # in both forms.
        ("POST", "xorb_grant", r"^/cas/v1/xorb-grants/(?P<prefix>[^/]+)/(?P<hash>[0-9a-f]{64})$"),
        ("PUT", "xorb", r"^/cas/grant-uploads/(?P<grant>[A-Za-z0-9_-]+)$"),
        ("POST", "xorb_commit",
         r"^/cas/v1/xorb-commits/(?P<prefix>[^/]+)/(?P<hash>[0-9a-f]{64})/grant/(?P<grant>[A-Za-z0-9_-]+)$"),
        ("POST", "xorb", r"^/cas/v1/xorbs/(?P<prefix>[^/]+)/(?P<hash>[0-9a-f]{64})$"),
        ("POST", "shard", r"^/cas/v[12]/shards$"),
        ("GET", "dedup", r"^/cas/v1/chunks/(?P<prefix>[^/]+)/(?P<hash>[0-9a-f]{64})$"),
        ("GET", "reconstruction", r"^/cas/v[12]/reconstructions/(?P<hash>[0-9a-f]{64})$"),
        ("GET", "xorb_get", r"^/cas/fetch/(?P<hash>[0-9a-f]{64})$"),
        ("POST", "xet_telemetry", r"^/v1/telemetry$"),  # hf_xet's: at the root of the CAS URL's host
    ]
]
CAS_KINDS = {"xorb_grant", "xorb", "xorb_commit", "shard", "dedup", "reconstruction", "xorb_get", "xet_telemetry"}
ADMIN_HEADER = "X-Local-Hub-Admin"


@dataclass
class RequestRecord:
    kind: str
    method: str
    path: str
    status: int | None  # None: the connection was dropped or reset without an answer
    user: str | None
    bytes_in: int
    bytes_out: int
    seconds: float
    fault: str | None = None
    agent: str = ""  # the User-Agent header: which library made the request
    logged: bool = field(default=False, repr=False, compare=False)  # in `LocalHub.log` already


@dataclass
class Stats:
    requests: Counter = field(default_factory=Counter)  # by kind
    statuses: Counter = field(default_factory=Counter)  # by (kind, status)
    bytes_received: int = 0
    bytes_sent: int = 0
    faults_fired: int = 0
    connections: int = 0  # new connections that made a request (each paid the handshakes when shaped)

    def to_dict(self) -> dict:
        return {
            "requests": dict(self.requests),
            "statuses": {f"{k} {s}": n for (k, s), n in self.statuses.items()},
            "bytes_received": self.bytes_received,
            "bytes_sent": self.bytes_sent,
            "faults_fired": self.faults_fired,
            "connections": self.connections,
        }


class _Dropped(Exception):
    """The connection was closed on purpose (a scripted fault); nothing more is sent."""


class LocalHub:
    """A Hub on 127.0.0.1 with its own accounts, storage, rate limits and scripted faults.

    `data_dir` keeps repos and blobs across restarts; without it, a temporary directory is used and removed
    on `stop()`. `user`/`token` set up a default account (a write token); without `token` one is generated.
    `api_quota` (calls, window seconds) is every token's "api" quota, the free account's by default.
    `xet` (on by default, as on the real Hub) serves the Xet token endpoints and a CAS under ``/cas``; with
    `xet=False` the Hub speaks only LFS and `env()` tells clients so. `xet_api=1` makes the CAS an older one,
    with only the v1 forms of shard uploads and reconstructions, and `xet_grants=False` takes xorbs only at
    ``/v1/xorbs`` (`xet_cas`). `rtt` (milliseconds) and `bandwidth` (Mbit/s each way) put the hub at a distance
    (`shape`): every request pays a round trip, every new connection two more, bytes share the bandwidth.
    """

    def __init__(self, data_dir: str | Path | None = None, host: str = "127.0.0.1", port: int = 0,
                 user: str = "tester", token: str | None = None, tree_page_size: int = 1000,
                 limits: Limits | None = None, seed: int | None = None, xet: bool = True,
                 api_quota: tuple[int, float] | None = DEFAULT_API_QUOTA, xet_api: int = 2,
                 xet_grants: bool = True, rtt: float = 0.0, bandwidth: float = 0.0) -> None:
        self._owns_dir = data_dir is None
        self.data_dir = Path(data_dir) if data_dir else Path(tempfile.mkdtemp(prefix="local-hub-"))
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.host, self._port = host, port
        self.default_user = user
        self.accounts = Accounts()
        self.token = self.accounts.add_token(user, "write", value=token, name="default")
        self.faults = FaultInjector(seed)
        self.rate_limits = RateLimiter(api_quota=api_quota)  # always an "api" quota, as on the Hub
        self.limits = limits or Limits()
        self._default_limits = dict(vars(self.limits))
        self.repos = RepoStore(self.data_dir / "state.json")
        self.blobs = BlobStore(self.data_dir / "blobs")
        self.admin_key = secrets.token_hex(16)
        self.default_tree_page_size = tree_page_size
        self.api = HubApi(self.accounts, self.repos, self.blobs, self.limits, secrets.token_bytes(32),
                          tree_page_size)
        self.xet = xet
        # What env() gives a client that does not say: "xet" like a real client; test harnesses may change it.
        self.default_transfer = "xet" if xet else "lfs"
        self.cas = XetCas(self.data_dir / "xet", secrets.token_bytes(32), api_version=xet_api,
                          grants=xet_grants) if xet else None
        self.api.cas = self.cas
        self._client_homes = 0
        self.log: list[RequestRecord] = []
        self.stats = Stats()
        self._stats_lock = threading.Lock()
        self._generation = 0  # bumped by reset(): requests still running from before are not recorded
        self.shape = NetworkShape(rtt, bandwidth)
        self.link = Link(self.shape)
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle ----------------------------------------------------------------------------------------
    @property
    def port(self) -> int:
        return self._server.server_address[1] if self._server else self._port

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def start(self) -> "LocalHub":
        if self._server is not None:
            return self
        server_class = _DualStackServer if ":" in self.host else ThreadingHTTPServer
        self._server = server_class((self.host, self._port), _Handler)
        self._server.daemon_threads = True
        self._server.hub = self  # type: ignore[attr-defined]
        self._thread = threading.Thread(target=self._server.serve_forever, name="local-hub", daemon=True)
        self._thread.start()
        # Another process (a benchmark, `hub serve`) reads this to drive the /_local/ admin endpoints.
        key_file = self.data_dir / "admin-key"
        key_file.write_text(self.admin_key)
        key_file.chmod(0o600)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._owns_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)

    def __enter__(self) -> "LocalHub":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def serve_forever(self) -> None:
        self.start()
        assert self._thread is not None
        while self._thread.is_alive():
            self._thread.join(0.5)

    def env(self, token: str | None = None, hf_home: str | Path | None = None,
            transfer: str | None = None) -> dict[str, str]:
        """Environment for a client process: must be set before it imports huggingface_hub.

        `transfer` is "xet" (the default when the Hub speaks Xet, as a real client would) or "lfs"
        (``HF_HUB_DISABLE_XET=1``). Each call without `hf_home` gets a fresh one: hf_xet keeps its shard cache
        there and would otherwise dedup against what an earlier client (or a reset Hub) once held.
        """
        transfer = transfer or self.default_transfer
        if transfer not in ("xet", "lfs"):
            raise ValueError(f"transfer must be 'xet' or 'lfs', not {transfer!r}")
        if transfer == "xet" and not self.xet:
            raise ValueError("this Hub was started without Xet: use transfer='lfs'")
        env = {"HF_ENDPOINT": self.url, "HF_HUB_DISABLE_XET": "1" if transfer == "lfs" else "0",
               "HF_HUB_DISABLE_TELEMETRY": "1", "HF_HUB_DISABLE_UPDATE_CHECK": "1"}
        if token is not None:
            env["HF_TOKEN"] = token
        if hf_home is None:
            with self._stats_lock:
                self._client_homes += 1
                hf_home = self.data_dir / "clients" / f"home-{self._client_homes}"
            Path(hf_home).mkdir(parents=True, exist_ok=True)
        env["HF_HOME"] = str(hf_home)
        return env

    def reset(self) -> None:
        """Forget repos and their blobs, accounts (but the default one), faults, quotas, the log and counters."""
        with self.repos.lock:
            self.repos.clear()
            self.blobs.clear()
            if self.cas is not None:
                self.cas.clear()
        self.faults.clear()
        self.rate_limits.clear()
        self.api.trusted.clear()
        self.api.collections.clear()
        self.api.tree_page_size = self.default_tree_page_size
        vars(self.limits).update(self._default_limits)
        self.accounts.users.clear()
        self.accounts.tokens.clear()
        self.accounts.add_token(self.default_user, "write", value=self.token, name="default")
        with self._stats_lock:
            self._generation += 1
            self.log.clear()
            self.stats = Stats()

    # --- conveniences for tests -----------------------------------------------------------------------------
    def add_user(self, name: str, orgs: dict[str, str] | list[str] | None = None, role: str = "write") -> str:
        """Create (or extend) a user and return a new token for it."""
        self.accounts.add_user(name, orgs)
        return self.accounts.add_token(name, role)

    def add_token(self, user: str, role: str = "write") -> str:
        return self.accounts.add_token(user, role)

    def revoke(self, token: str) -> None:
        self.accounts.revoke(token)

    def trust_publisher(self, repo_id: str, subject: str, user: str | None = None, issuer=None):
        """Configure trusted publishing for `repo_id` and return the `OidcIssuer` a test uses as CI provider:
        its id tokens with this `subject` (and this hub's URL as audience) exchange for a write token."""
        from .oidc import GITHUB_ISSUER, OidcIssuer, TrustedPublisher

        issuer = self.api.trusted.add_issuer(issuer or self.api.trusted.issuers.get(GITHUB_ISSUER) or OidcIssuer())
        self.api.trusted.add_publisher(TrustedPublisher(repo_id, user or repo_id.split("/")[0], subject,
                                                        issuer.name))
        return issuer

    def add_fault(self, kind: str, status: int | None = None, **options) -> Fault:
        return self.faults.add(kind, status, **options)

    def set_rate_limit(self, bucket: str, limit: int, window: float) -> None:
        self.rate_limits.set(bucket, limit, window)

    def commits(self, repo_id: str, revision: str = "main", repo_type: str = "model") -> list[Commit]:
        """History of a branch, newest first."""
        repo = self.repos.get(repo_type, repo_id)
        if repo is None:
            raise KeyError(f"no {repo_type} repo {repo_id}")
        head = repo.resolve(revision)
        return repo.history(head) if head else []

    def files(self, repo_id: str, revision: str = "main", repo_type: str = "model") -> dict[str, FileEntry]:
        commits = self.commits(repo_id, revision, repo_type)
        return dict(commits[0].files) if commits else {}

    def read_file(self, repo_id: str, path: str, revision: str = "main", repo_type: str = "model") -> bytes:
        entry = self.files(repo_id, revision, repo_type)[path]
        if entry.lfs_oid and not self.blobs.has("lfs", entry.lfs_oid) and entry.xet_hash and self.cas:
            return b"".join(self.cas.iter_file(entry.xet_hash))
        return self.blobs.path("lfs" if entry.lfs_oid else "git", entry.etag).read_bytes()

    def requests(self, kind: str | None = None) -> list[RequestRecord]:
        with self._stats_lock:
            return [r for r in self.log if kind is None or r.kind == kind]

    def _arrived(self, kind: str, generation: int, new_connection: bool = False) -> None:
        # Counted on arrival, not after the answer: a client that got its answer may read the counts at once.
        with self._stats_lock:
            if generation == self._generation:
                self.stats.requests[kind] += 1
                self.stats.connections += new_connection

    def _log_answer(self, record: RequestRecord, generation: int) -> None:
        # Logged and its status counted before the answer is sent: a client that got its answer may read the log
        # and the counts at once (the byte counts and the duration are completed afterwards, by `_record`).
        with self._stats_lock:
            if generation == self._generation and not record.logged:
                self._count_answer(record)

    def _count_answer(self, record: RequestRecord) -> None:  # under `_stats_lock`
        record.logged = True
        self.log.append(record)
        self.stats.statuses[(record.kind, record.status)] += 1
        if record.fault:
            self.stats.faults_fired += 1

    def _record(self, record: RequestRecord, generation: int) -> None:
        with self._stats_lock:
            if generation != self._generation:
                return  # a request from before the last reset
            if not record.logged:  # no answer was sent (a dropped connection): counted now
                self._count_answer(record)
            self.stats.bytes_received += record.bytes_in
            self.stats.bytes_sent += record.bytes_out


class _DualStackServer(ThreadingHTTPServer):
    address_family = socket.AF_INET6


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
        kind, params = self._route(split.path)
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

    def _route(self, path: str) -> tuple[str, dict[str, str]]:
        if path.startswith("/_local/"):
            return "admin", {"action": path[len("/_local/"):]}
        for method, kind, pattern in ROUTES:
            match = pattern.match(path)
            if match and method == self.command:
                return kind, {k: unquote(v) for k, v in match.groupdict().items() if v is not None}
        return "unknown", {}

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
