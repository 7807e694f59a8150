"""What verified pushes planned, kept by everything their check and plan depended on: a push of the same files
with the same settings, code and installed packages would check and plan the same, so an unchanged re-push is
answered from the record and the first look (`first_look`) without checking, planning or generating again.

The key covers every filesystem fact the layout, the check and the plan read, as `os.stat` tells them (size,
mtime, inode and ctime, as the hash cache tells a file changed), every setting that changes what is planned or
where, this package's code and what is installed (`generated.installed`). Only the layouts whose inputs are a
directory's own tree are kept: a model directory (with its run's files beside a `model/` directory) and a run
directory. A results or hyperopt directory names a run by listings and times the key would have to copy from
`layout`; those are checked and planned every time.

A record names files and digests, never a token; anything malformed in one is a miss.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading

from .hashing import Digest, default_cache_path, signature, write_atomically

TYPE_CHECKING = False  # typing's, without loading typing
if TYPE_CHECKING:
    from .plan import ExportPlan
    from .remote import RemoteEntry
    from .report import ExportReport, FileResult
    from .settings import ExportSettings

MAX_RECORDS = 256  # one small file each; the oldest go first
_MAX_ENTRIES = 5000  # a larger tree (a run full of checkpoints) is planned every time, not walked on
# Settings that change neither what is planned nor where it goes (or that are secrets, never kept).
_NOT_INPUTS = frozenset({"token", "token_command", "interactive", "quiet", "retry", "min_interval", "hash_cache",
                         "commit_message", "commit_description", "public", "storage_options"})
_HYPERPARAMETERS = "model_hyperparameters.json"  # layout.HYPERPARAMETERS, without loading layout
_RUN_FILES = ("training_statistics.json", "description.json", "model_card.md", "training_report.json",
              "test_statistics.json")  # layout.RUN_FILES (a test holds them equal)
_lock = threading.Lock()


def key(path, settings: ExportSettings, endpoint: str) -> str | None:
    """The key of a push of `path` with `settings` to `endpoint`; None when it is not kept (see the module)."""
    if settings.dry_run or settings.create_pr:
        return None
    tree = _tree_facts(path)
    if tree is None:
        return None
    from dataclasses import fields

    from . import __version__
    from .generated import installed

    chosen = [[f.name, repr(getattr(settings, f.name))] for f in fields(settings) if f.name not in _NOT_INPUTS]
    parts = [__version__, _code_facts(), installed(), endpoint, chosen, tree]
    return hashlib.sha256(json.dumps(parts, default=repr).encode()).hexdigest()


def recall(settings: ExportSettings, push_key: str | None) -> dict | None:
    """The record kept under `push_key`, or None (none kept, unreadable or malformed)."""
    if push_key is None:
        return None
    try:
        record = json.loads(_record_path(settings, push_key).read_text())
    except (OSError, ValueError):
        return None
    return record if _valid(record) else None


def remember(settings: ExportSettings, push_key: str | None, path, endpoint: str, plan: ExportPlan,
             kind_reason: str, report: ExportReport) -> None:
    """Keep what `plan` held after `report`'s push, when it was verified and its inputs are the same now as when
    it began (a file changed meanwhile: the plan may have read either version)."""
    if push_key is None or not report.verified or report.dry_run or report.pr_url is not None:
        return
    from .plan import MANIFEST

    if any(f.digest is None for f in plan.files) or MANIFEST not in {f.path for f in plan.files}:
        return  # not every file known: nothing to answer a re-push with
    if key(path, settings, endpoint) != push_key:
        return
    _write(settings, push_key, {"kind": plan.kind, "kind_reason": kind_reason, "notes": list(plan.notes),
                                "files": [[f.path, f.size, f.digest.sha256, f.digest.git_sha1] for f in plan.files]})


def lacking(record: dict, remote: dict[str, RemoteEntry]) -> bool:
    """Whether the remote files (path: `remote.RemoteEntry`) lack one of the record's, by content."""
    for path, size, sha256, git_sha1 in record["files"]:
        entry = remote.get(path)
        if entry is None or not Digest(size, sha256, git_sha1).matches_remote(entry.blob_id, entry.sha256):
            return True
    return False


