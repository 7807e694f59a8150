"""What lands in the repo: each file's path on the Hub, where its bytes come from, and where `pull` puts it back.

The layout PEFT, transformers and Ludwig load directly: the adapter or the ``model_weights/`` files at the root
(ECD: ``model_weights.safetensors``); ``ludwig_config.json``, ``training_set_metadata.json`` and
``training_statistics.json``; ``config.yaml`` where no root config is, as the Hub counts downloads of an unknown
library on it (`DOWNLOAD_COUNTED`); ``README.md`` and ``ludwig_export.json`` last. Rewritten files (a Hub id for a
local base model path) go from memory, weights from their own paths: the user's files are never edited or copied.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import json
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from .. import __version__
from . import card
from ..source.adapters import base_model_kind, convert_pickle_to_safetensors
from ..source.check_report import CheckReport
from ..hashing import GIT_SHA1_MAX, Digest, HashCache, digest_bytes
from ..source.saved_model import ADAPTER_CONFIG, HYPERPARAMETERS, METADATA
from ..source.local_paths import model_paths, rewrite_json_bytes, rewrite_local_paths
from ..source.ludwig_compat import drop_null_adapters
from ..source.user_files import parse_json, read_json_file

TYPE_CHECKING = False  # typing's, without importing typing
if TYPE_CHECKING:
    import tempfile  # slow to import: only a staged or converted file needs it

    from ..source.storage.remote_file import DigestCache, RemoteFile, StagingBudget

CARD = "README.md"
# The manifest this module writes (`add_manifest`); `manifest` holds the parser `pull` runs on it.
MANIFEST = "ludwig_export.json"
MANIFEST_FORMAT = 1
COUNTED_CONFIG = "config.yaml"
# Files whose GET/HEAD the Hub counts as a download: PEFT repos count on adapter_config.json, transformers repos on
# config.json, repos of unregistered libraries on the others (hub-docs, models-download-stats).
DOWNLOAD_COUNTED = ("adapter_config.json", "config.json", "config.yaml", "hyperparams.yaml", "params.json",
                    "meta.yaml")
PROGRESS = "training_progress.json"
TRAIN_PROMPTS = ("hyperopt",)  # config keys on which `ludwig train` stops to ask (see `train_config`)
TOKENIZER_JSON = "tokenizer.json"  # a vocabulary, and large: no model paths in it
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".ckpt", ".gguf")
ROLE_ORDER = {"weights": 0, "model": 1, "ludwig": 2, "card": 3, "manifest": 4}


@dataclass
class PlannedFile:
    """One file of the repo. Its bytes come from `source`, `data` (in memory) or `fetch()` (a local copy of a file
    in object storage, which `release()` removes once the Hub holds it). `digest` stays None until needed: on Xet
    the client hashes while it uploads. A `generated` file (the card, ``config.yaml``) is made by
    `ExportPlan.generate`; until then `make` is set, and its size and digest are unknown."""

    path: str  # in the repo
    role: str  # weights | model | ludwig | card | manifest
    size: int
    digest: Digest | None = None
    source: Path | None = None
    data: bytes | None = None
    ludwig_path: str | None = None  # where `pull` puts it, relative to the pull destination
    fetch: Callable[[], Path] | None = field(default=None, repr=False)
    release: Callable[[], None] | None = field(default=None, repr=False)
    remote: RemoteFile | None = field(default=None, repr=False)  # in object storage: `fetch` stages it
    generated: bool = False
    make: Callable[[], bytes] | None = field(default=None, repr=False)  # a generated file's bytes, not made yet

    @property
    def sha256(self) -> str | None:
        return self.digest.sha256 if self.digest else None

    def matches_remote(self, remote) -> bool:
        """Same bytes as the remote entry (`remote.RemoteEntry`)? False when unknown (not hashed, not there)."""
        return remote is not None and self.digest is not None and \
            self.digest.matches_remote(remote.blob_id, remote.sha256)


@dataclass
class ExportPlan:
    """The files of one push, in upload order, and what the push should say about them."""

    repo_id: str
    kind: str
    base_model: str | None
    adapter_name: str | None
    files: list[PlannedFile]
    notes: list[str] = field(default_factory=list)
    workdir: tempfile.TemporaryDirectory | None = field(default=None, repr=False)
    cache: HashCache | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    staging_budget: StagingBudget | None = field(default=None, repr=False)  # for URLs

    @property
    def bytes_hashed(self) -> int:
        """Bytes this process read to hash them, downloads from object storage included."""
        downloaded = sum(f.remote.bytes_downloaded for f in self.files if f.remote is not None)
        return (self.cache.bytes_read if self.cache else 0) + downloaded

    def staging_dir(self) -> Path:
        """Where files from object storage are staged, one by one (removed with the plan's working directory)."""
        with self._lock:  # fetched from several threads: one directory for all
            return Path(self.make_workdir().name) / "staged"

    def make_workdir(self) -> tempfile.TemporaryDirectory:
        """The working directory of converted and staged files, made on first use (under `_lock` if threaded)."""
        if self.workdir is None:
            import tempfile

            self.workdir = tempfile.TemporaryDirectory(prefix="ludwig-hub-export-")
        return self.workdir

    def generate(self) -> list[PlannedFile]:
        """The generated files, made now if they were not (a push makes them while the weights upload)."""
        for f in self.files:
            if f.make is not None:
                f.data, f.make = f.make(), None
                f.size, f.digest = len(f.data), digest_bytes(f.data)
        return [f for f in self.files if f.generated]

    def by_path(self) -> dict[str, PlannedFile]:
        return {f.path: f for f in self.files}

    def cleanup(self) -> None:
        if self.workdir is not None:
            self.workdir.cleanup()
            self.workdir = None


@functools.cache
def versions() -> dict[str, str]:
    """Installed versions, from package metadata (no import of the heavy packages), read once a process."""
    from importlib import metadata

    out = {"ludwig_hub_export": __version__}
    for dist in ("ludwig", "peft", "transformers", "huggingface_hub", "safetensors", "torch"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            out[dist] = metadata.version(dist)
    return out


def build_plan(report: CheckReport, repo_id: str, *, base_model: str | None = None, convert_pickle: bool = False,
               license: str | None = None, hash_cache: HashCache | None = None, dataset: str | None = None,
               license_name: str | None = None, license_link: str | None = None,
               card_sections: str | None = None, digest_cache: DigestCache | None = None) -> ExportPlan:
    """The plan of `report`'s model for `repo_id`."""
    layout = report.layout
    assert layout is not None, "build_plan needs a report whose layout was found"
    cache = hash_cache or HashCache()
    config = layout.config
    hub_base = base_model or (config.get("base_model") if base_model_kind(config.get("base_model")) == "hub"
                              else None)
    plan = ExportPlan(repo_id, layout.kind, hub_base, layout.adapter_name, [], cache=cache)
    # Small files (configs, tokenizer, small regular-blob candidates) are hashed now: cheap, and their git
    # sha1 is needed to compare them with the remote. Large ones only when the cache already knows them.
    cache.digest_many(sorted({p for p in layout.files.values()
                              if isinstance(p, Path) and p.stat().st_size <= GIT_SHA1_MAX}))
    adapter_config: dict | None = None
    remote_digests = [digest_cache]
    # The local paths that name the base model: every uploaded JSON gets the Hub id in their place.
    adapter_key = f"{layout.adapter_prefix}{ADAPTER_CONFIG}"
    bases = model_paths(config, _json_or_none(layout.files.get(adapter_key)) if layout.kind == "adapter" else None)

    def rewrite(path: str, raw: bytes, **style) -> bytes:
        raw, found = rewrite_json_bytes(raw, hub_base, bases, **style)
        if hub_base:  # without a Hub id, `check` reports them all
            plan.notes += [f"{path}: {f.where} keeps the local path {f.value} (it is not the base model's)"
                           for f in found if not f.replaced_by]
        return raw

    def add_file(path: str, role: str, source: Path, ludwig_path: str | None) -> None:
        if not isinstance(source, Path):  # in object storage (a `StoragePath`)
            plan.files.append(_remote_file(plan, path, role, source, ludwig_path, remote_digests, cache))
            return
        size = source.stat().st_size
        digest = cache.digest(source) if size <= GIT_SHA1_MAX else cache.cached(source)
        plan.files.append(PlannedFile(path, role, size, digest, source=source, ludwig_path=ludwig_path))

    def add_bytes(path: str, role: str, data: bytes, ludwig_path: str | None) -> None:
        plan.files.append(PlannedFile(path, role, len(data), digest_bytes(data), data=data, ludwig_path=ludwig_path))

    def add_generated(path: str, role: str, make: Callable[[], bytes]) -> None:
        plan.files.append(PlannedFile(path, role, 0, generated=True, make=make))

    for normalized, source in sorted(layout.files.items()):
        if normalized in (f"model/{HYPERPARAMETERS}", f"model/{METADATA}"):
            continue  # rewritten below, once the adapter's base path is known
        if not normalized.startswith("model/"):
            if normalized == "training_statistics.json":
                add_file(normalized, "ludwig", source, normalized)
            else:
                plan.notes.append(f"{normalized} not uploaded: it records local paths of the training machine")
            continue
        in_weights = normalized.startswith("model/model_weights/")  # else the ECD weights file beside the config
        name = normalized.removeprefix("model/model_weights/" if in_weights else "model/")
        if in_weights:
            if layout.kind == "adapter" and layout.adapter_name:  # the named adapter's files go to the root
                name = name.removeprefix(f"{layout.adapter_name}/")
            if name == CARD or name.endswith("/" + CARD):
                plan.notes.append(f"{normalized} not uploaded: the generated model card replaces it")
                continue
            if name == ADAPTER_CONFIG and layout.kind == "adapter":
                raw = rewrite(name, source.read_bytes(), indent=2)  # PEFT's style
                adapter_config = parse_json(raw)
                adapter_config = adapter_config if isinstance(adapter_config, dict) else {}
                if hub_base and adapter_config.get("base_model_name_or_path") != hub_base:  # --base-model wins
                    adapter_config["base_model_name_or_path"] = hub_base
                    raw = (json.dumps(adapter_config, indent=2, sort_keys=True) + "\n").encode()
                add_bytes(name, "model", raw, normalized)
                continue
            if hub_base and bases and name.endswith(".json") and not name.endswith(TOKENIZER_JSON):
                raw = source.read_bytes()  # transformers' configs: `_name_or_path`, `name_or_path`
                new = rewrite(name, raw, indent=2)
                if new != raw:
                    add_bytes(name, "model", new, normalized)
                    continue
        if convert_pickle and normalized in layout.legacy:
            old, (name, source) = name, _converted(plan, name, source)
            normalized = normalized.removesuffix(old) + name
        add_file(name, "weights" if not in_weights or name.endswith(WEIGHT_SUFFIXES) else "model", source, normalized)

    ludwig_config = copy.deepcopy(config)
    # Ludwig 0.17 writes null adapter keys its own schema rejects: the uploaded copy drops them, so plain
    # LudwigModel.load works after pull (the user's file is not changed).
    drop_null_adapters(ludwig_config)
    ludwig_config, _ = rewrite_local_paths(ludwig_config, hub_base, bases)  # base_model, and every feature's
    if hub_base:
        rewrite("ludwig_config.json", json.dumps(ludwig_config).encode())  # a note for each path left
    if hub_base and config.get("model_type") == "llm" and config.get("base_model") != hub_base:
        ludwig_config["base_model"] = hub_base
    add_bytes("ludwig_config.json", "ludwig", (json.dumps(ludwig_config, indent=4, sort_keys=True) + "\n").encode(),
              f"model/{HYPERPARAMETERS}")
    if f"model/{METADATA}" in layout.files:
        # The tokenizer path Ludwig uses at predict time; Ludwig's own style (indent 4, sorted keys).
        raw = rewrite(METADATA, layout.files[f"model/{METADATA}"].read_bytes())
        add_bytes(METADATA, "ludwig", raw, f"model/{METADATA}")

    counted = None
    if not any(f.path in DOWNLOAD_COUNTED for f in plan.files):
        counted = COUNTED_CONFIG  # Ludwig's native config format; the Hub counts downloads on it
        add_generated(COUNTED_CONFIG, "ludwig", lambda: _train_yaml(ludwig_config))
    stats_file = layout.files.get("training_statistics.json")
    statistics = _json_or_none(stats_file)
    # Which evaluation's weights Ludwig saved (the card shows their metrics): a run's training_progress.json.
    progress = _json_or_none(layout.model_dir / PROGRESS) if stats_file else None
    if adapter_config is None and layout.kind == "merged":
        # The adapter it was trained with (left out of the upload) still tells r, alpha and the target modules.
        adapter_config = _json_or_none(layout.model_dir / "model_weights" / ADAPTER_CONFIG)

    def make_card() -> bytes:
        return card.render(repo_id=repo_id, kind=layout.kind, config=config, base_model=hub_base,
                           statistics=statistics, adapter_name=layout.adapter_name, versions=versions(),
                           license=license, license_name=license_name, license_link=license_link, dataset=dataset,
                           adapter_config=adapter_config, counted_file=counted, sections=card_sections,
                           progress=progress).encode()

    add_generated(CARD, "card", make_card)
    plan.files.sort(key=lambda f: (ROLE_ORDER[f.role], -f.size if f.role == "weights" else 0, f.path))
    cache.save()
    plan.generate()
    return plan


def _train_yaml(config: dict) -> bytes:
    """The config that `ludwig train --config` runs as it is, without a terminal: a `hyperopt` key (even null)
    makes it ask "Do you want to continue?" on stdin (ludwig/train.py), which fails unattended."""
    import yaml

    return yaml.safe_dump({k: v for k, v in config.items() if k not in TRAIN_PROMPTS}, sort_keys=False,
                          allow_unicode=True).encode()


def _json_or_none(path: Path | None) -> dict | None:
    try:
        value = read_json_file(path) if path else None
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def _remote_file(plan: ExportPlan, path: str, role: str, source, ludwig_path: str | None, digests: list,
                 cache: HashCache) -> PlannedFile:
    """A file in object storage: its digest from the cache (by URL + ETag), else unknown until `fetch` downloads
    it (once, hashing as it arrives); `release` removes the staged copy once the Hub holds the bytes."""
    from ..source.storage.remote_file import DigestCache, RemoteFile, StagingBudget

    if digests[0] is None:
        digests[0] = DigestCache(cache.path.with_name("remote-digests.json"))
    if plan.staging_budget is None:
        plan.staging_budget = StagingBudget()
    remote = RemoteFile(source, digests[0], budget=plan.staging_budget)
    # One large file staged at a time (small ones beside it): peak disk is about the largest file. More room
    # (LUDWIG_HUB_EXPORT_STAGING_BYTES) lets the next download overlap the current upload.
    try:
        extra = int(os.environ.get("LUDWIG_HUB_EXPORT_STAGING_BYTES", "0"))
    except ValueError:
        extra = 0
    plan.staging_budget.limit = max(plan.staging_budget.limit, remote.size, extra)
    planned = PlannedFile(path, role, remote.size, remote.digest_if_known(), ludwig_path=ludwig_path,
                          release=remote.release, remote=remote)

    def fetch() -> Path:
        local = remote.stage(plan.staging_dir())
        planned.digest = planned.digest or remote.digest
        return local

    planned.fetch = fetch
    return planned


def _converted(plan: ExportPlan, name: str, source: Path) -> tuple[str, Path]:
    from ..source.normalization import safetensors_name

    workdir = plan.make_workdir()
    if not isinstance(source, Path):  # in object storage: torch needs a local file
        from ..source.storage.remote_file import DigestCache, RemoteFile

        source = RemoteFile(source, DigestCache()).stage(plan.staging_dir())
    new_name = safetensors_name(name)
    target = Path(workdir.name) / new_name.replace("/", "__")
    convert_pickle_to_safetensors(source, target)
    plan.notes.append(f"{name} converted to {new_name} (loaded with weights_only)")
    return new_name, target


def add_manifest(plan: ExportPlan) -> PlannedFile:
    """The manifest, last: it lists every file's sha256, so it is built once all are known (after upload)."""
    plan.files = [f for f in plan.files if f.path != MANIFEST]
    unknown = [f.path for f in plan.files if f.digest is None]
    assert not unknown, f"manifest before these files were hashed: {unknown}"
    body = {"format": MANIFEST_FORMAT, "kind": plan.kind, "adapter_name": plan.adapter_name,
            "base_model": plan.base_model,
            "versions": versions(),  # no timestamp: an unchanged model gives an unchanged manifest (no new commit)
            "files": [{"path": f.path, "size": f.size, "sha256": f.sha256, "ludwig_path": f.ludwig_path}
                      for f in plan.files]}
    data = (json.dumps(body, indent=2) + "\n").encode()
    manifest = PlannedFile(MANIFEST, "manifest", len(data), digest_bytes(data), data=data)
    plan.files.append(manifest)
    return manifest
