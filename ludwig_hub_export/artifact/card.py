"""The model card (README.md): front matter the Hub accepts, what the model takes and predicts, metrics from
the run, and how to load it with PEFT, transformers or Ludwig."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

from ..card_metadata import validate_front_matter
from ..source.run_metrics import SavedMetrics, saved_metrics

# In every card this tool writes (invisible on the Hub): a card without it is someone's own, and is kept.
MARKER = "<!-- ludwig-hub-export: generated card; remove this line to keep your edits on the next push -->"
# Before the marker, the cards this tool wrote said so in their first paragraph.
_OLD_SIGNATURE = re.compile(r"^A .+ trained with \[Ludwig\]\(https://ludwig\.ai\).* and published with "
                            r"ludwig-hub-export\.$", re.MULTILINE)
# The front-matter keys this tool writes: on a card that is not its own, only these are updated.
OWNED_KEYS = ("library_name", "base_model", "base_model_relation", "license", "license_name", "license_link",
              "datasets", "tags", "pipeline_tag", "model-index")
LIBRARY = {"adapter": "peft", "full": "transformers", "merged": "transformers", "ecd": "ludwig"}
KIND_TEXT = {"adapter": "LoRA/PEFT adapter for a causal language model",
             "full": "fully fine-tuned causal language model",
             "merged": "causal language model with its fine-tuned adapter merged in",
             "ecd": "Ludwig ECD (encoder-combiner-decoder) model"}
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
    if inputs in ({"text"}, {"image"}) and out in ("category", "binary"):
        return f"{inputs.pop()}-classification"
    return None


def relation(kind: str, base_model: str | None) -> str | None:
    """The Hub's `base_model_relation`: an adapter is an adapter of its base; a full fine-tune, and a LoRA merged
    into its base, are fine-tunes of it (not a "merge", which combines several models)."""
    if not base_model:
        return None
    return {"adapter": "adapter", "full": "finetune", "merged": "finetune"}.get(kind)


def card_tags(kind: str, config: dict, base_model: str | None, adapter_config: dict | None = None) -> list[str]:
    """Tags as PEFT and transformers write them, plus `ludwig`."""
    tags = ["ludwig"]
    if kind == "ecd":
        return tags
    tags.append("transformers")
    if kind == "adapter":
        tags.append("peft")
    if kind in ("adapter", "merged"):
        kind_of_adapter = str((adapter_config or {}).get("peft_type") or _adapter(config).get("type") or "lora")
        tags.append(kind_of_adapter.lower())
    tags.append("llm")
    if (rel := relation(kind, base_model)) is not None:
        tags.append(f"base_model:{rel}:{base_model}")
    return tags


def eval_results(kind: str, config: dict, saved: SavedMetrics | None, dataset: str | None):
    """huggingface_hub `EvalResult`s of the test split of the published weights (`run_metrics`), or [] unless
    complete (a task, a dataset, metrics), as transformers does: the Hub refuses a partial model-index."""
    from huggingface_hub import EvalResult

    task = pipeline_tag(kind, config)
    outputs = {f.get("name") for f in config.get("output_features", [])}
    if not (dataset and task and saved) or saved.soup:  # a soup's weights were never evaluated as such
        return []
    results = []
    for feature, metrics in sorted(saved.metrics.get("test", {}).items()):
        if feature not in outputs:
            continue
        for metric, value in sorted(metrics.items()):
            if math.isfinite(value):
                results.append(EvalResult(task_type=task, dataset_type=dataset, dataset_name=dataset,
                                          dataset_split="test", metric_type=metric, metric_value=value,
                                          metric_name=f"test {feature} {metric}"))
    return results


def render(*, repo_id: str, kind: str, config: dict, base_model: str | None, statistics: dict | None,
           adapter_name: str | None, versions: dict[str, str], license: str | None = None,
           license_name: str | None = None, license_link: str | None = None, dataset: str | None = None,
           adapter_config: dict | None = None, counted_file: str | None = None, sections: str | None = None,
           progress: dict | None = None) -> str:
    """The card. `statistics`: the run's training_statistics.json; `progress`: its model/training_progress.json,
    which says which evaluation's weights Ludwig saved (the metrics shown are theirs)."""
    from huggingface_hub import ModelCardData

    saved = saved_metrics(statistics, progress, config)
    results = eval_results(kind, config, saved, dataset)  # the model-index, from huggingface_hub's EvalResults
    name = repo_id.split("/")[-1]
    front = ModelCardData(
        library_name=LIBRARY[kind], base_model=base_model or None, license=license or None,
        license_name=license_name if license == "other" else None,
        license_link=license_link if license == "other" else None,
        datasets=[dataset] if dataset else None, tags=card_tags(kind, config, base_model, adapter_config),
        pipeline_tag=pipeline_tag(kind, config), eval_results=results or None,
        model_name=name if results else None, base_model_relation=relation(kind, base_model),
    ).to_yaml(original_order=list(OWNED_KEYS[:-1]))  # model-index last, as huggingface_hub writes it
    lines = ["---", front, "---", MARKER, "", f"# {name}", "",
             f"A {KIND_TEXT[kind]} trained with [Ludwig](https://ludwig.ai) {versions.get('ludwig', '')}".rstrip()
             + " and published with ludwig-hub-export.", ""]
    if dataset:
        lines += [f"Trained on [{dataset}](https://huggingface.co/datasets/{dataset}).", ""]
    lines += _features(config)
    lines += _hyperparameters(kind, config, adapter_config)
    if sections:  # e.g. a hyperopt trial's score, parameters and the sweep's leaderboard
        lines += [sections.rstrip(), ""]
    lines += _metrics(saved)
    lines += _usage(repo_id, kind, base_model, adapter_name)
    lines += ["## Files", "",
              "- `ludwig_config.json`: the Ludwig config; `training_set_metadata.json`: the preprocessing metadata "
              "Ludwig needs to rebuild the model."]
    if counted_file:
        lines.append(f"- `{counted_file}`: the same Ludwig config in Ludwig's native YAML, without its `hyperopt` "
                     f"section (it runs as it is with `ludwig train --config`). The Hub counts this repo's downloads "
                     f"on `{counted_file}`, since `ludwig` is not a library it knows; `ludwig-hub-export pull` "
                     "fetches it first, once.")
    lines += ["- `ludwig_export.json`: every file with its size and sha256, the model kind and the library "
              "versions. It is written last: a repo that has it is complete.", ""]
    text = "\n".join(lines)
    errors, _ = validate_front_matter(text)
    if errors:  # a bug here, not user input: the card must pass the Hub's check before the commit
        raise ValueError("generated model card has invalid metadata: " + "; ".join(errors))
    return text


