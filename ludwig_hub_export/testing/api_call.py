"""The parsed request (`Call`) and what every part of the local Hub's API does with it first: find the repo the
caller may see, check its write rights and the token's scope, resolve a revision; and page a long listing."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from .accounts import Accounts, Token
from .storage import BlobStore, Commit, Repo, RepoStore
from .wire import BodyReader, HubError, Response

if TYPE_CHECKING:
    from .api import Limits
    from .xet_cas import XetCas

TYPE_OF_PLURAL = {"models": "model", "datasets": "dataset", "spaces": "space"}
URL_PREFIX = {"model": "", "dataset": "datasets/", "space": "spaces/"}


@dataclass
class Call:
    method: str
    path: str
    query: dict[str, list[str]]
    params: dict[str, str]
    headers: Any
    body: BodyReader
    token: Token | None
    endpoint: str
    extra: dict = field(default_factory=dict)

    def flag(self, name: str) -> bool:
        return self.query.get(name, [""])[-1].lower() in ("1", "true")

    @property
    def repo_type(self) -> str:
        return TYPE_OF_PLURAL.get(self.params.get("type") or "models", "model")

    @property
    def repo_id(self) -> str:
        return f"{self.params['ns']}/{self.params['name']}"


def _not_found_repo(repo_id: str) -> HubError:
    return HubError(404, f"Repository Not Found: {repo_id}", "RepoNotFound")


class ApiBase:
    """What the parts of `HubApi` share: its state (set by `HubApi.__init__`) and the checks every call makes."""

    accounts: Accounts
    repos: RepoStore
    blobs: BlobStore
    limits: Limits
    tree_page_size: int
    cas: XetCas | None

    def _repo(self, call: Call, write: bool = False) -> Repo:
        repo = self.repos.get(call.repo_type, call.repo_id)
        # Private repos are invisible (404) to everyone outside their namespace, as on the Hub.
        if repo is None or not self.accounts.can_read(call.token, repo.namespace, repo.private):
            raise _not_found_repo(call.repo_id)
        if write:
            self._require_write(call.token, repo.namespace, f"push to {call.repo_id}")
            self._require_scope(call.token, repo.repo_id)
        return repo

    @staticmethod
    def _require_scope(token: Token | None, repo_id: str) -> None:
        if token is not None and token.scope is not None and token.scope != repo_id:
            raise HubError(403, f"This token is limited to {token.scope}: it cannot write to {repo_id}")

    def _require_write(self, token: Token | None, namespace: str, what: str) -> None:
        if token is None:
            raise HubError(401, f"You must be authenticated to {what}")
        if token.role != "write":
            raise HubError(403, f"You don't have the rights to {what}: this token is read-only")
        if not self.accounts.can_write(token, namespace):
            raise HubError(403, f'You don\'t have the rights to {what}: namespace "{namespace}" is not yours')

    @staticmethod
    def _commit(repo: Repo, revision: str) -> Commit:
        commit = repo.resolve(revision)
        if commit is None:
            raise HubError(404, f"Invalid rev id: {revision}", "RevisionNotFound")
        return commit

    def _repo_url(self, call: Call, repo: Repo) -> str:
        return f"{call.endpoint}/{URL_PREFIX[repo.repo_type]}{repo.repo_id}"

    def _check_size(self, path: str, size: int) -> None:
        if self.limits.max_file_size is not None and size > self.limits.max_file_size:
            raise HubError(413, f"{path}: file of {size} bytes exceeds the {self.limits.max_file_size}-byte limit")

    def _paged(self, call: Call, items: list, page_size: int) -> Response:
        try:
            cursor = int(call.query.get("cursor", ["0"])[0])
        except ValueError:
            raise HubError(400, "invalid cursor") from None
        page = items[cursor: cursor + page_size]
        headers = {}
        if cursor + page_size < len(items):
            query = {k: v[-1] for k, v in call.query.items() if k != "cursor"}
            query["cursor"] = str(cursor + page_size)
            qs = "&".join(f"{quote(k)}={quote(v)}" for k, v in query.items())
            headers["Link"] = f'<{call.endpoint}{call.path}?{qs}>; rel="next"'
        return Response.json(200, page, headers)
