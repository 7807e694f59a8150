"""Publishing a 20-trial hyperopt sweep under the Hub's rate limits, scaled down, against the local Hub.

    .venv/bin/python benchmarks/sweep.py [--trials 20] [--transfer xet|lfs]

The sweep is made of copies of the fixture's trials (fixtures/models/hyperopt_ecd), each with its own weights
(the tensors' bytes replaced by random values, so nothing dedups), parameters and score; each scenario gets its
own sweep. The local Hub enforces quotas shaped like the real ones but with
shorter windows (the real: API 1,000 / 5 min, commits ~128 / hour, creations ~20 / day). Scenarios:

1. baseline: the one-model export in a loop, one repo per trial (what a script would do without sweeps);
2. `--trials all` as branches of one repo;
3. `--trials all --trials-as repos` (repos in a Collection);
4. as repos under a creation quota smaller than the sweep: deferral (exit 5), reruns after the window, until
   everything is published. Counted: duplicate commits (a trial committed twice) and verification by `pull`.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

API_QUOTA = (60, 10.0)  # calls per window: a 20-trial sweep needs ~170, so pacing has to work
COMMITS_QUOTA = (40, 60.0)
CREATIONS_QUOTA = (30, 3600.0)
DEFER_CREATIONS = (8, 20.0)  # scenario 4: fewer creations per window than trials


def make_sweep(dest: Path, n: int, salt: int = 0) -> Path:
    """n trials from the fixture's: distinct weights, parameters and scores; a matching statistics file."""
    source = ROOT / "fixtures" / "models" / "hyperopt_ecd" / "results" / "hyperopt"
    experiment = dest / "results" / "hyperopt"
    experiment.mkdir(parents=True)
    for name in ("hyperopt_statistics.json",):
        shutil.copy2(source / name, experiment / name)
    stats = json.loads((source / "hyperopt_statistics.json").read_text())
    templates = sorted(source.glob("trial_*"))
    results = []
    for i in range(n):
        trial_id = f"bench_{i:05d}"
        trial = experiment / f"trial_{trial_id}"
        shutil.copytree(templates[i % len(templates)], trial)
        params = {"trainer.learning_rate": round(0.001 * (i + 1), 6)}
        score = 0.2 + 0.01 * ((i * 7) % n)
        (trial / "params.json").write_text(json.dumps(params, indent=2))
        lines = (trial / "result.json").read_text().splitlines()
        last = json.loads(lines[-1])
        last.update(trial_id=trial_id, metric_score=score, config=params)
        (trial / "result.json").write_text("\n".join(lines[:-1] + [json.dumps(last)]) + "\n")
        weights = next(trial.glob("*_run")) / "model" / "model_weights.safetensors"
        randomize(weights, seed=salt * 1000 + i)
        template = stats["hyperopt_results"][0]
        results.append({**template, "parameters": params, "metric_score": score})
    stats["hyperopt_results"] = sorted(results, key=lambda r: r["metric_score"])
    (experiment / "hyperopt_statistics.json").write_text(json.dumps(stats))
    return experiment


