"""Local paths in the JSON a push uploads (a base model named by the path it was trained from means nothing on the
Hub): found, and rewritten to the base model's Hub id when it is known. `rewrite_local_paths` is the one walk both
`check` (to report) and the plan (to upload the rewritten copy) run; `is_local_path` says what a local path is.
"""

from __future__ import annotations

import copy
import json
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass

from ..card_metadata import is_repo_id

# Keys whose value names a model (a Hub id or a local directory), in Ludwig, PEFT and transformers files.
REFERENCE_KEYS = frozenset({"base_model", "base_model_name_or_path", "pretrained_model_name_or_path",
                            "_name_or_path", "name_or_path", "tokenizer_name_or_path", "model_name_or_path"})
# The keys that say which model was fine-tuned: the paths under them are the ones `--base-model` names.
BASE_KEYS = frozenset({"base_model", "base_model_name_or_path"})
# Vocabularies and tokenizer tables: text tokens, never paths.
SKIP_KEYS = frozenset({"vocab", "idx2str", "str2idx", "str2freq", "str2idf", "merges", "added_tokens",
                       "added_tokens_decoder", "char_idx2str", "char_str2idx", "char_str2freq", "word_idx2str",
                       "word_str2idx", "word_str2freq", "special_tokens"})
_PATH_SYNTAX = re.compile(r"^(?:/[^/\s]|~[\w.-]*(?:[/\\]|$)|\.{1,2}[/\\]|[A-Za-z]:[/\\]|\\\\|file:)")


@dataclass(frozen=True)
class LocalPath:
    """One local path in a JSON document: where (``input_features[0].preprocessing.pretrained_model_name_or_path``),
    the path, and the Hub id it was replaced by (None: left as it is)."""

    where: str
    value: str
    replaced_by: str | None = None


def is_local_path(value: object, *, reference: bool = False) -> bool:
    """Is `value` a path on the training machine: written as one (``/x``, ``~/x``, ``./x``, ``C:\\x``, ``file:``)
    or, under a key naming a model (`reference`), no Hub id or a Hub-id-shaped directory here (transformers loads
    that first). Vocabularies (`SKIP_KEYS`) are never looked at: a token such as ``/usr`` is text."""
    if not isinstance(value, str) or not value.strip():
        return False
    if _PATH_SYNTAX.match(value):
        return True
    if not reference or "://" in value:  # a URL is not on this machine
        return False
    if not is_repo_id(value):
        return True  # "models/llama/v2", "llama 7b": no Hub id looks like this
    return os.path.isdir(value)  # transformers' from_pretrained loads a directory of that name first


def model_paths(*documents: object) -> set[str]:
    """The local paths that name the base model in these JSON documents: the values of `BASE_KEYS`; when none is
    local (an ECD model with one pretrained encoder), the one local path the `REFERENCE_KEYS` name, if only one."""
    base, references = set(), set()
    for document in documents:
        for key, value, _, _, _ in _strings(document):
            if key in REFERENCE_KEYS and is_local_path(value, reference=True):
                references.add(_norm(value))
                if key in BASE_KEYS:
                    base.add(_norm(value))
    if base:
        return base
    return references if len(references) == 1 else set()


def rewrite_local_paths(document: object, hub_id: str | None, bases: Iterable[str]) -> tuple[object, list[LocalPath]]:
    """(a copy of `document` whose local paths to one of `bases` are `hub_id`, every local path found); without
    `hub_id` nothing is replaced: the list is what `check` reports."""
    wanted = {_norm(b) for b in bases}
    found: list[LocalPath] = []
    out = copy.deepcopy(document)
    for key, value, where, parent, slot in _strings(out):
        if not is_local_path(value, reference=key in REFERENCE_KEYS):
            continue
        replace = hub_id if hub_id and _norm(value) in wanted else None
        found.append(LocalPath(where, value, replace))
        if replace:
            parent[slot] = replace  # a leaf: the walk does not go below strings
    return out, found


def unresolved(documents: dict[str, object], hub_id: str | None) -> dict[str, list[LocalPath]]:
    """For `check`: the local paths each document (by name) would still publish with `hub_id` as --base-model,
    leaving out the base model's own keys (the adapter's and the Ludwig config's, which `check` reports apart)."""
    bases = model_paths(*documents.values())
    out = {}
    for name, document in documents.items():
        left = [f for f in rewrite_local_paths(document, hub_id, bases)[1] if not f.replaced_by and f.where not in
                BASE_KEYS]
        if left:
            out[name] = left
    return out


def rewrite_json_bytes(raw: bytes, hub_id: str | None, bases: Iterable[str], *, indent: int = 4,
                       sort_keys: bool = True) -> tuple[bytes, list[LocalPath]]:
    """`rewrite_local_paths` for a JSON file: its bytes unchanged when nothing is replaced (or it does not parse:
    `check` reports that), else the rewritten document in the writer's style (Ludwig: indent 4, sorted keys)."""
    try:
        document = json.loads(raw)
    except (UnicodeDecodeError, ValueError):
        return raw, []
    new, found = rewrite_local_paths(document, hub_id, bases)
    if not any(f.replaced_by for f in found):
        return raw, found
    return (json.dumps(new, indent=indent, sort_keys=sort_keys) + "\n").encode(), found


def _norm(path: str) -> str:
    text = path[len("file://"):] if path.startswith("file://") else path
    return os.path.normpath(os.path.expanduser(text)).rstrip("/\\") or text


def _strings(value: object):
    """(key, string, location, container, slot) of every string value, vocabularies left out, in document
    order. The key of a list item is its list's key."""
    stack: list[tuple[object, str, str, object, object]] = [(value, "", "", None, None)]
    while stack:
        node, key, at, parent, slot = stack.pop()
        if isinstance(node, dict):
            stack += [(v, str(k), f"{at}.{k}" if at else str(k), node, k)
                      for k, v in reversed(node.items()) if k not in SKIP_KEYS]
        elif isinstance(node, list):
            stack += [(v, key, f"{at}[{i}]", node, i) for i, v in reversed(list(enumerate(node)))]
        elif isinstance(node, str):
            yield key, node, at, parent, slot
