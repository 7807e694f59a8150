"""Reading a real `ludwig hyperopt` output (fixtures/models/hyperopt_ecd): trials, ranking, what cannot be
published and why; `check` on every form of the path; bad input refused before any request."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import FIXTURES

from ludwig_hub_export.errors import InvalidModelError, UsageError
from ludwig_hub_export.source.hyperopt import STATISTICS, read_experiment
from ludwig_hub_export.source.layout import find_layout

FIXTURE = FIXTURES / "hyperopt_ecd"


@pytest.fixture
def results(tmp_path) -> Path:
    shutil.copytree(FIXTURE, tmp_path / "hyperopt_ecd")
    return tmp_path / "hyperopt_ecd" / "results"


def _stats(experiment: Path) -> dict:
    return json.loads((experiment / STATISTICS).read_text())


def test_trials_are_matched_to_their_directories_and_ranked_by_the_goal(results):
    experiment = read_experiment(results)
    stats = _stats(experiment.directory)
    assert experiment.goal == stats["hyperopt_config"]["goal"] == "minimize"
    assert len(experiment.trials) == len(stats["hyperopt_results"]) == len(list(experiment.directory.glob("trial_*")))
    for trial in experiment.trials:
        last = json.loads((trial.directory / "result.json").read_text().splitlines()[-1])
        assert trial.trial_id == last["trial_id"]
        assert trial.parameters == json.loads((trial.directory / "params.json").read_text())
        assert trial.score == pytest.approx(last["metric_score"])
        assert trial.kind == "ecd" and trial.publishable
        assert trial.run_dir.parent == trial.directory and not trial.run_dir.name.startswith("checkpoint_")
    scores = [t.score for t in experiment.trials]
    assert scores == sorted(scores)
    assert experiment.best.score == min(r["metric_score"] for r in stats["hyperopt_results"])


def test_maximize_ranks_the_other_way(results):
    experiment_dir = results / "hyperopt"
    stats = _stats(experiment_dir)
    stats["hyperopt_config"]["goal"] = "maximize"
    (experiment_dir / STATISTICS).write_text(json.dumps(stats))
    experiment = read_experiment(experiment_dir)
    assert experiment.best.score == max(r["metric_score"] for r in stats["hyperopt_results"])


def test_every_form_of_the_path_is_recognised(results):
    best = read_experiment(results).best
    for path in (results.parent, results, results / "hyperopt"):
        assert read_experiment(path).best.trial_id == best.trial_id
        assert find_layout(path).run_dir == best.run_dir  # no more "no Ludwig model here"
    for trial_dir in (results / "hyperopt").glob("trial_*"):
        layout = find_layout(trial_dir)  # not "holds 2 training runs": Ray's checkpoint copy is not a run
        assert layout.run_dir.parent == trial_dir and layout.kind == "ecd"


def test_unpublishable_trials_are_reported_with_the_reason(results):
    experiment_dir = results / "hyperopt"
    trials = sorted(experiment_dir.glob("trial_*"))
    shutil.rmtree(next(trials[0].glob("hyperopt_run")))  # only Ray's checkpoint copy left
    (next(trials[1].glob("hyperopt_run")) / "model" / "model_weights.safetensors").unlink()  # no weights
    failed = experiment_dir / "trial_19241_00009"  # a trial Ray started that never reported
    failed.mkdir()
    (failed / "params.json").write_text('{"trainer.learning_rate": 0.5}')
    experiment = read_experiment(experiment_dir)
    problems = {t.directory.name: t.problem for t in experiment.trials}
    assert "only Ray's checkpoint copy" in problems[trials[0].name]
    assert "no weights" in problems[trials[1].name]
    assert "failed or did not finish" in problems[failed.name]
    assert experiment.best.directory == trials[2]
    text = experiment.format()
    assert f"cannot publish trial {failed.name.removeprefix('trial_')}" in text
    with pytest.raises(InvalidModelError, match="only Ray's checkpoint copy"):
        find_layout(trials[0])


def test_check_prints_the_trials_and_marks_the_best(results):
    out = subprocess.run([sys.executable, "-m", "ludwig_hub_export", "check", str(results)], capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    best = read_experiment(results).best
    assert f"* {best.trial_id}" in out.stdout
    assert "goal: minimize" in out.stdout and "PASSED" in out.stdout
    for trial in read_experiment(results).trials:
        assert trial.trial_id in out.stdout


@pytest.mark.parametrize("damage,message", [
    ("missing", "missing; without it the trials cannot be ranked"),
    ("garbage", "not valid JSON"),
    ("foreign", "matches a trial_"),
    ("goal", "neither minimize nor maximize"),
])
def test_a_bad_statistics_file_is_a_clear_error(results, damage, message):
    stats_file = results / "hyperopt" / STATISTICS
    if damage == "missing":
        stats_file.unlink()
    elif damage == "garbage":
        stats_file.write_text("{not json")
    else:
        stats = json.loads(stats_file.read_text())
        if damage == "foreign":
            for r in stats["hyperopt_results"]:
                r["parameters"] = {"trainer.learning_rate": 123.0}
        else:
            stats["hyperopt_config"]["goal"] = "lowest"
        stats_file.write_text(json.dumps(stats))
    with pytest.raises(InvalidModelError, match=message):
        read_experiment(results / "hyperopt")
    out = subprocess.run([sys.executable, "-m", "ludwig_hub_export", "check", str(results / "hyperopt")],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 1 and "Traceback" not in out.stderr and message in out.stderr


def test_an_unknown_trial_is_a_usage_error(results):
    with pytest.raises(UsageError, match="no such trial"):
        read_experiment(results).trial("nope")


def test_params_pkl_is_never_read(results, monkeypatch):
    import pickle

    def refuse(*a, **k):
        raise AssertionError("unpickled")

    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(pickle, "loads", refuse)
    for pkl in results.rglob("params.pkl"):
        pkl.write_bytes(b"not a pickle")
    assert read_experiment(results).best.publishable


def test_a_trial_directory_outside_the_experiment_is_not_followed(results, tmp_path):
    outside = tmp_path / "elsewhere"
    shutil.copytree(next((results / "hyperopt").glob("trial_*")), outside)
    (results / "hyperopt" / "trial_link_00001").symlink_to(outside, target_is_directory=True)
    ids = [t.directory.name for t in read_experiment(results).trials]
    assert "trial_link_00001" not in ids
