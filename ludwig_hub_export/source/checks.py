"""`check`: like ``twine check``, every problem knowable before any network call (file, what is wrong, the fix),
read cheaply: weight files only up to the end of their safetensors header. The report: `check_report.py`."""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from . import adapters
from .check_report import CheckReport, Problem
from ..card_metadata import is_repo_id
from ..errors import InvalidModelError, UsageError
from .layout import find_layout
from .saved_model import ADAPTER_CONFIG, ADAPTER_WEIGHTS, HYPERPARAMETERS, METADATA, ModelLayout
from ..limits import HubLimits, human_size
from .local_paths import unresolved
from .safetensors_header import SafetensorsError, SafetensorsHeader, read_header
from .storage import display
from .user_files import not_regular, parse_json, read_regular

_HF_TOKEN = re.compile(rb"\bhf_[A-Za-z0-9]{30,}\b")
_SECRET_NAMES = (".env", ".netrc", ".git-credentials", "credentials.json", "id_rsa", "id_ed25519", ".pypirc")
_SECRET_SUFFIXES = (".pem", ".key", ".p12")
_TEXT_SUFFIXES = (".json", ".md", ".txt", ".yaml", ".yml", ".cfg", ".ini", ".py", ".sh", ".toml", ".csv", "")
_SCAN_LIMIT = 20 * 1000 * 1000  # text files above this are not scanned for tokens
INVALID = object()  # read_json's answer for a file that does not parse (JSON null is a valid value)
_SHARD = re.compile(r"^(model|pytorch_model)-\d+-of-\d+\.(safetensors|bin)$")


