"""The model card (README.md): front matter the Hub accepts, what the model takes and predicts, metrics from
the run, and how to load it with PEFT, transformers or Ludwig."""

from __future__ import annotations

import json

import yaml

from .card_metadata import validate_front_matter

LIBRARY = {"adapter": "peft", "full": "transformers", "merged": "transformers", "ecd": "ludwig"}
_TABULAR = {"number", "category", "binary", "set", "bag", "vector", "date", "h3"}


def pipeline_tag(kind: str, config: dict) -> str | None:
    if kind != "ecd":
        return "text-generation"
    inputs = {f.get("type") for f in config.get("input_features", [])}
    outputs = [f.get("type") for f in config.get("output_features", [])]
    if len(outputs) != 1:
        return None
    out = outputs[0]
    if inputs <= _TABULAR:
        return {"category": "tabular-classification", "binary": "tabular-classification",
                "number": "tabular-regression"}.get(out)
    if inputs == {"text"} and out in ("category", "binary"):
        return "text-classification"
    if inputs == {"image"} and out in ("category", "binary"):
        return "image-classification"
    return None


def final_metrics(statistics: dict) -> dict[str, dict[str, float]]:
    """{split: {"feature metric": last value}} from Ludwig's training_statistics.json."""
    out: dict[str, dict[str, float]] = {}
    for split in ("training", "validation", "test"):
        for feature, metrics in (statistics.get(split) or {}).items():
            if not isinstance(metrics, dict):
                continue
            for metric, values in metrics.items():
                if isinstance(values, list) and values and isinstance(values[-1], (int, float)):
                    label = metric if feature == "combined" else f"{feature} {metric}"
                    out.setdefault(split, {})[label] = float(values[-1])
    return out


def render(*, repo_id: str, kind: str, config: dict, base_model: str | None, statistics: dict | None,
           adapter_name: str | None, versions: dict[str, str], license: str | None = None) -> str:
    tags = ["ludwig"]
    if kind == "adapter":
        adapter = config.get("adapter") if isinstance(config.get("adapter"), dict) else {}
        tags += ["peft", "lora"] if adapter.get("type", "lora") == "lora" else ["peft"]
    if kind != "ecd":
        tags.append("llm")
    meta: dict = {"library_name": LIBRARY[kind]}
    if base_model:
        meta["base_model"] = base_model
    if license:
        meta["license"] = license
    meta["tags"] = tags
    if (tag := pipeline_tag(kind, config)) is not None:
        meta["pipeline_tag"] = tag
    front = yaml.safe_dump(meta, sort_keys=False).strip()
    name = repo_id.split("/")[-1]
    lines = ["---", front, "---", "", f"# {name}", "",
             f"A {_kind_text(kind)} trained with [Ludwig](https://ludwig.ai) {versions.get('ludwig', '')}".rstrip()
             + " and published with ludwig-hub-export.", ""]
    lines += _features(config)
    lines += _metrics(statistics)
    lines += _usage(repo_id, kind, base_model, adapter_name)
    lines += ["## Files", "",
              "- `ludwig_config.json`: the Ludwig config; `training_set_metadata.json`: the preprocessing metadata "
              "Ludwig needs to rebuild the model.",
              "- `ludwig_export.json`: every file with its size and sha256, the model kind and the library "
              "versions. It is written last: a repo that has it is complete.", ""]
    text = "\n".join(lines)
    errors, _ = validate_front_matter(text)
    if errors:  # a bug here, not user input: the card must pass the Hub's check before any upload
        raise ValueError("generated model card has invalid metadata: " + "; ".join(errors))
    return text


def _kind_text(kind: str) -> str:
    return {"adapter": "LoRA/PEFT adapter for a causal language model",
            "full": "fully fine-tuned causal language model",
            "merged": "causal language model with its fine-tuned adapter merged in",
            "ecd": "Ludwig ECD (encoder-combiner-decoder) model"}[kind]


def _features(config: dict) -> list[str]:
    lines = ["## Inputs and outputs", "", "| role | feature | type |", "|---|---|---|"]
    for role, key in (("input", "input_features"), ("output", "output_features")):
        for feature in config.get(key, []):
            lines.append(f"| {role} | `{feature.get('name')}` | {feature.get('type')} |")
    return lines + [""]


def _metrics(statistics: dict | None) -> list[str]:
    metrics = final_metrics(statistics or {})
    if not metrics:
        return []
    names = sorted({m for split in metrics.values() for m in split})
    splits = [s for s in ("training", "validation", "test") if s in metrics]
    lines = ["## Metrics (last evaluation of the training run)", "",
             "| metric | " + " | ".join(splits) + " |", "|---" * (len(splits) + 1) + "|"]
    for name in names:
        cells = [f"{metrics[s][name]:.4g}" if name in metrics[s] else "" for s in splits]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return lines + [""]


def _usage(repo_id: str, kind: str, base_model: str | None, adapter_name: str | None) -> list[str]:
    base = base_model or "<base model id>"
    lines = ["## How to use", ""]
    if kind == "adapter":
        lines += ["With PEFT:", "", "```python", "from transformers import AutoModelForCausalLM",
                  "from peft import PeftModel", "",
                  f'base = AutoModelForCausalLM.from_pretrained("{base}")',
                  f'model = PeftModel.from_pretrained(base, "{repo_id}")', "```", ""]
    elif kind in ("full", "merged"):
        lines += ["With transformers:", "", "```python", "from transformers import AutoModelForCausalLM", "",
                  f'model = AutoModelForCausalLM.from_pretrained("{repo_id}")', "```", ""]
    local = f"./{repo_id.split('/')[-1]}"
    lines += ["With Ludwig (`pull` rebuilds the `model/` directory Ludwig loads, every file verified against "
              "`ludwig_export.json`):", "", "```bash", f"ludwig-hub-export pull {repo_id} {local}", "```", ""]
    if kind == "ecd":
        lines += ["```python", "from ludwig.api import LudwigModel", "",
                  f'model = LudwigModel.load("{local}/model")', "```", ""]
    else:  # tested: stock LudwigModel.load of any LLM fails in Ludwig 0.17 (see ludwig_compat)
        lines += ["```python", "from ludwig_hub_export import load_ludwig_model", "",
                  f'model = load_ludwig_model("{local}/model")', "```", "",
                  "`load_ludwig_model` is `LudwigModel.load` with a workaround: Ludwig 0.17 re-adds "
                  "`\"adapters\": null` to every LLM config it loads and then rejects it "
                  "(`ConfigValidationError: None is not of type 'object'`).", ""]
    if adapter_name:
        lines += [f"The adapter was trained under the name `{adapter_name}`; on the Hub it sits at the repo root.",
                  ""]
    return lines


def load_statistics(raw: bytes | None) -> dict | None:
    if raw is None:
        return None
    try:
        value = json.loads(raw)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None
