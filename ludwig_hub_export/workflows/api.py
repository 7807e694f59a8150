"""`export`: the Python API's one call, for a saved model's path (any layout `push` takes, a hyperopt output
included: its best trial) or a live `LudwigModel`."""

from __future__ import annotations

from pathlib import Path

from ..errors import UsageError
from .push import push
from ..report import ExportReport
from ..settings import settings_from


def export(model, repo_id: str, **options) -> ExportReport:
    """Publish `model` (a saved-model path, or a live `LudwigModel` saved to a temporary directory first) to
    `repo_id`. Options are `ExportSettings` fields; an unknown one is a `UsageError` before anything is sent."""
    from ..source.hyperopt import is_experiment

    settings = settings_from(repo_id, {k: v for k, v in options.items() if k != "trial"})
    is_path = isinstance(model, (str, Path))
    if is_path and is_experiment(model, options.get("storage_options")):  # its best trial (or `trial`)
        from .sweep import export_best

        return export_best(model, repo_id, **options)
    if "trial" in options:
        raise UsageError("trial= names a trial of a hyperopt output", f"{model} is not one: drop trial=")
    if is_path:
        return push(model, settings)
    if not (hasattr(model, "save") and hasattr(model, "config_obj")):
        raise UsageError(f"cannot export a {type(model).__name__}",
                         "pass a LudwigModel or the path of a saved model (model.save(), ludwig train results)")
    import tempfile

    with tempfile.TemporaryDirectory(prefix="ludwig-hub-export-model-") as tmp:
        model.save(tmp)
        return push(tmp, settings)