@dataclass
class CardUpdate:
    """The README.md to publish over the Hub's, and what happens to it, said in words (`reason`)."""

    text: str
    action: str  # create | replace (ours, or --replace-card) | keep (someone's own: our metadata updated) | unchanged
    reason: str
    problems: list[str] = field(default_factory=list)  # what the Hub's validate-yaml would refuse


def is_ours(card_text: str) -> bool:
    """Was this card written by ludwig-hub-export (the marker, or the first line of the cards before it)?"""
    return MARKER in card_text or _OLD_SIGNATURE.search(card_text) is not None


def card_to_publish(existing: str | None, generated: str, *, replace_card: bool = False) -> CardUpdate:
    """What to upload as README.md over `existing` (None: no card). Someone's own card keeps its text and every
    key but `OWNED_KEYS`, which take ours (tags merged), as `metadata_update(overwrite=True)` would."""
    if existing is None or not existing.strip():
        return CardUpdate(generated, "create", "README.md: the generated model card")
    if existing == generated:
        return CardUpdate(generated, "unchanged", "README.md: unchanged")
    if replace_card or is_ours(existing):
        why = "--replace-card" if replace_card and not is_ours(existing) else "the card there was written by " \
            "ludwig-hub-export"
        return CardUpdate(generated, "replace", f"README.md: replaced by the generated card ({why})")
    text = _merge_metadata(existing, generated)
    if text == existing:
        return CardUpdate(existing, "unchanged", "README.md: kept (your own card; its metadata is already ours)")
    errors, _ = validate_front_matter(text)
    return CardUpdate(text, "keep", "README.md: your own card is kept; only the metadata ludwig-hub-export "
                      f"writes ({', '.join(OWNED_KEYS)}) is updated. --replace-card replaces it", errors)


