"""What lands in the repo: each file's path on the Hub, where its bytes come from, and where `pull` puts it back.

Repo layout (what PEFT, transformers and Ludwig load directly):
- adapter: ``adapter_config.json`` + ``adapter_model.safetensors`` at the root; full/merged: the
  ``model_weights/`` files (config, weights or shards + index, tokenizer) at the root; ECD:
  ``model_weights.safetensors``.
- ``ludwig_config.json`` (the Ludwig config, Ludwig's uploader's name), ``training_set_metadata.json``,
  ``training_statistics.json`` when the run has one.
- ``README.md`` (the card) and ``ludwig_export.json`` (the manifest), ordered last.
Rewritten files (a Hub id instead of a local base-model path) are uploaded from memory: the user's files are
never edited. Weights are uploaded from their own paths: never copied.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING

from . import __version__, card
from .adapters import base_model_kind, convert_pickle_to_safetensors
from .checks import CheckReport
from .hashing import Digest, HashCache, digest_bytes
from .layout import ADAPTER_CONFIG, HYPERPARAMETERS, METADATA

if TYPE_CHECKING:
    from .storage.remote_file import DigestCache, RemoteFile

MANIFEST = "ludwig_export.json"
CARD = "README.md"
MANIFEST_FORMAT = 1
ROLE_ORDER = {"weights": 0, "model": 1, "ludwig": 2, "card": 3, "manifest": 4}


@dataclass
class PlannedFile:
    path: str  # in the repo
    role: str  # weights | model | ludwig | card | manifest
    digest: Digest
    source: Path | None = None  # uploaded from this file...
    data: bytes | None = None  # ...or from these bytes
    ludwig_path: str | None = None  # where `pull` puts it, relative to the pull destination
    remote: RemoteFile | None = None  # in object storage: `source` is its staged copy, once staged

    def stage(self, plan: ExportPlan) -> None:
        """A remote file's bytes on local disk (downloaded and hashed once), for the upload to read."""
        if self.remote is not None and (self.source is None or not self.source.exists()):
            self.source = self.remote.stage(plan.staging_dir())
            self.digest = self.remote.digest

    def release(self) -> None:
        """Drop a remote file's staged copy once the Hub holds its bytes."""
        if self.remote is not None:
            self.remote.release()
            self.source = None

    @property
    def size(self) -> int:
        return self.digest.size


@dataclass
class ExportPlan:
    repo_id: str
    kind: str
    base_model: str | None
    adapter_name: str | None
    files: list[PlannedFile]
    notes: list[str] = field(default_factory=list)
    workdir: tempfile.TemporaryDirectory | None = field(default=None, repr=False)
    bytes_hashed: int = 0

    def by_path(self) -> dict[str, PlannedFile]:
        return {f.path: f for f in self.files}

    @property
    def total_size(self) -> int:
        return sum(f.size for f in self.files)

    def staging_dir(self) -> Path:
        """Where files from object storage are staged (removed with the plan's working directory)."""
        if self.workdir is None:
            self.workdir = tempfile.TemporaryDirectory(prefix="ludwig-hub-export-")
        return Path(self.workdir.name) / "staged"

    def cleanup(self) -> None:
        if self.workdir is not None:
            self.workdir.cleanup()
            self.workdir = None


