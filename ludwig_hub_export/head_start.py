"""A new repo's head start: a thread creates the repo that the first look found missing, asks the Hub how to
store the model's files, and sends the large ones, without the Hub client.

Loading huggingface_hub's API takes ~0.2 s of a cold push, all of it holding the GIL, and none of it is needed to
make those requests. The sends mostly run without the GIL: hf_xet chunks, hashes and uploads in its own threads
(Xet), and hashing and writing a file to a socket release it (LFS), so they overlap the main thread's card. Then
`head_commit` makes the commit itself, and the client is never loaded; when it cannot, the client path takes the
answers (`transfer.adopt_head_start`): a file sent here is marked uploaded, as the client marks it, and no upload
mode is asked twice.

The requests are the client's own, made with the standard library (`quick_http`): the repo creation and upload-mode
lookup of `HfApi.create_repo` and `_fetch_upload_modes`, then, on Xet, an hf_xet upload commit per file as in
`xet_upload.send`, or, on LFS, the batch request, a single-part PUT and the verify call of `lfs.lfs_upload`.
Like the first look, this never retries, explains or prints: anything short of a clear answer ends it, and the
client path does what is left under the one retry policy. It creates the repo if that failed (`exist_ok`) and
sends every file not sent here; chunks or objects already sent are deduplicated, so they do not travel twice.
"""

from __future__ import annotations

import base64
import contextlib
import socket
import threading
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

from . import auth, progress, xet_upload
from .errors import AuthError
from .first_look import FirstLook, endpoint_of
from .hashing import Digest
from .places import PARALLEL_FILES, XET_OPEN_FILES, XET_READ_AT_ONCE, Places, Stopped
from .plan import ExportPlan, PlannedFile
from .quick_http import put_file, request_json, tls_context, user_agent
from .settings import ExportSettings

SAMPLE_BYTES = 512  # what the client sends of each file for the Hub to choose its upload mode
LOOKUP_BATCH = 256  # files per upload-mode request, as the client asks (`_fetch_upload_modes`)
LFS_MEDIA_TYPE = "application/vnd.git-lfs+json"


@dataclass
class HeadFile:
    """What the Hub said of one planned file (its preupload answer) and, once sent here, its digest and the bytes
    that travelled (after dedup: xorbs and shard on Xet; 0 for an LFS object the Hub already held)."""

    upload_mode: str  # "lfs" | "regular"
    should_ignore: bool
    remote_oid: str | None
    digest: Digest | None = None  # set once the file is on the Hub
    bytes_sent: int = 0


