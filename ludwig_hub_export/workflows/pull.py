"""`pull`: download a repo published by this tool, verify it against its manifest, rebuild ``DEST/model/``.

The repo is untrusted input. In order: resolve the revision to one commit (everything is read at it); read
``ludwig_export.json`` into memory and validate it (schema, paths, collisions, pickle weights); check it against
the repo's listing, then, under DEST's lock, against what an earlier pull left (`destination`) and the free
blocks and inodes; download the missing files in parallel into the staging area, where a file enters
``objects/`` (by sha256) only once verified, so a rerun fetches only the rest; once all are verified, move the
changed ones into DEST, the manifest last. A failure leaves DEST as it was plus the staging area (nothing, for a
DEST it created and downloaded nothing into); nothing is ever written outside DEST.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import shutil
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path

from ..hub import auth
from ..errors import AuthError, ExportError, HubError, InvalidModelError, UntrustedRepoError, UsageError
from ..artifact.manifest import MAX_MANIFEST_BYTES, Manifest, ManifestEntry, check_against_listing, parse_manifest, refuse_pickle
from ..artifact.plan import DOWNLOAD_COUNTED, MANIFEST
from ..hub.retry import Deadline, OutOfTime, RetryPolicy, bound_xet_retries, run_with_retries, status_of
from .destination import LOCK_WAIT, State, check_room, disk_error, disk_failure, locked, read_state, record, state_dir, write_state
from ..artifact.safe_paths import resolve_inside

MAX_WORKERS = 8  # as snapshot_download


@dataclass
class PullResult:
    """What `pull` put where, from which commit, and how much it downloaded."""

    repo_id: str
    commit: str
    dest: Path
    kind: str
    revision: str | None = None  # as asked (None: the default branch)
    files: dict[str, str] = field(default_factory=dict)  # repo path -> local path
    downloaded: int = 0  # files fetched by this run
    resumed: int = 0  # files found already verified in the staging area
    bytes_downloaded: int = 0

    @property
    def model_dir(self) -> Path:
        return self.dest / "model"


class _Stopped(ExportError):
    """Another download failed: this one stops early."""


def pull(repo_id: str, dest: str | Path, *, revision: str | None = None, token: str | None = None,
         endpoint: str | None = None, retry: RetryPolicy | None = None, allow_pickle: bool = False,
         max_workers: int = MAX_WORKERS, progress: bool | None = None, lock_wait: float = LOCK_WAIT) -> PullResult:
    """Download `repo_id` at `revision` into `dest` (over an earlier pull of it: only what changed) and rebuild
    ``dest/model`` for ``LudwigModel.load``. `allow_pickle` lets pickle weights through (never unpickled here);
    `progress`: a bar (None: on a terminal); `lock_wait`: how long to wait for another pull into `dest`."""
    from huggingface_hub import HfApi

    from ..hub.download import fetch_bytes
    from ..hub_inputs import check_token, hub_endpoint, repo_target, require_online

    # What the command line checks, for the API too: before any request, named, never retried.
    repo_id, revision = repo_target(repo_id, revision, endpoint=endpoint, flag="repo_id")
    hub_endpoint(endpoint)
    check_token(token)
    require_online("pull")
    dest = Path(dest).expanduser().absolute()
    if dest.is_symlink() or dest.exists() and not dest.is_dir():
        raise UsageError(f"{dest} is not a directory", "choose a new or empty destination directory")
    tokens = auth.find_tokens(token)
    value = tokens[0].value if tokens else None
    hub = _Hub(repo_id, revision, HfApi(endpoint=endpoint, token=value), value, endpoint, retry or RetryPolicy(),
               tokens[0] if tokens else None)

    info = hub.call("repo info", lambda: hub.api.repo_info(repo_id, revision=revision, files_metadata=True))
    commit = info.sha
    siblings = {s.rfilename: s for s in info.siblings or []}
    if MANIFEST not in siblings:
        raise InvalidModelError(
            f"{repo_id}@{revision or 'main'} has no {MANIFEST}: it was not published by ludwig-hub-export, or "
            "its export did not complete", "push it (again) with ludwig-hub-export push; an interrupted push resumes")
    raw = hub.call(f"download {MANIFEST}", lambda: fetch_bytes(hub.fs, f"{repo_id}/{MANIFEST}", commit,
                                                                limit=MAX_MANIFEST_BYTES, label=f"{repo_id}: {MANIFEST}"))
    manifest = parse_manifest(raw, repo_id)
    refuse_pickle(manifest, repo_id, allow_pickle)
    check_against_listing(manifest, siblings, f"{repo_id}@{commit[:12]}")

    try:
        with locked(dest, lock_wait) as created:
            try:
                return _fill(dest, hub, manifest, raw, PullResult(repo_id, commit, dest, manifest.kind, revision),
                             max_workers, progress)
            except BaseException:
                if created and not any((state_dir(dest) / "staging" / "objects").glob("*")):
                    shutil.rmtree(dest, ignore_errors=True)  # nothing worth keeping: DEST goes as it came
                raise
    except Exception as e:  # a full disk, a quota, no file handles: anywhere, also inside the client
        number = disk_failure(e)
        if number is None:
            raise
        raise disk_error(number, dest, sum(x.size for x in manifest.files)) from None


def _fill(dest: Path, hub: _Hub, manifest: Manifest, raw: bytes, result: PullResult, max_workers: int,
          progress: bool | None) -> PullResult:
    """Under DEST's lock: download what DEST and the staging area lack, then move it into place."""
    staging = state_dir(dest) / "staging"
    state = _check_dest(dest, result.repo_id, manifest)
    keep = {e.target for e in manifest.files if state is not None and state.intact(dest, e.target)
            and state.files[e.target]["sha256"] == e.sha256}
    changed = [e for e in manifest.files if e.target not in keep]
    todo = _missing(changed, staging / "objects")
    dirs = len({str(Path(e.target).parent) for e in manifest.files}) + 4  # staging's own directories
    check_room(dest, [e.size for e in todo] + [len(raw)], dirs, f"{result.repo_id}@{result.commit[:12]}")
    for leftover in ("tree", "tmp"):  # a layout an earlier run did not finish moving; partial downloads
        shutil.rmtree(staging / leftover, ignore_errors=True)
    for area in (staging, staging / "objects", staging / "tmp"):
        area.mkdir(exist_ok=True)
        resolve_inside(dest, str(area.relative_to(dest)), "the staging area", result.repo_id)
    result.resumed = len({e.sha256 for e in changed}) - len(todo)
    result.bytes_downloaded = _download_all(hub, todo, result.commit, staging, max_workers, progress)
    result.downloaded = len(todo)
    _move_into_place(manifest, raw, dest, staging, result, state, keep)
    return result


