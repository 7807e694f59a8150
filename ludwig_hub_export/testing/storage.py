"""Repository state and content-addressed blobs for the local Hub.

Blobs live on disk under their hash (sha256 for LFS objects, git blob sha1 for regular files) and are written
by streaming, so a multi-GB upload never sits whole in memory. Repository metadata (branches, commits, trees)
is small and kept in memory, mirrored to ``state.json`` after every change when a data directory is given so
that a restarted server sees the same repos.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import BinaryIO, Callable, Iterator

_HEX = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")
GITATTRIBUTES = b"""*.bin filter=lfs diff=lfs merge=lfs -text
*.ckpt filter=lfs diff=lfs merge=lfs -text
*.h5 filter=lfs diff=lfs merge=lfs -text
*.msgpack filter=lfs diff=lfs merge=lfs -text
*.onnx filter=lfs diff=lfs merge=lfs -text
*.pkl filter=lfs diff=lfs merge=lfs -text
*.pt filter=lfs diff=lfs merge=lfs -text
*.pth filter=lfs diff=lfs merge=lfs -text
*.safetensors filter=lfs diff=lfs merge=lfs -text
*.zip filter=lfs diff=lfs merge=lfs -text
"""
# Extensions the Hub's default .gitattributes routes to LFS, plus its 10 MB size threshold.
LFS_EXTENSIONS = tuple(
    line.split()[0][1:] for line in GITATTRIBUTES.decode().splitlines() if line.startswith("*.")
)
LFS_SIZE_THRESHOLD = 10 * 1000 * 1000


def git_blob_sha1(data: bytes) -> str:
    """The oid git gives a regular file: sha1 over a 'blob <size>\\0' header and the content."""
    h = hashlib.sha1(b"blob %d\0" % len(data))
    h.update(data)
    return h.hexdigest()


def lfs_pointer(oid: str, size: int) -> bytes:
    return f"version https://git-lfs.github.com/spec/v1\noid sha256:{oid}\nsize {size}\n".encode()


class BlobMismatch(ValueError):
    """An uploaded body did not hash to the oid (or size) it was announced with."""


class BlobStore:
    """Content-addressed files: ``<root>/lfs/<sha256>`` and ``<root>/git/<sha1>``."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        for kind in ("lfs", "git", "tmp"):
            (self.root / kind).mkdir(parents=True, exist_ok=True)

    def path(self, kind: str, oid: str) -> Path:
        # oids come from requests: only plain hex names may touch the disk
        if not _HEX.fullmatch(oid or "") or kind not in ("lfs", "git"):
            raise ValueError(f"invalid {kind} oid {oid!r}")
        return self.root / kind / oid

    def has(self, kind: str, oid: str, size: int | None = None) -> bool:
        try:
            actual = self.path(kind, oid).stat().st_size
        except (FileNotFoundError, ValueError):
            return False
        return size is None or actual == size

    def put_bytes(self, data: bytes) -> str:
        """Store a regular (git) blob; returns its git sha1."""
        oid = git_blob_sha1(data)
        target = self.path("git", oid)
        if not target.exists():
            self._atomic_write(target, lambda f: f.write(data))
        return oid

    def put_lfs_stream(self, oid: str, size: int, chunks: Iterator[bytes]) -> int:
        """Stream an LFS object to disk, checking its sha256 and size; returns bytes read.

        The temporary file is removed on any failure, so a broken or lying upload leaves nothing behind.
        """
        h = hashlib.sha256()
        fd, tmp = tempfile.mkstemp(dir=self.root / "tmp")
        received = 0
        try:
            with os.fdopen(fd, "wb") as f:
                for chunk in chunks:
                    h.update(chunk)
                    f.write(chunk)
                    received += len(chunk)
            if received != size or h.hexdigest() != oid:
                raise BlobMismatch(
                    f"body has sha256 {h.hexdigest()} and {received} bytes; expected {oid} and {size} bytes"
                )
            os.replace(tmp, self.path("lfs", oid))
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return received

    def clear(self) -> None:
        for kind in ("lfs", "git"):
            for path in (self.root / kind).iterdir():
                path.unlink(missing_ok=True)

    def open(self, kind: str, oid: str) -> BinaryIO:
        return open(self.path(kind, oid), "rb")

    def _atomic_write(self, target: Path, write: Callable[[BinaryIO], object]) -> None:
        fd, tmp = tempfile.mkstemp(dir=self.root / "tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                write(f)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


@dataclass
class FileEntry:
    size: int
    blob_id: str  # git oid of what git stores: the content, or the LFS pointer
    lfs_oid: str | None = None  # sha256 of the content when stored in LFS
    xet_hash: str | None = None  # the Xet file hash when the content is (also) in the Xet CAS

    @property
    def etag(self) -> str:
        return self.lfs_oid or self.blob_id

    def to_api(self, path: str) -> dict:
        entry: dict = {"type": "file", "path": path, "size": self.size, "oid": self.blob_id}
        if self.lfs_oid:
            entry["lfs"] = {
                "oid": self.lfs_oid,
                "size": self.size,
                "pointerSize": len(lfs_pointer(self.lfs_oid, self.size)),
            }
        if self.xet_hash:
            entry["xetHash"] = self.xet_hash
        return entry


@dataclass
class Commit:
    oid: str
    parent: str | None
    title: str
    message: str
    author: str
    date: float
    files: dict[str, FileEntry]

    def to_api(self) -> dict:
        return {
            "id": self.oid,
            "title": self.title,
            "message": self.message,
            "date": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(self.date)),
            "authors": [{"user": self.author}],
        }