class HeadStart:
    """The thread and what it learnt. `head_commit` and the client path read it through `repo_created` and
    `files`, which wait, and ask more upload modes through `ask_modes`."""

    def __init__(self, settings: ExportSettings, look: FirstLook, plan: ExportPlan,
                 files: list[PlannedFile]) -> None:
        self.settings, self.look, self.plan, self._planned = settings, look, plan, files
        self.endpoint = endpoint_of(settings)
        self.repo_path = quote(settings.repo_id, safe="/")
        self.timeout = min(settings.retry.read_timeout, 30.0)
        self.created = False
        self.answers: dict[str, HeadFile] = {}
        self._creation = threading.Event()
        self._lock = threading.Lock()
        self._stopped = False
        self._session = None  # hf_xet's, to cancel
        self._xet = xet_upload.client_uses_xet()
        self._places = Places(XET_READ_AT_ONCE if self._xet else PARALLEL_FILES)
        self._conns: list = []  # the LFS PUTs', to close
        self.tls = None
        self._thread = threading.Thread(target=self._run, name="head-start", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def repo_created(self) -> bool:
        """Whether the repo was created here (waits for that request)."""
        self._creation.wait()
        return self.created

    def files(self) -> dict[str, HeadFile]:
        """Every planned file the Hub answered for, by path (waits for the sends)."""
        self._thread.join()
        return self.answers

    def abort(self) -> None:
        """The export ended (failed or interrupted): nothing more is sent, and what is in flight is cancelled."""
        with self._lock:
            self._stopped = True
            session, conns = self._session, list(self._conns)
        self._places.stop()
        with contextlib.suppress(Exception):  # ending anyway
            if session is not None:
                session.sigint_abort()
        for conn in conns:
            with contextlib.suppress(Exception):
                if conn.sock is not None:
                    conn.sock.shutdown(socket.SHUT_RDWR)  # a PUT in flight fails at once

    def _run(self) -> None:
        try:
            if self.endpoint.startswith("https:"):
                self.tls = tls_context()
            if self._create():
                self.answers.update(self.ask_modes(self._planned) or {})
                todo = [f for f in self._planned if (a := self.answers.get(f.path)) is not None
                        and a.upload_mode == "lfs" and not a.should_ignore]
                if todo and not self._stopped:
                    self._send(todo)
        except Exception:  # noqa: BLE001 - the client path does what is left, and explains what fails
            pass
        finally:
            self._creation.set()

    def post(self, url: str, payload: dict | bytes, media_type: str = "application/json"):
        return request_json("POST", url, self.look.token.value, self.timeout, self.tls, payload, media_type)

    def _create(self) -> bool:
        namespace, name = self.settings.repo_id.split("/")
        answer = self.post(f"{self.endpoint}/api/repos/create", {
            "name": name, "organization": namespace, "type": "model",
            "visibility": "public" if self.settings.public else "private"})
        self.created = answer is not None and answer[0] == 200
        self._creation.set()
        return self.created

    def ask_modes(self, planned: list[PlannedFile]) -> dict[str, HeadFile] | None:
        """The upload mode of each file of `planned` (on disk or in memory), `LOOKUP_BATCH` files a request as the
        client asks; None when an answer is malformed (the client asks again)."""
        answers: dict[str, HeadFile] = {}
        for start in range(0, len(planned), LOOKUP_BATCH):
            got = self._ask_modes_of(planned[start:start + LOOKUP_BATCH])
            if got is None:
                return None
            answers.update(got)
        return answers

    def _ask_modes_of(self, planned: list[PlannedFile]) -> dict[str, HeadFile] | None:
        files = [{"path": f.path, "sample": base64.b64encode(_sample(f)).decode("ascii"), "size": f.size}
                 for f in planned]
        answer = self.post(f"{self.endpoint}/api/models/{self.repo_path}/preupload/main", {"files": files})
        if answer is None or answer[0] != 200 or not isinstance(answer[2], dict):
            return None
        sizes = {f.path: f.size for f in planned}
        entries = answer[2].get("files")
        if not isinstance(entries, list):
            return None
        answers = {}
        for entry in entries:
            if not isinstance(entry, dict):
                return None
            path, mode, ignore, oid = (entry.get("path"), entry.get("uploadMode"), entry.get("shouldIgnore"),
                                       entry.get("oid"))
            if path not in sizes or mode not in ("lfs", "regular") or not isinstance(ignore, bool) or not (
                    oid is None or isinstance(oid, str)):
                return None
            # As the client reads it: an empty file is never LFS (`_fetch_upload_modes`).
            answers[path] = HeadFile("regular" if sizes[path] == 0 else mode, ignore, oid)
        return answers

    def _send(self, todo: list[PlannedFile]) -> None:
        """Each file on its own, as many at once as the client path sends them (`transfer.preupload`, `places`): a
        file lands (its shard registers it, its object is stored) when its own send ends, so a killed push resumes
        file by file whichever was slowest, and one file's failure leaves only that file to the client."""
        from concurrent.futures import ThreadPoolExecutor

        one, workers = self._send_lfs, PARALLEL_FILES
        if self._xet:
            import hf_xet

            with self._lock:
                self._session = None if self._stopped else hf_xet.XetSession()
            one, workers = self._send_xet, XET_OPEN_FILES

        def guarded(f: PlannedFile) -> None:
            place = self._places.place()
            try:
                if not self._stopped:
                    with contextlib.suppress(Exception, Stopped):  # that file is left to the client; the rest go on
                        one(f, place)
            finally:
                place.release()

        with ThreadPoolExecutor(max_workers=min(workers, len(todo)), thread_name_prefix="head-start") as pool:
            list(pool.map(guarded, todo))

    def _send_xet(self, f: PlannedFile, place) -> None:
        """An hf_xet upload commit of its own, as `xet_upload.send` makes it."""
        import hf_xet

        headers = {"authorization": f"Bearer {self.look.token.value}", "user-agent": user_agent()}
        commit = self._session.new_upload_commit(
            token_refresh_url=f"{self.endpoint}/api/models/{self.repo_path}/xet-write-token/main",
            token_refresh_headers=headers, custom_headers={"user-agent": headers["user-agent"]})
        sha256 = f.digest.sha256 if f.digest is not None else hf_xet.COMPUTE_SHA256
        result, sent = xet_upload.run_commit(
            commit, lambda c: c.start_upload_file(str(f.source), sha256=sha256).result, place)
        answer = self.answers[f.path]
        answer.bytes_sent = sent
        answer.digest = f.digest or Digest(f.size, result.xet_info.sha256, None)
        progress.advance(f.size)

    def _send_lfs(self, f: PlannedFile, place) -> None:
        """The file's sha256 (read once, whoever asks, with any hashing ahead), its batch request, then its
        single-part PUT to the storage address the Hub gives, without the token, and its verify call."""
        place.take()
        digest = f.digest or self.plan.cache.digest(f.source)
        answer = self.post(f"{self.endpoint}/{self.repo_path}.git/info/lfs/objects/batch", {
            "operation": "upload", "transfers": ["basic", "multipart"], "hash_algo": "sha256",
            "objects": [{"oid": digest.sha256, "size": f.size}], "ref": {"name": "main"}}, LFS_MEDIA_TYPE)
        objects = answer[2].get("objects") if answer is not None and answer[0] == 200 and isinstance(
            answer[2], dict) else None
        if not (isinstance(objects, list) and len(objects) == 1 and isinstance(objects[0], dict)):
            return
        obj = objects[0]
        if obj.get("oid") != digest.sha256 or obj.get("size") != f.size or "error" in obj:
            return
        sent = self._put_lfs(f, digest, obj.get("actions"))
        if sent is not None:
            self.answers[f.path].digest, self.answers[f.path].bytes_sent = digest, sent
            progress.advance(f.size)

    def _put_lfs(self, f: PlannedFile, digest: Digest, actions) -> int | None:
        """The bytes sent for one object (0: the Hub holds it already), or None when it is left to the client."""
        if actions is None:
            return 0
        upload, verify = (actions.get("upload"), actions.get("verify")) if isinstance(actions, dict) else (None, None)
        if not isinstance(upload, dict) or not isinstance(upload.get("href"), str):
            return None
        if "chunk_size" in (upload.get("header") or {}):
            return None  # multipart: the client's
        if verify is not None and not (isinstance(verify, dict) and isinstance(verify.get("href"), str)
                                       and _same_origin(verify["href"], self.endpoint)):
            return None  # the token goes only to the endpoint's host
        if put_file(upload["href"], f.source, f.size, self.timeout, self.tls, self._track) != 200:
            return None
        if verify is not None:
            answer = self.post(verify["href"], {"oid": digest.sha256, "size": f.size}, LFS_MEDIA_TYPE)
            if answer is None or answer[0] != 200:
                return None
        return f.size

    def _track(self, conn) -> None:
        with self._lock:
            self._conns = [c for c in self._conns if c.sock is not None] + [conn]  # closed ones dropped


def begin(look: FirstLook | None, settings: ExportSettings, plan: ExportPlan) -> HeadStart | None:
    """The head start, running, when it applies: the first look found no repo, the token may create it, and the
    target is `main`."""
    if look is None or look.snapshot.repo_exists or settings.dry_run or settings.create_pr:
        return None
    if (settings.revision or "main") != "main" or settings.repo_id.count("/") != 1:
        return None
    try:
        auth.check_can_write(auth.identity_from_whoami(look.whoami), look.token, settings.repo_id)
    except AuthError:
        return None  # the client path says why
    from .retry import bound_xet_retries

    bound_xet_retries(settings.retry, client_loaded=False)  # before hf_xet's first session here, which reads them
    files = [f for f in plan.ready() if f.source is not None and f.data is None and f.fetch is None]
    head = HeadStart(settings, look, plan, files)
    # The one bar, from the first byte: a file the head start sends advances it when it lands.
    progress.start(sum(f.size for f in plan.ready()), enabled=not settings.quiet)
    head.start()
    return head


def _sample(f: PlannedFile) -> bytes:
    if f.data is not None:
        return f.data[:SAMPLE_BYTES]
    with open(f.source, "rb") as stream:
        return stream.read(SAMPLE_BYTES)


def _same_origin(url: str, endpoint: str) -> bool:
    a, b = urlsplit(url), urlsplit(endpoint)
    return (a.scheme, a.hostname, a.port) == (b.scheme, b.hostname, b.port)
