"""What a saved ``model/`` directory (and the run directory around it) holds: the kind of model and the files that
make it (``shared/notes/ludwig-layouts.md``). Finding that directory from a user's path is `layout`."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..errors import InvalidModelError
from .user_files import read_json_file

HYPERPARAMETERS = "model_hyperparameters.json"
METADATA = "training_set_metadata.json"
WEIGHTS = "model_weights"
ECD_SAFETENSORS = "model_weights.safetensors"
ADAPTER_CONFIG = "adapter_config.json"
ADAPTER_WEIGHTS = ("adapter_model.safetensors", "adapter_model.bin")
FULL_WEIGHTS = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin",
                "pytorch_model.bin.index.json")
# Files of a run directory that describe the training; they go beside the model, not into it.
RUN_FILES = ("training_statistics.json", "description.json", "model_card.md", "training_report.json",
             "test_statistics.json")
# Ludwig's training leftovers: never part of an export.
MODEL_DIR_SKIP = ("training_checkpoints", "logs", "training_progress.json")

KINDS = {
    "ecd": "ECD model (Ludwig's encoder-combiner-decoder)",
    "adapter": "LLM + adapter",
    "full": "LLM, fully fine-tuned",
    "merged": "LLM with the adapter merged into the base model",
}


@dataclass
class ModelLayout:
    """A saved model, found: where it is, its kind, and which source file each normalized path comes from."""

    source: Path  # what the user named (a `storage.tree.StoragePath` for a URL, here and below)
    model_dir: Path  # the directory holding model_hyperparameters.json
    run_dir: Path | None  # the run directory around it, when there is one
    kind: str  # one of KINDS
    reason: str  # why this kind
    config: dict
    files: dict[str, Path]  # normalized path (model/..., or run files at the top) -> source file
    adapter_name: str | None = None  # a non-default PEFT adapter name, stored in model_weights/<name>/
    left_out: dict[str, str] = field(default_factory=dict)  # source-relative path -> why it is not exported
    legacy: list[str] = field(default_factory=list)  # normalized paths in an old format (pickle)

    @property
    def description(self) -> str:
        return KINDS[self.kind]

    @property
    def adapter_prefix(self) -> str:
        """Where the adapter files sit: model/model_weights/ or, for a named adapter, model/model_weights/<name>/."""
        return f"model/{WEIGHTS}/{self.adapter_name}/" if self.adapter_name else f"model/{WEIGHTS}/"


def is_model_dir(d: Path) -> bool:
    return (d / HYPERPARAMETERS).is_file()


def is_run_dir(d: Path) -> bool:
    return is_model_dir(d / "model")


def describe_run(run_dir: Path) -> ModelLayout:
    """The layout of a run directory (``results/<experiment>_run``), as `layout.find_layout` gives it."""
    return describe(run_dir, run_dir / "model", run_dir, prefer_adapter=False)


def _read_config(model_dir: Path) -> dict:
    path = model_dir / HYPERPARAMETERS
    try:
        config = read_json_file(path)  # a regular file only; too deep a document is invalid JSON
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise InvalidModelError(f"{path}: not valid JSON ({e})",
                                "restore the file from the training run, or save the model again") from None
    if not isinstance(config, dict):
        raise InvalidModelError(f"{path}: expected a JSON object with the Ludwig config",
                                "restore the file from the training run, or save the model again")
    return config


def describe(source: Path, model_dir: Path, run_dir: Path | None, prefer_adapter: bool) -> ModelLayout:
    if not isinstance(model_dir, Path):  # a listed remote tree: refuse unsafe object names in the model
        from .storage.tree import require_safe

        require_safe(run_dir or model_dir)
    config = _read_config(model_dir)
    model_type = str(config.get("model_type") or "ecd").lower()
    files = {f"model/{name}": model_dir / name for name in (HYPERPARAMETERS, METADATA) if (model_dir / name).is_file()}
    files.update({name: run_dir / name for name in RUN_FILES if run_dir is not None and (run_dir / name).is_file()})
    layout = ModelLayout(source, model_dir, run_dir, "ecd", "", config, files)
    weights = model_dir / WEIGHTS
    if (model_dir / ECD_SAFETENSORS).is_file():
        files[f"model/{ECD_SAFETENSORS}"] = model_dir / ECD_SAFETENSORS
        layout.reason = f"{ECD_SAFETENSORS} (Ludwig >= 0.12 ECD weights)"
    elif weights.is_file():
        files[f"model/{WEIGHTS}"] = weights
        layout.legacy.append(f"model/{WEIGHTS}")
        layout.reason = f"{WEIGHTS} is a single file: the torch pickle Ludwig <= 0.11 wrote for ECD models"
    elif weights.is_dir():
        _describe_llm(layout, weights, model_type, prefer_adapter)
    else:
        raise InvalidModelError(
            f"{model_dir}: no weights ({ECD_SAFETENSORS} or {WEIGHTS}/ missing)",
            "the model was not saved completely: call model.save() again, or pick another run",
        )
    if layout.kind == "ecd" and model_type == "llm":
        raise InvalidModelError(f"{model_dir}: the config says model_type llm but the weights are ECD weights",
                                "the config and weights come from different models; save the model again")
    return layout


def _describe_llm(layout: ModelLayout, weights: Path, model_type: str, prefer_adapter: bool) -> None:
    adapter_dir = _adapter_dir(weights)
    has_full = any((weights / name).is_file() for name in FULL_WEIGHTS)
    if adapter_dir is None and not has_full:
        present = ", ".join(sorted(p.name for p in weights.iterdir())) or "nothing"
        raise InvalidModelError(
            f"{weights}: neither adapter files ({ADAPTER_CONFIG}) nor full-model weights (model.safetensors, "
            f"shards + index) are here; found {present}",
            "save the model again with model.save(); a training run interrupted before saving has no weights",
        )
    if model_type != "llm":
        raise InvalidModelError(f"{layout.model_dir}: {WEIGHTS}/ is a directory of LLM weights, but the config "
                                f"says model_type {model_type!r}", "check that the config belongs to this model")
    if adapter_dir is None:
        layout.kind, layout.reason = "full", f"{WEIGHTS}/ holds a full model (config.json and model weights)"
        _take(layout, weights, None, "all")
        return
    layout.adapter_name = adapter_dir.name if adapter_dir != weights else None
    if has_full:
        merge = _mapping(_mapping(layout.config.get("adapter")).get("postprocessor")).get("merge_adapter_into_base_model")
        why = "the config sets adapter.postprocessor.merge_adapter_into_base_model" if merge else \
            "both the merged full model and adapter files are present"
        layout.kind = "adapter" if prefer_adapter else "merged"
        layout.reason = why + ("; the adapter was chosen over the merged model" if prefer_adapter else
                               "; the merged full model is exported")
        _take(layout, weights, adapter_dir, layout.kind)
    else:
        layout.kind = "adapter"
        layout.reason = f"{ADAPTER_CONFIG} in {WEIGHTS}/" + (f"{adapter_dir.name}/ (named adapter "
                                                             f"{layout.adapter_name!r})" if layout.adapter_name else "")
        _take(layout, weights, adapter_dir, "all")


def _mapping(value: object) -> dict:
    return value if isinstance(value, dict) else {}


def _adapter_dir(weights: Path) -> Path | None:
    if (weights / ADAPTER_CONFIG).is_file():
        return weights
    named = [d for d in sorted(weights.iterdir()) if d.is_dir() and (d / ADAPTER_CONFIG).is_file()]
    if len(named) > 1:
        raise InvalidModelError(
            f"{weights}: several adapters ({', '.join(d.name for d in named)})",
            "export one at a time: copy the one you want into its own model.save() directory",
        )
    return named[0] if named else None


def _take(layout: ModelLayout, weights: Path, adapter_dir: Path | None, mode: str) -> None:
    """model_weights/ files under normalized paths in place (a named adapter stays where Ludwig loads it from).
    mode: "all" takes everything; "adapter" only the adapter of a merged run; "merged" only the merged model."""
    for path in sorted(p for p in weights.rglob("*") if p.is_file() or p.is_symlink()):
        rel = path.relative_to(weights)
        in_adapter = adapter_dir is not None and (
            path != adapter_dir and path.is_relative_to(adapter_dir) if adapter_dir != weights
            else path.parent == weights and (path.name.startswith("adapter_") or path.name == "README.md"))
        if mode == "adapter" and not in_adapter:
            layout.left_out[f"{WEIGHTS}/{rel.as_posix()}"] = "part of the merged full model, not of the adapter"
            continue
        if mode == "merged" and in_adapter:
            layout.left_out[f"{WEIGHTS}/{rel.as_posix()}"] = "stale adapter file beside the merged model"
            continue
        normalized = f"model/{WEIGHTS}/{rel.as_posix()}"
        layout.files[normalized] = path
        if path.suffix == ".bin":
            layout.legacy.append(normalized)