@dataclass
class Repo:
    repo_type: str  # model | dataset | space
    repo_id: str
    private: bool
    created_at: float
    branches: dict[str, str] = field(default_factory=dict)  # name -> commit oid; PRs are refs/pr/N
    commits: dict[str, Commit] = field(default_factory=dict)
    pr_count: int = 0
    tags: dict[str, str] = field(default_factory=dict)  # tag name -> commit oid

    @property
    def namespace(self) -> str:
        return self.repo_id.split("/", 1)[0]

    def resolve(self, revision: str) -> Commit | None:
        """A branch name, a PR ref, a tag or a (possibly abbreviated, >= 7 chars) commit oid."""
        if revision in self.branches:
            return self.commits[self.branches[revision]]
        if revision in self.tags:
            return self.commits[self.tags[revision]]
        if revision in self.commits:
            return self.commits[revision]
        if len(revision) >= 7:
            matches = [c for oid, c in self.commits.items() if oid.startswith(revision)]
            if len(matches) == 1:
                return matches[0]
        return None

    def history(self, head: Commit) -> list[Commit]:
        out: list[Commit] = []
        commit: Commit | None = head
        while commit is not None:
            out.append(commit)
            commit = self.commits.get(commit.parent) if commit.parent else None
        return out


def new_commit(parent: Commit | None, files: dict[str, FileEntry], title: str, message: str, author: str) -> Commit:
    now = time.time()
    seed = json.dumps(
        [parent.oid if parent else None, title, message, author, now, sorted((p, f.etag) for p, f in files.items())]
    )
    oid = hashlib.sha1(seed.encode() + os.urandom(8)).hexdigest()
    return Commit(oid, parent.oid if parent else None, title, message, author, now, files)


class RepoStore:
    """All repos of one server, guarded by one lock; persisted to ``state.json`` when it has a directory."""

    def __init__(self, state_file: Path | None) -> None:
        self.lock = threading.RLock()
        self.repos: dict[tuple[str, str], Repo] = {}
        self.state_file = state_file
        if state_file is not None and state_file.exists():
            self._load()

    def get(self, repo_type: str, repo_id: str) -> Repo | None:
        return self.repos.get((repo_type, repo_id))

    def add(self, repo: Repo) -> None:
        self.repos[(repo.repo_type, repo.repo_id)] = repo

    def remove(self, repo_type: str, repo_id: str) -> None:
        self.repos.pop((repo_type, repo_id), None)

    def clear(self) -> None:
        self.repos.clear()
        self.save()

    def save(self) -> None:
        if self.state_file is None:
            return
        data = [
            {
                **{k: v for k, v in asdict(repo).items() if k != "commits"},
                "commits": [asdict(c) for c in repo.commits.values()],
            }
            for repo in self.repos.values()
        ]
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(data))
        os.replace(tmp, self.state_file)

    def _load(self) -> None:
        for raw in json.loads(self.state_file.read_text()):
            commits = {}
            for c in raw.pop("commits"):
                c["files"] = {p: FileEntry(**f) for p, f in c["files"].items()}
                commits[c["oid"]] = Commit(**c)
            repo = Repo(**raw)
            repo.commits = commits
            self.add(repo)
