"""`load(repo)`: a published model in one call through the Hugging Face cache, as the card prints it; verified
once per commit, then loaded again with no download, and offline with no request at all."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tomllib

import pytest
from helpers import MANIFEST, ROOT, copy_fixture
from test_ludwig_roundtrip import make_fixtures, predictions
from test_push import BASE, settings

from ludwig_hub_export.errors import UntrustedRepoError, UsageError
from ludwig_hub_export.workflows.load import VERIFIED, model_dir
from ludwig_hub_export.artifact.plan import MANIFEST as MANIFEST_FILE
from ludwig_hub_export.workflows.push import push

pytestmark = pytest.mark.ludwig



def card_lines(card: str) -> tuple[str, str]:
    """The install line and the load line, as the card prints them."""
    install = [line for line in card.splitlines() if line.startswith("pip install ")]
    load = [line for line in card.splitlines() if "import load;" in line]
    assert len(install) == 1 and len(load) == 1, card
    return install[0], load[0]


def run_card_line(line: str, kind: str) -> list:
    """The load line exactly as printed, then the predictions of what it loaded."""
    scope: dict = {}
    exec(line, scope)  # noqa: S102 - the card's own line, run as a user would
    data = make_fixtures.ecd_dataframe(8) if kind == "ecd" else make_fixtures.llm_dataframe().head(3)
    frame, _ = scope["model"].predict(data)
    return frame.iloc[:, 0].tolist()


def downloads(hub) -> list[str]:
    """Requests that carry a file's bytes: resolve GETs and Xet reads."""
    return [f"{r.kind} {r.path}" for r in hub.log
            if r.kind == "resolve" and r.method == "GET" or r.kind in ("reconstruction", "xorb_get")]


@pytest.mark.parametrize("name", ["ecd_run", "lora_run", "full_sharded", "merged_run"])
def test_the_cards_install_and_load_lines_give_the_pushed_models_predictions(name, tmp_path, local_hub, base_on_hub,
                                                                             env_token, transfer_protocol):
    report = push(copy_fixture(name, tmp_path),
                  settings(f"tester/{name}", base_model=None if name == "ecd_run" else BASE))
    install, line = card_lines(local_hub.read_file(f"tester/{name}", "README.md").decode())
    extra = re.fullmatch(r"pip install 'ludwig-hub-export\[(\w+)\]'", install).group(1)
    assert extra in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert line == f'from ludwig_hub_export import load; model = load("tester/{name}")'
    assert run_card_line(line, report.kind) == predictions(tmp_path / MANIFEST[name]["model_dir"], report.kind)
    # Ludwig's model directory is links into the Hugging Face cache: no weight byte copied.
    from huggingface_hub import scan_cache_dir

    model = model_dir(f"tester/{name}")
    weights = [p for p in model.rglob("*.safetensors")]
    assert weights and all(p.is_symlink() for p in weights)
    cached = {str(f.file_path) for repo in scan_cache_dir().repos if repo.repo_id == f"tester/{name}"
              for rev in repo.revisions if rev.commit_hash == report.commit_oid for f in rev.files}
    assert {os.readlink(p) for p in weights} <= cached


def test_a_second_load_downloads_nothing_offline_asks_nothing_and_a_branch_follows_its_commit(
        tmp_path, local_hub, hub_api, env_token, monkeypatch):
    from huggingface_hub import constants

    from ludwig_hub_export import load_ludwig_model

    first = push(copy_fixture("ecd_saved", tmp_path), settings("tester/ecd", base_model=None)).commit_oid
    cold = model_dir("tester/ecd")
    assert downloads(local_hub)
    record = cold.parent.parent / VERIFIED
    verified_at = record.stat().st_mtime_ns
    local_hub.log.clear()
    model = load_ludwig_model("hf://tester/ecd")  # a model path, as Ludwig users write one
    assert downloads(local_hub) == [] and record.stat().st_mtime_ns == verified_at  # not hashed again
    frame, _ = model.predict(make_fixtures.ecd_dataframe(8))
    expected = predictions(tmp_path / MANIFEST["ecd_saved"]["model_dir"], "ecd")
    assert frame.iloc[:, 0].tolist() == expected
    # Online, one request: the HEAD that says the branch has not moved (and the manifest's size).
    local_hub.log.clear()
    assert model_dir("tester/ecd") == cold
    assert [(r.method, r.kind) for r in local_hub.log] == [("HEAD", "resolve")]
    # Offline: the branch resolves from the cache, and not one request is made.
    local_hub.log.clear()
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    assert model_dir("tester/ecd") == cold and model_dir("tester/ecd", revision=first) == cold
    assert local_hub.log == []
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    # A new commit on main: the branch now names it; the old commit stays loadable by its id.
    hub_api.upload_file(path_or_fileobj=b"notes\n", path_in_repo="NOTES.txt", repo_id="tester/ecd")
    second = model_dir("tester/ecd")
    assert second != cold and local_hub.commits("tester/ecd")[0].oid in str(second)
    local_hub.log.clear()
    assert model_dir("tester/ecd", revision=first) == cold
    assert local_hub.log == []  # a commit id, cached: not one request, online too
    with pytest.raises(UsageError, match="HF_HUB_OFFLINE|local_files_only"):
        model_dir("tester/ecd", revision="v9", local_files_only=True)


