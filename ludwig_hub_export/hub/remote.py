"""What the remote revision holds, compared with the plan: what is missing before an upload, and the
verification after it."""

from __future__ import annotations

from collections import namedtuple

from ..errors import HubError

TYPE_CHECKING = False  # typing's, without loading typing
if TYPE_CHECKING:
    from ..artifact.plan import ExportPlan, PlannedFile
    from .session import HubSession

_PATHS_PER_REQUEST = 500

# Not typing's NamedTuple: ~3 ms to load. Each field None when unknown; `sha256` for LFS/Xet files only.
RemoteEntry = namedtuple("RemoteEntry", "blob_id sha256 size")
# `commit` is None when the revision does not exist yet; `files`: path -> RemoteEntry.
Snapshot = namedtuple("Snapshot", "repo_exists commit files")


def _unless_401(e: Exception) -> None:
    """A repo or revision not found is an answer (nothing there yet), except behind a refused token."""
    from .retry import status_of

    if status_of(e) == 401:
        raise e


def remote_state(s: HubSession, paths: list[str], revision: str | None = None) -> dict[str, RemoteEntry]:
    """What the remote revision holds at `paths` (absent paths are left out)."""
    from huggingface_hub.errors import RepositoryNotFoundError, RevisionNotFoundError

    def fetch(chunk: list[str]):
        try:
            return s.api.get_paths_info(s.settings.repo_id, chunk, revision=revision or s.revision)
        except (RepositoryNotFoundError, RevisionNotFoundError) as e:
            _unless_401(e)
            return []  # nothing there yet (dry run of a new repo or branch)

    state: dict[str, RemoteEntry] = {}
    for start in range(0, len(paths), _PATHS_PER_REQUEST):
        for entry in s.call("list remote files", lambda c=paths[start:start + _PATHS_PER_REQUEST]: fetch(c)):
            lfs = getattr(entry, "lfs", None)
            if hasattr(entry, "blob_id"):
                state[entry.path] = RemoteEntry(entry.blob_id, lfs.sha256 if lfs else None,
                                                getattr(entry, "size", None))
    return state


def snapshot(s: HubSession) -> Snapshot:
    """The target revision in one request (repo info with file metadata): one consistent view, at one commit, of
    what would otherwise take a lookup, a listing per phase and a verification."""
    from huggingface_hub.errors import RepositoryNotFoundError, RevisionNotFoundError

    def fetch() -> Snapshot:
        try:
            info = s.api.repo_info(s.settings.repo_id, revision=s.revision, files_metadata=True)
        except (RevisionNotFoundError, RepositoryNotFoundError) as e:
            _unless_401(e)
            return Snapshot(isinstance(e, RevisionNotFoundError), None, {})
        return Snapshot(True, info.sha, {f.rfilename: RemoteEntry(f.blob_id, f.lfs.sha256 if f.lfs else None,
                                                                  f.size) for f in info.siblings or []})

    return s.call("repo info", fetch)


def missing(s: HubSession, files: list[PlannedFile], revision: str | None = None) -> list[PlannedFile]:
    """The files whose bytes the remote revision does not have at their path."""
    return differing(s.plan, files, remote_state(s, [f.path for f in files], revision))


def differing(plan: ExportPlan, files: list[PlannedFile], state: dict[str, RemoteEntry]) -> list[PlannedFile]:
    """The files whose bytes `state` does not have at their path. A file not hashed yet is hashed (or downloaded
    from object storage) only when the remote has a file of its size there; otherwise it is certainly missing."""
    unsure = [f for f in files if f.digest is None and f.path in state and state[f.path].size == f.size]
    local = [f for f in unsure if f.source is not None]
    if local:
        plan.cache.digest_many([f.source for f in local])
        for f in local:
            f.digest = plan.cache.digest(f.source)
        plan.cache.save()
    for f in unsure:
        if f.digest is None and f.remote is not None:
            f.fetch()
            f.release()  # not kept: a staged copy held here would stall the upload's downloads
    return [f for f in files if not f.matches_remote(state.get(f.path))]


def pr_refs(s: HubSession) -> set[str]:
    refs = s.call("list refs", lambda: s.api.list_repo_refs(s.settings.repo_id, include_pull_requests=True))
    return {r.ref for r in (refs.pull_requests or [])}


def verify(s: HubSession, seen: Snapshot | None = None) -> dict[str, RemoteEntry]:
    """What the revision holds at the planned paths, once every remote oid equals the local hash (else a
    `HubError`). `seen`: a snapshot taken after the last change (nothing uploaded since), which is the verification."""
    state = seen.files if seen else remote_state(s, [f.path for f in s.plan.files])
    wrong = differing(s.plan, s.plan.files, state)
    if wrong:
        names = ", ".join(f.path for f in wrong[:5])
        raise HubError(f"verification failed: {len(wrong)} file(s) on {s.settings.repo_id}@{s.revision} "
                       f"differ from the local ones ({names})",
                       "run the same command again: it uploads what is missing or different")
    s.report.verified = True
    s.report.commit_oid = s.report.commit_oid or (seen.commit if seen is not None else None) or s.call(
        "repo info", lambda: s.api.repo_info(s.settings.repo_id, revision=s.revision)).sha
    return state


def read_text(s: HubSession, seen: Snapshot, path: str) -> str | None:
    """The text of `path` at the snapshot's commit, None when the revision has no such file (one request)."""
    if seen.commit is None or path not in seen.files:
        return None
    from huggingface_hub import hf_hub_download

    local = s.call(f"read {path}", lambda: hf_hub_download(
        s.settings.repo_id, path, revision=seen.commit, token=s.token.value, endpoint=s.settings.endpoint))
    with open(local, encoding="utf-8", errors="replace") as f:
        return f.read()
