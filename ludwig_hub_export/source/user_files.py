"""Reading the files of a user's model directory: regular files only, and JSON of bounded depth.

A FIFO, a socket, a device or a directory under the model directory (or a symlink to one) must neither block
`check` nor end in a traceback, and a JSON document nested 100k deep must be invalid input, not a
`RecursionError`: every read of a user's file goes through `read_regular`, every parse of a user's JSON through
`parse_json` (`manifest` refuses a downloaded manifest nested too deeply the same way).
"""

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


def read_regular(path, limit: int | None = None) -> bytes:
    """The bytes of the regular file `path`; an `OSError` for anything else, raised before any read could block
    (opened non-blocking, checked with fstat on the descriptor, so a file swapped for a FIFO meanwhile is caught
    too). A path in object storage (`storage.StoragePath`) is read as it is."""
    if not isinstance(path, Path):
        return path.read_bytes()
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    with os.fdopen(fd, "rb") as f:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise OSError(errno.EINVAL, f"{kind_of(mode)}, not a regular file", str(path))
        data = f.read() if limit is None else f.read(limit + 1)
    if limit is not None and len(data) > limit:
        raise OSError(errno.EFBIG, f"larger than {limit} bytes", str(path))
    return data


def parse_json(raw: bytes | str, **options) -> object:
    """`json.loads` for a user's JSON: `JSONTooDeep` (a ValueError, as for any invalid JSON) past `MAX_DEPTH`."""
    try:
        value = json.loads(raw, **options)
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


def read_json_file(path, limit: int | None = None) -> object:
    """`parse_json` of `read_regular`: an `OSError` or a `ValueError` (bad UTF-8 included) for the caller to
    turn into its own invalid-input error."""
    return parse_json(read_regular(path, limit))
