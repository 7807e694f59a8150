"""push -> pull -> plain LudwigModel.load (what the card and README tell users to run): every model kind comes
back and predicts exactly like the source."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from helpers import MANIFEST, copy_fixture
from test_push import BASE, _cli_env, base_on_hub, env_token, settings  # noqa: F401 - fixtures
from test_ludwig_roundtrip import make_fixtures, predictions

from ludwig_hub_export.errors import InvalidModelError, UntrustedRepoError, UsageError
from ludwig_hub_export.pull import pull
from ludwig_hub_export.push import push

pytestmark = pytest.mark.ludwig


@pytest.mark.parametrize("name,convert", [
    ("ecd_run", False), ("ecd_legacy_pickle", True), ("lora_run", False), ("lora_named_adapter", False),
    ("full_sharded", False), ("merged_run", False),
])
def test_pulled_model_predicts_like_the_pushed_one(name, convert, tmp_path, local_hub, base_on_hub, env_token):
    source = copy_fixture(name, tmp_path)
    report = push(source, settings(f"tester/{name}", convert_pickle=convert))
    result = pull(f"tester/{name}", tmp_path / "pulled")
    assert result.commit == report.commit_oid and result.kind == report.kind
    assert (result.model_dir / "model_hyperparameters.json").is_file()
    pulled_config = json.loads((result.model_dir / "model_hyperparameters.json").read_text())
    if report.kind != "ecd":
        assert pulled_config["base_model"] == BASE  # loads its base model from the Hub, not a local path
    assert plain_predictions(result.model_dir, report.kind) == predictions(tmp_path / MANIFEST[name]["model_dir"],
                                                                           report.kind)


def plain_predictions(model_dir, kind: str) -> list:
    """Stock Ludwig, no workaround: the uploaded config must be one Ludwig's own schema accepts."""
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
    env = _cli_env(local_hub, tmp_path, local_hub.token)
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
