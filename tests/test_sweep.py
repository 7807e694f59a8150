"""Publishing a hyperopt (fixtures/models/hyperopt_ecd) to the local Hub: the best trial, one trial, a sweep as
branches or as repos in a Collection; the rate plan; the journal and resuming; deferral with exit 5."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import FIXTURES, wait_until_not_racy
from huggingface_hub import HfApi

from ludwig_hub_export.workflows.api import export
from ludwig_hub_export.errors import EXIT_DEFERRED, DeferredError, InvalidModelError, UsageError
from ludwig_hub_export.source.hyperopt import read_experiment
from ludwig_hub_export.workflows.rate_plan import RateQuotas
from ludwig_hub_export.workflows.pull import pull
from ludwig_hub_export.hub.retry import RetryPolicy
from ludwig_hub_export.workflows.sweep import export_sweep

POLICY = RetryPolicy(base_delay=0.2, max_delay=5, budget=120)


@pytest.fixture
def results(tmp_path, local_hub, monkeypatch, transfer_protocol) -> Path:
    """A copy of the hyperopt fixture; every test runs on the Xet path and on the LFS path."""
    monkeypatch.setenv("HF_TOKEN", local_hub.token)
    monkeypatch.setenv("LUDWIG_HUB_EXPORT_CACHE", str(tmp_path / "cache"))
    shutil.copytree(FIXTURES / "hyperopt_ecd", tmp_path / "hyperopt_ecd")
    # Just copied, the files are racy (hashing.racy): a trial fingerprinted now would be pushed again next time.
    wait_until_not_racy(*(p for p in (tmp_path / "hyperopt_ecd").rglob("*") if p.is_file()))
    return tmp_path / "hyperopt_ecd" / "results"


def _options(**extra):
    return {"quiet": True, "interactive": False, "retry": POLICY, **extra}


def _card(api: HfApi, repo_id: str, revision: str = "main") -> str:
    from huggingface_hub import hf_hub_download

    return Path(hf_hub_download(repo_id, "README.md", revision=revision, token=api.token)).read_text()


def test_export_of_an_experiment_publishes_the_best_trial_with_its_score_and_leaderboard(results, hub_api, tmp_path):
    experiment = read_experiment(results)
    report = export(results, "tester/sweep", **_options())
    assert report.verified and report.revision == "main"
    card = _card(hub_api, "tester/sweep")
    best = experiment.best
    assert f"Trial `{best.trial_id}`" in card and f"**{best.score:.6g}**" in card and "goal: minimize" in card
    for trial in experiment.trials:  # the leaderboard lists every trial, with its score
        assert f"`{trial.trial_id}`" in card and f"{trial.score:.6g}" in card
    assert card.count("not published") == len(experiment.trials) - 1
    pulled = pull("tester/sweep", tmp_path / "pulled")
    assert (pulled.model_dir / "model_weights.safetensors").read_bytes() == \
        (best.run_dir / "model" / "model_weights.safetensors").read_bytes()


def test_trial_publishes_another_trial_to_main(results, hub_api):
    experiment = read_experiment(results)
    other = experiment.trials[-1]
    export(results, "tester/sweep", trial=other.trial_id, **_options())
    assert f"Trial `{other.trial_id}`" in _card(hub_api, "tester/sweep")
    with pytest.raises(UsageError, match="no such trial"):
        export(results, "tester/sweep", trial="19241_99999", **_options())


def test_a_sweep_as_branches_one_repo_creation_one_commit_per_trial(results, local_hub, hub_api, tmp_path):
    experiment = read_experiment(results)
    report = export_sweep(results, "tester/sweep", trials="all", **_options())
    assert local_hub.stats.requests["create_repo"] == 1
    assert local_hub.stats.requests["commit"] == len(experiment.trials)
    refs = {b.name for b in hub_api.list_repo_refs("tester/sweep").branches}
    assert refs == {"main"} | {f"trial-{t.trial_id}" for t in experiment.trials[1:]}
    card = _card(hub_api, "tester/sweep")
    for trial in experiment.trials[1:]:  # main's leaderboard links each branch
        assert f"(/tester/sweep/tree/trial-{trial.trial_id})" in card
        row = next(r for r in report.trials if r.trial_id == trial.trial_id)
        assert row.status == "published" and row.verified and row.revision == f"trial-{trial.trial_id}"
        # Each branch is a complete export of its own trial, built only from the repo's first commit.
        pulled = pull("tester/sweep", tmp_path / trial.trial_id, revision=f"trial-{trial.trial_id}")
        assert (pulled.model_dir / "model_weights.safetensors").read_bytes() == \
            (trial.run_dir / "model" / "model_weights.safetensors").read_bytes()
        history = hub_api.list_repo_commits("tester/sweep", revision=f"trial-{trial.trial_id}")
        assert len(history) == 2  # the initial commit and this trial's: no other trial's manifest ever
    # A rerun commits nothing: the journal knows, and one refs call shows the remote still agrees.
    before = local_hub.stats.requests.copy()
    again = export_sweep(results, "tester/sweep", trials="all", **_options())
    assert {r.status for r in again.trials} == {"already published"}
    assert local_hub.stats.requests - before == {"refs": 1}
    # The remote is the truth: a branch changed behind the journal's back is checked again (its files are
    # still right, so nothing is committed).
    moved = f"trial-{experiment.trials[1].trial_id}"
    hub_api.upload_file(path_or_fileobj=b"note", path_in_repo="notes.txt", repo_id="tester/sweep", revision=moved)
    commits = local_hub.stats.requests["commit"]
    third = export_sweep(results, "tester/sweep", trials="all", **_options())
    rechecked = [r for r in third.trials if r.status == "published"]
    assert [r.trial_id for r in rechecked] == [experiment.trials[1].trial_id] and rechecked[0].verified
    assert rechecked[0].commits == 0 and local_hub.stats.requests["commit"] == commits


def test_top_k_and_the_rate_plan(results, local_hub):
    report = export_sweep(results, "tester/sweep", trials="top-2", dry_run=True, **_options())
    assert [r.status for r in report.trials] == ["planned", "planned"]
    assert report.plan.repo_creations == 1 and report.plan.commits == 2
    assert report.plan.bytes == sum(t.size for t in read_experiment(results).trials[:2])
    assert sum(local_hub.stats.requests.values()) == 0  # a dry run sends nothing
    tight = RateQuotas().with_overrides({"commits": "1/3600"})
    slow = export_sweep(results, "tester/sweep", trials="all", dry_run=True, quotas=tight, **_options())
    assert slow.plan.commit_interval == 3600 and slow.plan.duration >= 2 * 3600
    assert any("exceed the quota" in n for n in slow.plan.notes)


def test_trials_as_repos_in_a_collection(results, local_hub, hub_api):
    experiment = read_experiment(results)
    report = export_sweep(results, "tester/sweep", trials="all", as_repos=True, **_options())
    assert local_hub.stats.requests["create_repo"] == len(experiment.trials)
    slug = report.collection.rsplit("/collections/", 1)[1]
    collection = hub_api.get_collection(slug)
    assert {i.item_id for i in collection.items} == {f"tester/sweep-trial-{t.trial_id}" for t in experiment.trials}
    again = export_sweep(results, "tester/sweep", trials="all", as_repos=True, **_options())
    assert again.collection == report.collection
    assert len(hub_api.get_collection(slug).items) == len(experiment.trials)


def test_a_creation_quota_defers_then_the_rerun_finishes_without_duplicates(results, local_hub, hub_api):
    """Planned against the account's creation quota, the sweep defers before the Hub has to refuse."""
    experiment = read_experiment(results)
    # Creations as the Hub limits them: past the quota, a 429 asking for hours.
    local_hub.set_rate_limit("repo_create", limit=2, window=86400)
    quota = RateQuotas().with_overrides({"repo_create": "2/86400"})  # what the sweep plans against
    with pytest.raises(DeferredError) as err:
        export_sweep(results, "tester/sweep", trials="all", as_repos=True, quotas=quota, **_options())
    assert err.value.exit_code == EXIT_DEFERRED
    done = [r for r in err.value.report.trials if r.status == "published"]
    assert len(done) == 2 and "left for the rerun: 1" in err.value.message
    assert local_hub.stats.statuses.get(("create_repo", 429), 0) == 0  # deferred before asking: the journal counts
    left = next(r for r in err.value.report.trials if r.status == "deferred")
    assert not hub_api.repo_exists(left.repo_id)  # nothing half-published
    assert any("exceed the quota" in n for n in err.value.report.plan.notes)  # foreseen in the plan
    commits_before = local_hub.stats.requests["commit"]
    local_hub.rate_limits.clear()
    report = export_sweep(results, "tester/sweep", trials="all", as_repos=True,
                          quotas=RateQuotas().with_overrides({"repo_create": "20/60"}), **_options())
    assert local_hub.stats.requests["commit"] == commits_before + 1  # only the missing trial
    assert sorted(r.status for r in report.trials) == ["already published"] * 2 + ["published"]
    assert len(hub_api.get_collection(report.collection.rsplit("/collections/", 1)[1]).items) == len(experiment.trials)


