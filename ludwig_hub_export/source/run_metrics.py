"""The metrics of the weights a push publishes: Ludwig saves (and reloads at the end of training) the weights of
the evaluation with the best validation metric, which ``model/training_progress.json`` records (``best_eval_*``);
the last evaluation in ``training_statistics.json`` is a later epoch's whenever the model stopped improving.
"""

from __future__ import annotations

from dataclasses import dataclass

SPLITS = ("training", "validation", "test")
_PROGRESS_KEYS = {"training": "best_eval_train_metrics", "validation": "best_eval_validation_metrics",
                  "test": "best_eval_test_metrics"}


@dataclass
class SavedMetrics:
    """{split: {feature: {metric: value}}} of the published weights, and which evaluation they come from."""

    metrics: dict[str, dict[str, dict[str, float]]]
    epoch: int | None = None  # of the saved checkpoint; None: not recorded (the last evaluation is shown)
    steps: int | None = None
    epochs: int | None = None  # epochs the run trained
    total_steps: int | None = None
    validation_field: str | None = None
    validation_metric: str | None = None
    soup: str | None = None  # trainer.model_soup: the saved weights average the best checkpoints

    def heading(self) -> str:
        if self.epoch is None:
            return "Metrics (last evaluation of the training run)"
        if self.soup:
            return f"Metrics of the best checkpoint (epoch {self.epoch}; the published weights average several)"
        of = f" of {self.epochs}" if self.epochs else ""
        return f"Metrics of the published weights (epoch {self.epoch}{of})"

    def sentence(self) -> str:
        if self.epoch is None:
            return ("The run has no `training_progress.json`, which records the evaluation whose weights Ludwig "
                    "saved: these are the metrics of the last evaluation, which may be of other weights.")
        by = f"`{self.validation_metric}` of `{self.validation_field}`" if self.validation_metric and \
            self.validation_field else "validation metric"
        steps = f", step {self.steps}" + (f" of {self.total_steps}" if self.total_steps else "") \
            if self.steps is not None else ""
        if self.soup:
            return (f"The run used a `{self.soup}` model soup: the published weights average its best checkpoints, "
                    "and no evaluation of that average was recorded. These are the metrics of the best single "
                    f"checkpoint by validation {by}: epoch {self.epoch}{steps}.")
        return (f"Ludwig saved the weights of the evaluation with the best validation {by}: epoch {self.epoch}"
                f"{steps}. These are their metrics, and the weights published here.")


def saved_metrics(statistics: dict | None, progress: dict | None, config: dict) -> SavedMetrics | None:
    """The metrics of the checkpoint Ludwig saved (from `progress`, training_progress.json), else the last
    evaluation in `statistics` (training_statistics.json), marked as such. None when neither has any."""
    trainer = config.get("trainer") if isinstance(config.get("trainer"), dict) else {}
    field, metric = trainer.get("validation_field"), trainer.get("validation_metric")
    progress = progress if isinstance(progress, dict) else {}
    epoch = progress.get("best_eval_metric_epoch")
    best = {split: _numbers(progress.get(key)) for split, key in _PROGRESS_KEYS.items()}
    best = {split: features for split, features in best.items() if features}
    if _count(epoch) is not None and best:
        return SavedMetrics(best, epoch, _count(progress.get("best_eval_metric_steps")),
                            _count(progress.get("epoch")), _count(progress.get("steps")),
                            field if isinstance(field, str) else None, metric if isinstance(metric, str) else None,
                            trainer.get("model_soup") if isinstance(trainer.get("model_soup"), str) else None)
    last = {split: _numbers({feature: {name: values[-1] for name, values in metrics.items()
                                       if isinstance(values, list) and values}
                             for feature, metrics in ((statistics or {}).get(split) or {}).items()
                             if isinstance(metrics, dict)}) for split in SPLITS}
    last = {split: features for split, features in last.items() if features}
    return SavedMetrics(last) if last else None


def _numbers(value: object) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    for feature, metrics in (value.items() if isinstance(value, dict) else ()):
        for name, number in (metrics.items() if isinstance(metrics, dict) else ()):
            if _is_number(number):
                out.setdefault(str(feature), {})[str(name)] = float(number)
    return out


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _count(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None
