"""What the repo says must be true (issue 27, items 6-9): no local path of the training machine in what is
published, a card of someone else's kept, the metrics of the weights that are published, a config that runs."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from helpers import BASE, FIXTURES, copy_fixture, make_fixtures, settings

from ludwig_hub_export.card_metadata import split_front_matter
from ludwig_hub_export.source.checks import check
from ludwig_hub_export.artifact.plan import build_plan
from ludwig_hub_export.workflows.push import push

def planned(source: Path, **options) -> dict[str, bytes]:
    """Every file a push of `source` would upload, with its bytes (the plan, no Hub)."""
    base = options.get("base_model")
    plan = build_plan(check(source, base_model=base), "tester/m", **options)
    try:
        return {f.path: f.data if f.data is not None else f.source.read_bytes() for f in plan.files}
    finally:
        plan.cleanup()


# --- 6. local paths ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("value,reference,local", [
    ("/home/me/llama", False, True), ("~/llama", False, True), ("~", False, True), ("./llama", False, True),
    ("../llama", False, True), ("C:\\models\\llama", False, True), ("file:///m/llama", False, True),
    ("meta-llama/Llama-3.2-1B", True, False), ("gpt2", True, False), ("https://example.com/m", True, False),
    ("models/llama/v2", True, True), ("models/llama/v2", False, False), ("%d/%m/%Y", False, False),
    (".*\\.q_proj", False, False), ("/", False, False), ("", True, False),
])
def test_what_a_local_path_is(value, reference, local):
    from ludwig_hub_export.source.local_paths import is_local_path

    assert is_local_path(value, reference=reference) is local


def test_a_hub_id_shaped_name_that_is_a_directory_here_is_local(tmp_path, monkeypatch):
    from ludwig_hub_export.source.local_paths import is_local_path

    monkeypatch.chdir(tmp_path)
    (tmp_path / "checkpoints" / "llama").mkdir(parents=True)
    assert is_local_path("checkpoints/llama", reference=True)  # transformers would load this directory
    assert not is_local_path("checkpoints/other", reference=True)


def test_vocabularies_are_not_read_as_paths():
    from ludwig_hub_export.source.local_paths import rewrite_local_paths

    document = {"text": {"idx2str": ["/usr", "~"], "str2idx": {"/usr": 0}, "vocab": ["./x"],
                         "preprocessing": {"pretrained_model_name_or_path": "/m/llama/"}}}
    new, found = rewrite_local_paths(document, "org/llama", ["/m/llama"])
    assert [(f.where, f.replaced_by) for f in found] == [("text.preprocessing.pretrained_model_name_or_path",
                                                          "org/llama")]
    assert new["text"]["idx2str"] == ["/usr", "~"] and document["text"]["preprocessing"][
        "pretrained_model_name_or_path"] == "/m/llama/"


def test_lora_run_pushed_with_base_model_publishes_no_local_path(tmp_path, local_hub, env_token, transfer_protocol):
    """Issue 27 #6: the Ludwig config named the local base model directory in every text feature's encoder and
    preprocessing; the README says the uploaded config carries the Hub id."""
    source = copy_fixture("lora_run", tmp_path)
    local_base = str((tmp_path / "_base" / "tiny-llama").resolve())
    before = {p: p.read_bytes() for p in source.rglob("*.json")}
    assert any(local_base.encode() in raw for raw in before.values())
    push(source, settings(base_model=BASE))
    files = local_hub.files("tester/model")
    for path in files:
        if path.endswith((".json", ".yaml", ".md")):
            assert local_base.encode() not in local_hub.read_file("tester/model", path), path
    config = json.loads(local_hub.read_file("tester/model", "ludwig_config.json"))
    assert config["base_model"] == BASE
    for feature in config["input_features"] + config["output_features"]:
        for section in ("encoder", "decoder", "preprocessing"):
            value = (feature.get(section) or {}).get("pretrained_model_name_or_path")
            assert value in (None, BASE), (feature["name"], section, value)
    metadata = json.loads(local_hub.read_file("tester/model", "training_set_metadata.json"))
    assert metadata["instruction"]["preprocessing"]["pretrained_model_name_or_path"] == BASE
    assert json.loads(local_hub.read_file("tester/model", "adapter_config.json"))["base_model_name_or_path"] == BASE
    assert {p: p.read_bytes() for p in source.rglob("*.json")} == before  # the user's files are not changed


@pytest.mark.parametrize("name", ["lora_run", "full_saved"])
def test_check_reports_every_local_path_with_the_fix_until_base_model_is_given(name, tmp_path):
    source = copy_fixture(name, tmp_path)
    local = [p for p in check(source).problems if p.code == "local-path"]
    assert {Path(p.file).name for p in local} == {"model_hyperparameters.json", "training_set_metadata.json"}
    assert all("--base-model ORG/NAME" in p.fix and "pretrained_model_name_or_path" in p.message for p in local)
    assert not [p for p in check(source, base_model=BASE).problems if p.code == "local-path"]


def test_a_local_path_that_is_not_the_base_model_is_reported_even_with_base_model(tmp_path):
    source = copy_fixture("lora_saved", tmp_path)
    path = source / "model_hyperparameters.json"
    config = json.loads(path.read_text())
    config["input_features"][0]["preprocessing"]["pretrained_model_name_or_path"] = "/opt/other-tokenizer"
    path.write_text(json.dumps(config))
    [problem] = [p for p in check(source, base_model=BASE).problems if p.code == "local-path"]
    assert "/opt/other-tokenizer" in problem.message and "not the base model's" in problem.fix
    published = json.loads(planned(source, base_model=BASE)["ludwig_config.json"])
    assert published["input_features"][0]["preprocessing"]["pretrained_model_name_or_path"] == "/opt/other-tokenizer"
    assert published["base_model"] == BASE


# --- 7. someone's own card, and the files left out --------------------------------------------------------------

HAND_WRITTEN = """---
license: apache-2.0
language: en
tags:
- my-tag
---