def _merge_metadata(existing: str, generated: str) -> str:
    import yaml
    from huggingface_hub import ModelCard, ModelCardData

    from ..card_metadata import split_front_matter

    ours = ModelCardData(**(yaml.safe_load(split_front_matter(generated)[0] or "") or {}))
    front, body = split_front_matter(existing)
    try:  # no front matter: an empty one, so that huggingface_hub does not warn that it found none
        theirs = ModelCard(existing if front is not None else "---\n{}\n---\n" + existing,
                           ignore_metadata_errors=True)
    except (ValueError, yaml.YAMLError):  # front matter that is not a mapping: the Hub could not read it either
        theirs = ModelCard("---\n{}\n---\n" + body, ignore_metadata_errors=True)
    data, new = theirs.data, ours.to_dict()
    for key in OWNED_KEYS:
        if key == "model-index" and ours.eval_results:  # as metadata_update: ours replace the same results
            kept = [r for r in data.eval_results or [] if not any(n.is_equal_except_value(r)
                                                                   for n in ours.eval_results)]
            data.eval_results, data.model_name = kept + ours.eval_results, data.model_name or ours.model_name
        elif key == "tags" and key in new and isinstance(data.get("tags"), list):
            data.tags = data.tags + [t for t in new["tags"] if t not in data.tags]
        elif key in new and key != "model-index":
            data[key] = new[key]
    return str(theirs)


def _adapter(config: dict) -> dict:
    return config.get("adapter") if isinstance(config.get("adapter"), dict) else {}


def _hyperparameters(kind: str, config: dict, adapter_config: dict | None) -> list[str]:
    """Training hyperparameters from the Ludwig config (and the adapter's own config, which has the resolved
    target modules)."""
    trainer = config.get("trainer") if isinstance(config.get("trainer"), dict) else {}
    optimizer = trainer.get("optimizer") if isinstance(trainer.get("optimizer"), dict) else {}
    rows = [("epochs", trainer.get("epochs")), ("learning rate", trainer.get("learning_rate")),
            ("batch size", trainer.get("batch_size")), ("optimizer", optimizer.get("type")),
            ("trainer", trainer.get("type"))]
    if kind in ("adapter", "merged"):
        adapter, peft = _adapter(config), adapter_config or {}
        targets = peft.get("target_modules") or adapter.get("target_modules")
        if isinstance(targets, (list, set, tuple)):
            targets = ", ".join(sorted(str(t) for t in targets))
        rows += [("adapter type", str(peft.get("peft_type") or adapter.get("type") or "").lower()),
                 ("r", peft.get("r", adapter.get("r"))), ("alpha", peft.get("lora_alpha", adapter.get("alpha"))),
                 ("dropout", peft.get("lora_dropout", adapter.get("dropout"))), ("target modules", targets)]
        if kind == "merged":
            rows.append(("merged into the base", "yes"))
    rows = [(k, v) for k, v in rows if v not in (None, "", [])]
    if not rows:
        return []
    return ["## Training hyperparameters", "", "| hyperparameter | value |", "|---|---|"] + \
        [f"| {k} | {v} |" for k, v in rows] + [""]


