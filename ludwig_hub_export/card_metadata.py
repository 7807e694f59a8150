"""Model-card front matter: split it from a README and check it the way the Hub's validate-yaml does.

Used on both sides: the local Hub answers ``/api/validate-yaml`` with it, and the exporter checks the card it
writes before any upload. The rules are the ones users trip over: YAML that is not a mapping, and a
``base_model`` that is a local path instead of a Hub repo id.
"""

from __future__ import annotations

import re

# The Hub's repo-id rule (huggingface_hub.utils._validators.REPO_ID_REGEX): optional namespace, then a name.
REPO_ID_RE = re.compile(r"^(\b[\w\-.]+\b/)?\b[\w\-.]{1,96}\b$")
STRING_LIST_KEYS = ("tags", "datasets", "metrics", "language")
STRING_KEYS = ("library_name", "pipeline_tag", "license")


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
    return errors, []
