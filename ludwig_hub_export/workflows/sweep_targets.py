"""Which trials of a hyperopt a sweep publishes, and where: `select` picks them (best first), `targets_for` gives
each a repo and a revision, every name checked before any request."""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..errors import InvalidModelError, UsageError
from ..source.hyperopt import Experiment, Trial

BRANCH_PREFIX = "trial-"
_BRANCH = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


@dataclass
class Target:
    """Where one trial of a sweep is published: a repo and a revision."""

    trial: Trial
    repo_id: str
    revision: str  # "main" or "trial-<id>"


def select(experiment: Experiment, trials: str | None = None, trial: str | None = None) -> tuple[list[Trial], str]:
    """The trials to publish, best first, and the mode: `trial` (one id), or `trials` = best | all | top-K."""
    if trial is not None and trials is not None:
        raise UsageError("--trial and --trials cannot be combined", "publish one trial, or a selection of them")
    if trial is not None:
        chosen = experiment.trial(trial)
        if not chosen.publishable:
            raise InvalidModelError(f"trial {chosen.trial_id} cannot be published: {chosen.problem}",
                                    "pick another trial (`ludwig-hub-export check` lists them)")
        return [chosen], "trial"
    spec = (trials or "best").strip().lower()
    ranked = [t for t in experiment.trials if t.publishable and t.score is not None]
    if spec == "best":
        return [experiment.best], "best"
    if spec == "all":
        chosen = ranked
    elif (m := re.fullmatch(r"top-?(\d+)", spec)) and int(m.group(1)) >= 1:
        chosen = ranked[:int(m.group(1))]
    else:
        raise UsageError(f"--trials {trials!r}: expected best, all or top-K (e.g. top-3)", "for example: --trials top-3")
    if not chosen:
        experiment.best  # raises with every trial's reason
    kinds = {t.kind for t in chosen}
    if len(kinds) > 1:
        listing = ", ".join(f"{t.trial_id}: {t.kind}" for t in chosen)
        raise InvalidModelError(f"{experiment.directory}: the trials are of different model kinds ({listing})",
                                "publish them separately (--trial ID), each to its own repo")
    return chosen, "sweep"


def targets_for(chosen: list[Trial], repo_id: str, as_repos: bool) -> list[Target]:
    """Where each trial goes; every name is checked here, before any request."""
    from ..card_metadata import is_repo_id

    if as_repos:
        out = [Target(t, f"{repo_id}-trial-{t.trial_id}", "main") for t in chosen]
        for target in out:
            if not is_repo_id(target.repo_id) or len(target.repo_id.split("/")[-1]) > 96:
                raise UsageError(f"repo name {target.repo_id!r} (for trial {target.trial.trial_id}) is not one the "
                                 "Hub accepts", "choose a shorter --repo-id, or publish the trials as branches")
        return out
    out = [Target(chosen[0], repo_id, "main")]
    for t in chosen[1:]:
        branch = f"{BRANCH_PREFIX}{t.trial_id}"
        if not _BRANCH.match(branch) or ".." in branch or branch.endswith((".lock", ".")):  # names git refuses
            raise UsageError(f"branch {branch!r} (for trial {t.trial_id}) is not a name the Hub accepts",
                             "publish the trials as repos (--trials-as repos), or this trial alone (--trial)")
        out.append(Target(t, repo_id, branch))
    return out


def hub_path(target: Target) -> str:
    """Where the trial shows on the Hub, as the leaderboard links it."""
    return f"/{target.repo_id}" if target.revision == "main" else f"/{target.repo_id}/tree/{target.revision}"
