"""Models in object storage (any fsspec URL): `urls` opens the filesystem with clear errors, `tree` lists it once
behind a pathlib subset, `remote_file` stages and hashes a file. fsspec is imported only when a URL is given."""

from __future__ import annotations

import sys
from pathlib import Path

from ...errors import UsageError
from .urls import display, is_url

__all__ = ["display", "is_url", "resolve"]


def resolve(path, storage_options: dict | None = None):
    """A local `Path` for a local path (or ``file://`` URL), a `StoragePath` at the root of a listed remote tree
    for any other URL. `StoragePath`s are returned as they are."""
    tree = sys.modules.get(f"{__name__}.tree")  # not loaded: no `StoragePath` exists (a local push never loads it)
    if tree is not None and isinstance(path, tree.StoragePath):
        return path
    if isinstance(path, Path) or not is_url(str(path)):
        if storage_options:
            raise UsageError("--storage-options applies to URLs (s3://, gs://, ...), not to a local path",
                             "drop --storage-options, or give the model's URL")
        return Path(path).expanduser()
    text = str(path)
    if text.startswith("file://"):
        return Path(text.removeprefix("file://")).expanduser()
    from .tree import open_tree

    return open_tree(text, storage_options or {})
