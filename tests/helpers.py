"""Shared test helpers: copies of the committed fixtures, re-pointed at a copy of the tiny base model."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "fixtures" / "models"
sys.path.insert(0, str(ROOT / "fixtures"))
import make_fixtures  # noqa: E402

MANIFEST = json.loads((FIXTURES / "manifest.json").read_text())["fixtures"]
# The generator's own name for each layout -> the kind the exporter must report.
KIND_OF_LAYOUT = {
    "ecd_safetensors": "ecd", "ecd_legacy_pickle": "ecd", "peft_adapter": "adapter", "peft_adapter_bin": "adapter",
    "peft_named_adapter": "adapter", "full_model": "full", "full_model_sharded": "full",
    "merged_with_stale_adapter": "merged", "empty_adapter_after_merge": "adapter",
}


def copy_fixture(name: str, dest_root: Path) -> Path:
    """A private copy of a fixture whose base-model paths point at a private copy of the tiny base model."""
    base = dest_root / "_base" / "tiny-llama"
    if not base.exists():
        shutil.copytree(FIXTURES / "_base" / "tiny-llama", base)
    target = dest_root / name
    shutil.copytree(FIXTURES / name, target, symlinks=True)
    make_fixtures.repoint_base_model(target, base)
    return target


def model_dir(fixture_root: Path, name: str) -> Path:
    return fixture_root.parent / MANIFEST[name]["model_dir"] if fixture_root.name == name else fixture_root


def tree_digest(root: Path) -> dict[str, str]:
    """Every path under root with its content hash (or link target), to prove nothing was modified."""
    out = {}
    for path in sorted(root.rglob("*")):
        rel = str(path.relative_to(root))
        if path.is_symlink():
            out[rel] = "link:" + os.readlink(path)
        elif path.is_file():
            out[rel] = hashlib.sha256(path.read_bytes()).hexdigest() + f":{path.stat().st_mode:o}"
        else:
            out[rel] = "dir"
    return out


def wait_until_not_racy(*paths: Path) -> None:
    """Until the files' times are clearly older than now (`hashing.racy`): a digest read from here on may be cached
    (a file written the moment before it is read is hashed again every time, git's racy rule)."""
    import time

    from ludwig_hub_export.hashing import racy

    while any(racy((p.stat().st_mtime_ns, p.stat().st_ctime_ns), time.time_ns()) for p in paths):
        time.sleep(0.02)


# --- one copy of what many tests share ----------------------------------------------------------------------------

BASE = "tester/tiny-llama"  # the tiny base model, as the `base_on_hub` fixture publishes it


def fast_retry():
    """A retry policy for tests: the same rules, short waits."""
    from ludwig_hub_export.settings import RetryPolicy

    return RetryPolicy(base_delay=0.01, max_delay=1.5, budget=60)


def settings(repo_id: str = "tester/model", **options):
    """`ExportSettings` for a push in a test: short retries, quiet, never a prompt."""
    from ludwig_hub_export.settings import ExportSettings

    options.setdefault("retry", fast_retry())
    options.setdefault("quiet", True)
    options.setdefault("interactive", False)
    return ExportSettings(repo_id=repo_id, **options)


def cli_env(local_hub, tmp_path: Path, token: str | None) -> dict:
    """The environment of a command run against the local Hub: its token, a fresh HF_HOME and hash cache."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HF_")}
    env.update(local_hub.env(token=token, hf_home=tmp_path / "hf-home"))
    env["LUDWIG_HUB_EXPORT_CACHE"] = str(tmp_path / "cache")
    return env
