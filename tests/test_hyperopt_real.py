"""A real `ludwig hyperopt` (Ray Tune, local, 1 CPU, 3 ECD trials) with `HubExportCallback`: the layout still
matches the checked-in fixture, trial processes publish nothing, and the driver publishes the best trial at the
end. Slow (Ray start and 3 trainings, ~2 minutes); the same logic runs fast on the fixture in test_sweep.py."""

from __future__ import annotations

import pytest
from helpers import FIXTURES  # also puts fixtures/ on sys.path
from huggingface_hub import hf_hub_download

from ludwig_hub_export.source.hyperopt import read_experiment
from ludwig_hub_export.source.layout import find_layout


@pytest.mark.slow
@pytest.mark.timeout(1800)  # a Ray hyperopt of 3 trials: on a busy 2-core machine it nears the default 900 s
def test_a_real_hyperopt_publishes_its_best_trial_from_the_driver(tmp_path, local_hub, monkeypatch, isolated_ray):
    import make_hyperopt_fixture as gen

    from ludwig_hub_export.workflows.callback import HubExportCallback

    monkeypatch.setenv("HF_TOKEN", local_hub.token)
    monkeypatch.setenv("LUDWIG_HUB_EXPORT_CACHE", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "hyperopt_ecd"
    callback = HubExportCallback("tester/real-hyperopt", output_directory=out / "results", quiet=True,
                                 interactive=False)
    experiment_dir = gen.build_hyperopt(out, trials=3, callbacks=[callback])

    # The layout Ludwig and Ray write today is the one the fixture (and so the fast tests) assume.
    assert gen.layout_signature(experiment_dir) == gen.layout_signature(FIXTURES / "hyperopt_ecd" / "results" /
                                                                        "hyperopt")
    assert find_layout(out).kind == find_layout(FIXTURES / "hyperopt_ecd").kind
    assert callback.error is None, callback.error
    experiment = read_experiment(experiment_dir)
    assert len(experiment.trials) == 3 and all(t.publishable for t in experiment.trials)
    published = [r for r in callback.report.trials if r.status == "published"]
    assert [r.trial_id for r in published] == [experiment.best.trial_id]
    # Trials (in Ray processes) published nothing: one repo, one commit, made by the driver.
    assert local_hub.stats.requests["create_repo"] == 1 and local_hub.stats.requests["commit"] == 1
    card = open(hf_hub_download("tester/real-hyperopt", "README.md", token=local_hub.token)).read()
    assert f"Trial `{experiment.best.trial_id}`" in card
