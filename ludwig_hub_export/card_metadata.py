"""Model-card front matter: split it from a README and check it the way the Hub's validate-yaml does.

Used on both sides: the local Hub answers ``/api/validate-yaml`` with it, and the exporter checks the card it
writes before any upload.
"""

from __future__ import annotations

import re

# The Hub's repo-id rule (huggingface_hub.utils._validators.REPO_ID_REGEX): optional namespace, then a name.
REPO_ID_RE = re.compile(r"^(\b[\w\-.]+\b/)?\b[\w\-.]{1,96}\b$")
STRING_LIST_KEYS = ("tags", "datasets", "metrics", "language")
STRING_KEYS = ("library_name", "pipeline_tag", "license", "license_name", "license_link", "base_model_relation")
BASE_MODEL_RELATIONS = ("adapter", "merge", "quantized", "finetune")
# The Hub's task ids (huggingface.js packages/tasks/src/pipelines.ts, 2026-11).
PIPELINE_TAGS = frozenset("""
text-classification token-classification table-question-answering question-answering zero-shot-classification
translation summarization feature-extraction text-generation fill-mask sentence-similarity text-to-speech
text-to-audio automatic-speech-recognition audio-to-audio audio-classification audio-text-to-text
voice-activity-detection depth-estimation image-classification object-detection image-segmentation text-to-image
image-to-text image-to-image image-to-video unconditional-image-generation video-classification
reinforcement-learning robotics tabular-classification tabular-regression tabular-to-text table-to-text
multiple-choice text-ranking text-retrieval time-series-forecasting text-to-video image-text-to-text
image-text-to-image image-text-to-video visual-question-answering document-question-answering
zero-shot-image-classification graph-ml mask-generation zero-shot-object-detection text-to-3d image-to-3d
image-feature-extraction video-text-to-text keypoint-detection visual-document-retrieval any-to-any video-to-video
other
""".split())


def split_front_matter(text: str) -> tuple[str | None, str]:
    """(yaml text or None, body). Front matter is a leading block between two '---' lines."""
    if not text.startswith("---"):
        return None, text
    lines = text.splitlines(keepends=True)
    if lines[0].strip() != "---":
        return None, text
    for i, line in enumerate(lines[1:], start=1):
        if line.strip() == "---":
            return "".join(lines[1:i]), "".join(lines[i + 1 :])
    return None, text


def is_repo_id(value: object) -> bool:
    return (
        isinstance(value, str)
        and REPO_ID_RE.match(value) is not None
        and "--" not in value
        and ".." not in value
        and not value.startswith((".", "-"))
    )


def validate_front_matter(text: str) -> tuple[list[str], list[str]]:
    """(errors, warnings) for a README's metadata, as the Hub reports them."""
    import yaml  # a dependency of huggingface_hub; imported here to keep module import cheap

    raw, _ = split_front_matter(text)
    if raw is None or not raw.strip():
        return [], ["empty or missing yaml metadata in repo card"]
    try:
        meta = yaml.safe_load(raw)
    except yaml.YAMLError as e:
        return [f"YAML metadata is not valid YAML: {str(e).splitlines()[0]}"], []
    if meta is None:
        return [], ["empty or missing yaml metadata in repo card"]
    if not isinstance(meta, dict):
        return ["YAML metadata must be a mapping (key: value), not a " + type(meta).__name__], []
    errors: list[str] = []
    if "base_model" in meta:
        values = meta["base_model"] if isinstance(meta["base_model"], list) else [meta["base_model"]]
        for value in values:
            if not is_repo_id(value):
                errors.append(f'"base_model" must be a Hub model id like "org/name", got {value!r}')
    for key in STRING_LIST_KEYS:
        value = meta.get(key)
        if value is not None and not (
            isinstance(value, str) or (isinstance(value, list) and all(isinstance(v, str) for v in value))
        ):
            errors.append(f'"{key}" must be a string or a list of strings')
    for key in STRING_KEYS:
        if key in meta and not isinstance(meta[key], str):
            errors.append(f'"{key}" must be a string')
    datasets = meta.get("datasets")
    for value in ([datasets] if isinstance(datasets, str) else datasets if isinstance(datasets, list) else []):
        if not is_repo_id(value):
            errors.append(f'"datasets" must be Hub dataset ids like "org/name", got {value!r}')
    relation = meta.get("base_model_relation")
    if relation is not None:
        if relation not in BASE_MODEL_RELATIONS:
            errors.append(f'"base_model_relation" must be one of {", ".join(BASE_MODEL_RELATIONS)}, got {relation!r}')
        if "base_model" not in meta:
            errors.append('"base_model_relation" needs "base_model"')
    if "pipeline_tag" in meta and isinstance(meta["pipeline_tag"], str) and meta["pipeline_tag"] not in PIPELINE_TAGS:
        errors.append(f'"pipeline_tag" {meta["pipeline_tag"]!r} is not a task of the Hub')
    from .licenses import license_problem

    if (problem := license_problem(meta.get("license"), meta.get("license_name"), meta.get("license_link"))):
        errors.append(f'"license": {problem}')
    if "model-index" in meta:
        errors += model_index_errors(meta["model-index"])
    return errors, []


def model_index_errors(value: object) -> list[str]:
    """The Hub's model-index schema: [{name, results: [{task: {type}, dataset: {type, name}, metrics: [{type,
    value}]}]}]."""
    def is_text(v: object) -> bool:
        return isinstance(v, str) and bool(v)

    if not isinstance(value, list) or not value:
        return ['"model-index" must be a non-empty list']
    errors = []
    for i, model in enumerate(value):
        where = f'"model-index"[{i}]'
        if not isinstance(model, dict) or not is_text(model.get("name")):
            errors.append(f"{where} needs a name")
            continue
        results = model.get("results")
        if not isinstance(results, list):
            errors.append(f"{where}.results must be a list")
            continue
        for j, result in enumerate(results):
            at = f"{where}.results[{j}]"
            if not isinstance(result, dict):
                errors.append(f"{at} must be a mapping")
                continue
            task, dataset, metrics = result.get("task"), result.get("dataset"), result.get("metrics")
            if not isinstance(task, dict) or not is_text(task.get("type")):
                errors.append(f"{at}.task.type is required")
            if not isinstance(dataset, dict) or not is_text(dataset.get("type")) or not is_text(dataset.get("name")):
                errors.append(f"{at}.dataset needs type and name")
            if not isinstance(metrics, list) or not metrics:
                errors.append(f"{at}.metrics must be a non-empty list")
                continue
            for k, metric in enumerate(metrics):
                if not isinstance(metric, dict) or not is_text(metric.get("type")) or \
                        not isinstance(metric.get("value"), (int, float, str)) or isinstance(metric.get("value"), bool):
                    errors.append(f"{at}.metrics[{k}] needs a type and a numeric or string value")
    return errors
