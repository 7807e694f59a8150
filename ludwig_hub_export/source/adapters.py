"""PEFT adapter files: the config's type and base model, LoRA tensor shapes, and safe pickle conversion.

`check` must stay fast, and ``import peft`` costs seconds, so the config is checked structurally here against
the PEFT types of the *installed* peft (read from its enum module without importing the package).
"""

from __future__ import annotations

import importlib.util
import re
from functools import lru_cache
from pathlib import Path

from ..card_metadata import is_repo_id
from .local_paths import is_local_path
from .safetensors_header import TensorInfo

_LORA_KEY = re.compile(r"^(?P<module>.+)\.(?P<part>lora_A|lora_B|lora_embedding_A|lora_embedding_B)(?:\.[^.]+)?$")
_PREFIX = "base_model.model."


@lru_cache(maxsize=1)
def known_peft_types() -> frozenset[str]:
    """PEFT types the installed peft knows, read from peft/utils/peft_types.py (it imports only enum/typing)."""
    spec = importlib.util.find_spec("peft")
    if spec is None or spec.origin is None:
        return frozenset()
    path = Path(spec.origin).parent / "utils" / "peft_types.py"
    module_spec = importlib.util.spec_from_file_location("_ludwig_hub_export_peft_types", path)
    if module_spec is None or module_spec.loader is None:
        return frozenset()
    module = importlib.util.module_from_spec(module_spec)
    try:
        module_spec.loader.exec_module(module)
        return frozenset(member.value for member in module.PeftType)
    except Exception:  # a peft that reorganised its files: fall back to the real (slow) import
        from ..deps import require

        PeftType = require("peft", "PeftType")
        return frozenset(member.value for member in PeftType)


def base_model_kind(value: object) -> str:
    """'hub' for a Hub model id, 'local' for a filesystem path, 'missing' when there is none."""
    if value is None or value == "":
        return "missing"
    return "hub" if is_repo_id(value) and not is_local_path(value, reference=True) else "local"


def config_problems(config: object) -> list[str]:
    """What is wrong with an adapter_config.json's content (empty when nothing is)."""
    if not isinstance(config, dict):
        return ["must be a JSON object"]
    peft_type = config.get("peft_type")
    if peft_type is None:
        return ['has no "peft_type": it is not a PEFT adapter config']
    if not isinstance(peft_type, str):
        return [f'"peft_type" must be a string, got {peft_type!r}']
    known = known_peft_types()
    if known and peft_type not in known:
        return [f'"peft_type" {peft_type!r} is not a type the installed peft knows ({", ".join(sorted(known))})']
    problems = []
    if peft_type in ("LORA", "ADALORA"):
        r = config.get("r")
        if not isinstance(r, int) or isinstance(r, bool) or r <= 0:
            problems.append(f'"r" must be a positive integer, got {r!r}')
        targets = config.get("target_modules")
        if not targets:
            problems.append('"target_modules" is empty: the adapter would not attach to any layer')
        elif not (isinstance(targets, str) or isinstance(targets, list) and all(isinstance(t, str) for t in targets)):
            problems.append(f'"target_modules" must be a list of module names or a regex, got {targets!r}')
        pattern = config.get("rank_pattern")
        if pattern is not None and not (isinstance(pattern, dict) and all(
                isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in pattern.values())):
            problems.append(f'"rank_pattern" must map module patterns to positive ranks, got {pattern!r}')
    return problems


def lora_shape_problems(config: dict, tensors: dict[str, TensorInfo]) -> list[str]:
    """Tensor shapes versus the config's rank, and every target module present in the weights (for a config
    `config_problems` accepted)."""
    r = config.get("r")
    if config.get("peft_type") != "LORA" or not isinstance(r, int):
        return []
    rank_pattern = config.get("rank_pattern") or {}
    problems = []
    modules: set[str] = set()
    for key, info in sorted(tensors.items()):
        match = _LORA_KEY.match(key)
        if not match:
            continue
        module, part = match["module"], match["part"]
        modules.add(module.removeprefix(_PREFIX))
        rank = _rank_for(module.removeprefix(_PREFIX), r, rank_pattern)
        if len(info.shape) < 2:
            problems.append(f"{key}: shape {list(info.shape)} is not a matrix")
            continue
        # LoRA A maps in -> r (rank first), B maps r -> out (rank second); embeddings swap nothing else.
        actual = info.shape[0] if part.endswith("A") else info.shape[1]
        if actual != rank:
            problems.append(f"{key}: shape {list(info.shape)} has rank {actual}, the config says r={rank}")
    if not modules:
        return problems + ["no LoRA tensors (lora_A / lora_B) in the weights"]
    targets = config.get("target_modules")
    if isinstance(targets, str):
        if targets != "all-linear" and not any(re.fullmatch(targets, m) for m in modules):
            problems.append(f"target_modules regex {targets!r} matches none of the modules with LoRA weights")
    elif isinstance(targets, list):
        names = {m.rsplit(".", 1)[-1] for m in modules} | modules
        missing = [t for t in targets if t not in names and not any(m.endswith("." + t) for m in modules)]
        if missing:
            problems.append(f"target modules {missing} have no LoRA weights in the file")
    return problems


def _rank_for(module: str, r: int, rank_pattern: dict) -> int:
    for pattern, rank in rank_pattern.items():
        if module == pattern or module.endswith("." + pattern) or re.fullmatch(rf"(.*\.)?{pattern}", module):
            return int(rank)
    return r


def convert_pickle_to_safetensors(src: Path, dst: Path) -> list[str]:
    """Load a torch pickle state dict with weights_only=True (no code runs) and write it as safetensors; the tensor
    names, or ValueError when the pickle holds anything but tensors."""
    from ..deps import require

    torch = require("torch")
    save_file = require("safetensors.torch", "save_file")
    try:
        state = torch.load(src, map_location="cpu", weights_only=True)
    except Exception as e:  # weights_only refuses pickles that would run code: that is the point
        raise ValueError(f"{src.name} cannot be loaded safely (weights_only): {str(e).splitlines()[0]}") from None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(f"{src.name} does not hold a plain state dict of tensors")
    # safetensors refuses shared storage; cloning makes every tensor own its memory.
    save_file({k: v.detach().clone().contiguous() for k, v in state.items()}, str(dst), metadata={"format": "pt"})
    return sorted(state)