def versions() -> dict[str, str]:
    """Installed versions, from package metadata (no import of the heavy packages)."""
    out = {"ludwig_hub_export": __version__}
    for dist in ("ludwig", "peft", "transformers", "huggingface_hub", "safetensors", "torch"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            pass
    return out


def build_plan(report: CheckReport, repo_id: str, *, base_model: str | None = None, convert_pickle: bool = False,
               license: str | None = None, hash_cache: HashCache | None = None,
               digest_cache: DigestCache | None = None) -> ExportPlan:
    layout = report.layout
    assert layout is not None, "build_plan needs a report whose layout was found"
    cache = hash_cache or HashCache()
    read_before = cache.bytes_read
    config = layout.config
    local_base = config.get("base_model") if base_model_kind(config.get("base_model")) == "local" else None
    hub_base = base_model or (config.get("base_model") if base_model_kind(config.get("base_model")) == "hub"
                              else None)
    plan = ExportPlan(repo_id, layout.kind, hub_base, layout.adapter_name, [])
    cache.digest_many(sorted({p for p in layout.files.values() if isinstance(p, Path)}))
    adapter_locals: set[str] = set()
    remote_digests = digest_cache

    def add_file(path: str, role: str, source: Path, ludwig_path: str | None) -> None:
        nonlocal remote_digests
        if isinstance(source, Path):
            plan.files.append(PlannedFile(path, role, cache.digest(source), source=source, ludwig_path=ludwig_path))
            return
        from .storage.remote_file import DigestCache, RemoteFile

        remote_digests = remote_digests or DigestCache(cache.path.with_name("remote-digests.json"))
        remote = RemoteFile(source, remote_digests)
        plan.files.append(PlannedFile(path, role, remote.digest_if_known(), ludwig_path=ludwig_path, remote=remote))

    def add_bytes(path: str, role: str, data: bytes, ludwig_path: str | None) -> None:
        plan.files.append(PlannedFile(path, role, digest_bytes(data), data=data, ludwig_path=ludwig_path))

    for normalized, source in sorted(layout.files.items()):
        if normalized in (f"model/{HYPERPARAMETERS}", f"model/{METADATA}"):
            continue  # rewritten below, once the adapter's base path is known
        if not normalized.startswith("model/"):
            if normalized == "training_statistics.json":
                add_file(normalized, "ludwig", source, normalized)
            else:
                plan.notes.append(f"{normalized} not uploaded: it records local paths of the training machine")
            continue
        if normalized.startswith("model/model_weights/"):
            inner = normalized.removeprefix("model/model_weights/")
            in_adapter = normalized.startswith(layout.adapter_prefix) if layout.kind == "adapter" else False
            name = inner.removeprefix(f"{layout.adapter_name}/") if in_adapter and layout.adapter_name else inner
            if name == CARD or name.endswith("/" + CARD):
                plan.notes.append(f"{normalized} not uploaded: the generated model card replaces it")
                continue
            if name == ADAPTER_CONFIG and layout.kind == "adapter":
                raw = source.read_bytes()
                adapter_config = json.loads(raw)
                old = adapter_config.get("base_model_name_or_path")
                if base_model_kind(old) == "local":
                    adapter_locals.add(old)
                if hub_base and old != hub_base:
                    adapter_config["base_model_name_or_path"] = hub_base
                    raw = (json.dumps(adapter_config, indent=2, sort_keys=True) + "\n").encode()
                add_bytes(name, "model", raw, normalized)
                continue
            if convert_pickle and normalized in layout.legacy:
                name, source = _converted(plan, name, source)
                normalized = "model/model_weights/" + (f"{layout.adapter_name}/" if in_adapter and layout.adapter_name
                                                       else "") + name
            add_file(name, "weights" if _is_weights(name) else "model", source, normalized)
        else:  # the ECD weights file beside the config
            name = normalized.removeprefix("model/")
            if convert_pickle and normalized in layout.legacy:
                name, source = _converted(plan, name, source)
            add_file(name, "weights", source, f"model/{name}")

    old_paths = sorted({p for p in (local_base, *adapter_locals) if p}, key=len, reverse=True)
    ludwig_config = dict(config)
    if hub_base and config.get("model_type") == "llm" and config.get("base_model") != hub_base:
        ludwig_config["base_model"] = hub_base
    add_bytes("ludwig_config.json", "ludwig", (json.dumps(ludwig_config, indent=4, sort_keys=True) + "\n").encode(),
              f"model/{HYPERPARAMETERS}")
    if f"model/{METADATA}" in layout.files:
        raw = layout.files[f"model/{METADATA}"].read_bytes()
        if hub_base:
            text = raw.decode("utf-8")
            for old in old_paths:  # the tokenizer path Ludwig uses at predict time
                text = text.replace(json.dumps(old)[1:-1], hub_base)
            raw = text.encode("utf-8")
        add_bytes(METADATA, "ludwig", raw, f"model/{METADATA}")

    stats_file = layout.files.get("training_statistics.json")
    statistics = card.load_statistics(stats_file.read_bytes() if stats_file else None)
    text = card.render(repo_id=repo_id, kind=layout.kind, config=config, base_model=hub_base,
                       statistics=statistics, adapter_name=layout.adapter_name, versions=versions(), license=license)
    add_bytes(CARD, "card", text.encode(), None)
    _stage_unknown(plan)
    plan.files.sort(key=lambda f: (ROLE_ORDER[f.role], -f.size if f.role == "weights" else 0, f.path))
    plan.files.append(_manifest(plan, layout.kind))
    plan.bytes_hashed = cache.bytes_read - read_before + sum(
        f.remote.bytes_downloaded for f in plan.files if f.remote is not None)
    cache.save()
    return plan


def _stage_unknown(plan: ExportPlan) -> None:
    """Remote files never seen before are downloaded now, a few at a time: the manifest needs every sha256."""
    from concurrent.futures import ThreadPoolExecutor

    todo = [f for f in plan.files if f.digest is None]
    if todo:
        plan.staging_dir()  # made once, here: threads racing to make it would each make their own
    try:
        with ThreadPoolExecutor(max_workers=max(1, min(4, len(todo)))) as pool:
            list(pool.map(lambda f: f.stage(plan), todo))
    except BaseException:
        plan.cleanup()  # the files staged so far
        raise


def _is_weights(name: str) -> bool:
    return name.endswith((".safetensors", ".bin", ".pt", ".pth", ".ckpt", ".gguf"))


def _converted(plan: ExportPlan, name: str, source: Path) -> tuple[str, Path]:
    from .normalize import safetensors_name

    if plan.workdir is None:
        plan.workdir = tempfile.TemporaryDirectory(prefix="ludwig-hub-export-")
    if not isinstance(source, Path):  # in object storage: torch needs a local file
        from .storage.remote_file import DigestCache, RemoteFile

        source = RemoteFile(source, DigestCache()).stage(plan.staging_dir())
    new_name = safetensors_name(name)
    target = Path(plan.workdir.name) / new_name.replace("/", "__")
    convert_pickle_to_safetensors(source, target)
    plan.notes.append(f"{name} converted to {new_name} (loaded with weights_only)")
    return new_name, target


def _manifest(plan: ExportPlan, kind: str) -> PlannedFile:
    body = {
        "format": MANIFEST_FORMAT,
        "kind": kind,
        "adapter_name": plan.adapter_name,
        "base_model": plan.base_model,
        "versions": versions(),  # no timestamp: an unchanged model gives an unchanged manifest (no new commit)
        "files": [{"path": f.path, "size": f.size, "sha256": f.digest.sha256, "ludwig_path": f.ludwig_path}
                  for f in plan.files],
    }
    data = (json.dumps(body, indent=2) + "\n").encode()
    return PlannedFile(MANIFEST, "manifest", digest_bytes(data), data=data)