def _check_dest(dest: Path, repo_id: str, manifest: Manifest) -> State | None:
    """What an earlier pull left in DEST; refuses another repo's pull, and a file pull did not write where this
    one would write."""
    state = read_state(dest)
    if state is not None and state.repo_id != repo_id:
        raise UsageError(f"{dest} holds a pull of {state.repo_id}, not {repo_id}",
                         "pull into another directory (or delete that one)")
    ours = state.files if state is not None else {}
    for target in [e.target for e in manifest.files] + [MANIFEST]:
        parts = target.split("/")
        for depth in range(1, len(parts) + 1):
            here = "/".join(parts[:depth])
            path = dest / here
            last = depth == len(parts)
            if here in ours or not os.path.lexists(path) or not last and path.is_dir() and not path.is_symlink():
                continue
            raise UsageError(f"{path} is in the way: pull would write {target} there, and it did not write that "
                             "file", "move it away, or pull into a new or empty directory")
    return state


@dataclass
class _Hub:
    """The Hub as pull uses it: one retry policy and one time budget; errors mapped to the package's."""

    repo_id: str
    revision: str | None
    api: object
    token: str | None
    endpoint: str | None
    policy: RetryPolicy
    token_source: object

    def __post_init__(self) -> None:
        self.deadline = Deadline(self.policy.budget)
        bound_xet_retries(self.policy)  # hf_xet's own retries in seconds: this policy decides, the budget holds

    @functools.cached_property
    def fs(self):
        from ..hub.download import open_hub

        return open_hub(self.token, self.endpoint)

    def call(self, step: str, fn):
        from huggingface_hub.errors import EntryNotFoundError, RepositoryNotFoundError, RevisionNotFoundError

        try:
            return run_with_retries(step, fn, policy=self.policy, deadline=self.deadline,
                                    refresh_auth=lambda error: False, on_wait=lambda *a: None)
        except ExportError:
            raise
        except (EntryNotFoundError, FileNotFoundError) as e:  # HfFileSystem says FileNotFoundError
            if isinstance(e, FileNotFoundError) and e.errno is not None:  # a local file's, not the repo's
                raise
            raise UntrustedRepoError(f"{self.repo_id}: {step}: the file is not in the repo",
                                     "the repo changed after its export: push the model again") from e
        except (RepositoryNotFoundError, RevisionNotFoundError) as e:
            raise UsageError(f"{self.repo_id}@{self.revision or 'main'} not found ({status_of(e)})",
                             "check the repo id and the revision (a branch, a tag, refs/pr/N or a commit); a "
                             "private repo needs a token that can read it") from e
        except OutOfTime as e:
            raise HubError(f"pull of {self.repo_id}: {e}", "run the command again: it resumes") from e
        except Exception as e:  # noqa: BLE001
            status = status_of(e)
            if status == 401:
                raise AuthError(f"{self.repo_id}: the Hub refused the {self.token_source or 'anonymous request'} "
                                "(401)", "log in again (`hf auth login`) or set HF_TOKEN") from e
            if status == 403:  # also a Xet reconstruction or token refused: permission, not the network
                raise AuthError(f"{self.repo_id}: permission denied (403) at {step}",
                                "use a token that can read this repo (a member's, for a private or gated one)") from e
            if status is not None and 400 <= status < 500 and status not in (408, 429):
                raise HubError(f"pull of {self.repo_id}: the Hub answered {status} at {step}",
                               "this will fail the same way again; check the repo id and revision") from e
            raise HubError(f"pull of {self.repo_id} failed at {step}: {e}",
                           "run the command again later: files already verified are not downloaded again") from e


