"""The command line, the Python API and the training callback run the same push: the same requests reach the Hub,
through huggingface_hub's client, whichever way a user publishes."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

from helpers import copy_fixture, fast_retry

from ludwig_hub_export import HubExportCallback, export

DEDUPLICATED = ("xorb_grant", "xorb", "xorb_commit", "dedup", "xet_telemetry", "lfs_upload", "lfs_verify")
FAST = fast_retry()


class _SavedModel:
    """What the callback wraps: a model whose `save` writes Ludwig's model directory (here a saved fixture)."""

    def __init__(self, fixture: Path) -> None:
        self.fixture = fixture

    def save(self, save_path) -> None:
        shutil.copytree(self.fixture, save_path, dirs_exist_ok=True)


def _requests_of(local_hub, start: int) -> Counter:
    """The requests since `start`, by method and endpoint kind (order aside: independent ones go at once). Xet's
    uploads are left out: what is sent depends on what the Hub already holds, and the pushes share their weights."""
    return Counter((r.method, r.kind) for r in local_hub.requests()[start:] if r.kind not in DEDUPLICATED)


def _push_three_ways(tmp_path: Path, local_hub, child_env) -> dict[str, Counter]:
    fixture = copy_fixture("ecd_saved", tmp_path)
    seen = {}

    start = len(local_hub.requests())
    cli = subprocess.run([sys.executable, "-m", "ludwig_hub_export", "push", str(fixture), "--repo-id", "tester/cli",
                          "--quiet"], env=child_env, capture_output=True, text=True, timeout=300)
    assert cli.returncode == 0, cli.stderr
    seen["cli"] = _requests_of(local_hub, start)

    start = len(local_hub.requests())
    assert export(fixture, "tester/api", quiet=True, interactive=False, retry=FAST).verified
    seen["api"] = _requests_of(local_hub, start)

    start = len(local_hub.requests())
    callback = HubExportCallback("tester/callback", quiet=True, interactive=False, retry=FAST)
    model = _SavedModel(fixture)
    callback.on_train_start(model=model, config={}, config_fp=None)
    callback.on_train_end(output_directory=str(tmp_path / "results"))
    model.save(tmp_path / "callback-save")  # the wrapped save: Ludwig's final save, then the export
    assert callback.error is None and callback.report.verified, callback.error
    seen["callback"] = _requests_of(local_hub, start)
    return seen


def test_cli_api_and_callback_make_the_same_requests(tmp_path, local_hub, env_token, child_env, transfer_protocol):
    seen = _push_three_ways(tmp_path, local_hub, child_env)
    assert seen["cli"] == seen["api"] == seen["callback"], seen
    assert seen["cli"][("POST", "commit")] == 1
    # One client: every request to the Hub's API is huggingface_hub's own (its User-Agent names it).
    api_kinds = {kind for _, kind in seen["cli"]} - {"xorb", "shard", "xorb_grant", "xorb_commit", "dedup",
                                                    "reconstruction", "lfs_upload"}
    agents = {r.agent for r in local_hub.requests() if r.kind in api_kinds}
    assert agents and all("hf_hub/" in agent for agent in agents), agents