def file_results(record: dict) -> list[FileResult]:
    from .report import FileResult

    return [FileResult(path, size, sha256, "already there") for path, size, sha256, _ in record["files"]]


def _valid(record: object) -> bool:
    if not isinstance(record, dict) or not isinstance(record.get("kind"), str) or \
            not isinstance(record.get("kind_reason"), str):
        return False
    notes, files = record.get("notes"), record.get("files")
    if not isinstance(notes, list) or not all(isinstance(n, str) for n in notes):
        return False
    return isinstance(files, list) and bool(files) and all(
        isinstance(f, list) and len(f) == 4 and isinstance(f[0], str) and type(f[1]) is int and f[1] >= 0
        and isinstance(f[2], str) and isinstance(f[3], (str, type(None))) for f in files)


def _records_dir(settings: ExportSettings):
    from pathlib import Path

    cache = Path(settings.hash_cache) if settings.hash_cache else default_cache_path()
    return cache.parent / "pushes"  # beside the hash cache (LUDWIG_HUB_EXPORT_CACHE)


def _record_path(settings: ExportSettings, push_key: str):
    return _records_dir(settings) / f"{push_key}.json"


def _write(settings: ExportSettings, push_key: str, record: dict) -> None:
    directory = _records_dir(settings)
    try:
        write_atomically(directory / f"{push_key}.json", json.dumps(record))
        with _lock:
            _prune(directory)
    except OSError:
        pass  # a record that cannot be kept only costs a check and a plan next time


def _prune(directory) -> None:
    records = [e for e in os.scandir(directory) if e.name.endswith(".json")]
    if len(records) <= MAX_RECORDS:
        return
    records.sort(key=lambda e: e.stat().st_mtime_ns)
    for entry in records[:len(records) - MAX_RECORDS]:
        try:
            os.unlink(entry.path)
        except OSError:
            pass  # another push pruned it first


def _stat(path: str) -> list:
    st = os.stat(path)
    return [st.st_mode, st.st_dev, *signature(st)]  # the mode: a file and a directory are not the same input


def _tree_facts(path) -> list | None:
    """The stat of every file and directory the layout reads for `path` (see the module), or None when the
    push is not kept."""
    name = path if isinstance(path, str) else os.fspath(path) if isinstance(path, os.PathLike) else None
    if name is None or "://" in name:
        return None  # object storage (a URL, a `StoragePath`): listed, not stat'ed
    root = os.path.realpath(name)
    if not (os.path.isfile(os.path.join(root, _HYPERPARAMETERS))
            or os.path.isfile(os.path.join(root, "model", _HYPERPARAMETERS))):
        return None
    facts: list = [name, root]
    try:
        for directory, dirs, files in os.walk(root, followlinks=True):
            dirs.sort()
            facts.append([os.path.relpath(directory, root), _stat(directory)])
            for file in sorted(files):
                full = os.path.join(directory, file)
                try:
                    facts.append([os.path.relpath(full, root), _stat(full)])
                except FileNotFoundError:  # a broken symlink: the check says so
                    facts.append([os.path.relpath(full, root), None, os.readlink(full)])
            if len(facts) > _MAX_ENTRIES:
                return None  # also ends a symlink loop
        if os.path.basename(root) == "model":  # a run's model/: the run's files beside it go too (layout)
            parent = os.path.dirname(root)
            facts.append(["..", _stat(parent)])
            for run_file in _RUN_FILES:
                run_path = os.path.join(parent, run_file)
                facts.append([run_file, _stat(run_path) if os.path.exists(run_path) else None])
    except OSError:
        return None
    return facts


def _code_facts() -> list:
    """This package's modules as files (an editable install changes them without a new version); not the local
    Hub's (`testing`), which no push runs."""
    facts, todo = [], [os.path.dirname(__file__)]
    while todo:
        with os.scandir(todo.pop()) as entries:
            for entry in entries:
                if entry.name.endswith(".py"):
                    st = entry.stat()
                    facts.append([entry.path, st.st_size, st.st_mtime_ns])
                elif entry.name not in ("__pycache__", "testing") and entry.is_dir():
                    todo.append(entry.path)
    return sorted(facts)