@dataclass
class _Checker:
    layout: ModelLayout
    report: CheckReport
    base_model: str | None
    limits: HubLimits
    convert_pickle: bool
    for_upload: bool
    _small_files: dict[Path, bytes] = field(default_factory=dict)

    def add(self, severity: str, path, message: str, fix: str, code: str) -> None:
        shown = path
        if not isinstance(path, str):  # a local `Path` or a `StoragePath`: shown from the model's folder
            try:
                shown = str(path.relative_to(self.layout.run_dir or self.layout.model_dir))
            except ValueError:
                shown = str(path)
        problem = Problem(severity, shown, message, fix, code)
        if problem not in self.report.problems:  # a file two checks read (a bad JSON) is reported once
            self.report.problems.append(problem)

    def read_small(self, path: Path) -> bytes:
        """Whole small files (JSON, text), read once even when two checks need them."""
        raw = self._small_files.get(path)
        if raw is None:
            try:  # a file swapped for a FIFO or a directory since the listing: refused, never waited on
                raw = read_regular(path)
            except OSError as e:
                self.add("error", path, f"cannot be read ({e.strerror or e})", "replace it with a regular file, or "
                         "remove it from the model directory", "unreadable-file")
                raw = b""
            self._small_files[path] = raw
            self.report.bytes_read += len(raw)
        return raw

    def read_json(self, path: Path) -> object:
        raw = self.read_small(path)
        try:
            return parse_json(raw)
        except (UnicodeDecodeError, ValueError) as e:
            self.add("error", path, f"not valid JSON ({e})", "restore the file from the training run or save the "
                     "model again", "invalid-json")
            return INVALID

    def header(self, normalized: str) -> SafetensorsHeader | None:
        path = self.layout.files[normalized]
        try:
            header = read_header(path)
        except SafetensorsError as e:
            self.add("error", path, f"corrupt safetensors file: {e}", "the file is damaged or incomplete: save "
                     "the model again, or copy it again from where it was trained", "bad-safetensors")
            return None
        self.report.bytes_read += header.bytes_read
        self.report.headers[normalized] = header
        return header

    # --- the checks ---------------------------------------------------------------------------------------
    def run(self) -> None:
        self.check_files_exist_and_stay_inside()
        self.check_json_and_config()
        if self.layout.kind == "ecd":
            if "model/model_weights.safetensors" in self.layout.files:
                self.header("model/model_weights.safetensors")
        elif self.layout.kind == "adapter":
            self.check_adapter()
        else:
            self.check_full()
        self.check_legacy()
        self.check_local_paths()
        self.check_limits()
        self.check_secrets()

    def check_files_exist_and_stay_inside(self) -> None:
        roots = [r.resolve() for r in (self.layout.model_dir, self.layout.run_dir) if r is not None]
        for normalized, path in list(self.layout.files.items()):
            problem = None
            if path.is_symlink():
                try:
                    target = path.resolve()
                except (OSError, RuntimeError):  # a symlink loop (RuntimeError before Python 3.13)
                    target = None
                if target is None or not target.exists():
                    problem = ("symlink loop" if target is None else f"broken symlink to {os.readlink(path)}",
                               "replace it with the real file", "broken-symlink")
                elif not any(target.is_relative_to(root) for root in roots):
                    problem = (f"symlink leaves the model directory (-> {target})", "copy the file into the model "
                               "directory if it belongs to the model; nothing outside it is uploaded",
                               "escaping-symlink")
            if problem is None and isinstance(path, Path) and (kind := not_regular(path)) is not None:
                problem = (f"is {kind}, not a regular file" if kind.startswith("a ") else kind,  # never opened
                           "replace it with the real file, or remove it from the model directory", "not-a-file")
            if problem:
                self.add("error", path, *problem)
                del self.layout.files[normalized]
            else:
                self.report.files[normalized] = path.stat().st_size

    def check_json_and_config(self) -> None:
        for normalized, path in self.layout.files.items():
            if path.suffix == ".json" and normalized not in self.layout.legacy:
                value = self.read_json(path)
                if normalized == f"model/{HYPERPARAMETERS}" and value is not INVALID:
                    self.check_ludwig_config(path, value)
        if f"model/{METADATA}" not in self.layout.files:
            self.add("error", self.layout.model_dir / METADATA, "missing: LudwigModel.load needs it to rebuild "
                     "the preprocessing", "save the model with model.save(), which writes it", "missing-metadata")

    def check_ludwig_config(self, path: Path, config: object) -> None:
        if not isinstance(config, dict):
            return
        for key in ("input_features", "output_features"):
            features = config.get(key)
            if not isinstance(features, list) or not features or not all(
                    isinstance(f, dict) and f.get("name") and f.get("type") for f in features):
                self.add("error", path, f'"{key}" must be a non-empty list of features with a name and a type',
                         "this is not a complete Ludwig config: save the model again", "bad-config")
        model_type = config.get("model_type", "ecd")
        if model_type not in ("ecd", "llm", "gbm"):
            self.add("error", path, f"unknown model_type {model_type!r}", "use a config written by Ludwig",
                     "bad-config")

    def check_adapter(self) -> None:
        prefix = self.layout.adapter_prefix
        config_key = f"{prefix}{ADAPTER_CONFIG}"
        weights_key = next((k for k in (f"{prefix}{n}" for n in ADAPTER_WEIGHTS) if k in self.layout.files), None)
        if config_key not in self.layout.files:
            self.add("error", self.layout.model_dir / config_key.removeprefix("model/"), "missing",
                     "save the adapter with model.save() or PEFT's save_pretrained", "missing-adapter-config")
            return
        path = self.layout.files[config_key]
        config = self.read_json(path)
        if config is INVALID:
            return
        config_problems = adapters.config_problems(config)
        for message in config_problems:
            self.add("error", path, message, "use the adapter_config.json PEFT wrote for these weights",
                     "bad-adapter-config")
        if not isinstance(config, dict):
            return
        self.check_base_model(path, config.get("base_model_name_or_path"), required=True)
        if weights_key is None:
            self.add("error", path.parent, "no adapter weights (adapter_model.safetensors or adapter_model.bin)",
                     "save the adapter again", "missing-adapter-weights")
            return
        if weights_key.endswith(".safetensors"):
            header = self.header(weights_key)
            if header is not None and not header.tensors:
                self.add("error", self.layout.files[weights_key], "the adapter holds no tensors: after "
                         "merge_adapter_into_base_model, model.save() keeps only an empty adapter and loading it "
                         "gives a freshly initialised one", "export the training run directory, whose "
                         "model_weights/ holds the merged model", "empty-adapter")
            elif header is not None and not config_problems:
                for message in adapters.lora_shape_problems(config, header.tensors):
                    self.add("error", self.layout.files[weights_key], message, "the weights and adapter_config.json "
                             "come from different adapters: save the adapter again", "adapter-shape-mismatch")

    def check_base_model(self, path: Path, value: object, required: bool) -> None:
        if self.base_model is not None:
            if not is_repo_id(self.base_model):
                raise UsageError(f"--base-model {self.base_model!r} is not a Hub model id",
                                 "use the form ORG/NAME, e.g. meta-llama/Llama-3.2-1B")
            return
        kind = adapters.base_model_kind(value)
        if kind == "hub" or not self.for_upload:
            return
        what = "is a local path" if kind == "local" else "is missing"
        message = f"base_model_name_or_path {what}" + (f" ({value})" if kind == "local" else "") + \
            ": people who download the model cannot find the base model"
        fix = "pass --base-model ORG/NAME with the Hub id of the base model; the uploaded copy gets it, your " \
              "files are not changed"
        self.add("error" if required else "warning", path, message, fix, "local-base-model")

    def check_local_paths(self) -> None:
        """Local paths in the uploaded JSON that --base-model does not replace (`local_paths.unresolved`)."""
        if not self.for_upload:
            return
        files, hub_id = self.layout.files, self.base_model if is_repo_id(self.base_model) else None
        documents = {k: self.read_json(p) for k, p in files.items() if k.endswith(".json") and k.startswith(
            ("model/", "training_statistics")) and k not in self.layout.legacy and not k.endswith("/tokenizer.json")}
        for key, left in unresolved({k: v for k, v in documents.items() if v is not INVALID}, hub_id).items():
            shown = ", ".join(f"{f.where} = {f.value}" for f in left[:3]) + \
                (f" (+{len(left) - 3} more)" if len(left) > 3 else "")
            fix = "pass --base-model ORG/NAME with the Hub id of the model at that path; the uploaded copy gets " \
                "it, your files are not changed" if hub_id is None else "this path is not the base model's, so " \
                "--base-model does not replace it: name that model by its Hub id in the config, and save again"
            self.add("warning", files[key], f"publishes {len(left)} local path{'s' * (len(left) != 1)} of this "
                     f"machine, which people who download the model cannot use: {shown}", fix, "local-path")

    def check_full(self) -> None:
        files = self.layout.files
        config_key = "model/model_weights/config.json"
        if config_key not in files:
            self.add("error", self.layout.model_dir / "model_weights" / "config.json", "missing: transformers "
                     "cannot load the model without it", "save the model again", "missing-config")
        else:
            config = self.read_json(files[config_key])
            if config is not INVALID and not (isinstance(config, dict) and config.get("model_type")):
                self.add("error", files[config_key], 'has no "model_type"', "use the config.json transformers "
                         "wrote for this model", "bad-config")
        self.check_base_model(self.layout.model_dir / HYPERPARAMETERS, self.layout.config.get("base_model"),
                              required=False)
        index_key = "model/model_weights/model.safetensors.index.json"
        if index_key in files:
            self.check_shards(index_key)
        elif "model/model_weights/model.safetensors" in files:
            self.header("model/model_weights/model.safetensors")
        for key in [] if index_key in files else [k for k in files if _SHARD.match(PurePosixPath(k).name)]:
            self.add("error", files[key], "shard without model.safetensors.index.json", "copy the index file from "
                     "the training run", "orphan-shard")

    def check_shards(self, index_key: str) -> None:
        files = self.layout.files
        index = self.read_json(files[index_key])
        weight_map = index.get("weight_map") if isinstance(index, dict) else None
        if not isinstance(weight_map, dict) or not weight_map or not all(isinstance(v, str)
                                                                         for v in weight_map.values()):
            if index is not INVALID:
                self.add("error", files[index_key], 'has no "weight_map"', "copy the index from the training run",
                         "bad-index")
            return
        listed = set(weight_map.values())
        present = {PurePosixPath(k).name for k in files if _SHARD.match(PurePosixPath(k).name)}
        for shard in sorted(listed - present):
            self.add("error", files[index_key], f"lists shard {shard}, which is missing", "copy the missing "
                     "shard from the training run", "missing-shard")
        for shard in sorted(present - listed):
            self.add("error", files[f"model/model_weights/{shard}"], "shard is not in the index (dangling)",
                     "remove it, or copy the matching index file", "dangling-shard")
        tensors_in: dict[str, set[str]] = {}
        for shard in sorted(listed & present):
            header = self.header(f"model/model_weights/{shard}")
            if header is not None:
                tensors_in[shard] = set(header.tensors)
        missing = [name for name, shard in weight_map.items() if shard in tensors_in and name not in tensors_in[shard]]
        if missing:
            self.add("error", files[index_key], f"{len(missing)} tensors the index places in a shard are not in "
                     f"it (first: {missing[0]})", "the index and shards come from different saves: save again",
                     "index-mismatch")

    def check_legacy(self) -> None:
        for normalized in [] if self.convert_pickle else self.layout.legacy:
            self.add("warning", self.layout.files[normalized], "pickle weights: loading a pickle can run arbitrary code, so many users "
                     "will not load it", "pass --convert-pickle to upload a safetensors copy (loaded safely, "
                     "with weights_only; your file is not changed)", "pickle-weights")

    def check_limits(self) -> None:
        limits = self.limits
        for normalized, size in self.report.files.items():
            path = self.layout.files[normalized]
            if size > limits.max_file_size:
                self.add("error", path, f"{human_size(size)} is over the Hub's {human_size(limits.max_file_size)} "
                         "file limit", "shard the weights (save_pretrained max_shard_size)", "file-too-large")
            elif size > limits.recommended_file_size:
                self.add("warning", path, f"{human_size(size)} is over the recommended "
                         f"{human_size(limits.recommended_file_size)}", "consider sharding the weights",
                         "file-large")
        per_folder: dict[str, set[str]] = {}
        for normalized in self.report.files:
            parts = PurePosixPath(normalized).parts
            for depth in range(len(parts)):
                per_folder.setdefault("/".join(parts[:depth]), set()).add(parts[depth])
        for folder, names in per_folder.items():
            if len(names) > limits.max_entries_per_folder:
                self.add("error", folder or ".", f"{len(names)} entries in one folder; the Hub allows "
                         f"{limits.max_entries_per_folder}", "group the files into subfolders", "folder-too-big")
        if len(self.report.files) > limits.max_files_per_repo:
            self.add("error", str(self.layout.source), f"{len(self.report.files)} files; the Hub allows "
                     f"{limits.max_files_per_repo} per repo", "pack small files together", "too-many-files")
        total = sum(self.report.files.values())
        if total > limits.recommended_repo_size:
            self.add("warning", str(self.layout.source), f"{human_size(total)} in all: above "
                     f"{human_size(limits.recommended_repo_size)} the Hub asks you to contact them",
                     "contact the Hub team before pushing", "repo-large")

    def check_secrets(self) -> None:
        for normalized, path in self.layout.files.items():
            name = path.name
            if name in _SECRET_NAMES or name.startswith(".env") or name.endswith(_SECRET_SUFFIXES):
                self.add("error", path, "looks like a secrets file; it would be published", "delete it from the "
                         "model directory (and rotate what it holds if it was ever shared)", "secret-file")
                continue
            size = self.report.files.get(normalized, 0)
            if path.suffix in _TEXT_SUFFIXES and size <= _SCAN_LIMIT and normalized not in self.layout.legacy:
                if _HF_TOKEN.search(self.read_small(path)):
                    self.add("error", path, "contains what looks like a Hugging Face token (hf_...)", "remove the "
                             "token from the file, and revoke it at huggingface.co/settings/tokens",
                             "token-in-file")


def check(path: str | Path, *, base_model: str | None = None, latest: bool = False, prefer_adapter: bool = False,
          limits: HubLimits | None = None, convert_pickle: bool = False, for_upload: bool = True,
          storage_options: dict | None = None) -> CheckReport:
    """Inspect a saved Ludwig model (a local path or a URL) without touching the Hub; UsageError for a wrong path.
    `for_upload=False` accepts a local base model path (fine for a model that stays on disk)."""
    started = time.perf_counter()
    report = CheckReport(source=display(str(path)))
    try:
        layout = find_layout(path, latest=latest, prefer_adapter=prefer_adapter, storage_options=storage_options)
    except InvalidModelError as e:
        report.problems.append(Problem("error", str(path), e.message, e.remedy or "", "bad-layout"))
    else:
        report.layout = layout
        report.kind, report.kind_reason = layout.kind, layout.reason
        report.left_out = dict(layout.left_out)
        _Checker(layout, report, base_model, limits or HubLimits(), convert_pickle, for_upload).run()
    report.seconds = time.perf_counter() - started
    return report
