"""push -> pull -> plain LudwigModel.load (what the card and README tell users to run): every model kind comes
back and predicts exactly like the source."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from helpers import MANIFEST, cli_env, copy_fixture
from test_push import BASE, settings
from test_ludwig_roundtrip import make_fixtures, predictions

from ludwig_hub_export.errors import InvalidModelError, UntrustedRepoError, UsageError
from ludwig_hub_export.workflows.pull import pull
from ludwig_hub_export.workflows.push import push

pytestmark = pytest.mark.ludwig


@pytest.mark.parametrize("name,convert", [
    ("ecd_run", False), ("ecd_legacy_pickle", True), ("lora_run", False), ("lora_named_adapter", False),
    ("full_sharded", False), ("merged_run", False),
])
def test_pulled_model_predicts_like_the_pushed_one(name, convert, tmp_path, local_hub, base_on_hub, env_token):
    from ludwig.config_validation.validation import check_schema

    source = copy_fixture(name, tmp_path)
    report = push(source, settings(f"tester/{name}", convert_pickle=convert))
    result = pull(f"tester/{name}", tmp_path / "pulled")
    assert result.commit == report.commit_oid and result.kind == report.kind
    pulled_config = json.loads((result.model_dir / "model_hyperparameters.json").read_text())
    check_schema(pulled_config)  # the uploaded config is one Ludwig's own schema accepts: no null adapter keys
    if report.kind != "ecd":
        assert pulled_config["base_model"] == BASE  # loads its base model from the Hub, not a local path
    # What the card says: stock LudwigModel.load for ECD, load_ludwig_model for LLMs (see the test below).
    pulled = plain_predictions(result.model_dir, report.kind) if report.kind == "ecd" else \
        predictions(result.model_dir, report.kind)
    assert pulled == predictions(tmp_path / MANIFEST[name]["model_dir"], report.kind)
    card = (tmp_path / "pulled" / "README.md").read_text()
    loader = "LudwigModel.load" if report.kind == "ecd" else "load_ludwig_model"
    assert f'model = {loader}("./{name}/model")' in card


def test_stock_ludwig_still_rejects_every_llm_config_it_saves(tmp_path, local_hub, base_on_hub, env_token):
    """Why the card sends LLM users to load_ludwig_model: Ludwig 0.17 re-renders `"adapters": null` into the
    config it loads and rejects it, whatever the file holds. When a Ludwig release fixes that, this fails: then
    the card can say LudwigModel.load for every kind."""
    from ludwig.error import ConfigValidationError

    push(copy_fixture("full_sharded", tmp_path), settings("tester/full"))
    result = pull("tester/full", tmp_path / "pulled")
    assert "adapters" not in json.loads((result.model_dir / "model_hyperparameters.json").read_text())
    with pytest.raises(ConfigValidationError, match="None is not of type 'object'"):
        plain_predictions(result.model_dir, "full")


def plain_predictions(model_dir, kind: str) -> list:
    """Stock Ludwig, no workaround."""
    import logging

    from ludwig.api import LudwigModel

    model = LudwigModel.load(str(model_dir), logging_level=logging.ERROR)
    data = make_fixtures.ecd_dataframe(8) if kind == "ecd" else make_fixtures.llm_dataframe().head(3)
    frame, _ = model.predict(data)
    return frame.iloc[:, 0].tolist()


def test_pull_refuses_a_repo_without_manifest_and_a_tampered_file(tmp_path, local_hub, hub_api, env_token):
    hub_api.create_repo("tester/plain")
    hub_api.upload_file(path_or_fileobj=b"{}", path_in_repo="config.json", repo_id="tester/plain")
    with pytest.raises(InvalidModelError, match="ludwig_export.json"):
        pull("tester/plain", tmp_path / "a")
    push(copy_fixture("ecd_saved", tmp_path), settings("tester/ecd", base_model=None))
    hub_api.upload_file(path_or_fileobj=b"{}", path_in_repo="training_set_metadata.json", repo_id="tester/ecd")
    with pytest.raises(UntrustedRepoError, match="does not match ludwig_export.json"):
        pull("tester/ecd", tmp_path / "b")
    with pytest.raises(UsageError, match="not found"):
        pull("tester/missing", tmp_path / "c")


def test_pull_cli(tmp_path, local_hub, env_token):
    push(copy_fixture("ecd_saved", tmp_path), settings("tester/ecd", base_model=None))
    env = cli_env(local_hub, tmp_path, local_hub.token)
    out = subprocess.run([sys.executable, "-m", "ludwig_hub_export", "pull", "tester/ecd", str(tmp_path / "p")],
                         env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "verified against the manifest" in out.stdout
    assert (tmp_path / "p" / "model" / "model_weights.safetensors").is_file()


def test_pull_names_a_file_the_manifest_lists_but_the_repo_lost(tmp_path, local_hub, hub_api, env_token):
    push(copy_fixture("ecd_saved", tmp_path), settings("tester/ecd", base_model=None))
    hub_api.delete_file("training_set_metadata.json", repo_id="tester/ecd")
    with pytest.raises(UntrustedRepoError, match="training_set_metadata.json is listed in ludwig_export.json"):
        pull("tester/ecd", tmp_path / "p")


def test_pull_takes_a_branch_a_tag_and_a_pr_ref_and_names_the_commit(tmp_path, local_hub, hub_api, env_token,
                                                                     capsys):
    from ludwig_hub_export.cli.main import main

    first = push(copy_fixture("ecd_saved", tmp_path), settings("tester/ecd", base_model=None)).commit_oid
    hub_api.create_tag("tester/ecd", tag="v1")
    hub_api.create_branch("tester/ecd", branch="dev")
    pr = hub_api.upload_file(path_or_fileobj=b"notes\n", path_in_repo="NOTES.txt", repo_id="tester/ecd",
                             create_pr=True)
    pr_commit = local_hub.commits("tester/ecd", "refs/pr/1")[0].oid
    listed = len(json.loads(local_hub.read_file("tester/ecd", "ludwig_export.json"))["files"])
    assert pr_commit != first and pr.pr_revision == "refs/pr/1"
    for n, (revision, commit) in enumerate([("v1", first), ("dev", first), ("refs/pr/1", pr_commit),
                                            (first[:10], first)]):
        capsys.readouterr()
        assert main(["pull", "tester/ecd", str(tmp_path / f"p{n}"), "--revision", revision]) == 0
        out = capsys.readouterr().out
        assert f"pulled tester/ecd {revision} at commit {commit} (ecd, {listed} files verified" in out
        assert (tmp_path / f"p{n}" / "model" / "model_weights.safetensors").is_file()
    assert main(["pull", "tester/ecd", str(tmp_path / "missing"), "--revision", "v2"]) == 2
    assert "tester/ecd@v2 not found" in capsys.readouterr().err


def test_the_streaming_hash_is_dropped_when_the_client_rewinds_and_refuses_bytes_past_the_size(tmp_path):
    import hashlib

    from ludwig_hub_export.hub.download import TooLarge, _HashingWriter

    seen = []
    with open(tmp_path / "f", "wb+") as f:
        writer = _HashingWriter(f, 10, "repo: f", seen.append)
        writer.write(b"abcd")
        writer.seek(0)  # what get_file does once done: no byte written after it, the hash stands
        assert writer.hexdigest() == hashlib.sha256(b"abcd").hexdigest() and not writer.rewound
    with open(tmp_path / "f", "wb+") as f:
        writer = _HashingWriter(f, 10, "repo: f", seen.append)
        writer.write(b"abcd")
        writer.seek(0)  # what http_get does when a server answers a Range request with the whole file
        writer.truncate()
        writer.write(b"0123456789")
        assert writer.rewound  # fetch then hashes the finished file instead
        with pytest.raises(TooLarge, match="more than the 10 bytes"):
            writer.write(b"x")
        writer.close()
    assert (tmp_path / "f").read_bytes() == b"0123456789" and seen == [4, 4, 10]
