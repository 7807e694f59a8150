"""A pull's destination: one pull at a time (a lock), what an earlier pull wrote there (a state file), and
whether the disk holds what is coming (blocks and inodes, not bytes).

All of it in ``DEST/.ludwig-hub-export/`` (as ``hf download --local-dir`` keeps ``.cache/huggingface``): ``lock``,
``state.json`` and ``staging/``. A later pull replaces only what changed, and never a file it did not write.
"""

from __future__ import annotations

import contextlib
import errno
import json
import math
import os
import shutil
import socket
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..errors import DiskError, UsageError, cause_chain
from ..hashing import signature, write_atomically
from ..artifact.safe_paths import STAGING

LOCK_WAIT = 5.0  # seconds a second pull into the same DEST waits before saying who holds it
DISK_ERRNOS = {errno.ENOSPC: "no space left", errno.EDQUOT: "disk quota exceeded",
               errno.EMFILE: "too many open files", errno.ENFILE: "too many open files in the system"}


@dataclass
class State:
    """What an earlier pull wrote into DEST (`files`: DEST-relative path -> {"sha256", "size", "signature"})."""

    repo_id: str
    commit: str
    complete: bool
    files: dict[str, dict] = field(default_factory=dict)

    def intact(self, dest: Path, target: str) -> bool:
        """The file pull wrote at `target` is there, unchanged since (its stat signature)."""
        record = self.files.get(target)
        try:
            return record is not None and signature(os.stat(dest / target, follow_symlinks=False)) == \
                record.get("signature")
        except OSError:
            return False


def state_dir(dest: Path) -> Path:
    return dest / STAGING


def read_state(dest: Path) -> State | None:
    path = state_dir(dest) / "state.json"
    try:
        raw = json.loads(path.read_text())
        return State(str(raw["repo_id"]), str(raw["commit"]), bool(raw["complete"]), dict(raw["files"]))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise UsageError(f"{path} is damaged ({e})", f"remove {path} and pull into an empty directory") from None


def write_state(dest: Path, state: State) -> None:
    write_atomically(state_dir(dest) / "state.json", json.dumps(asdict(state), indent=1))


def record(dest: Path, target: str, sha256: str, size: int) -> dict:
    return {"sha256": sha256, "size": size, "signature": signature(os.stat(dest / target, follow_symlinks=False))}


@contextlib.contextmanager
def locked(dest: Path, wait: float = LOCK_WAIT):
    """Hold DEST for this pull: a second pull waits up to `wait` seconds, then is told which process holds it.
    Yields whether this pull created DEST (so that a failure before any download can leave nothing behind)."""
    try:
        import fcntl
    except ImportError:  # Windows: no flock; one pull per DEST is then the user's care
        fcntl = None
    created = not dest.exists()
    ours = state_dir(dest)
    if ours.is_symlink() or ours.exists() and not ours.is_dir():
        raise UsageError(f"{ours} is not the directory an earlier pull left", f"remove {ours}")
    try:
        ours.mkdir(parents=True, exist_ok=True)
        fd = os.open(ours / "lock", os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o644)
    except OSError:
        if created:  # e.g. no inode left: DEST goes as it came
            shutil.rmtree(dest, ignore_errors=True)
        raise
    try:
        deadline = time.monotonic() + wait
        while fcntl is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    holder = os.pread(fd, 4096, 0).decode("utf-8", "replace").strip() or "another process"
                    raise UsageError(f"another pull is writing into {dest} ({holder})",
                                     "wait for it to finish, or pull into another directory") from None
                time.sleep(0.1)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()} on {socket.gethostname()}, since {time.strftime('%H:%M:%S')}".encode(), 0)
        yield created
    finally:
        os.close(fd)  # releases the flock


def check_room(dest: Path, sizes: list[int], dirs: int, label: str) -> None:
    """Refuse, before any download, what the file system at DEST cannot hold: each file rounded up to whole
    blocks, the directories, one inode each."""
    probe = dest
    while not probe.exists():
        probe = probe.parent
    st = os.statvfs(probe)
    block = st.f_frsize or st.f_bsize or 4096
    blocks = sum(math.ceil(size / block) for size in sizes) + dirs
    inodes = len(sizes) + dirs
    if blocks > st.f_bavail:
        raise DiskError(f"{label}: pulling into {dest} needs {_mb(blocks * block)} ({len(sizes)} files, the total of "
                        f"files[*].size and the manifest, in {block}-byte blocks); {probe} has "
                        f"{st.f_bavail * block} bytes free", "free some space or pull into another directory; a "
                        "repo that claims far more than its files hold is not trustworthy")
    if st.f_files and inodes > st.f_favail:  # f_files 0: a file system without an inode limit
        raise DiskError(f"{label}: pulling into {dest} needs {inodes} inodes (files and directories); {probe} has "
                        f"{st.f_favail} free", "free some inodes (delete files) or pull into another directory")


def disk_failure(error: BaseException) -> int | None:
    """The errno of a full disk, a spent quota or too many open files behind `error` (hf_xet reports them as
    text: '(os error 28)'), else None."""
    for e in cause_chain(error):
        if isinstance(e, OSError) and e.errno in DISK_ERRNOS:
            return e.errno
        for number in DISK_ERRNOS:
            if f"(os error {number})" in str(e):
                return number
    return None


def disk_error(number: int, dest: Path, needed: int) -> DiskError:
    what = DISK_ERRNOS[number]
    resume = f"run the same command again: it resumes from the verified files in {state_dir(dest)}"
    if number in (errno.EMFILE, errno.ENFILE):
        return DiskError(f"pull into {dest} stopped: {what}", f"raise the limit (ulimit -n) and {resume}")
    return DiskError(f"pull into {dest} stopped: {what} on its file system; it needs about {_mb(needed)} more",
                     f"free that much space and {resume}")


def _mb(n: int) -> str:
    return f"{n} bytes" if n < 1 << 20 else f"{n / (1 << 20):.1f} MiB"