def _features(config: dict) -> list[str]:
    lines = ["## Inputs and outputs", "", "| role | feature | type |", "|---|---|---|"]
    for role, key in (("input", "input_features"), ("output", "output_features")):
        for feature in config.get(key, []):
            lines.append(f"| {role} | `{feature.get('name')}` | {feature.get('type')} |")
    return lines + [""]


def _metrics(saved: SavedMetrics | None) -> list[str]:
    if saved is None:
        return []
    metrics = {split: {(metric if feature == "combined" else f"{feature} {metric}"): value
                       for feature, values in features.items() for metric, value in values.items()}
               for split, features in saved.metrics.items()}
    names = sorted({m for split in metrics.values() for m in split})
    splits = [s for s in ("training", "validation", "test") if s in metrics]
    lines = [f"## {saved.heading()}", "", saved.sentence(), "",
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
    lines += ["With Ludwig, in one call (the files go through the Hugging Face cache, verified against "
              "`ludwig_export.json` once per commit; a branch, tag or commit goes in `revision=`):", "",
              "```bash", "pip install 'ludwig-hub-export[ludwig]'", "```", "",  # the tests run these as printed
              "```python", f'from ludwig_hub_export import load; model = load("{repo_id}")', "```", "",
              "Or into a directory of your own (`pull` rebuilds the `model/` directory Ludwig loads):", "",
              "```bash", f"ludwig-hub-export pull {repo_id} {local}", "```", ""]
    if kind == "ecd":
        lines += ["```python", "from ludwig.api import LudwigModel", "",
                  f'model = LudwigModel.load("{local}/model")', "```", ""]
    else:  # tested: stock LudwigModel.load of any LLM fails in Ludwig 0.17 (see ludwig_compat)
        lines += ["```python", "from ludwig_hub_export import load_ludwig_model", "",
                  f'model = load_ludwig_model("{local}/model")', "```", "",
                  "`load` and `load_ludwig_model` are `LudwigModel.load` with a workaround: Ludwig 0.17 re-adds "
                  "`\"adapters\": null` to every LLM config it loads and then rejects it "
                  "(`ConfigValidationError: None is not of type 'object'`).", ""]
    if adapter_name:
        lines += [f"The adapter was trained under the name `{adapter_name}`; on the Hub it sits at the repo root.",
                  ""]
    return lines


def hyperopt_section(experiment, trial, where: dict[str, str]) -> str:
    """Markdown for a hyperopt trial's card (`hyperopt.Experiment`, `hyperopt.Trial`): its score and parameters,
    and the sweep's leaderboard linking each published trial (`where`: trial id -> Hub path)."""
    from ..source.hyperopt import format_parameters

    scored = [t for t in experiment.trials if t.score is not None]
    lines = ["## Hyperparameter search", "",
             f"Trial `{trial.trial_id}` of the Ludwig hyperopt `{experiment.name}`: {experiment.metric_label} = "
             f"**{trial.score:.6g}** (goal: {experiment.goal}; rank {trial.rank} of {len(scored)}).", "",
             "| parameter | value |", "|---|---|"]
    for key, value in sorted(trial.parameters.items()):
        lines.append(f"| `{_cell(key)}` | `{_cell(value)}` |")
    lines += ["", "### Leaderboard", "", f"| rank | trial | {_cell(experiment.metric)} | parameters | on the Hub |",
              "|---:|---|---:|---|---|"]
    for t in scored:
        link = f"[{where[t.trial_id].rsplit('/', 1)[-1]}]({where[t.trial_id]})" if t.trial_id in where else \
            "not published"
        me = " (this model)" if t is trial else ""
        lines.append(f"| {t.rank} | `{t.trial_id}`{me} | {t.score:.6g} | {_cell(format_parameters(t.parameters))} "
                     f"| {link} |")
    return "\n".join(lines) + "\n"


def _cell(value) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ").replace("`", "'")[:200]
