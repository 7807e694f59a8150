"""Where users call it: a live LudwigModel, the post-training callback, and the command line after
`ludwig train` (including `ludwig upload hf_hub`'s flags). Real Ludwig training, local Hub."""

from __future__ import annotations

import copy
import json
import logging
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import yaml
from helpers import BASE, FIXTURES, cli_env, make_fixtures
from test_ludwig_roundtrip import predictions
from test_push import FAST

from ludwig_hub_export import HubExportCallback, export, pull
from ludwig_hub_export.errors import AuthError, InvalidModelError

pytestmark = pytest.mark.ludwig


def _base_copy(tmp_path: Path) -> Path:
    import shutil

    base = tmp_path / "tiny-llama"
    if not base.exists():
        shutil.copytree(FIXTURES / "_base" / "tiny-llama", base)
    return base


def _train(config: dict, data, tmp_path: Path, callbacks=()):
    from ludwig.api import LudwigModel

    model = LudwigModel(copy.deepcopy(config), logging_level=logging.ERROR, callbacks=list(callbacks))
    model.train(dataset=data, random_seed=make_fixtures.SEED, output_directory=str(tmp_path / "results"),
                skip_save_processed_input=True)
    return model


def _same_predictions(model, repo_id: str, tmp_path: Path, kind: str) -> None:
    pulled = pull(repo_id, tmp_path / f"pulled-{repo_id.split('/')[-1]}")
    data = make_fixtures.ecd_dataframe(8) if kind == "ecd" else make_fixtures.llm_dataframe().head(3)
    assert predictions(pulled.model_dir, kind) == model.predict(data)[0].iloc[:, 0].tolist()


OPTIONS = dict(quiet=True, interactive=False, retry=FAST)


LORA = {"type": "lora", "r": 4}
MERGED = {"type": "lora", "r": 4, "postprocessor": {"merge_adapter_into_base_model": True}}
KINDS = {"adapter": LORA, "full": None, "merged": MERGED}


def _config(kind: str, tmp_path: Path) -> tuple[dict, object]:
    if kind == "ecd":
        return make_fixtures.ecd_config(), make_fixtures.ecd_dataframe()
    return make_fixtures.llm_config(_base_copy(tmp_path), KINDS[kind]), make_fixtures.llm_dataframe()


@pytest.mark.parametrize("kind", ["ecd", "adapter", "full"])
def test_export_of_a_live_ludwig_model(kind, tmp_path, local_hub, base_on_hub, env_token):
    config, data = _config(kind, tmp_path)
    model = _train(config, data, tmp_path)
    report = export(model, f"tester/live-{kind}", base_model=None if kind == "ecd" else BASE, **OPTIONS)
    assert report.verified and report.kind == kind
    assert not list(Path(tempfile.gettempdir()).glob("ludwig-hub-export-model-*"))  # the temporary save is gone
    _same_predictions(model, f"tester/live-{kind}", tmp_path, "ecd" if kind == "ecd" else "llm")


def test_export_of_a_live_merged_model_is_refused_with_the_way_out(tmp_path, local_hub, base_on_hub, env_token):
    # After merge_adapter_into_base_model, model.save() writes an empty adapter (Ludwig 0.17): refuse it.
    config, data = _config("merged", tmp_path)
    model = _train(config, data, tmp_path)
    before = len(local_hub.requests())
    with pytest.raises(InvalidModelError, match="the adapter holds no tensors") as err:
        export(model, "tester/live-merged", base_model=BASE, **OPTIONS)
    assert "training run directory" in str(err.value)
    assert len(local_hub.requests()) == before  # refused before any network call


@pytest.mark.parametrize("kind", ["adapter", "full", "merged"])
def test_callback_publishes_after_the_final_save(kind, tmp_path, local_hub, base_on_hub, env_token):
    callback = HubExportCallback(f"tester/cb-{kind}", base_model=BASE, **OPTIONS)
    config, data = _config(kind, tmp_path)
    model = _train(config, data, tmp_path, [callback])
    assert callback.error is None and callback.report.verified, callback.error
    assert callback.report.kind == kind
    _same_predictions(model, f"tester/cb-{kind}", tmp_path, "llm")


def test_callback_with_ecd_and_a_public_repo(tmp_path, local_hub, hub_api, env_token):
    callback = HubExportCallback("tester/cb-ecd", public=True, **OPTIONS)
    model = _train(make_fixtures.ecd_config(), make_fixtures.ecd_dataframe(), tmp_path, [callback])
    assert callback.report.verified and hub_api.repo_info("tester/cb-ecd").private is False
    assert "training_statistics.json" in local_hub.files("tester/cb-ecd")
    _same_predictions(model, "tester/cb-ecd", tmp_path, "ecd")


