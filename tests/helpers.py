"""Shared test helpers: copies of the committed fixtures, re-pointed at a copy of the tiny base model."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
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


# A push in a fresh process, like the command line's; "client" loads huggingface_hub's API first (as in a sweep
# or a training callback), which turns the first look (and a new repo's head start) off.
_FRESH_PUSH = """
import json, sys
if sys.argv[3] == "client":
    import huggingface_hub.hf_api
from ludwig_hub_export.publish import ExportSettings, push
report = push(sys.argv[1], ExportSettings(repo_id=sys.argv[2], quiet=True, interactive=False,
                                          base_model=sys.argv[4] or None))
print(json.dumps({"report": report.to_dict(), "client_loaded": "huggingface_hub.hf_api" in sys.modules,
                  "httpx_loaded": "httpx2" in sys.modules,
                  "checked": "ludwig_hub_export.checks" in sys.modules,
                  "planned": "ludwig_hub_export.plan" in sys.modules,
                  "card_code_loaded": "yaml" in sys.modules or "huggingface_hub.repocard_data" in sys.modules}))
"""


def push_in_fresh_process(source, repo_id: str, env: dict, client: bool = False, base_model: str = "") -> dict:
    out = subprocess.run([sys.executable, "-c", _FRESH_PUSH, str(source), repo_id, "client" if client else "-",
                          base_model],
                         env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def wait_until_not_racy(*paths: Path) -> None:
    """Until the files' times are clearly older than now (`hashing.racy`): a digest read from here on may be cached
    (a file written the moment before it is read is hashed again every time, git's racy rule)."""
    import time

    from ludwig_hub_export.hashing import racy

    while any(racy((p.stat().st_mtime_ns, p.stat().st_ctime_ns), time.time_ns()) for p in paths):
        time.sleep(0.02)
