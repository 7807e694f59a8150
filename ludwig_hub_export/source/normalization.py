"""`normalize`: lay a saved model out as ``DEST/model/model_weights...`` as hard links to the source (copies only
where links cannot be, and said so). DEST shares inodes with the source, so no DEST file is ever opened for
writing: files that must differ (converted pickles) are written as new files."""

from __future__ import annotations

import errno
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import UsageError
from .adapters import convert_pickle_to_safetensors
from .layout import find_layout
from .saved_model import ModelLayout


@dataclass
class NormalizeResult:
    """A model laid out as `model/model_weights` in `dest`, and what was linked or copied."""

    dest: Path
    layout: ModelLayout
    linked: list[str] = field(default_factory=list)
    copied: dict[str, str] = field(default_factory=dict)  # path -> why it was copied
    converted: dict[str, str] = field(default_factory=dict)  # new path -> the pickle it replaces

    @property
    def model_dir(self) -> Path:
        return self.dest / "model"


def link_or_copy(src: Path, dst: Path) -> str | None:
    """Hard-link src to dst; on a different device (or where links are refused) copy. Returns why it copied."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(src.resolve(), dst)
        return None
    except OSError as e:
        if e.errno == errno.EXDEV:
            reason = "different device"
        elif e.errno in (errno.EPERM, errno.EACCES, errno.EMLINK, errno.ENOTSUP):
            reason = f"hard link refused ({os.strerror(e.errno)})"
        else:
            raise
    shutil.copy2(src, dst)
    return reason


def normalize(src: str | Path, dest: str | Path, *, latest: bool = False, prefer_adapter: bool = False,
              convert_pickle: bool = False, layout: ModelLayout | None = None) -> NormalizeResult:
    dest = Path(dest).expanduser()
    layout = layout or find_layout(src, latest=latest, prefer_adapter=prefer_adapter)
    roots = [r.resolve() for r in (layout.model_dir, layout.run_dir) if r is not None]
    if any(dest.resolve() == r or dest.resolve().is_relative_to(r) for r in roots):
        raise UsageError(f"{dest} is inside the model being normalized", "choose a destination outside it")
    if dest.exists() and any(dest.iterdir()):
        raise UsageError(f"{dest} exists and is not empty", "choose a new or empty destination directory")
    result = NormalizeResult(dest, layout)
    for normalized, source in sorted(layout.files.items()):
        if convert_pickle and normalized in layout.legacy:
            target = safetensors_name(normalized)
            (dest / target).parent.mkdir(parents=True, exist_ok=True)
            convert_pickle_to_safetensors(source, dest / target)
            result.converted[target] = normalized
        elif why := link_or_copy(source, dest / normalized):
            result.copied[normalized] = why
        else:
            result.linked.append(normalized)
    return result


def safetensors_name(normalized: str) -> str:
    """adapter_model.bin -> adapter_model.safetensors, pytorch_model.bin -> model.safetensors (the names loaders
    look for), and the ECD pickle file model_weights -> model_weights.safetensors."""
    folder, _, name = normalized.rpartition("/")
    new = "model.safetensors" if name == "pytorch_model.bin" else name.removesuffix(".bin") + ".safetensors"
    return f"{folder}/{new}" if folder else new