def test_a_429_asking_for_hours_defers_from_the_command_line(results, local_hub, hub_api, tmp_path):
    local_hub.add_fault("commit", 429, headers={"Retry-After": str(21 * 3600)}, times=None, path_contains="trial-")
    cmd = [sys.executable, "-m", "ludwig_hub_export", "push", str(results), "--repo-id", "tester/sweep",
           "--trials", "all", "--budget", "60", "--report", str(tmp_path / "r.json")]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert out.returncode == 5, out.stderr
    assert "Traceback" not in out.stderr and "run the same command again after" in out.stderr
    assert "left for the rerun" in out.stderr
    assert not any(f.path == "ludwig_export.json" for f in hub_api.list_repo_tree("tester/sweep"))  # main not claimed
    local_hub.faults.clear()
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    rows = json.loads((tmp_path / "r.json").read_text())["trials"]
    assert all(r["status"] in ("published", "already published") for r in rows)


def test_bad_input_is_refused_before_any_request(results, local_hub):
    with pytest.raises(UsageError, match="top-K"):
        export_sweep(results, "tester/sweep", trials="some", **_options())
    with pytest.raises(UsageError, match="cannot be combined"):
        export_sweep(results, "tester/sweep", trials="all", trial="x", **_options())
    with pytest.raises(UsageError, match="chooses its own revisions"):
        export_sweep(results, "tester/sweep", trials="all", revision="dev", **_options())
    experiment_dir = results / "hyperopt"
    trial = sorted(experiment_dir.glob("trial_*"))[-1]
    weights = next(trial.glob("hyperopt_run")) / "model" / "model_weights.safetensors"
    weights.write_bytes(b"\xff" * 64)  # a trial whose weights are damaged: its check fails
    with pytest.raises(InvalidModelError, match="fails its check; nothing was sent"):
        export_sweep(results, "tester/sweep", trials="all", **_options())
    assert sum(local_hub.stats.requests.values()) == 0


