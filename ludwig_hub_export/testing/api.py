"""The Hub's API as ``huggingface_hub`` uses it: one method per kind of call (the Xet CAS is in `xet_cas.py`).

Each method takes a `Call` (the parsed request, `api_call.py`) and returns a `Response` or raises `HubError`. The
methods are grouped by concern: repos and refs (`api_repos.py`), commits (`api_commits.py`), reading files
(`api_files.py`), LFS and Xet (`api_large_files.py`), Collections (`api_collections.py`); the calls about no repo
are here. Routing, faults, rate limits and logging live in `server.py`; storage in `storage.py`.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass

from ..card_metadata import validate_front_matter
from .accounts import INVALID_CREDENTIALS, Accounts
from .api_call import Call
from .api_collections import CollectionApi
from .api_commits import CommitApi
from .api_files import FileApi
from .api_large_files import LargeFileApi
from .api_repos import RepoApi
from .oidc import ACCESS_TOKEN_TYPE, OidcRefused, TrustedPublishing
from .storage import BlobStore, RepoStore
from .wire import HubError, Response


@dataclass
class Limits:
    """Server-side limits; None switches one off. Defaults follow the Hub's documented hard limits."""

    max_file_size: int | None = 50 * 1000**3
    max_entries_per_folder: int | None = 10_000
    max_files_per_repo: int | None = 100_000
    max_files_per_commit: int | None = None  # the Hub advises < 100 but does not refuse more


class HubApi(RepoApi, CommitApi, FileApi, LargeFileApi, CollectionApi):
    """The local Hub's API whole: `server.py` calls the method its route names."""

    def __init__(self, accounts: Accounts, repos: RepoStore, blobs: BlobStore, limits: Limits,
                 secret: bytes, tree_page_size: int = 1000) -> None:
        self.accounts = accounts
        self.repos = repos
        self.blobs = blobs
        self.limits = limits
        self.secret = secret
        self.tree_page_size = tree_page_size
        self.collections: dict[str, dict] = {}  # slug -> collection (in memory: not kept across restarts)
        self.cas = None  # the XetCas when the Hub speaks Xet (LocalHub sets it)
        self.trusted = TrustedPublishing()

    def whoami(self, call: Call) -> Response:
        if call.token is None:
            raise HubError(401, INVALID_CREDENTIALS)
        return Response.json(200, self.accounts.whoami(call.token))

    def oidc_token(self, call: Call) -> Response:
        """Trusted publishing (RFC 8693 token exchange): a CI id token in, a short-lived repo-scoped write
        token out. See `oidc.py`."""
        payload = call.body.json() or {}
        try:
            publisher = self.trusted.check(payload if isinstance(payload, dict) else {}, call.endpoint)
        except OidcRefused as e:
            raise HubError(400, str(e), body={"error": "invalid_grant", "error_description": str(e)}) from None
        ttl = self.trusted.token_ttl
        value = self.accounts.add_token(publisher.user, "write", value="hf_oidc_" + secrets.token_urlsafe(24),
                                        name="oidc", expires_at=time.time() + ttl, scope=publisher.repo_id)
        return Response.json(200, {"access_token": value, "token_type": "bearer", "expires_in": ttl,
                                   "issued_token_type": ACCESS_TOKEN_TYPE})

    def validate_yaml(self, call: Call) -> Response:
        payload = call.body.json() or {}
        errors, warnings = validate_front_matter(str(payload.get("content", "")))
        body = {"errors": [{"message": m} for m in errors], "warnings": [{"message": m} for m in warnings]}
        return Response.json(400 if errors else 200, body)