def _missing(entries: list[ManifestEntry], objects: Path) -> list[ManifestEntry]:
    """One entry per content not yet verified in the staging area (an object there was verified before it
    was moved in, by an earlier run)."""
    todo: dict[str, ManifestEntry] = {}
    for entry in entries:
        obj = objects / entry.sha256
        if entry.sha256 not in todo and not (obj.is_file() and obj.stat().st_size == entry.size):
            todo[entry.sha256] = entry
    return list(todo.values())


def _download_all(hub: _Hub, todo: list[ManifestEntry], commit: str, staging: Path, max_workers: int,
                  progress: bool | None) -> int:
    from huggingface_hub.utils import tqdm as hf_tqdm

    from ..hub.download import fetch

    if not todo:
        return 0
    stop = threading.Event()
    lock = threading.Lock()
    bar = hf_tqdm(total=sum(e.size for e in todo), unit="B", unit_scale=True, desc=f"pull {hub.repo_id}",
                  disable=None if progress is None else not progress)

    def on_bytes(n: int) -> None:
        if stop.is_set():
            raise _Stopped()
        with lock:
            bar.update(n)

    def one(entry: ManifestEntry) -> int:
        tmp = staging / "tmp" / f"{entry.sha256}.{uuid.uuid4().hex[:8]}.part"
        label = f"{hub.repo_id}@{commit[:12]}: {entry.path}"
        try:
            got = hub.call(f"download {entry.path}", lambda: fetch(
                hub.fs, f"{hub.repo_id}/{entry.path}", commit, tmp, size=entry.size, label=label, on_bytes=on_bytes))
            if got.size != entry.size or got.sha256 != entry.sha256:
                raise UntrustedRepoError(
                    f"{label} does not match {MANIFEST} (got {got.size} bytes, sha256 {got.sha256[:12]}...; "
                    f"expected {entry.size} bytes, {entry.sha256[:12]}...)",
                    "the repo changed after its export: push the model again, then pull again")
            os.replace(tmp, staging / "objects" / entry.sha256)
            return got.size
        except UntrustedRepoError:
            stop.set()  # a bad repo: the other downloads are wasted. A network failure lets them finish (resume)
            raise
        finally:
            tmp.unlink(missing_ok=True)

    pool = ThreadPoolExecutor(max_workers=max(1, min(max_workers, len(todo))))
    try:
        # The file the Hub counts a download on (config.yaml, adapter_config.json, config.json) goes first, alone:
        # then every pull that starts is counted once. The rest largest first.
        counted = [e for e in todo if e.path in DOWNLOAD_COUNTED][:1]
        futures = [pool.submit(one, e) for e in counted]
        try:
            wait(futures)
            futures += [pool.submit(one, e) for e in sorted(todo, key=lambda e: -e.size) if e not in counted]
            wait(futures)
        except BaseException:  # Ctrl-C: the running downloads stop at their next chunk instead of finishing
            stop.set()
            raise
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
        errors = [f.exception() for f in futures if f.exception() is not None]
        if errors:  # the cause, not the downloads it stopped; a bad repo before a network failure
            real = [e for e in errors if not isinstance(e, _Stopped)] or errors
            raise next((e for e in real if isinstance(e, UntrustedRepoError)), real[0])
        return sum(f.result() for f in futures)
    finally:
        bar.close()