def randomize(weights: Path, seed: int) -> None:
    """Replace a safetensors file's tensor bytes with random float32 values (the header stays valid)."""
    import numpy as np

    raw = weights.read_bytes()
    start = 8 + struct.unpack("<Q", raw[:8])[0]
    size = len(raw) - start
    values = np.random.default_rng(seed).standard_normal(size // 4 + 1).astype("<f4").tobytes()[:size]
    weights.write_bytes(raw[:start] + values)


def counts(hub, since: int = 0) -> dict:
    """What the hub saw from request number `since` on."""
    log = hub.log[since:]
    return {"repo creations": sum(r.kind == "create_repo" and r.status == 200 for r in log),
            "commits": sum(r.kind == "commit" and r.status == 200 for r in log),
            "API calls": sum(r.path.startswith("/api/") for r in log),
            "bytes received": sum(r.bytes_in for r in log), "429s": sum(r.status == 429 for r in log)}


def configure(hub, creations=CREATIONS_QUOTA) -> int:
    """Fresh quota windows; returns the log position to count from. Repos and blobs stay: the Hub is not
    reset under the Xet client's chunk cache."""
    hub.rate_limits.clear()
    hub.faults.clear()
    hub.set_rate_limit("api", *API_QUOTA)
    hub.set_rate_limit("commits", *COMMITS_QUOTA)
    hub.set_rate_limit("repo_create", *creations)
    return len(hub.log)


def quotas(creations=CREATIONS_QUOTA):
    from ludwig_hub_export.workflows.rate_plan import RateQuotas

    return RateQuotas().with_overrides({"api": f"{API_QUOTA[0]}/{API_QUOTA[1]}",
                                        "commits": f"{COMMITS_QUOTA[0]}/{COMMITS_QUOTA[1]}",
                                        "repo_create": f"{creations[0]}/{creations[1]}"})


def verify_all(repo_targets: list[tuple[str, str]], work: Path) -> int:
    """Pull every published trial (manifest, sizes, sha256 checked by `pull`); the number that passed."""
    from ludwig_hub_export.workflows.pull import pull

    ok = 0
    for n, (repo_id, revision) in enumerate(repo_targets):
        pull(repo_id, work / f"pull-{n}", revision=None if revision == "main" else revision)
        ok += 1
    return ok


def duplicates(hub, targets: list[tuple[str, str]]) -> int:
    """Commits beyond one per trial (each trial's files fit one commit; the initial commit is the Hub's)."""
    extra = 0
    for repo_id, revision in targets:
        history = hub.commits(repo_id, revision)
        extra += max(0, len([c for c in history if c.title != "initial commit"]) - 1)
    return extra


def row(name: str, c: dict, seconds: float, extra: str = "") -> str:
    return (f"| {name} | {c['repo creations']} | {c['commits']} | {c['API calls']} | {c['bytes received'] / 1e6:.2f} "
            f"| {seconds:.1f} | {c['429s']} | {extra} |")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--transfer", choices=["xet", "lfs"], default="xet", help="the client's protocol "
                        "(xet: the real Hub's default)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="sweep-bench-"))
    from ludwig_hub_export.testing import LocalHub

    hub = LocalHub().start()
    os.environ.update(hub.env(hf_home=str(work / "hf-home"), transfer=args.transfer))
    os.environ["HF_XET_CACHE"] = str(work / "xet-cache")
    os.environ["HF_TOKEN"] = hub.token
    os.environ["LUDWIG_HUB_EXPORT_CACHE"] = str(work / "cache")
    from huggingface_hub.utils import disable_progress_bars

    disable_progress_bars()
    from ludwig_hub_export.errors import ExportError
    from ludwig_hub_export.source.hyperopt import read_experiment
    from ludwig_hub_export.workflows.api import export
    from ludwig_hub_export.hub.retry import RetryPolicy
    from ludwig_hub_export.workflows.sweep import export_sweep

    sweeps = [make_sweep(work / f"sweep-{k}", args.trials, salt=k) for k in range(4)]
    experiment_dir = sweeps[0]
    experiment = read_experiment(experiment_dir)
    n = len(experiment.trials)
    options = {"quiet": True, "interactive": False, "retry": RetryPolicy(budget=600)}
    lines = [f"{n} trials, {sum(t.size for t in experiment.trials) / 1e6:.2f} MB of trial files, {args.transfer} "
             f"transfers; local Hub quotas: "
             f"API {API_QUOTA[0]}/{API_QUOTA[1]:.0f} s, commits {COMMITS_QUOTA[0]}/{COMMITS_QUOTA[1]:.0f} s, "
             f"creations {CREATIONS_QUOTA[0]}/{CREATIONS_QUOTA[1]:.0f} s", "",
             "| scenario | repo creations | commits | API calls | MB received | wall s | 429s | notes |",
             "|---|---:|---:|---:|---:|---:|---:|---|"]
    try:
        # 1. Baseline: the one-model export in a loop, one repo per trial, nothing planned or paced across trials.
        mark = configure(hub)
        started = time.perf_counter()
        failed = None
        for t in experiment.trials:
            try:
                export(t.run_dir, f"tester/base-{t.trial_id}", **options)
            except ExportError as e:
                failed = f"stopped: {e.message.splitlines()[0][:60]}"
                break
        baseline = counts(hub, mark)
        lines.append(row("baseline: push per trial, repo per trial", baseline, time.perf_counter() - started,
                         failed or "no leaderboard, no collection"))

        # 2. Branches of one repo.
        mark = configure(hub)
        started = time.perf_counter()
        report = export_sweep(sweeps[1], "tester/sweep", trials="all", quotas=quotas(), **options)
        seconds = time.perf_counter() - started
        targets = [(r.repo_id, r.revision) for r in report.trials if r.status == "published"]
        c = counts(hub, mark)
        verified = verify_all(targets, work / "verify-branches")
        lines.append(row("`--trials all` (branches)", c, seconds,
                         f"{verified}/{n} verified by pull, {duplicates(hub, targets)} duplicate commits; planned: "
                         f"{report.plan.commits} commits, ~{report.plan.api_calls} API calls"))
        branches = c
        rerun_started = time.perf_counter()
        mark = len(hub.log)
        export_sweep(sweeps[1], "tester/sweep", trials="all", quotas=quotas(), **options)
        lines.append(row("rerun of the finished sweep", counts(hub, mark),
                         time.perf_counter() - rerun_started, "journal: nothing sent"))

        # 3. One repo per trial, in a Collection.
        mark = configure(hub)
        started = time.perf_counter()
        report = export_sweep(sweeps[2], "tester/sweep", trials="all", as_repos=True, quotas=quotas(),
                              **options)
        seconds = time.perf_counter() - started
        targets = [(r.repo_id, r.revision) for r in report.trials if r.status == "published"]
        lines.append(row("`--trials all --trials-as repos`", counts(hub, mark), seconds,
                         f"{verify_all(targets, work / 'verify-repos')}/{n} verified, collection of "
                         f"{len(hub.api.collections[report.collection.split('/collections/')[1]]['items'])}"))

        # 4. Repos under a creation quota smaller than the sweep: deferral, then reruns after the window.
        mark = configure(hub, DEFER_CREATIONS)
        env = {**os.environ}
        command = [sys.executable, "-m", "ludwig_hub_export", "push", str(sweeps[3]), "--repo-id",
                   "tester/deferred", "--trials", "all", "--trials-as", "repos", "--budget", "5", "--quiet",
                   "--quota", f"api={API_QUOTA[0]}/{API_QUOTA[1]:g}", "--quota",
                   f"commits={COMMITS_QUOTA[0]}/{COMMITS_QUOTA[1]:g}", "--quota",
                   f"repo_create={DEFER_CREATIONS[0]}/{DEFER_CREATIONS[1]:g}"]
        started = time.perf_counter()
        runs = []
        while True:
            out = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
            runs.append(out.returncode)
            if out.returncode != 5 or len(runs) > 10:
                break
            time.sleep(DEFER_CREATIONS[1] / 2)
        seconds = time.perf_counter() - started
        c = counts(hub, mark)
        targets = [(f"tester/deferred-trial-{t.trial_id}", "main") for t in experiment.trials]
        verified = verify_all(targets, work / "verify-deferred")
        lines.append(row(f"repos, creation quota {DEFER_CREATIONS[0]}/{DEFER_CREATIONS[1]:.0f} s, --budget 5",
                         c, seconds, f"exit codes {runs}; {duplicates(hub, targets)} duplicate commits, "
                                     f"{verified}/{n} verified"))
        lines += ["", f"Ratios, branches vs baseline: repo creations {branches['repo creations']}/"
                      f"{baseline['repo creations']}, API calls {branches['API calls'] / max(1, baseline['API calls']):.2f}x, "
                      f"429s {branches['429s']} vs {baseline['429s']}."]
    finally:
        hub.stop()
        shutil.rmtree(work, ignore_errors=True)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
