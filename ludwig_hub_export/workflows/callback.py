"""A Ludwig callback that publishes the model once training has finished and the final model is saved.

Ludwig has no hook after its final save: ``on_train_end`` runs (in a ``finally:``, also on failure) *before* the
final merge and save. So it arms the export, only when no exception is in flight, by wrapping this run's model's
``save``/``save_base_model``. A failed export never raises into training: it is reported, the model stays on disk.

In a hyperopt, trials train in Ray processes with copies of this callback, which publish nothing; the driver's
``on_hyperopt_end`` publishes through `sweep.export_sweep`. With an ``output_directory`` URL, Ludwig trains in a
local temporary directory first: the export reads that.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

from ..deps import require
from ..errors import ExportError

# A missing Ludwig or a torch set that does not import together is a `DependencyError` saying what to install.
Callback = require("ludwig.callbacks", "Callback")


class HubExportCallback(Callback):
    """``LudwigModel(config, callbacks=[HubExportCallback("me/my-model", base_model="org/base")])``; options are
    `ExportSettings` fields. After training, `report` holds the `ExportReport`, or `error` the failure."""

    def __init__(self, repo_id: str, *, trials: str = "best", as_repos: bool = False,
                 output_directory: str | Path = "results", quotas=None, **options) -> None:
        """`trials`, `as_repos`, `quotas`: what a hyperopt publishes (see `export_sweep`); `output_directory`: the
        hyperopt's (Ludwig does not tell callbacks). Validated now, not after hours of training."""
        from ..settings import settings_from

        settings = settings_from(repo_id, options)
        self.repo_id = settings.repo_id  # a Hub URL given becomes the id (and its /tree/REV the revision)
        self.options = {**options, "revision": settings.revision} if settings.revision else options
        self.trials = trials
        self.as_repos = as_repos
        self.output_directory = Path(output_directory)
        self.quotas = quotas
        self.hyperopt: str | None = None  # the experiment name, set in the driver before trials start
        self.in_trial = False
        self.driver_pid: int | None = None
        self.report = None
        self.error: BaseException | None = None
        self.skipped: str | None = None
        self._model = None
        self._originals: dict[str, object] = {}
        self._run_name: str | None = None

    def on_train_init(self, base_config, experiment_directory, experiment_name, model_name, output_directory,
                      resume_directory, **kwargs) -> None:
        self._run_name = f"{experiment_name}_{model_name}"  # Ludwig's run directory name (maybe with _N)

    # --- hyperopt: the driver publishes once, at the end; trial processes never -------------------------------
    def on_hyperopt_init(self, experiment_name: str, **kwargs) -> None:
        self.hyperopt = experiment_name  # set before Ray copies the callback into the trials
        self.driver_pid = os.getpid()

    def on_hyperopt_trial_start(self, parameters, **kwargs) -> None:
        self.in_trial = True

    def on_hyperopt_end(self, experiment_name: str, **kwargs) -> None:
        if os.getpid() != self.driver_pid:  # not the driver (Ludwig calls this hook there only)
            return
        from .sweep import export_sweep

        experiment = self.output_directory / experiment_name
        try:
            self.report = export_sweep(experiment, self.repo_id, trials=self.trials, as_repos=self.as_repos,
                                       quotas=self.quotas, **self.options)
        except Exception as e:  # noqa: BLE001 - the hyperopt's results stay on disk whatever happens
            self.error = e
            detail = str(e) if isinstance(e, ExportError) else f"{type(e).__name__}: {e}"
            print(f"ludwig-hub-export: publishing the hyperopt {experiment} to {self.repo_id} failed; the results "
                  f"are safe on disk.\n{detail}\n  -> publish them later with: ludwig-hub-export push {experiment} "
                  f"--repo-id {self.repo_id}" + (f" --trials {self.trials}" if self.trials != "best" else ""),
                  file=sys.stderr)

    # --- one training run -------------------------------------------------------------------------------------
    def on_train_start(self, model, config, config_fp, **kwargs) -> None:
        self._model = model

    def on_train_end(self, output_directory: str, **kwargs) -> None:
        if self.hyperopt is not None or self.in_trial:
            self.skipped = "a hyperopt trial: the driver publishes at the end of the hyperopt"
            return
        if sys.exc_info()[0] is not None:  # called from Ludwig's `finally:` while the training error propagates
            self.skipped = "training failed: nothing was published"
            print(f"ludwig-hub-export: {self.skipped}", file=sys.stderr)
            return
        if self._model is None:
            self.skipped = "no model was handed to on_train_start"
            return
        for name in ("save", "save_base_model"):
            original = getattr(self._model, name, None)
            if original is not None:
                self._originals[name] = original
                setattr(self._model, name, self._after(original))

    def _after(self, original):
        def save_then_export(save_path, *args, **kwargs):
            result = original(save_path, *args, **kwargs)
            for name in self._originals:
                self._model.__dict__.pop(name, None)  # disarmed: back to the class's method
            self._originals.clear()
            self._export(Path(save_path))
            return result

        return save_then_export

    def _export(self, model_dir: Path) -> None:
        from .api import export

        source = model_dir.parent if model_dir.name == "model" else model_dir
        try:
            self.report = export(source, self.repo_id, **self.options)
        except Exception as e:  # noqa: BLE001 - an export must never take the training result down with it
            self.error = e
            detail = str(e) if isinstance(e, ExportError) else f"{type(e).__name__}: {e}"
            later = source
            if source.resolve().parent == Path(tempfile.gettempdir()).resolve() and source.name.startswith("tmp"):
                # output_directory is a URL: Ludwig trains in a TemporaryDirectory and copies it there at the end
                later = f"<output_directory URL>/{self._run_name or source.name}"
            print(f"ludwig-hub-export: publishing to {self.repo_id} failed; the trained model is safe in "
                  f"{model_dir}.\n{detail}\n  -> publish it later with: ludwig-hub-export push {later} "
                  f"--repo-id {self.repo_id}", file=sys.stderr)