def test_mixed_model_kinds_are_refused_before_any_request(results, local_hub, tmp_path):
    from helpers import copy_fixture

    lora = copy_fixture("lora_run", tmp_path / "lora")
    trial = sorted((results / "hyperopt").glob("trial_*"))[-1]
    run = next(trial.glob("hyperopt_run"))
    shutil.rmtree(run)
    shutil.copytree(lora / "results" / "api_experiment_run", run)
    with pytest.raises(InvalidModelError, match="different model kinds"):
        export_sweep(results, "tester/sweep", trials="all", **_options())
    assert sum(local_hub.stats.requests.values()) == 0


def test_a_branch_name_the_hub_refuses_is_refused_first(results, local_hub):
    from types import SimpleNamespace

    from ludwig_hub_export.workflows.sweep_targets import targets_for

    # A trial id from result.json is only used when it is a plain Ray id: anything else never becomes a name.
    trial = sorted((results / "hyperopt").glob("trial_*"))[0]
    renamed = trial.with_name("trial_x..y")
    trial.rename(renamed)
    lines = (renamed / "result.json").read_text().splitlines()
    last = json.loads(lines[-1])
    last["trial_id"] = "../../main"
    (renamed / "result.json").write_text("\n".join(lines[:-1] + [json.dumps(last)]) + "\n")
    weird = next(t for t in read_experiment(results).trials if t.directory == renamed)
    assert not weird.publishable and "not a Ray trial id" in weird.problem
    with pytest.raises(UsageError, match="no such trial"):
        export_sweep(results, "tester/sweep", trial="../../main", **_options())
    best = read_experiment(results).best
    for bad in ("a..b", "x.lock", "a b", "x.", "a/b"):
        with pytest.raises(UsageError, match="not a name the Hub accepts"):
            targets_for([best, SimpleNamespace(trial_id=bad)], "tester/sweep", as_repos=False)
    assert sum(local_hub.stats.requests.values()) == 0