def test_failed_training_publishes_nothing(tmp_path, local_hub, env_token):
    from ludwig.callbacks import Callback

    class Boom(Callback):
        def on_epoch_end(self, trainer, progress_tracker, save_path, **kwargs):
            raise RuntimeError("training blew up")

    callback = HubExportCallback("tester/never", **OPTIONS)
    with pytest.raises(RuntimeError, match="training blew up"):
        _train(make_fixtures.ecd_config(), make_fixtures.ecd_dataframe(), tmp_path, [Boom(), callback])
    assert callback.skipped == "training failed: nothing was published" and callback.report is None
    assert local_hub.requests() == []


def test_failed_export_neither_crashes_nor_hides_the_training(tmp_path, local_hub, capsys):
    reader = local_hub.add_token("tester", role="read")
    callback = HubExportCallback("tester/ro", token=reader, **OPTIONS)
    model = _train(make_fixtures.ecd_config(), make_fixtures.ecd_dataframe(), tmp_path, [callback])
    assert isinstance(callback.error, AuthError)
    run = tmp_path / "results" / "api_experiment_run"
    assert (run / "model" / "model_weights.safetensors").is_file()
    assert model.predict(make_fixtures.ecd_dataframe(4))[0].shape[0] == 4  # the trained model is usable
    err = capsys.readouterr().err
    assert "the trained model is safe" in err and f"ludwig-hub-export push {run}" in err
    assert reader not in err


def _ludwig_train(tmp_path: Path, name: str, kind: str = "ecd") -> None:
    config_dict, frame = _config(kind, tmp_path) if kind != "ecd" else (make_fixtures.ecd_config(),
                                                                         make_fixtures.ecd_dataframe())
    data = tmp_path / "data.csv"
    frame.to_csv(data, index=False)
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(config_dict))
    ludwig = Path(sys.executable).parent / "ludwig"
    out = subprocess.run([str(ludwig), "train", "--config", str(config), "--dataset", str(data), "--output_directory",
                          str(tmp_path / "results"), "--experiment_name", name, "--skip_save_processed_input"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]


def _cli(args: list[str], env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ludwig_hub_export", *args], env=env, capture_output=True, text=True,
                          timeout=600)


@pytest.mark.slow  # two `ludwig train` processes: minutes on 2 cores
def test_cli_after_ludwig_train_and_ludwig_upload_flags(tmp_path, local_hub, hub_api):
    _ludwig_train(tmp_path, "first")
    env = cli_env(local_hub, tmp_path, local_hub.token)
    out = _cli(["push", str(tmp_path / "results"), "--repo-id", "tester/from-cli", "--quiet"], env)
    assert out.returncode == 0, out.stderr
    assert "training_statistics.json" in local_hub.files("tester/from-cli")

    _ludwig_train(tmp_path, "second")
    ambiguous = _cli(["push", str(tmp_path / "results"), "--repo-id", "tester/two"], env)
    assert ambiguous.returncode == 2 and "--latest" in ambiguous.stderr and "Traceback" not in ambiguous.stderr
    latest = _cli(["push", str(tmp_path / "results"), "--repo-id", "tester/two", "--latest", "--json"], env)
    assert latest.returncode == 0, latest.stderr
    description = json.loads(local_hub.read_file("tester/two", "ludwig_config.json"))
    assert description["model_type"] == "ecd"

    run = next((tmp_path / "results").glob("second*"))
    upload = _cli(["upload", "hf_hub", "-r", "tester/compat", "-m", str(run), "-p", "-c", "from a script",
                   "-d", "long description"], env)
    assert upload.returncode == 0, upload.stderr
    assert hub_api.repo_info("tester/compat").private is True
    assert local_hub.commits("tester/compat")[0].title == "from a script"
    public = _cli(["upload", "hf_hub", "-r", "tester/compat-public", "-m", str(run / "model"), "-p", "False"], env)
    assert public.returncode == 0, public.stderr
    assert hub_api.repo_info("tester/compat-public").private is False
    wrong = _cli(["upload", "hf_hub", "-r", "tester/x", "-m", str(run), "-t", "dataset"], env)
    assert wrong.returncode == 2 and "only model" in wrong.stderr


@pytest.mark.parametrize("kind", ["adapter", "full", "merged"])
def test_cli_push_of_an_llm_ludwig_train_run(kind, tmp_path, local_hub, base_on_hub):
    from transformers import AutoModelForCausalLM

    _ludwig_train(tmp_path, "llm", kind)
    env = cli_env(local_hub, tmp_path, local_hub.token)
    out = _cli(["push", str(tmp_path / "results"), "--repo-id", f"tester/cli-{kind}", "--base-model", BASE, "--json"],
               env)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["kind"] == kind
    if kind != "adapter":
        AutoModelForCausalLM.from_pretrained(f"tester/cli-{kind}", token=local_hub.token)
    pulled = pull(f"tester/cli-{kind}", tmp_path / "pulled", token=local_hub.token)
    run_model = next((tmp_path / "results").glob("llm*")) / "model"
    assert predictions(pulled.model_dir, "llm") == predictions(run_model, "llm")
