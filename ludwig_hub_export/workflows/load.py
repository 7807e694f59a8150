"""`load`: a model published by this tool, in one call, through huggingface_hub's shared cache.

The files come through ``hf_hub_download``/``snapshot_download`` (offline mode honoured). The repo is untrusted,
as for `pull`: the manifest is size-checked and validated before any other file is fetched, sizes and LFS hashes
are checked against the Hub's listing, pickle weights refused unless allowed, every sha256 checked. That check
runs once per commit: its result (with the stat signature of each file read) is kept in our ``cached_assets_path``
beside a tree of symlinks laid out as Ludwig's model directory; a later load compares signatures only.
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import json
import os
import re
import shutil
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from ..errors import AuthError, ExportError, HubError, InvalidModelError, UntrustedRepoError, UsageError
from ..hashing import signature, write_atomically
from ..artifact.manifest import MAX_MANIFEST_BYTES, Manifest, check_against_listing, parse_manifest, refuse_pickle
from ..artifact.plan import MANIFEST

LIBRARY = "ludwig-hub-export"  # our folder in huggingface_hub's assets cache
VERIFIED = "verified.json"
_COMMIT = re.compile(r"[0-9a-f]{40}")
_HASHERS = 4  # hashlib releases the GIL: files are hashed in parallel


def load(repo_id: str, revision: str | None = None, token: str | None = None, local_files_only: bool = False,
         allow_pickle: bool = False, **ludwig_load_kwargs):
    """The `LudwigModel` published at `repo_id` (`revision`: a branch, tag, ``refs/pr/N`` or commit; None: the
    default branch). `ludwig_load_kwargs` go to ``LudwigModel.load`` (e.g. ``backend="local"``)."""
    from ..source.ludwig_compat import load_model

    return load_model(model_dir(repo_id, revision=revision, token=token, local_files_only=local_files_only,
                                allow_pickle=allow_pickle), **ludwig_load_kwargs)


def load_ludwig_model(path: str | Path, **kwargs):
    """``LudwigModel.load`` for a local model directory (a pulled one: ``DEST/model``), or for
    ``hf://user/repo[@revision]``: the model published there, through the Hugging Face cache (`load`); `token`,
    `local_files_only` and `allow_pickle` go to the Hub side, every other keyword to ``LudwigModel.load``."""
    if isinstance(path, str) and path.startswith("hf://"):
        repo_id, revision = parse_hf_path(path)
        return load(repo_id, revision, **kwargs)
    from ..source.ludwig_compat import load_model

    return load_model(path, **kwargs)


def parse_hf_path(path: str) -> tuple[str, str | None]:
    """``hf://user/repo[@revision]`` -> (repo_id, revision); UsageError for anything else."""
    from urllib.parse import unquote

    body = path[len("hf://"):]
    repo_id, _, revision = body.partition("@")
    if repo_id.count("/") != 1 or not all(repo_id.split("/")) or "@" in body and not revision:
        raise UsageError(f"{path!r} is not a model on the Hub", "write it as hf://user/repo or hf://user/repo@revision")
    return repo_id, unquote(revision) if revision else None


def model_dir(repo_id: str, *, revision: str | None = None, token: str | None = None, local_files_only: bool = False,
              allow_pickle: bool = False, endpoint: str | None = None) -> Path:
    """Ludwig's model directory for `repo_id` at `revision`: files from the HF cache, verified once per commit."""
    from huggingface_hub import cached_assets_path, is_offline_mode, snapshot_download

    offline = local_files_only or is_offline_mode()
    with _hub_errors(repo_id, revision, offline):
        raw, commit, offline = _read_manifest(repo_id, revision, token, offline, endpoint)
        manifest = parse_manifest(raw, repo_id)
        refuse_pickle(manifest, repo_id, allow_pickle, how="load with allow_pickle=True")
        home = cached_assets_path(LIBRARY, namespace=repo_id.replace("/", "--"), subfolder=commit)
        tree = home / "tree"
        if not _still_verified(home, manifest):
            label = f"{repo_id}@{commit[:12]}"
            if not offline:  # a lie about sizes is caught before the download, as pull does
                from huggingface_hub import HfApi

                infos = HfApi(endpoint=endpoint, token=token).get_paths_info(
                    repo_id, [e.path for e in manifest.files], revision=commit)
                check_against_listing(manifest, {info.path: info for info in infos}, label)
            patterns = [glob.escape(e.path) for e in manifest.files]  # exact paths, also those holding * ? [
            snapshot = Path(snapshot_download(repo_id, revision=commit, allow_patterns=patterns, token=token,
                                              endpoint=endpoint, local_files_only=offline))
            signatures = _verify(manifest, snapshot, label)
            _lay_out(manifest, snapshot, home, repo_id)
            write_atomically(home / VERIFIED, json.dumps({"repo_id": repo_id, "commit": commit,
                                                          "files": signatures}))
    return tree / "model"


