"""Find the saved model in the path a user gives (a ``model.save()`` or ``model/`` directory, a run directory,
``results/`` with one run or ``latest``, a normalized tree, a hyperopt output or trial) and say its kind and why.
"""

from __future__ import annotations

import functools
import sys
from pathlib import Path

from . import hyperopt
from ..errors import InvalidModelError, UsageError
from .saved_model import HYPERPARAMETERS, RUN_FILES, ModelLayout, describe, is_model_dir, is_run_dir
from .storage import resolve


def find_layout(path, latest: bool = False, prefer_adapter: bool = False,
                storage_options: dict | None = None) -> ModelLayout:
    """`path`: a local path, or a URL whose tree is listed once and walked through `StoragePath`'s pathlib methods."""
    source = resolve(path, storage_options)
    if not source.exists():
        raise UsageError(f"{source}: no such file or directory",
                         "give the directory passed to model.save(), or a `ludwig train` results/run directory")
    if not source.is_dir():
        raise UsageError(f"{source}: is a file, not a directory",
                         "give the directory that holds model_hyperparameters.json (or the run directory around it)")
    model_dir, run_dir = _locate(source.resolve(), latest)
    return describe(source, model_dir, run_dir, prefer_adapter)


def _locate(source: Path, latest: bool) -> tuple[Path, Path | None]:
    if is_model_dir(source):
        parent = source.parent
        run_dir = parent if source.name == "model" and any((parent / f).is_file() for f in RUN_FILES) else None
        return source, run_dir
    if is_run_dir(source):
        return source / "model", source
    # A trial_* directory means its run directory; a hyperopt experiment (or results/ around it), its best trial's.
    run = hyperopt.trial_of_run(source)
    if run is None and hyperopt.experiment_dir(source) is not None:
        run = hyperopt.read_experiment(source).best.run_dir
    if run is not None:
        return run / "model", run
    if (source / "results").is_dir() and not any(is_run_dir(d) for d in source.iterdir() if d.is_dir()):
        source = source / "results"  # the directory `ludwig train` ran in
    runs = sorted((d for d in source.iterdir() if d.is_dir() and is_run_dir(d)), key=lambda d: d.stat().st_mtime)
    if len(runs) > 1 and latest:  # say which: a user reading the result must know what was published
        _say_once(f"--latest: taking {runs[-1]}, the newest of the {len(runs)} runs in {source}")
    if len(runs) == 1 or (runs and latest):
        return runs[-1] / "model", runs[-1]
    if len(runs) > 1:
        listing = "\n".join(f"    {r}" for r in runs)
        raise UsageError(f"{source} holds {len(runs)} training runs:\n{listing}",
                         "name one of them, or pass --latest to take the most recent")
    if not any(source.iterdir()):
        raise InvalidModelError(f"{source}: the directory is empty", "train and save a model first (model.save())")
    raise InvalidModelError(
        f"{source}: no Ludwig model here (no {HYPERPARAMETERS} in it, in model/, or in a run directory below it)",
        "give the directory passed to model.save(), or the results/ or run directory written by `ludwig train`",
    )


@functools.cache  # once per process: the layout of one source may be found more than once
def _say_once(line: str) -> None:
    print(line, file=sys.stderr)