_OFFLINE_LOAD = """
import json, sys
sys.path.insert(0, sys.argv[1])
import make_fixtures
from ludwig_hub_export import load
model = load("tester/ecd")
frame, _ = model.predict(make_fixtures.ecd_dataframe(8))
print(json.dumps(frame.iloc[:, 0].tolist()))
"""


def test_after_one_load_the_model_loads_offline_with_the_hub_stopped(tmp_path):
    from ludwig_hub_export.testing import LocalHub

    with LocalHub() as hub:  # a Hub of this test's own, to stop
        push(copy_fixture("ecd_saved", tmp_path), settings("tester/ecd", base_model=None, endpoint=hub.url,
                                                           token=hub.token))
        model_dir("tester/ecd", token=hub.token, endpoint=hub.url)  # into this process's HF cache
        url = hub.url
    env = {k: v for k, v in os.environ.items() if not k.startswith("HF_")}
    env.update(HF_ENDPOINT=url, HF_HOME=os.environ["HF_HOME"], HF_HUB_OFFLINE="1", HF_HUB_DISABLE_TELEMETRY="1")
    out = subprocess.run([sys.executable, "-c", _OFFLINE_LOAD, str(ROOT / "fixtures")], env=env,
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    assert json.loads(out.stdout.splitlines()[-1]) == predictions(tmp_path / MANIFEST["ecd_saved"]["model_dir"], "ecd")


# --- the same untrusted-input rules as pull ----------------------------------------------------------------
def test_load_refuses_what_pull_refuses_before_fetching_the_weights(tmp_path, local_hub, hub_api, env_token):
    from test_pull_hostile import FILES, REPO, craft, good_manifest

    manifest = good_manifest()
    manifest["files"][1]["ludwig_path"] = "../../escaped.txt"
    craft(hub_api, manifest)
    with pytest.raises(UntrustedRepoError, match=r"files\[1\].ludwig_path .* '\.\.' segment"):
        model_dir(REPO)
    assert all(MANIFEST_FILE in d for d in downloads(local_hub))  # refused before any other file was fetched
    craft(hub_api, b" " * (16 << 20) + b"{}")
    with pytest.raises(UntrustedRepoError, match="at most"):
        model_dir(REPO)
    pickled = dict(FILES, **{"model.pt": (b"\x80\x04\x95not really", "model/model.pt")})
    craft(hub_api, good_manifest(pickled), pickled)
    with pytest.raises(UntrustedRepoError, match="pickle.*allow_pickle=True"):
        model_dir(REPO)
    assert (model_dir(REPO, allow_pickle=True) / "model.pt").read_bytes() == pickled["model.pt"][0]
    # Same size, other bytes, a regular file: only the hash tells, and the tree is not built.
    tampered = dict(FILES, **{"training_set_metadata.json": (b"[]\n", "model/training_set_metadata.json")})
    craft(hub_api, good_manifest(), tampered)
    with pytest.raises(UntrustedRepoError, match="training_set_metadata.json does not match ludwig_export.json"):
        model_dir(REPO)


@pytest.mark.parametrize("path,expected", [
    ("hf://user/repo", ("user/repo", None)), ("hf://user/repo@v1", ("user/repo", "v1")),
    ("hf://user/repo@refs%2Fpr%2F1", ("user/repo", "refs/pr/1")),
    ("hf://user/repo@refs/pr/1", ("user/repo", "refs/pr/1")),
    ("hf://repo", None), ("hf://user/repo@", None), ("hf://a/b/c", None), ("hf:///repo", None),
])
def test_hf_paths(path, expected):
    from ludwig_hub_export.workflows.load import parse_hf_path

    if expected is None:
        with pytest.raises(UsageError, match="hf://user/repo"):
            parse_hf_path(path)
    else:
        assert parse_hf_path(path) == expected
