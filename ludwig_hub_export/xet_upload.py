"""Sending one file on the Xet path through hf_xet's session API, so that what was really sent is known.

huggingface_hub's `preupload_lfs_files` makes these same hf_xet calls (`_commit_api._upload_xet_files`) but drops
hf_xet's report, and what hf_xet sent after dedup (new xorbs and the shard) is only in that report
(`XetCommitReport.dedup_metrics`). So on the Xet path each file's upload mode comes from the client's own
lookup (`_fetch_upload_modes`), an LFS-mode file is sent in an hf_xet upload commit of its own (a killed push
then resumes file by file), and the operation is marked uploaded exactly as `preupload_lfs_files` marks it, so
that `create_commit` does not send it again. Those are private parts of huggingface_hub: `supported()` checks
they are all there, and `transfer` keeps to `preupload_lfs_files` (and counts file sizes) when they are not.
"""

from __future__ import annotations

import contextlib
import functools
from urllib.parse import quote


def client_uses_xet() -> bool:
    """Whether the client uploads through Xet, decided as its `is_xet_available` decides (HF_HUB_DISABLE_XET, then
    hf_xet's distribution) without loading the client's utilities (~0.1 s) to ask it."""
    from huggingface_hub import constants

    return not constants.HF_HUB_DISABLE_XET and _hf_xet_installed()


@functools.cache
def _hf_xet_installed() -> bool:
    from importlib import metadata

    try:
        metadata.version("hf_xet")
    except metadata.PackageNotFoundError:
        return False
    return True


@functools.cache
def lookup_supported() -> bool:
    """The client parts `fetch_upload_modes` needs (either protocol; hf_xet is not loaded for it)."""
    try:
        from huggingface_hub import CommitOperationAdd
        from huggingface_hub._commit_api import _fetch_upload_modes  # noqa: F401
    except ImportError:
        return False
    fields = getattr(CommitOperationAdd, "__dataclass_fields__", {})
    return {"_upload_mode", "_should_ignore", "_is_uploaded", "_remote_oid"} <= fields.keys()


@functools.cache
def supported() -> bool:
    """Everything `send` needs: the lookup's parts and hf_xet's session API."""
    if not lookup_supported():
        return False
    try:
        import hf_xet
        from huggingface_hub.utils._xet import (XetTokenType, get_xet_session,  # noqa: F401
                                                xet_connection_info_refresh_url, xet_headers_without_auth)
    except ImportError:
        return False
    return hasattr(hf_xet, "XetSession")


def fetch_upload_modes(api, repo_id: str, ops: list, revision: str, create_pr: bool) -> None:
    """The Hub's upload mode ("lfs" or "regular") for each operation, set on it: one request per 256 files."""
    from huggingface_hub._commit_api import _fetch_upload_modes
    from huggingface_hub.utils import build_hf_headers

    todo = [op for op in ops if op._upload_mode is None]
    if todo:
        _fetch_upload_modes(additions=todo, repo_type="model", repo_id=repo_id, headers=build_hf_headers(
            token=api.token), revision=quote(revision, safe=""), endpoint=api.endpoint, create_pr=create_pr)


def needs_sending(op) -> bool:
    return op._upload_mode == "lfs" and not op._should_ignore and not op._is_uploaded


def send(api, repo_id: str, op, revision: str, create_pr: bool, produce=None, place=None) -> int:
    """Send `op`'s content through hf_xet and mark it uploaded; its sha256 is set if it was not known. Returns
    the bytes hf_xet sent after dedup (xorbs and shard): 0 when the Hub already holds every chunk.

    `produce(write)`, when given, feeds the content in order instead (a file streamed from object storage, never
    on this disk): hf_xet chunks, hashes and uploads it while it arrives. `place` (`places.Place`) is taken and
    given back as `run_commit` says."""
    import hf_xet
    from huggingface_hub.utils import build_hf_headers
    from huggingface_hub.utils._xet import (XetTokenType, abort_xet_session, get_xet_session,
                                            xet_connection_info_refresh_url, xet_headers_without_auth)

    headers = build_hf_headers(token=api.token)
    # As the client builds it: a PR's token is asked for without a revision (the PR's ref does not exist yet).
    url = xet_connection_info_refresh_url(token_type=XetTokenType.WRITE, repo_id=repo_id, repo_type="model",
                                          revision=None if create_pr else quote(revision, safe=""),
                                          endpoint=api.endpoint)
    if create_pr:
        url += "?create_pr=1"
    sha256 = op.upload_info.sha256.hex() if op.upload_info.is_hashed else hf_xet.COMPUTE_SHA256
    content = op.path_or_fileobj

    def start(commit):
        if produce is not None:
            stream = commit.start_upload_stream(name=op.path_in_repo, sha256=sha256)
            try:
                produce(stream.write)
            except BaseException:
                with contextlib.suppress(Exception):  # no open stream left behind in hf_xet's runtime
                    stream.abort()
                raise
            return stream.finish  # before wait_to_finish, as hf_xet requires
        if isinstance(content, bytes):
            return commit.start_upload_bytes(content, sha256=sha256, name=op.path_in_repo).result
        return commit.start_upload_file(str(content), sha256=sha256).result

    try:
        commit = get_xet_session().new_upload_commit(token_refresh_url=url, token_refresh_headers=headers,
                                                     custom_headers=xet_headers_without_auth(headers))
        result, sent = run_commit(commit, start, place)
    except KeyboardInterrupt:
        abort_xet_session()  # as the client does: the next call starts a fresh session
        raise
    if not op.upload_info.is_hashed:
        op.upload_info.sha256 = bytes.fromhex(result.xet_info.sha256)
    op._is_uploaded = True
    return sent


def run_commit(commit, start, place=None):
    """One file's hf_xet upload commit, aborted on any failure. `start(commit)` queues the content and returns
    what waits for its ingestion (hf_xet has read, chunked and hashed all of it) and gives the file's metadata.
    The file's `place` is taken before it is read (the commit is made before: its token request overlaps another
    file's read) and given back once it is read, before the commit ends (`places`). Returns the file's metadata
    and the bytes hf_xet sent after dedup (xorbs and shard, from its report)."""
    try:
        if place is not None:
            place.take()
        result = start(commit)()
        if place is not None:
            place.release()
        metrics = commit.wait_to_finish().dedup_metrics
    except BaseException:
        with contextlib.suppress(Exception):  # the failure that got us here is the one to report
            commit.abort()
        raise
    return result, metrics.xorb_bytes_uploaded + metrics.shard_bytes_uploaded