def test_a_creation_refused_for_hours_defers_too(results, local_hub, hub_api):
    """When the Hub's creation quota is lower than planned, its 429 (Retry-After of hours) defers the same way."""
    local_hub.set_rate_limit("repo_create", limit=1, window=86400)
    with pytest.raises(DeferredError) as err:
        export_sweep(results, "tester/sweep", trials="all", as_repos=True, **_options())
    assert local_hub.stats.statuses[("create_repo", 429)] == 1  # asked once, not retried into a spent quota
    assert [r.status for r in err.value.report.trials].count("published") == 1


def test_the_callback_publishes_nothing_from_trials_and_the_best_at_hyperopt_end(results, local_hub, hub_api):
    """The callback's hyperopt logic, driven in Ludwig's order on the fixture (the slow test runs a real one)."""
    import pickle

    from ludwig_hub_export.workflows.callback import HubExportCallback

    callback = HubExportCallback("tester/from-hyperopt", output_directory=results, **_options())
    callback.on_hyperopt_init("hyperopt")
    callback.on_hyperopt_start("hyperopt")
    trial_copy = pickle.loads(pickle.dumps(callback))  # what Ray hands each trial process

    class Model:
        def save(self, path):
            raise AssertionError("never wrapped in a trial")

    trial_copy.on_hyperopt_trial_start({"trainer.learning_rate": 0.05})
    trial_copy.on_train_start(Model(), {}, None)
    trial_copy.on_train_end(str(results))
    assert "hyperopt trial" in trial_copy.skipped and not trial_copy._originals
    assert sum(local_hub.stats.requests.values()) == 0
    callback.on_hyperopt_end("hyperopt")
    assert callback.error is None, callback.error
    best = read_experiment(results).best
    assert [r.trial_id for r in callback.report.trials if r.status == "published"] == [best.trial_id]
    assert f"Trial `{best.trial_id}`" in _card(hub_api, "tester/from-hyperopt")
    assert local_hub.stats.requests["commit"] == 1


def test_llm_adapter_trials_are_published_like_any_other(results, local_hub, hub_api, tmp_path):
    """Ludwig 0.17.10 cannot start an LLM hyperopt, but LLM trials that exist on disk are published: here each
    trial's run directory is a real LoRA run (the lora_run fixture)."""
    from helpers import copy_fixture

    lora = copy_fixture("lora_run", tmp_path / "lora") / "results" / "api_experiment_run"
    for trial in (results / "hyperopt").glob("trial_*"):
        run = next(trial.glob("hyperopt_run"))
        shutil.rmtree(run)
        shutil.copytree(lora, run)
    experiment = read_experiment(results)
    assert {t.kind for t in experiment.trials} == {"adapter"}
    report = export_sweep(results, "tester/lora-sweep", trials="top-2", base_model="tester/tiny-llama", **_options())
    assert [r.status for r in report.trials] == ["published", "published"]
    files = {f.path for f in hub_api.list_repo_tree("tester/lora-sweep", revision=report.trials[0].revision)}
    assert {"adapter_config.json", "adapter_model.safetensors", "ludwig_export.json"} <= files
    config = json.loads(Path(hub_api.hf_hub_download("tester/lora-sweep", "adapter_config.json")).read_text())
    assert config["base_model_name_or_path"] == "tester/tiny-llama"


def test_dry_run_prints_the_rate_plan_and_sends_nothing_and_results_stay_untouched(results, local_hub, tmp_path):
    from helpers import tree_digest

    before = tree_digest(results)
    out = subprocess.run([sys.executable, "-m", "ludwig_hub_export", "push", str(results), "--repo-id",
                          "tester/sweep", "--trials", "all", "--dry-run", "--quota", "commits=2/3600"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "Rate plan: 3 trial(s)" in out.stderr and "quota 2 per hour" in out.stderr
    assert "3 commits exceed the quota" in out.stderr and "dry run: nothing was sent" in out.stderr
    assert sum(local_hub.stats.requests.values()) == 0
    export_sweep(results, "tester/sweep", trials="all", **_options())
    assert tree_digest(results) == before  # the journal lives in the cache directory
    assert list((tmp_path / "cache" / "sweeps").glob("*.json"))
    bad = subprocess.run([sys.executable, "-m", "ludwig_hub_export", "push", str(results), "--repo-id",
                          "tester/sweep", "--trials", "all", "--quota", "commits=often"],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "LIMIT/SECONDS" in bad.stderr and "Traceback" not in bad.stderr
