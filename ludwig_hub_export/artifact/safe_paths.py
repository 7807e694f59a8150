"""Paths that come from a repo someone else published, checked before anything touches the disk.

Only a plain relative POSIX path that every filesystem reads the same way may become a file under the
destination (`check_relative` says what is refused, and why); no two targets may collide, also case-insensitively
or as a file and a directory; and each must resolve inside DEST, symlinks already on disk included.
"""

from __future__ import annotations

import os
import re
import unicodedata
from pathlib import Path

from ..errors import UntrustedRepoError

STAGING = ".ludwig-hub-export"  # inside DEST: pull's lock, state and staging area (destination.py)
MAX_PATH = 1024
MAX_SEGMENT = 255  # bytes: the usual filename limit
_DRIVE = re.compile(r"^[A-Za-z]:")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _refuse(repo_id: str, field: str, value: object, why: str) -> UntrustedRepoError:
    shown = repr(value) if not isinstance(value, str) or len(value) <= 120 else repr(value[:120] + "...")
    return UntrustedRepoError(f"{repo_id}: {field} = {shown} is not a safe path: {why}",
                              "this repo cannot be pulled safely; ask its owner to push it again with "
                              "ludwig-hub-export, and do not load files from it by hand")


def check_relative(value: object, field: str, repo_id: str) -> str:
    """`value` when it is a safe relative POSIX path; UntrustedRepoError naming `field` otherwise."""
    if not isinstance(value, str):
        raise _refuse(repo_id, field, value, f"expected a string, got {type(value).__name__}")
    try:
        size = len(value.encode("utf-8"))
    except UnicodeEncodeError:
        size = None
    for bad, why in ((not value, "it is empty"), ("\0" in value, "it contains a NUL byte"),
                     ("\\" in value, "it contains a backslash (a path separator on Windows)"),
                     (_CONTROL.search(value), "it contains a control character"),
                     (size is None, "it is not valid Unicode (a lone surrogate)"),
                     (value.startswith(("/", "~")), "it is absolute (or home-relative)"),
                     (_DRIVE.match(value), "it starts with a drive letter"),
                     (":" in value, "it contains ':' (a drive or an alternate data stream on Windows)"),
                     ((size or 0) > MAX_PATH, f"it is longer than {MAX_PATH} bytes")):
        if bad:  # the first that applies, in this order
            raise _refuse(repo_id, field, value, why)
    for segment in value.split("/"):
        if segment == "":
            raise _refuse(repo_id, field, value, "it has an empty segment (a doubled or trailing slash)")
        if segment in (".", ".."):
            raise _refuse(repo_id, field, value, f"it has a {segment!r} segment")
        if segment[-1] in ". ":  # Windows drops a trailing dot or space: two names, one file
            raise _refuse(repo_id, field, value, f"segment {segment!r} ends with a dot or a space")
        if len(segment.encode("utf-8")) > MAX_SEGMENT:
            raise _refuse(repo_id, field, value, f"a segment is longer than {MAX_SEGMENT} bytes")
    if value.split("/")[0] == STAGING:
        raise _refuse(repo_id, field, value, f"{STAGING}/ is where pull keeps its state and stages its downloads")
    return value


def _fold(path: str) -> str:
    return unicodedata.normalize("NFC", path).casefold()


def check_collisions(targets: dict[str, str], repo_id: str) -> None:
    """Refuses two `targets` (field name -> checked relative path) on the same file, also case-insensitively or
    after Unicode normalization, or a file where another needs a directory."""
    seen: dict[str, str] = {}
    for field, target in targets.items():
        key = _fold(target)
        if key in seen:
            other = seen[key]
            same = "the same path" if targets[other] == target else "paths that differ only in case or Unicode form"
            raise UntrustedRepoError(f"{repo_id}: {field} = {target!r} and {other} = {targets[other]!r} are {same}: "
                                     "one file would overwrite the other",
                                     "this repo cannot be pulled safely; ask its owner to push it again")
        seen[key] = field
    for field, target in targets.items():
        parts = _fold(target).split("/")
        for depth in range(1, len(parts)):
            prefix = "/".join(parts[:depth])
            if prefix in seen:
                other = seen[prefix]
                raise UntrustedRepoError(f"{repo_id}: {field} = {target!r} needs {targets[other]!r} to be a "
                                         f"directory, but {other} makes it a file",
                                         "this repo cannot be pulled safely; ask its owner to push it again")


def resolve_inside(root: Path, relative: str, field: str, repo_id: str) -> Path:
    """``root / relative`` after checking that what it resolves to (following any symlink already on disk)
    stays inside ``root``."""
    real_root = os.path.realpath(root)
    target = os.path.realpath(os.path.join(real_root, relative))
    if os.path.commonpath([real_root, target]) != real_root or target == real_root:
        raise _refuse(repo_id, field, relative, f"it resolves to {target}, outside {real_root} (a symlink on the way)")
    return Path(target)
