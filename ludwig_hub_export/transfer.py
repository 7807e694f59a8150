"""Sending the large files' bytes to the Hub before the one commit that makes them visible.

Files are sent several at once, each as soon as it is ready, so that hashing (LFS), fetching (files from object
storage) and sending overlap, and a file brought to this machine only for the upload is released as soon as the
Hub holds it. This is the one place that forks on the transfer protocol, because hashing and what is sent differ:
- Xet (hf_xet installed and not disabled; the real Hub's default): the client computes the sha256 in the same
  read that chunks the file, so nothing is hashed here; its result is taken back afterwards (and cached). Files
  go through `xet_upload`, which knows the bytes sent after dedup (only chunks the Hub lacks travel). A large file
  in object storage is streamed from the storage into hf_xet, never staged on this disk, so its download and its
  upload overlap.
- LFS: the batch API needs the sha256 before the transfer, so each file is hashed just before it is sent,
  while other files are already being sent; every byte of an LFS-mode file is sent.
On both, the upload modes of the files at hand come from one request before anything is sent, and those of the
generated files (the card, made meanwhile) and the manifest from one more while the large files upload.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable

from . import progress, xet_upload
from .hashing import Digest
from .places import PARALLEL_FILES, XET_OPEN_FILES, XET_READ_AT_ONCE, Places
from .plan import MANIFEST, PlannedFile, manifest_stand_in
from .session import HubSession

STREAM_MIN_BYTES = 1 << 20  # on Xet, files in object storage from this size on are streamed, not staged


def client_hashes_while_uploading() -> bool:
    """True on the Xet path: hf_xet hashes while it uploads, so a hashing pass of ours would be a wasted read."""
    return xet_upload.client_uses_xet()


def operation(f: PlannedFile, local: Path | None = None):
    """The client's operation for `f`, made once and kept: a retried commit must not upload the bytes again."""
    from huggingface_hub import CommitOperationAdd

    if f.operation is None:
        content = f.data if f.data is not None else str(local or f.source)
        f.operation = CommitOperationAdd(path_in_repo=f.path, path_or_fileobj=content)
    if f.digest is not None and not f.operation.upload_info.is_hashed:
        f.operation.upload_info.sha256 = bytes.fromhex(f.digest.sha256)  # the client does not hash again
    return f.operation


def lookup_upload_modes(s: HubSession, files: list[PlannedFile], manifest: bool = False) -> None:
    """The upload mode of every file at hand (and of the manifest, through a stand-in of its size, when
    `manifest`) in one request: otherwise each large file asks on its own and the commit asks again for the rest,
    one more round trip before the commit. Files still to be fetched ask when they are."""
    from huggingface_hub import CommitOperationAdd

    if not xet_upload.lookup_supported():
        return  # without the client parts this needs, each file asks on its own, as the client does
    ops = [operation(f) for f in files if f.operation is None and (f.source is not None or f.data is not None)]
    if manifest:
        s.manifest_lookup = CommitOperationAdd(path_in_repo=MANIFEST, path_or_fileobj=manifest_stand_in(s.plan))
        ops.append(s.manifest_lookup)
    if ops:
        s.call("upload-mode lookup", lambda: xet_upload.fetch_upload_modes(s.api, s.settings.repo_id, ops,
                                                                           s.revision, _create_pr(s)))


def _create_pr(s: HubSession) -> bool:
    """Whether uploads go to a PR still to be opened (its commit opens it)."""
    return s.settings.create_pr and not s.report.pr_url


def adopt_manifest_mode(s: HubSession, manifest: PlannedFile) -> None:
    """Give the manifest the upload mode its stand-in got, when the sizes agree (they do unless a file changed)."""
    stand_in, s.manifest_lookup = s.manifest_lookup, None
    if stand_in is None or stand_in._upload_mode is None or stand_in.upload_info.size != manifest.size:
        return  # the commit asks for it
    op = operation(manifest)
    op._upload_mode, op._should_ignore, op._remote_oid = (stand_in._upload_mode, stand_in._should_ignore,
                                                          stand_in._remote_oid)