def _move_into_place(manifest: Manifest, raw: bytes, dest: Path, staging: Path, result: PullResult,
                     state: State | None, keep: set[str]) -> None:
    """Lay the verified objects out under staging/tree, then move each changed file into DEST, the manifest last
    (a DEST that has it is complete). The state file lists every file this may write before the first is
    moved, so that a rerun after a failure knows them as its own."""
    old = state.files if state is not None else {}
    new_targets = {e.target for e in manifest.files} | {MANIFEST}
    write_state(dest, State(result.repo_id, result.commit, False, {**old, **{t: old.get(t, {}) for t in new_targets}}))
    with contextlib.suppress(FileNotFoundError):
        os.unlink(dest / MANIFEST)  # the old one no longer describes DEST
    tree = staging / "tree"
    tree.mkdir()
    for n, entry in enumerate(manifest.files):
        result.files[entry.path] = str(dest / entry.target)
        if entry.target in keep:
            continue
        field_name = f"{MANIFEST} files[{n}].{'ludwig_path' if entry.ludwig_path else 'path'}"
        staged = resolve_inside(tree, entry.target, field_name, result.repo_id)
        staged.parent.mkdir(parents=True, exist_ok=True)
        source = staging / "objects" / entry.sha256
        try:
            os.link(source, staged)  # entries with the same content share one object
        except OSError:
            shutil.copyfile(source, staged)
        target = resolve_inside(dest, entry.target, field_name, result.repo_id)
        target.parent.mkdir(parents=True, exist_ok=True)
        resolve_inside(dest, entry.target, field_name, result.repo_id)  # no symlink appeared on the way
        os.replace(staged, target)
    for stale in sorted(set(old) - new_targets, reverse=True):  # an earlier pull's file this commit no longer has
        with contextlib.suppress(FileNotFoundError, IsADirectoryError):
            os.unlink(dest / stale)
        for parent in Path(stale).parents:
            if str(parent) != "." and not any(t.startswith(f"{parent}/") for t in new_targets):
                with contextlib.suppress(OSError):
                    (dest / parent).rmdir()  # only when empty: nothing of the user's goes
    manifest_tmp = staging / f"{MANIFEST}.part"
    manifest_tmp.write_bytes(raw)
    os.replace(manifest_tmp, dest / MANIFEST)
    shutil.rmtree(staging, ignore_errors=True)  # first: unlinking the objects changes the files' ctime
    files = {e.target: old[e.target] if e.target in keep else record(dest, e.target, e.sha256, e.size)
             for e in manifest.files}
    files[MANIFEST] = record(dest, MANIFEST, hashlib.sha256(raw).hexdigest(), len(raw))
    write_state(dest, State(result.repo_id, result.commit, True, files))
