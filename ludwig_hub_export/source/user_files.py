"""Reading a user's files: regular files only (a FIFO or device must not block `check`), and JSON of bounded depth
(a document nested 100k deep is invalid input, not a `RecursionError`)."""

from __future__ import annotations

import errno
import json
import os
import stat
from pathlib import Path

MAX_DEPTH = 256  # a Ludwig, PEFT or transformers JSON file is a few levels deep; the walks over them recurse


class JSONTooDeep(ValueError):
    """A JSON document nested past `MAX_DEPTH` (or past what the parser can recurse into)."""


def kind_of(mode: int) -> str:
    """What a non-regular file is, for a message."""
    for test, name in ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
                       (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device")):
        if test(mode):
            return name
    return "not a regular file"


def not_regular(path: Path) -> str | None:
    """Why `path` (its symlinks followed) cannot be read as a file, or None for a regular file. Never opens it."""
    try:
        mode = os.stat(path).st_mode
    except OSError as e:
        return "a symlink loop" if e.errno == errno.ELOOP else f"unreadable ({e.strerror or e})"
    return None if stat.S_ISREG(mode) else kind_of(mode)


def read_regular(path) -> bytes:
    """The bytes of the regular file `path`, else an `OSError` before any read could block (fstat on the open
    descriptor: a file swapped for a FIFO meanwhile is caught too). A `StoragePath` is read as it is."""
    if not isinstance(path, Path):
        return path.read_bytes()
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    with os.fdopen(fd, "rb") as f:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise OSError(errno.EINVAL, f"{kind_of(mode)}, not a regular file", str(path))
        return f.read()


def parse_json(raw: bytes | str) -> object:
    """`json.loads` for a user's JSON: `JSONTooDeep` (a ValueError, as for any invalid JSON) past `MAX_DEPTH`."""
    try:
        value = json.loads(raw)
    except RecursionError:
        raise JSONTooDeep(f"nested more than {MAX_DEPTH} levels deep") from None
    opening = raw.count(b"[" if isinstance(raw, bytes) else "[") + raw.count(b"{" if isinstance(raw, bytes) else "{")
    if opening > MAX_DEPTH:  # only then can it be that deep: walk it (without recursing)
        _check_depth(value)
    return value


def _check_depth(value: object) -> None:
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise JSONTooDeep(f"nested more than {MAX_DEPTH} levels deep")
        children = node.values() if isinstance(node, dict) else node
        stack.extend((c, depth + 1) for c in children if isinstance(c, (dict, list)))


def read_json_file(path) -> object:
    """`parse_json` of `read_regular`: an `OSError` or a `ValueError` (bad UTF-8 included) for the caller."""
    return parse_json(read_regular(path))
