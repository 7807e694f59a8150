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


class RemoteEntry(namedtuple("RemoteEntry", "blob_id sha256 size")):  # not typing's: ~3 ms to load
    """One remote file: `blob_id` its git blob id, `sha256` (LFS/Xet files only) and `size`, each None when
    unknown."""

    __slots__ = ()


def remote_state(s: HubSession, paths: list[str], revision: str | None = None) -> dict[str, RemoteEntry]:
    """What the remote revision holds at `paths` (absent paths are left out)."""
    from huggingface_hub.errors import RepositoryNotFoundError, RevisionNotFoundError

    from .retry import status_of

    revision = revision or s.revision
    state: dict[str, RemoteEntry] = {}

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
                state[entry.path] = RemoteEntry(entry.blob_id, lfs.sha256 if lfs else None,
                                                getattr(entry, "size", None))
    return state


class Snapshot(namedtuple("Snapshot", "repo_exists commit files")):
    """A remote revision: whether the repo exists, its `commit` (None when the revision does not exist yet) and
    its `files` (path: `RemoteEntry`)."""

    __slots__ = ()


def _fetch_snapshot(s: HubSession, revision: str | None = None) -> Snapshot:
    from huggingface_hub.errors import RepositoryNotFoundError, RevisionNotFoundError

    from .retry import status_of

    try:
        info = s.api.repo_info(s.settings.repo_id, revision=revision or s.revision, files_metadata=True)
    except RevisionNotFoundError as e:
        if status_of(e) == 401:
            raise
        return Snapshot(True, None, {})
    except RepositoryNotFoundError as e:
        if status_of(e) == 401:
            raise
        return Snapshot(False, None, {})
    return Snapshot(True, info.sha, {f.rfilename: RemoteEntry(f.blob_id, f.lfs.sha256 if f.lfs else None, f.size)
                                     for f in info.siblings or []})


def snapshot(s: HubSession, revision: str | None = None) -> Snapshot:
    """The remote revision in one request (repo info with file metadata): whether the repo and the revision
    exist, its commit, and every file's blob id, sha256 and size. One consistent view, at one commit, of what
    would otherwise take a lookup, a listing per phase and a verification."""
    return s.call("repo info", lambda: _fetch_snapshot(s, revision))


def missing(s: HubSession, files: list[PlannedFile], revision: str | None = None,
            state: dict[str, RemoteEntry] | None = None) -> list[PlannedFile]:
    """The files whose bytes the remote revision (or `state`, a snapshot's files) does not have at their path.

    A file not hashed yet is hashed only when the remote has a file of the same size at its path (the resume and
    unchanged re-push cases, where the hash cache usually knows it); otherwise it is certainly missing, and the
    upload hashes it."""
    if state is None:
        state = remote_state(s, [f.path for f in files], revision)
    return differing(s.plan, files, state)


def differing(plan: ExportPlan, files: list[PlannedFile], state: dict[str, RemoteEntry]) -> list[PlannedFile]:
    """`missing` against a known `state` (no request)."""
    unsure = [f for f in files if f.digest is None and f.source is not None and f.path in state
              and state[f.path].size == f.size]
    if unsure:
        plan.cache.digest_many([f.source for f in unsure])
        for f in unsure:
            f.digest = plan.cache.digest(f.source)
        plan.cache.save()
    # The same for a file in object storage whose digest cache entry is gone: download it (once) to know.
    for f in files:
        if f.digest is None and f.remote is not None and f.path in state and state[f.path].size == f.size:
            f.fetch()
            f.release()  # not kept: a staged copy held here would stall the upload's downloads
    return [f for f in files if not f.matches_remote(state.get(f.path))]


def pr_refs(s: HubSession) -> set[str]:
    refs = s.call("list refs", lambda: s.api.list_repo_refs(s.settings.repo_id, include_pull_requests=True))
    return {r.ref for r in (refs.pull_requests or [])}


def verify(s: HubSession, seen: Snapshot | None = None) -> dict[str, RemoteEntry]:
    """Every planned file's remote oid equals the local hash, or a `HubError` naming the ones that differ.
    `seen`: a snapshot taken after the last change (nothing was uploaded since), which is the verification.
    Returns what the revision holds at the planned paths."""
    state = seen.files if seen else remote_state(s, [f.path for f in s.plan.files], s.revision)
    wrong = differing(s.plan, s.plan.files, state)
    if wrong:
        names = ", ".join(f.path for f in wrong[:5])
        raise HubError(f"verification failed: {len(wrong)} file(s) on {s.settings.repo_id}@{s.revision} "
                       f"differ from the local ones ({names})",
                       "run the same command again: it uploads what is missing or different")
    s.report.verified = True
    if seen is not None and not s.report.commit_oid:
        s.report.commit_oid = seen.commit
    if not s.report.commit_oid:
        info = s.call("repo info", lambda: s.api.repo_info(s.settings.repo_id, revision=s.revision))
        s.report.commit_oid = info.sha
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
