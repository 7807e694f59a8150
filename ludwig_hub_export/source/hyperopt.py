"""Read a `ludwig hyperopt` output (``shared/notes/ludwig-hyperopt-and-storage.md``): its trials, their scores, the
best publishable one. ``hyperopt_results`` carry no trial id, so each is matched to its trial_* directory by
parameters and score. Untrusted input: sizes capped, fields type-checked, ``params.pkl`` never read; no Ray import.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import ExportError, InvalidModelError, UsageError
from ..limits import human_size
from .saved_model import describe_run, is_run_dir
from .storage import resolve
from .user_files import parse_json, read_json_file

STATISTICS = "hyperopt_statistics.json"
GOALS = ("minimize", "maximize")
MAX_JSON = 64 * 1000 * 1000  # hyperopt_statistics.json carries every trial's training stats
MAX_RESULT_TAIL = 4 * 1000 * 1000  # only the last line of result.json is read
_TRIAL_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")


@dataclass
class Trial:
    """One trial of a hyperopt run: its parameters, score and saved model, or why it cannot be published."""

    trial_id: str
    directory: Path  # trial_<id>/
    parameters: dict
    score: float | None = None  # the hyperopt metric, from hyperopt_statistics.json
    run_dir: Path | None = None
    kind: str | None = None
    size: int = 0
    problem: str | None = None  # why it cannot be published
    rank: int | None = None  # 1 = best, among the scored trials

    @property
    def publishable(self) -> bool:
        return self.problem is None and self.run_dir is not None

    def to_dict(self) -> dict:
        return {"trial_id": self.trial_id, "directory": str(self.directory), "score": self.score,
                "parameters": self.parameters, "rank": self.rank, "kind": self.kind, "size": self.size,
                "run_dir": str(self.run_dir) if self.run_dir else None, "problem": self.problem}


@dataclass
class Experiment:
    """A hyperopt run's results directory: the metric it optimized and its trials, best first."""

    directory: Path
    metric: str
    goal: str
    output_feature: str
    split: str
    trials: list[Trial]  # ranked trials first (best first), then the unscored ones
    notes: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.directory.name

    @property
    def _best(self) -> Trial | None:
        return next((t for t in self.trials if t.publishable and t.score is not None), None)

    @property
    def best(self) -> Trial:
        if self._best is not None:
            return self._best
        problems = "; ".join(f"trial {t.trial_id}: {t.problem}" for t in self.trials) or "no trials"
        raise InvalidModelError(f"{self.directory}: no trial of this hyperopt can be published ({problems})",
                                "rerun the hyperopt (a trial needs a finished run directory with its weights)")

    def trial(self, trial_id: str) -> Trial:
        for t in self.trials:
            if trial_id in (t.trial_id, t.directory.name):
                return t
        known = ", ".join(t.trial_id for t in self.trials)
        raise UsageError(f"--trial {trial_id}: no such trial in {self.directory} (trials: {known})",
                         "use one of the ids `ludwig-hub-export check` lists")

    @property
    def metric_label(self) -> str:
        return f"{self.output_feature} {self.metric} ({self.split})" if self.output_feature != "combined" \
            else f"{self.metric} ({self.split})"

    def to_dict(self) -> dict:
        return {"experiment": str(self.directory), "metric": self.metric, "goal": self.goal,
                "output_feature": self.output_feature, "split": self.split, "notes": self.notes,
                "best": self._best.trial_id if self._best else None, "trials": [t.to_dict() for t in self.trials]}

    def format(self) -> str:
        lines = [f"Hyperopt experiment {self.directory}",
                 f"  metric: {self.metric_label}, goal: {self.goal}, {len(self.trials)} trial(s)",
                 f"  {'':2}{'trial':20} {'score':>12} {'kind':8} {'size':>10}  parameters"]
        best = self._best
        for t in self.trials:
            mark = "* " if t is best else "  "
            score = f"{t.score:.6g}" if t.score is not None else "-"
            size = human_size(t.size) if t.size else "-"
            lines.append(f"  {mark}{t.trial_id:20} {score:>12} {(t.kind or '-'):8} {size:>10}  "
                         f"{format_parameters(t.parameters)}")
        lines.append("  (* best: published to main by `push`)" if best else "  no trial can be published")
        lines += [f"  cannot publish trial {t.trial_id}: {t.problem}" for t in self.trials if t.problem]
        return "\n".join(lines + [f"  note: {note}" for note in self.notes])


def format_parameters(parameters: dict) -> str:
    return ", ".join(f"{k}={json.dumps(v)}" for k, v in sorted(parameters.items())) or "-"