def adopt_head_start(s: HubSession, answers: dict, files: list[PlannedFile]) -> None:
    """Take what the head start (`head_start`) learnt and sent: each file's upload mode, so that it is not asked
    again, and for a file it sent, its digest, the file marked uploaded as the client marks it. A file it did not
    get to stays for the usual path."""
    if not xet_upload.lookup_supported():
        return  # the client parts these marks go on are not all there: the client asks and sends again
    for f in files:
        answer = answers.get(f.path)
        if answer is None or f.operation is not None:
            continue
        sent = answer.digest is not None
        if not sent and (answer.upload_mode == "lfs" and not answer.should_ignore or f.digest is None):
            continue
        if sent and f.digest is None:
            f.digest = answer.digest
            s.plan.cache.put(f.source, f.digest)  # a rerun knows it without reading it again
        op = operation(f)
        op._upload_mode, op._should_ignore, op._remote_oid = (answer.upload_mode, answer.should_ignore,
                                                              answer.remote_oid)
        if sent:
            op._is_uploaded = True
            s.report.bytes_uploaded += answer.bytes_sent
            progress.advance(f.size)
    s.plan.cache.save()  # the digests the head start computed or was given, for the next push


def _streamed_operation(f: PlannedFile):
    """The operation for a file streamed from object storage: its real size and first bytes (what the upload-mode
    lookup sends); its sha256 once hf_xet has read the stream, unless the digest cache knew it already."""
    from huggingface_hub import CommitOperationAdd
    from huggingface_hub.lfs import UploadInfo

    head = f.remote.head()
    op = CommitOperationAdd(path_in_repo=f.path, path_or_fileobj=head)
    # `source_path` only names the object: there is no local copy to hash, and nothing reads it before hf_xet has
    # set the sha256.
    op.upload_info = UploadInfo(size=f.size, sample=head, source_path=f.remote.url,
                                sha256=bytes.fromhex(f.digest.sha256) if f.digest else None)
    f.operation = op
    return op


def _send(s: HubSession, op, create_pr: bool, own_xet: bool, produce=None, place=None) -> int | None:
    """Send `op`'s content if the Hub stores it as an LFS/Xet object (a regular file travels inside the commit).
    Returns the bytes hf_xet sent after dedup, or None where they are counted on the wire (`session.PutBytes`).
    `produce(write)` streams the content into hf_xet, and the file's `place` is taken only while hf_xet reads it
    (Xet only)."""
    if own_xet:
        xet_upload.fetch_upload_modes(s.api, s.settings.repo_id, [op], s.revision, create_pr)
        return xet_upload.send(s.api, s.settings.repo_id, op, s.revision, create_pr, produce, place) if (
            xet_upload.needs_sending(op)) else 0
    s.api.preupload_lfs_files(s.settings.repo_id, additions=[op], revision=None if create_pr else s.revision,
                              create_pr=create_pr, free_memory=False)
    return None