def _read_manifest(repo_id: str, revision: str | None, token: str | None, offline: bool,
                   endpoint: str | None) -> tuple[bytes, str, bool]:
    """The manifest's bytes, the commit it was read at, and whether the Hub is out of reach. A cached commit needs
    no request; else one HEAD gives the commit and the manifest's size (checked first), and the cache answers if
    it has that commit; else ``hf_hub_download`` fetches it (recording the branch for offline use)."""
    from huggingface_hub import get_hf_file_metadata, hf_hub_download, hf_hub_url, try_to_load_from_cache

    from ..hub.retry import is_connection_failure

    path = None
    if revision is not None and _COMMIT.fullmatch(revision):  # a commit never moves: the cache answers
        cached = try_to_load_from_cache(repo_id, MANIFEST, revision=revision)
        path = Path(cached) if isinstance(cached, str) else None
    if path is None and not offline:
        try:
            meta = get_hf_file_metadata(hf_hub_url(repo_id, MANIFEST, revision=revision, endpoint=endpoint),
                                        token=token)
        except Exception as e:  # noqa: BLE001 - the Hub out of reach: the cache answers, as the client does
            if not is_connection_failure(e):
                raise
            offline = True
        else:
            if meta.size is not None and meta.size > MAX_MANIFEST_BYTES:
                raise UntrustedRepoError(f"{repo_id}: {MANIFEST} is {meta.size} bytes; at most "
                                         f"{MAX_MANIFEST_BYTES} are accepted", "this is not a manifest written by "
                                         "ludwig-hub-export: push the model again")
            cached = try_to_load_from_cache(repo_id, MANIFEST, revision=revision or "main")
            if isinstance(cached, str) and Path(cached).parent.name == meta.commit_hash:
                path = Path(cached)  # the revision has not moved since the cache recorded it
    if path is None:
        path = Path(hf_hub_download(repo_id, MANIFEST, revision=revision, token=token, endpoint=endpoint,
                                    local_files_only=offline))
    commit = path.parent.name  # the cache's documented layout: snapshots/<commit>/<file>
    if not _COMMIT.fullmatch(commit):
        raise HubError(f"{repo_id}: huggingface_hub put {MANIFEST} at {path}, not in a commit's snapshot",
                       "upgrade huggingface_hub or report this")
    with open(path, "rb") as f:
        raw = f.read(MAX_MANIFEST_BYTES + 1)
    return raw, commit, offline


def _sha256(path: Path) -> tuple[int, str, list, list]:
    before = signature(os.stat(path))
    with open(path, "rb") as f:
        digest = hashlib.file_digest(f, "sha256").hexdigest()
    return before[0], digest, before, signature(os.stat(path))


def _verify(manifest: Manifest, snapshot: Path, label: str) -> dict[str, list]:
    """Every file's size and sha256 against the manifest; the stat signature of what was read, by repo path."""
    with ThreadPoolExecutor(max_workers=_HASHERS) as pool:
        results = list(pool.map(lambda e: _sha256(snapshot / e.path), manifest.files))
    signatures = {}
    for n, (entry, (size, digest, before, after)) in enumerate(zip(manifest.files, results)):
        if size != entry.size or digest != entry.sha256:
            raise UntrustedRepoError(
                f"{label}: {entry.path} does not match {MANIFEST} files[{n}] (got {size} bytes, sha256 "
                f"{digest[:12]}...; expected {entry.size} bytes, {entry.sha256[:12]}...)",
                "the repo changed after its export, or the cached file was altered: push the model again, or "
                "delete the cached copy (hf cache delete) and load again")
        if before != after:
            raise UsageError(f"{snapshot / entry.path} changed while it was being verified",
                             "load again once nothing else writes to the Hugging Face cache")
        signatures[entry.path] = before
    return signatures