# --- recognising -----------------------------------------------------------------------------------------------
def is_trial_dir(d: Path) -> bool:
    """A Ray Tune trial directory: trial_* with Ray's params.json / result.json."""
    return d.is_dir() and d.name.startswith("trial_") and ((d / "params.json").is_file() or
                                                          (d / "result.json").is_file())


def experiment_dir(path, storage_options: dict | None = None):
    """The experiment directory `path` (local or a URL) names: itself, or the one experiment under it or its
    `results/`; None when `path` is no hyperopt output."""
    path = resolve(path, storage_options)
    if not path.is_dir():
        return None
    if (path / STATISTICS).is_file() or (any(is_trial_dir(d) for d in _subdirs(path))):
        return path
    for base in (path, path / "results"):
        found = [d for d in _subdirs(base) if (d / STATISTICS).is_file()]
        if len(found) == 1:
            return found[0]
        if len(found) > 1:
            listing = "\n".join(f"    {d}" for d in found)
            raise UsageError(f"{base} holds {len(found)} hyperopt experiments:\n{listing}", "name one of them")
    return None


def is_experiment(path, storage_options: dict | None = None) -> bool:
    """Whether `path` names a hyperopt output; one that cannot be read answers no, so that the one-model `check`
    reports the failure in its own terms."""
    try:
        return experiment_dir(path, storage_options) is not None
    except ExportError:
        return False


def _subdirs(d: Path) -> list[Path]:
    try:
        return sorted(p for p in d.iterdir() if p.is_dir() and not p.is_symlink())
    except OSError:
        return []


# --- reading ---------------------------------------------------------------------------------------------------
def read_experiment(path, storage_options: dict | None = None) -> Experiment:
    """Parse the experiment `path` names (see `experiment_dir`) and describe every trial."""
    directory = experiment_dir(path, storage_options)
    if directory is None:
        raise InvalidModelError(f"{path}: not a hyperopt output (no {STATISTICS} and no trial_* directories)",
                                "give the directory `ludwig hyperopt` wrote: results/<experiment>/")
    directory = directory.resolve()
    stats_file = directory / STATISTICS
    if not stats_file.is_file():
        raise InvalidModelError(f"{stats_file}: missing; without it the trials cannot be ranked",
                                "the hyperopt did not finish: rerun it, or publish one trial by naming its "
                                "trial_* directory")
    config, results = _read_statistics(stats_file)
    trials = [_read_trial(d) for d in _subdirs(directory) if is_trial_dir(d)]
    experiment = Experiment(directory, str(config.get("metric") or "loss"), config["goal"],
                            str(config.get("output_feature") or "combined"), str(config.get("split") or
                                                                                  "validation"), trials)
    _match(experiment, results, stats_file)
    for t in trials:
        _describe_run(t)
    sign = -1.0 if experiment.goal == "maximize" else 1.0  # ranked: scored best first, then the rest by id
    scored = sorted((t for t in trials if t.score is not None), key=lambda t: (sign * t.score, t.trial_id))
    for n, t in enumerate(scored, start=1):
        t.rank = n
    experiment.trials = scored + sorted((t for t in trials if t.score is None), key=lambda t: t.trial_id)
    return experiment


def _read_json(path: Path, limit: int = MAX_JSON):
    try:
        if path.stat().st_size > limit:
            raise InvalidModelError(f"{path}: larger than {human_size(limit)}; not a Ludwig/Ray file",
                                    "check the directory: it is not what `ludwig hyperopt` wrote")
        return read_json_file(path)  # a regular file only, of bounded depth
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise InvalidModelError(f"{path}: not valid JSON ({e})",
                                "restore it from the hyperopt run, or rerun the hyperopt") from None


