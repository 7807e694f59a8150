"""The local Hub: a loopback HTTP server that the real ``huggingface_hub`` client can push to and pull from.

    with LocalHub() as hub:
        token = hub.add_user("alice", orgs=["acme"])
        ...  # a client process with hub.env(token) in its environment

Every request goes through one pipeline (`http_handler.py`): route (`routes.py`) -> scripted fault (before) -> auth
-> rate limit -> the API method (`api.py`) -> scripted fault (after) -> answer, and is recorded in `hub.log` and
`hub.stats` (`request_log.py`).
"""

from __future__ import annotations

import secrets
import shutil
import socket
import tempfile
import threading
from http.server import ThreadingHTTPServer
from pathlib import Path

from .accounts import Accounts
from .api import HubApi, Limits
from .faults import Fault, FaultInjector
from .http_handler import _Handler
from .ratelimit import DEFAULT_API_QUOTA, RateLimiter
from .request_log import RequestRecord, Stats
from .shape import Link, NetworkShape
from .storage import BlobStore, Commit, FileEntry, RepoStore
from .xet_cas import XetCas


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
