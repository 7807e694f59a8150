"""What the commit adds: one client operation per file, made so that the manifest describes exactly the bytes
that land (a small file from memory, a large one by path, its stat taken before anything reads it). LFS needs a
file's sha256 before the transfer, so it is hashed here; hf_xet computes it in the read that chunks the file, so on
Xet files of unknown digest are sent first and their digests taken back. All through huggingface_hub's public API
(`CommitOperationAdd`, `preupload_lfs_files`), which asks the upload modes, sends and retries the transfers itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..errors import HubError
from ..hashing import GIT_SHA1_MAX, Digest, FileState, HashCache, digest_bytes
from ..artifact.plan import ExportPlan, PlannedFile, add_manifest
from .session import HubSession


XET_FILES_AT_ONCE = 4  # sessions in flight; hf_xet parallelizes each file's chunks and xorbs itself
# Unknown files up to this many bytes in all are hashed before a Xet push rather than sent first: ~10 ms of
# hashing against a round trip of 20-80 ms to the Hub; a push killed midway sends them again, seconds at most.
XET_HASH_FIRST_BYTES = 16 << 20


class Changed(HubError):
    """A file changed while it was read for the upload: what landed may not be what the user has."""


@dataclass
class Outgoing:
    """The plan's files in upload order (manifest last), the client's operation for each, by path, and each large
    local file's state (`HashCache.stat`) before anything read it."""

    files: list[PlannedFile]
    cache: HashCache
    ops: dict = field(default_factory=dict)
    states: dict[str, FileState] = field(default_factory=dict)


def client_hashes_while_uploading() -> bool:
    """Whether the client uploads through Xet (as it decides): hf_xet then computes the sha256 as it reads."""
    from importlib.util import find_spec

    from huggingface_hub import constants

    return not constants.HF_HUB_DISABLE_XET and find_spec("hf_xet") is not None


def prepare(s: HubSession, plan: ExportPlan, todo: list[PlannedFile], remote: dict) -> Outgoing:
    """The operations of `todo` and of the manifest (unless `remote` holds it); large files of unknown sha256 are
    hashed (LFS) or sent (Xet) here, the rest is sent by the commit."""
    out = Outgoing([], plan.cache)
    for f in todo:
        if f.remote is not None and f.size >= GIT_SHA1_MAX:
            _send_from_storage(s, plan, f, out)
        else:
            _add(out, f)
    unknown = [f for f in todo if f.digest is None]
    if client_hashes_while_uploading() and sum(f.size for f in unknown) > XET_HASH_FIRST_BYTES:
        _send_first(s, plan, unknown, out)
    elif unknown:  # hashed before the transfer, several files at once, by the hash cache
        plan.cache.digest_many([f.source for f in unknown])
        for f in unknown:
            f.digest = plan.cache.digest(f.source)
            out.ops[f.path].upload_info.sha256 = bytes.fromhex(f.digest.sha256)
        plan.cache.save()
    manifest = add_manifest(plan)  # every digest is known now: of the bytes that will land
    if not manifest.matches_remote(remote.get(manifest.path)):
        _add(out, manifest)
    return out


def _add(out: Outgoing, f: PlannedFile) -> None:
    from huggingface_hub import CommitOperationAdd

    if f.data is None and (f.remote is not None or f.source is not None and f.size < GIT_SHA1_MAX):
        local = f.source if f.source is not None else f.fetch()
        try:
            f.data = Path(local).read_bytes()  # committed from memory: the bytes the digest is of
        finally:
            if f.release is not None:
                f.release()
        f.size, f.digest = len(f.data), digest_bytes(f.data)
    if f.data is not None:
        op = CommitOperationAdd(path_in_repo=f.path, path_or_fileobj=f.data)
    else:
        out.states[f.path] = out.cache.stat(f.source)  # before anything reads it
        if f.digest is not None and out.cache.cached(f.source) != f.digest:
            f.digest = None  # the file changed since it was planned: hashed or sent again, as unknown
        op = CommitOperationAdd(path_in_repo=f.path, path_or_fileobj=str(f.source))
        if f.digest is not None:
            op.upload_info.sha256 = bytes.fromhex(f.digest.sha256)  # known: the client does not read it again
    out.ops[f.path] = op
    out.files.append(f)


def _send_first(s: HubSession, plan: ExportPlan, files: list[PlannedFile], out: Outgoing) -> None:
    """Xet: send the files of unknown digest before the commit and take back the sha256 hf_xet computed as it read
    each. A preupload (an hf_xet session) per file, a few at once: hf_xet registers a session's files only when it
    ends, so a push killed midway keeps every file sent before. Cached only if the file kept its state."""
    from concurrent.futures import ThreadPoolExecutor

    def send(f: PlannedFile) -> None:
        op = out.ops[f.path]
        try:
            _preupload(s, f.path, op)
        except HubError:
            check_unchanged(out, [f])  # a file rewritten while it was read explains the failure best
            raise
        check_unchanged(out, [f])
        f.digest = Digest(f.size, op.upload_info.sha256.hex(), None)
        plan.cache.put(f.source, f.digest, before=out.states[f.path])

    with ThreadPoolExecutor(max_workers=min(len(files), XET_FILES_AT_ONCE), thread_name_prefix="send") as pool:
        futures = [pool.submit(send, f) for f in files]
        try:
            for future in futures:
                future.result()
        except BaseException:
            pool.shutdown(wait=False, cancel_futures=True)  # a failure or Ctrl-C: start nothing more
            raise
        finally:
            plan.cache.save()


def _send_from_storage(s: HubSession, plan: ExportPlan, f: PlannedFile, out: Outgoing) -> None:
    """A large file in object storage: staged (hashed as it arrives), sent, removed; one at a time on the disk."""
    from huggingface_hub import CommitOperationAdd

    local = f.fetch()
    try:
        op = CommitOperationAdd(path_in_repo=f.path, path_or_fileobj=str(local))
        op.upload_info.sha256 = bytes.fromhex(f.digest.sha256)
        _preupload(s, f.path, op)
    finally:
        f.release()
    out.ops[f.path] = op
    out.files.append(f)


def check_unchanged(out: Outgoing, files: list[PlannedFile] | None = None) -> None:
    """A `Changed` error naming the large local files whose stat is not the one taken before they were read."""
    def differs(f: PlannedFile) -> bool:
        try:
            return out.cache.stat(f.source).key != out.states[f.path].key
        except OSError:  # gone
            return True

    changed = [str(f.source) for f in (out.files if files is None else files) if f.path in out.states and differs(f)]
    if changed:
        raise Changed(f"{len(changed)} file(s) changed while they were being uploaded: {', '.join(changed[:5])}",
                      "wait until whatever writes them (a save, a sync) has finished, then push again: it sends "
                      "only what differs")


def _preupload(s: HubSession, path: str, op) -> None:
    """Send one file before the commit (to a PR still to be opened, when its commit is to open one)."""
    opens_pr = s.settings.create_pr and not s.report.pr_url
    s.call(f"upload of {path}", lambda: s.api.preupload_lfs_files(
        s.settings.repo_id, additions=[op], revision=None if opens_pr else s.revision, create_pr=opens_pr,
        free_memory=False))