def preupload(s: HubSession, files: list[PlannedFile],
              generate: Callable[[], list[PlannedFile]] = list) -> list[PlannedFile]:
    """Send the contents of `files` that are stored as LFS/Xet objects; afterwards every file has its digest.

    `generate()` makes the generated files and returns those to upload too (their upload modes, and the manifest's
    when anything is uploaded, are asked here). It runs in a thread of its own while the large files are sent
    (hashed, fetched), so that its work (card code, YAML, package metadata on a cold cache) and that request take
    no time of their own. The sends stay where they were (one file in this thread), so Ctrl-C still interrupts
    them. Returns what `generate()` returned.

    How many files are read and sent at once, and why, is in `places`."""
    todo = [f for f in files if f.data is None and f.operation is None]
    if not todo:  # nothing to wait for: one lookup for all
        extra = generate()
        if files or extra:
            lookup_upload_modes(s, files + extra, manifest=True)
        return extra  # no client parts to load for the transfer, and the plan has saved the hash cache already
    xet = client_hashes_while_uploading()
    own_xet = xet and xet_upload.supported()
    create_pr = _create_pr(s)
    lock = threading.Lock()
    places = Places(XET_READ_AT_ONCE if own_xet else PARALLEL_FILES)

    def stream(f: PlannedFile, place) -> bool:
        """Stream `f` from object storage into hf_xet; False when the Hub wants it as a regular file instead."""
        op = _streamed_operation(f)
        sent = s.call(f"upload of {f.path}", lambda: _send(s, op, create_pr, True, produce=f.remote.stream,
                                                            place=place))
        if op._upload_mode != "lfs":
            f.operation = None  # small enough to travel inside the commit: staged like any other
            return False
        with lock:
            s.report.bytes_uploaded += sent
        progress.advance(f.size)
        if f.digest is None:
            f.digest = Digest(f.size, op.upload_info.sha256.hex(), None)
            f.remote.cache.put(f.remote.cache_key, f.digest)  # a rerun knows it without reading it again
        return True

    def send(f: PlannedFile) -> None:
        place = places.place()
        try:
            send_in_place(f, place)
        finally:
            place.release()

    def send_in_place(f: PlannedFile, place) -> None:
        if own_xet and f.remote is not None and f.size >= STREAM_MIN_BYTES and stream(f, place):
            return
        read_by_xet = own_xet and f.source is not None
        if not read_by_xet:
            place.take()  # to the end: hashed here (LFS), or staged on this disk until the Hub holds it
        local = f.source if f.source is not None or f.fetch is None else f.fetch()
        try:
            if f.digest is None and not xet and local is not None:
                f.digest = s.plan.cache.digest(local)  # LFS: the oid is needed before the transfer
            op = operation(f, local)
            sent = s.call(f"upload of {f.path}", lambda: _send(s, op, create_pr, own_xet,
                                                                place=place if read_by_xet else None))
            if op._upload_mode == "lfs":
                if xet:  # without the client parts `xet_upload` needs, the file's size: an upper bound
                    with lock:
                        s.report.bytes_uploaded += f.size if sent is None else sent
                progress.advance(f.size)
            if f.digest is None:  # hashed by the client while it uploaded
                f.digest = Digest(f.size, op.upload_info.sha256.hex(), None)
                if local is not None and f.source is not None:
                    s.plan.cache.put(local, f.digest)
            if getattr(op, "_upload_mode", None) == "regular" and f.release is not None:
                op.path_or_fileobj = Path(local).read_bytes()  # small: sent inside the commit, after release
        finally:
            if f.release is not None:
                f.release()

    def make_generated() -> list[PlannedFile]:
        extra = generate()
        lookup_upload_modes(s, extra, manifest=True)
        return extra

    lookup_upload_modes(s, files)  # no file is hashed for it: the client hashes lazily
    put_before = s.put_bytes.total
    beside = ThreadPoolExecutor(max_workers=1, thread_name_prefix="generated-files")
    generated = beside.submit(make_generated)
    try:
        if len(todo) <= 1:
            for f in todo:
                send(f)
        else:
            _send_all(todo, send, places, XET_OPEN_FILES if own_xet else PARALLEL_FILES, own_xet)
    except Exception:
        generated.exception()  # a short wait: nothing of this call still runs when its failure is reported
        raise
    finally:
        beside.shutdown(wait=False)  # an interrupt does not wait for it
    extra = generated.result()
    if not xet:
        s.report.bytes_uploaded += s.put_bytes.total - put_before
    s.plan.cache.save()
    return extra


def _send_all(todo: list[PlannedFile], send: Callable[[PlannedFile], None], places: Places, workers: int,
              own_xet: bool) -> None:
    """`send` each file in a pool of `workers` threads; the first failure is raised once the others have finished
    or failed on their own. Ctrl-C starts nothing more and, on Xet, cancels hf_xet's transfers at once (as the
    client does), so that the interrupt does not wait for them."""
    with ThreadPoolExecutor(max_workers=min(workers, len(todo))) as pool:
        futures = [pool.submit(send, f) for f in todo]
        try:
            for future in futures:
                future.result()
        except Exception:
            raise
        except BaseException:
            places.stop()
            for future in futures:
                future.cancel()
            if own_xet:
                from huggingface_hub.utils._xet import abort_xet_session

                abort_xet_session()
            raise
