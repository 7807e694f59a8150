"""What the remote revision holds, compared with the plan: what is missing before an upload, and the
verification after it."""

from __future__ import annotations

from .errors import HubError
from .plan import PlannedFile
from .retry import status_of
from .session import HubSession

_PATHS_PER_REQUEST = 500


def remote_state(s: HubSession, paths: list[str], revision: str | None = None
                 ) -> dict[str, tuple[str | None, str | None]]:
    """path -> (git blob id, LFS sha256) for the paths that exist on the remote revision."""
    from huggingface_hub.errors import RepositoryNotFoundError, RevisionNotFoundError

    revision = revision or s.revision
    state: dict[str, tuple[str | None, str | None]] = {}

    def fetch(chunk: list[str]):
        try:
            return s.api.get_paths_info(s.settings.repo_id, chunk, revision=revision)
        except (RepositoryNotFoundError, RevisionNotFoundError) as e:
            if status_of(e) == 401:
                raise
            return []  # nothing there yet (dry run of a new repo or branch)

    for start in range(0, len(paths), _PATHS_PER_REQUEST):
        chunk = paths[start:start + _PATHS_PER_REQUEST]
        for entry in s.call("list remote files", lambda c=chunk: fetch(c)):
            lfs = getattr(entry, "lfs", None)
            if hasattr(entry, "blob_id"):
                state[entry.path] = (entry.blob_id, lfs.sha256 if lfs else None)
    return state


def missing(s: HubSession, files: list[PlannedFile], revision: str | None = None) -> list[PlannedFile]:
    state = remote_state(s, [f.path for f in files], revision)
    return [f for f in files if not (f.path in state and f.digest.matches_remote(*state[f.path]))]


def pr_refs(s: HubSession) -> set[str]:
    refs = s.call("list refs", lambda: s.api.list_repo_refs(s.settings.repo_id, include_pull_requests=True))
    return {r.ref for r in (refs.pull_requests or [])}


def verify(s: HubSession) -> None:
    """Every planned file's remote oid equals the local hash, or a `HubError` naming the ones that differ."""
    wrong = missing(s, s.plan.files, s.revision)
    if wrong:
        names = ", ".join(f.path for f in wrong[:5])
        raise HubError(f"verification failed: {len(wrong)} file(s) on {s.settings.repo_id}@{s.revision} "
                       f"differ from the local ones ({names})",
                       "run the same command again: it uploads what is missing or different")
    s.report.verified = True
    if not s.report.commit_oid:
        info = s.call("repo info", lambda: s.api.repo_info(s.settings.repo_id, revision=s.revision))
        s.report.commit_oid = info.sha