def _read_statistics(path: Path) -> tuple[dict, list[tuple[dict, float]]]:
    data = _read_json(path)
    config = data.get("hyperopt_config") if isinstance(data, dict) else None
    results = data.get("hyperopt_results") if isinstance(data, dict) else None
    fix = "restore the file from the hyperopt run, or rerun the hyperopt"
    if not isinstance(config, dict) or not isinstance(results, list):
        raise InvalidModelError(f"{path}: expected an object with hyperopt_config and hyperopt_results", fix)
    goal = str(config.get("goal") or "minimize").lower()
    if goal not in GOALS:
        raise InvalidModelError(f"{path}: goal {config.get('goal')!r} is neither minimize nor maximize", fix)
    config["goal"] = goal
    parsed = []
    for n, r in enumerate(results):
        score = r.get("metric_score") if isinstance(r, dict) else None
        params = r.get("parameters") if isinstance(r, dict) else None
        if not isinstance(params, dict) or not _is_number(score):
            raise InvalidModelError(f"{path}: hyperopt_results[{n}] has no parameters/metric_score", fix)
        parsed.append((params, float(score)))
    return config, parsed


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _last_result(path: Path) -> dict:
    """The last JSON line of Ray's result.json (the trial's final report), or {}."""
    try:
        with path.open("rb") as f:  # a local file or a `StoragePath` (ranged reads of the tail)
            size = f.seek(0, 2)
            f.seek(max(0, size - MAX_RESULT_TAIL))
            tail = f.read()
    except OSError:
        return {}
    for line in reversed(tail.splitlines()):
        if line.strip():
            try:
                value = parse_json(line)
            except (UnicodeDecodeError, ValueError):
                return {}
            return value if isinstance(value, dict) else {}
    return {}


def _read_trial(d: Path) -> Trial:
    result = _last_result(d / "result.json") if (d / "result.json").is_file() else {}
    trial_id = result.get("trial_id")
    if not isinstance(trial_id, str) or not _TRIAL_ID.match(trial_id):
        trial_id = d.name.removeprefix("trial_")
    valid = _TRIAL_ID.match(trial_id)
    trial = Trial(trial_id if valid else "invalid-id", d, {},
                  problem=None if valid else f"{d.name}: the directory name is not a Ray trial id")
    params = _read_json(d / "params.json", 1000 * 1000) if (d / "params.json").is_file() else None
    if isinstance(params, dict):
        trial.parameters = params
    elif isinstance(result.get("config"), dict):
        trial.parameters = result["config"]
    score = result.get("metric_score")
    trial.score = float(score) if _is_number(score) else None  # until matched with the statistics
    return trial


def _match(experiment: Experiment, results: list[tuple[dict, float]], stats_file: Path) -> None:
    """Give each trial its score from the statistics file; trials it does not list get no score."""
    reported = {id(t): t.score for t in experiment.trials}
    for t in experiment.trials:
        t.score = None
    unmatched = 0
    for params, score in results:
        candidates = [t for t in experiment.trials if t.score is None and t.parameters == params]
        exact = [t for t in candidates if reported[id(t)] is not None and
                 math.isclose(reported[id(t)], score, rel_tol=1e-9, abs_tol=1e-12)]
        chosen = exact or (candidates if len(candidates) == 1 else [])
        if not chosen:
            unmatched += 1
            continue
        chosen[0].score = score
    if results and unmatched == len(results):
        raise InvalidModelError(
            f"{stats_file}: none of its {len(results)} results matches a trial_* directory beside it "
            "(by parameters and score)", "the statistics belong to another run: give the experiment directory "
            "that `ludwig hyperopt` wrote them into")
    if unmatched:
        experiment.notes.append(f"{unmatched} result(s) of {STATISTICS} have no trial directory (deleted?)")
    for t in experiment.trials:
        if t.score is None and t.problem is None:
            t.problem = f"not in {STATISTICS}: the trial failed or did not finish"


def _runs(trial_dir: Path) -> tuple[list[Path], bool]:
    """A trial's run directories (never Ray's checkpoint copy), and whether a checkpoint copy is there."""
    found = [d for d in _subdirs(trial_dir) if is_run_dir(d)]
    runs = [d for d in found if not d.name.startswith("checkpoint_")]  # Ray's copy: configs, no weights
    return runs, len(runs) < len(found)


def _describe_run(t: Trial) -> None:
    runs, copies = _runs(t.directory)
    if len(runs) != 1:
        t.problem = t.problem or (f"{len(runs)} run directories in {t.directory.name}" if runs else "only Ray's "
                                  "checkpoint copy (configs, no model weights): the run directory is missing"
                                  if copies else "no run directory: the trial ended before saving a model")
        return
    t.run_dir = runs[0]
    try:
        layout = describe_run(t.run_dir)
    except ExportError as e:
        t.problem = t.problem or e.message
        return
    t.kind = layout.kind
    t.size = sum(p.stat().st_size for p in layout.files.values())


def trial_of_run(source: Path) -> Path | None:
    """For layout: the run directory a trial_* directory means (never Ray's checkpoint copy)."""
    if not is_trial_dir(source):
        return None
    runs, copies = _runs(source)
    if not runs and copies:
        raise InvalidModelError(f"{source}: only Ray's checkpoint copy is here (configs, no model weights); the "
                                "trial's run directory is missing", "publish another trial, or rerun this one")
    return runs[0] if len(runs) == 1 else None