# My model

Written by hand: how it was trained, its limits.
"""


def test_a_card_this_tool_did_not_write_is_kept_and_only_our_metadata_updated(tmp_path, local_hub):
    from huggingface_hub.utils import get_session

    from ludwig_hub_export.artifact.card import MARKER, card_to_publish

    generated = planned(copy_fixture("ecd_run", tmp_path), license="mit", dataset="acme/data")["README.md"].decode()
    assert MARKER in generated
    update = card_to_publish(HAND_WRITTEN, generated)
    assert update.action == "keep" and not update.problems and "--replace-card" in update.reason
    assert update.text.endswith("# My model\n\nWritten by hand: how it was trained, its limits.\n")
    meta = yaml.safe_load(split_front_matter(update.text)[0])
    assert meta["language"] == "en" and meta["license"] == "mit"  # theirs kept; ours (license) updated
    assert meta["tags"] == ["my-tag", "ludwig"] and meta["library_name"] == "ludwig"
    assert meta["datasets"] == ["acme/data"] and meta["model-index"]
    answer = get_session().post(f"{local_hub.url}/api/validate-yaml", json={"content": update.text})
    assert answer.status_code == 200, answer.text
    assert card_to_publish(update.text, generated).action == "unchanged"  # a second push changes nothing


def test_a_card_this_tool_wrote_is_replaced_and_replace_card_replaces_any(tmp_path):
    from ludwig_hub_export.artifact.card import MARKER, card_to_publish

    generated = planned(copy_fixture("ecd_run", tmp_path))["README.md"].decode()
    older = generated.replace("loss", "lost")
    assert card_to_publish(older, generated).action == "replace"
    before_the_marker = older.replace(MARKER + "\n", "")
    assert card_to_publish(before_the_marker, generated).action == "replace"  # cards written before the marker
    assert card_to_publish(HAND_WRITTEN, generated, replace_card=True).text == generated
    assert card_to_publish(None, generated).action == "create"


def test_replace_card_flag_reaches_the_settings():
    from ludwig_hub_export.cli.commands import _settings
    from ludwig_hub_export.cli.parser import build_parser

    for argv, expected in ((["--replace-card"], True), ([], False)):
        args = build_parser().parse_args(["push", str(FIXTURES / "ecd_saved"), "--repo-id", "tester/m", *argv])
        assert _settings(args, args.repo_id).replace_card is expected


def test_files_left_out_are_listed_with_why(tmp_path):
    from ludwig_hub_export.source.layout import find_layout
    from ludwig_hub_export.source.left_out import left_out_files

    source = copy_fixture("lora_saved", tmp_path)
    (source / "README.md").write_text("# mine\n")
    (source / "example.csv").write_text("instruction,output\nsay hi,hi\n")
    left = left_out_files(find_layout(source))
    assert "kept" in left["README.md"] and "not part of a saved Ludwig model" in left["example.csv"]
    assert "replaces it" in left["model_weights/README.md"]
    run = left_out_files(find_layout(copy_fixture("lora_run", tmp_path)))
    assert {"model/training_checkpoints/", "model/training_progress.json", "description.json"} <= set(run)


# --- 8. the metrics of the published epoch ------------------------------------------------------------------------

def _three_epochs_best_first(source: Path) -> dict:
    """A real run's files, as if it had trained 3 epochs and kept epoch 1: later evaluations appended to
    training_statistics.json (as Ludwig does), training_progress.json still naming epoch 1 (its metrics were
    recorded with it)."""
    run = source / "results" / "api_experiment_run"
    stats = json.loads((run / "training_statistics.json").read_text())
    for split in ("training", "validation", "test"):
        for metrics in stats[split].values():
            for name, values in metrics.items():
                metrics[name] = values + [values[-1] + 0.125, values[-1] + 0.25]
    (run / "training_statistics.json").write_text(json.dumps(stats))
    progress_path = run / "model" / "training_progress.json"
    progress = json.loads(progress_path.read_text())
    progress.update(epoch=3, steps=3 * progress["steps"])
    progress_path.write_text(json.dumps(progress))
    return progress


def test_card_shows_the_metrics_of_the_saved_epoch_not_the_last(tmp_path, local_hub, env_token):
    source = copy_fixture("ecd_run", tmp_path)
    progress = _three_epochs_best_first(source)
    push(source, settings(dataset="acme/data"))
    card = local_hub.read_file("tester/model", "README.md").decode()
    meta = yaml.safe_load(split_front_matter(card)[0])
    [result] = meta["model-index"][0]["results"]
    assert {m["type"]: m["value"] for m in result["metrics"]} == progress["best_eval_test_metrics"]["label"]
    assert "## Metrics of the published weights (epoch 1 of 3)" in card
    loss = progress["best_eval_test_metrics"]["label"]["loss"]
    assert f"| label loss | {progress['best_eval_train_metrics']['label']['loss']:.4g} |" in card
    assert f"{loss:.4g} |" in card and f"{loss + 0.25:.4g}" not in card


def test_without_training_progress_the_card_says_it_shows_the_last_evaluation(tmp_path):
    source = copy_fixture("ecd_run", tmp_path)
    _three_epochs_best_first(source)
    (source / "results" / "api_experiment_run" / "model" / "training_progress.json").unlink()
    card = planned(source)["README.md"].decode()
    assert "## Metrics (last evaluation of the training run)" in card and "may be of other weights" in card


def test_a_model_soup_claims_no_evaluation_of_the_published_weights(tmp_path):
    source = copy_fixture("ecd_run", tmp_path)
    path = source / "results" / "api_experiment_run" / "model" / "model_hyperparameters.json"
    config = json.loads(path.read_text())
    config["trainer"]["model_soup"] = "uniform"
    path.write_text(json.dumps(config))
    card = planned(source, dataset="acme/data")["README.md"].decode()
    assert "model-index" not in card and "the published weights average its best checkpoints" in card


# --- 9. a config that runs ---------------------------------------------------------------------------------------

def test_published_config_yaml_has_nothing_that_makes_ludwig_train_ask(tmp_path):
    files = planned(copy_fixture("ecd_run", tmp_path))
    config = yaml.safe_load(files["config.yaml"])
    assert "hyperopt" not in config  # even `hyperopt: null` makes `ludwig train` prompt "Do you want to continue?"
    ludwig_config = json.loads(files["ludwig_config.json"])
    assert config == {k: v for k, v in ludwig_config.items() if k != "hyperopt"}


_TRAIN_AND_EVALUATE = """
import json, subprocess, sys
out, answer = sys.argv[1], open(sys.argv[3], "w")  # Ludwig prints its own tables on stdout
train = subprocess.run([sys.argv[2], "train", "--config", "config.yaml", "--training_set", "train.csv",
                        "--validation_set", "validation.csv", "--test_set", "test.csv", "--output_directory", out,
                        "-sspi"], stdin=subprocess.DEVNULL, capture_output=True, text=True)