def _still_verified(home: Path, manifest: Manifest) -> bool:
    """The commit's files were verified and none changed since (stat signatures: no byte is read)."""
    try:
        files = json.loads((home / VERIFIED).read_text())["files"]
        return set(files) == {e.path for e in manifest.files} and \
            all(signature(os.stat(home / "tree" / e.target)) == files[e.path] for e in manifest.files)
    except (OSError, ValueError, KeyError, TypeError):
        return False


def _lay_out(manifest: Manifest, snapshot: Path, home: Path, repo_id: str) -> None:
    """A tree of symlinks into the snapshot, where the manifest puts each file (no weight byte copied); built
    beside the old one and swapped in."""
    from ..artifact.safe_paths import resolve_inside

    fresh = home / f"tree.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp"
    fresh.mkdir(parents=True)
    try:
        for n, entry in enumerate(manifest.files):
            field = f"{MANIFEST} files[{n}].{'ludwig_path' if entry.ludwig_path else 'path'}"
            target = resolve_inside(fresh, entry.target, field, repo_id)
            target.parent.mkdir(parents=True, exist_ok=True)
            _link(snapshot / entry.path, target)
        old = home / f"tree.{uuid.uuid4().hex[:8]}.old"
        with contextlib.suppress(FileNotFoundError):
            os.rename(home / "tree", old)
        os.rename(fresh, home / "tree")
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(fresh, ignore_errors=True)


def _link(source: Path, target: Path) -> None:
    try:
        os.symlink(source, target)
    except OSError:  # no symlinks (Windows without developer mode): a hard link, else a copy
        try:
            os.link(os.path.realpath(source), target)
        except OSError:
            shutil.copyfile(source, target)


@contextlib.contextmanager
def _hub_errors(repo_id: str, revision: str | None, offline: bool):
    """huggingface_hub's exceptions as the package's, each with what to do."""
    from huggingface_hub.errors import (EntryNotFoundError, GatedRepoError, HfHubHTTPError, LocalEntryNotFoundError,
                                        OfflineModeIsEnabled, RepositoryNotFoundError, RevisionNotFoundError)

    from ..hub.retry import is_connection_failure, status_of

    where = f"{repo_id}@{revision or 'main'}"
    try:
        yield
    except ExportError:
        raise
    except LocalEntryNotFoundError as e:
        setting = "local_files_only=True" if not isinstance(e.__cause__, OfflineModeIsEnabled) and offline \
            else "HF_HUB_OFFLINE=1"
        raise UsageError(f"{where} is not (completely) in the Hugging Face cache and the Hub is out of reach "
                         f"({setting} or no network)", "load it once online (unset HF_HUB_OFFLINE, pass "
                         "local_files_only=False)") from None
    except OfflineModeIsEnabled:
        raise UsageError(f"{where}: HF_HUB_OFFLINE=1 forbids requests and the cache does not have it",
                         "load it once online (unset HF_HUB_OFFLINE)") from None
    except EntryNotFoundError:
        raise InvalidModelError(f"{where} has no {MANIFEST}: it was not published by ludwig-hub-export, or its "
                                "export did not complete", "push it (again) with ludwig-hub-export push") from None
    except GatedRepoError:
        raise AuthError(f"{where} is gated", "accept its conditions on the Hub and pass a token (or set "
                        "HF_TOKEN)") from None
    except (RepositoryNotFoundError, RevisionNotFoundError) as e:
        raise UsageError(f"{where} not found ({status_of(e)})", "check the repo id and the revision; a private "
                         "repo needs a token that can read it") from None
    except Exception as e:  # noqa: BLE001
        status = status_of(e)
        if status in (401, 403):
            raise AuthError(f"{where}: the Hub refused the request ({status})",
                            "pass a token that can read this repo (or set HF_TOKEN; `hf auth login`)") from None
        if status is None and not (isinstance(e, HfHubHTTPError) or is_connection_failure(e)):
            raise
        raise HubError(f"load of {where} failed: {e}", "try again later; files already downloaded are kept in the "
                       "Hugging Face cache") from None

