"""``ludwig_export.json``: its schema, and the parser `pull` runs on a manifest it downloaded (`plan` writes it).

A downloaded manifest is untrusted: parsed from memory, every field type-checked, every error naming its field
(``files[3].sha256``). Unknown fields are refused: a new field means a new ``format``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from ..errors import UntrustedRepoError
from .plan import MANIFEST, MANIFEST_FORMAT
from .safe_paths import check_collisions, check_relative

KINDS = ("ecd", "adapter", "full", "merged")
MAX_MANIFEST_BYTES = 16 << 20  # a real one is a few KB
MAX_FILES = 100_000  # the Hub's own per-repo limit
_SHA256 = re.compile(r"[0-9a-f]{64}")
_TOP_FIELDS = {"format", "kind", "adapter_name", "base_model", "versions", "files"}
_ENTRY_FIELDS = {"path", "size", "sha256", "ludwig_path"}
# Weights that load through pickle (torch.load): running one runs code chosen by whoever published it.
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt")


@dataclass(frozen=True)
class ManifestEntry:
    """One file of a published model, as its manifest lists it."""

    path: str  # in the repo
    size: int
    sha256: str
    ludwig_path: str | None  # where pull puts it, relative to DEST

    @property
    def target(self) -> str:
        return self.ludwig_path or self.path


@dataclass(frozen=True)
class Manifest:
    """A downloaded manifest, validated field by field."""

    format: int
    kind: str
    adapter_name: str | None
    base_model: str | None
    versions: dict[str, str]
    files: tuple[ManifestEntry, ...]


def _is_pickle(path: str) -> bool:
    name = path.rsplit("/", 1)[-1].lower()
    return name.endswith(PICKLE_SUFFIXES) or name == "model_weights"  # Ludwig <= 0.11's ECD weights file


class _Invalid(Exception):
    def __init__(self, field: str, why: str) -> None:
        super().__init__(field, why)
        self.field, self.why = field, why


def _no_duplicate_keys(pairs: list[tuple[str, object]]) -> dict:
    out: dict = {}
    for key, value in pairs:
        if key in out:  # JSON parsers disagree on which one wins: an ambiguity someone could exploit
            raise _Invalid(key, "appears twice in one object")
        out[key] = value
    return out


def _typed(value: object, types: tuple[type, ...], field: str, what: str) -> object:
    # bool is an int to Python, never to this schema
    if isinstance(value, bool) and bool not in types or not isinstance(value, types):
        got = {dict: "an object", list: "an array", str: "a string", bool: "a boolean", int: "an integer",
               float: "a number", type(None): "null"}.get(type(value), type(value).__name__)
        raise _Invalid(field, f"expected {what}, got {got}")
    return value


def _entry(raw: object, n: int, repo_id: str) -> ManifestEntry:
    where = f"files[{n}]"
    entry = _typed(raw, (dict,), where, "an object")
    assert isinstance(entry, dict)
    for key in entry:
        if key not in _ENTRY_FIELDS:
            raise _Invalid(f"{where}.{key}", "is not a field of a manifest entry")
    for key in ("path", "size", "sha256"):
        if key not in entry:
            raise _Invalid(f"{where}.{key}", "is missing")
    size = _typed(entry["size"], (int,), f"{where}.size", "an integer")
    if size < 0:  # type: ignore[operator]
        raise _Invalid(f"{where}.size", f"is negative ({size})")
    sha = _typed(entry["sha256"], (str,), f"{where}.sha256", "a string")
    if not _SHA256.fullmatch(sha):  # type: ignore[arg-type]
        raise _Invalid(f"{where}.sha256", "is not 64 lowercase hex digits")
    path = check_relative(entry["path"], f"{MANIFEST} {where}.path", repo_id)
    ludwig_path = entry.get("ludwig_path")
    if ludwig_path is not None:
        ludwig_path = check_relative(ludwig_path, f"{MANIFEST} {where}.ludwig_path", repo_id)
    return ManifestEntry(path, size, sha, ludwig_path)  # type: ignore[arg-type]


def parse_manifest(raw: bytes, repo_id: str) -> Manifest:
    """The manifest in `raw`, validated; UntrustedRepoError naming the field otherwise."""
    try:
        return _parse(raw, repo_id)
    except _Invalid as e:
        field = "" if e.field == "(document)" else f" field {e.field}"
        raise UntrustedRepoError(f"{repo_id}: {MANIFEST}{field} {e.why}",
                                 "this repo's manifest is damaged or was not written by ludwig-hub-export: push "
                                 "the model again with ludwig-hub-export") from None


def _parse(raw: bytes, repo_id: str) -> Manifest:
    if len(raw) > MAX_MANIFEST_BYTES:
        raise _Invalid("(document)", f"is {len(raw)} bytes; a manifest is at most {MAX_MANIFEST_BYTES}")
    try:
        text = raw.decode("utf-8")
        body = json.loads(text, object_pairs_hook=_no_duplicate_keys,
                          parse_constant=lambda c: (_ for _ in ()).throw(_Invalid("(document)", f"holds {c}")))
    except UnicodeDecodeError as e:
        raise _Invalid("(document)", f"is not UTF-8 text ({e.reason} at byte {e.start})") from None
    except RecursionError:
        raise _Invalid("(document)", "is nested too deeply") from None
    except ValueError as e:  # JSONDecodeError
        raise _Invalid("(document)", f"is not valid JSON ({e})") from None
    _typed(body, (dict,), "(document)", "a JSON object at the top")
    for key in body:
        if key not in _TOP_FIELDS:
            raise _Invalid(key, "is not a field of the manifest")
    if "format" not in body:
        raise _Invalid("format", "is missing")
    fmt = _typed(body["format"], (int,), "format", "an integer")
    if fmt != MANIFEST_FORMAT:
        raise UntrustedRepoError(f"{repo_id}: {MANIFEST} has format {fmt!r}; this version of ludwig-hub-export "
                                 f"reads format {MANIFEST_FORMAT}", "upgrade ludwig-hub-export")
    for key in ("kind", "files"):
        if key not in body:
            raise _Invalid(key, "is missing")
    kind = _typed(body["kind"], (str,), "kind", "a string")
    if kind not in KINDS:
        raise _Invalid("kind", f"is {kind!r}; expected one of {', '.join(KINDS)}")
    adapter_name, base_model = (_typed(body.get(k), (str, type(None)), k, "a string or null")
                                for k in ("adapter_name", "base_model"))
    versions = _typed(body.get("versions", {}), (dict,), "versions", "an object")
    for name, version in versions.items():  # type: ignore[union-attr]
        _typed(version, (str,), f"versions.{name}", "a string")
    files = _typed(body["files"], (list,), "files", "an array")
    if not files:
        raise _Invalid("files", "is empty")
    if len(files) > MAX_FILES:  # type: ignore[arg-type]
        raise _Invalid("files", f"lists {len(files)} files; a repo holds at most {MAX_FILES}")  # type: ignore
    entries = tuple(_entry(raw_entry, n, repo_id) for n, raw_entry in enumerate(files))  # type: ignore[arg-type]
    paths: dict[str, str] = {}
    for n, e in enumerate(entries):
        if e.path == MANIFEST:
            raise _Invalid(f"files[{n}].path", f"lists {MANIFEST} itself")
        if e.path in paths:
            raise _Invalid(f"files[{n}].path", f"repeats {paths[e.path]}.path ({e.path!r})")
        paths[e.path] = f"files[{n}]"
    targets = {f"{MANIFEST} files[{n}].{'ludwig_path' if e.ludwig_path else 'path'}": e.target
               for n, e in enumerate(entries)}
    targets[f"the manifest itself ({MANIFEST})"] = MANIFEST
    check_collisions(targets, repo_id)
    return Manifest(fmt, kind, adapter_name, base_model, versions, entries)  # type: ignore[arg-type]


def refuse_pickle(manifest: Manifest, repo_id: str, allow: bool, how: str = "pull with --allow-pickle") -> None:
    """UntrustedRepoError when the repo carries pickle weights and `allow` is not set (`how`: how to allow)."""
    found = [e for e in manifest.files if _is_pickle(e.path) or _is_pickle(e.target)]
    if found and not allow:
        names = ", ".join(e.path for e in found[:5])
        raise UntrustedRepoError(
            f"{repo_id} carries pickle weights ({names}): loading a pickle runs whatever code its author put in it",
            "ask the owner to publish safetensors (ludwig-hub-export push --convert-pickle); if you trust the "
            f"author, {how} (this tool never unpickles them itself)")


def check_against_listing(manifest: Manifest, listing: dict, label: str) -> None:
    """Each entry against what the Hub lists at the commit (`listing`: path -> an object with `size` and `lfs`,
    as ``RepoSibling``/``RepoFile``): a lie is caught before any download."""
    for n, entry in enumerate(manifest.files):
        remote = listing.get(entry.path)
        if remote is None:
            raise UntrustedRepoError(f"{label}: {entry.path} is listed in {MANIFEST} (files[{n}]) but missing "
                                     "from the repo", "the repo changed after its export: push the model again")
        lfs = getattr(remote, "lfs", None)
        size = lfs.size if lfs is not None else remote.size
        if size is not None and size != entry.size or lfs is not None and lfs.sha256 != entry.sha256:
            raise UntrustedRepoError(
                f"{label}: {entry.path} does not match {MANIFEST} files[{n}] (the Hub lists {size} bytes"
                + (f", sha256 {lfs.sha256[:12]}..." if lfs is not None else "")
                + f"; the manifest says {entry.size} bytes, sha256 {entry.sha256[:12]}...)",
                "the repo changed after its export: push the model again")