if train.returncode != 0:
    json.dump({"returncode": train.returncode, "stderr": train.stderr[-3000:], "stdout": train.stdout[-2000:]},
              answer)
    sys.exit()
import glob, logging
from ludwig.api import LudwigModel
[run] = glob.glob(out + "/*_run")  # experiment_run: the CLI's default names
model = LudwigModel.load(run + "/model", logging_level=logging.ERROR)
stats, _, _ = model.evaluate(dataset="test.csv")
json.dump({"returncode": 0, "evaluated": stats}, answer)
"""


@pytest.mark.slow
def test_published_config_trains_with_ludwig_train_without_a_terminal_and_the_card_shows_the_saved_epoch(
        tmp_path):
    """Issue 27 #9 and #8 on a real run: `ludwig train --config <published config.yaml>` with stdin closed, 3
    epochs on data whose validation labels are flipped (so the best validation score is epoch 1, not the last);
    the card of that run shows the metrics of the weights Ludwig saved, the same as evaluating them."""
    files = planned(copy_fixture("ecd_run", tmp_path))
    config = yaml.safe_load(files["config.yaml"])
    config["trainer"]["epochs"] = 3
    work = tmp_path / "train"
    work.mkdir()
    (work / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    data = make_fixtures.ecd_dataframe(32)
    flipped = data.copy()
    flipped["label"] = ~flipped["label"]
    data.to_csv(work / "train.csv", index=False)
    flipped.to_csv(work / "validation.csv", index=False)
    data.head(16).to_csv(work / "test.csv", index=False)
    env = {**os.environ, **make_fixtures.OFFLINE_ENV}
    ludwig = str(Path(sys.executable).with_name("ludwig"))
    out = subprocess.run([sys.executable, "-c", _TRAIN_AND_EVALUATE, str(work / "out"), ludwig, "answer.json"],
                         cwd=work, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stderr[-3000:]
    answer = json.loads((work / "answer.json").read_text())
    assert answer["returncode"] == 0, answer
    [run] = (work / "out").glob("*_run")
    progress = json.loads((run / "model" / "training_progress.json").read_text())
    assert progress["best_eval_metric_epoch"] < progress["epoch"] == 3  # the saved weights are not the last epoch's
    card = planned(run, dataset="acme/data")["README.md"].decode()
    assert f"## Metrics of the published weights (epoch {progress['best_eval_metric_epoch']} of 3)" in card
    [result] = yaml.safe_load(split_front_matter(card)[0])["model-index"][0]["results"]
    shown = {m["type"]: m["value"] for m in result["metrics"]}
    evaluated = answer["evaluated"]["label"]
    for metric in ("accuracy", "loss", "roc_auc"):
        assert math.isclose(shown[metric], evaluated[metric], rel_tol=1e-4, abs_tol=1e-6), (metric, shown, evaluated)
    stats = json.loads((run / "training_statistics.json").read_text())
    assert shown["accuracy"] != stats["test"]["label"]["accuracy"][-1] or \
        shown["loss"] != stats["test"]["label"]["loss"][-1]  # the last epoch's, which the card used to show
