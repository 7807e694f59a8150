"""What a push generates (the model card, `config.yaml`) and the installed versions it names, kept by what they are
made from.

Making them loads huggingface_hub's card code with the YAML library (~45 ms) and reads package metadata (~25 ms):
most of an unchanged re-push once the Hub client is not loaded either (`first_look`). Each key covers everything
the result depends on: its inputs, this package's code that makes it, and what is installed (a distribution
installed or removed adds or removes a `*.dist-info` directory, which changes the mtime of the `sys.path`
directory holding it). So a change of any of them makes the file again; nothing stale is published.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import threading
from collections.abc import Callable

from .hashing import JsonEntries, default_cache_path


class _Store(JsonEntries):
    MAX_ENTRIES = 64  # whole cards, a few KiB each: the file is read and written by every push


_lock = threading.Lock()
_store: _Store | None = None


def _entries() -> _Store:
    global _store
    path = default_cache_path().parent / "generated.json"  # beside the hash cache (LUDWIG_HUB_EXPORT_CACHE)
    with _lock:
        if _store is None or _store.path != path:
            _store = _Store(path)
        return _store


def _mtime(path: str) -> int | None:
    try:
        return os.stat(path or ".").st_mtime_ns
    except OSError:
        return None


def installed() -> list:
    """What is installed, as far as package metadata can tell: the interpreter and its `sys.path` directories."""
    return [sys.prefix, sys.version, [(p, _mtime(p)) for p in sys.path]]


def _key(kind: str, parts: object) -> str:
    # Keys in their order, not sorted: the YAML keeps the config's order, so another order is another file.
    return kind + "|" + hashlib.sha256(json.dumps(parts, default=repr).encode()).hexdigest()


def kept(kind: str, inputs: object, make: Callable[[], str], code: str) -> str:
    """`make()`'s text, or the text it made before from the same `inputs`, code (`code`: the file of the module
    that makes it) and installed packages."""
    from . import __version__

    return _kept(_key(kind, [inputs, __version__, code, _mtime(code), installed()]), make,
                 lambda hit: isinstance(hit, str))


def kept_versions(read: Callable[[], dict[str, str]]) -> dict[str, str]:
    """`read()` (package metadata), or what it gave before with the same packages installed."""
    from . import __version__

    return dict(_kept(_key("versions", [__version__, installed()]), read, lambda hit: isinstance(hit, dict) and all(
        isinstance(k, str) and isinstance(v, str) for k, v in hit.items())))


def _kept(key: str, make: Callable[[], object], valid: Callable[[object], bool]):
    entries = _entries()
    hit = entries.get(key)
    if isinstance(hit, list) and len(hit) == 1 and valid(hit[0]):
        return hit[0]  # anything else (a damaged entry) is made again
    value = make()
    entries.put(key, [value])
    entries.save()
    return value
