"""Load a saved Ludwig model, working around Ludwig 0.17's null ``adapters`` bug: it saves LLM configs with
``"adapters": null`` (and null ``active``/``merge``) that its own schema rejects on load, and re-renders the config
before validating, so editing the file cannot help: the load is retried with ``ModelConfig.from_dict`` dropping
those keys in memory. Ludwig is imported only to load (every push imports this module for `drop_null_adapters`).
"""

from __future__ import annotations

import contextlib
import copy
import json
import threading
from pathlib import Path

_PATCH_LOCK = threading.Lock()


def drop_null_adapters(config: dict) -> list[str]:
    """Remove the null-valued adapter keys Ludwig writes but cannot read back; returns what was dropped."""
    dropped = []
    if "adapters" in config and config["adapters"] is None:
        del config["adapters"]
        dropped.append("adapters")
    elif isinstance(config.get("adapters"), dict):
        for key in ("merge", "active"):
            if key in config["adapters"] and config["adapters"][key] is None:
                del config["adapters"][key]
                dropped.append(f"adapters.{key}")
        if "adapter" in config and config["adapter"] is None:
            del config["adapter"]
            dropped.append("adapter")
    return dropped


@contextlib.contextmanager
def _tolerate_null_adapters():
    from ..deps import require

    ModelConfig = require("ludwig.schema.model_types.base", "ModelConfig")
    original = ModelConfig.__dict__["from_dict"]

    def from_dict(config):
        config = copy.deepcopy(config)
        drop_null_adapters(config)
        return original.__func__(config)

    with _PATCH_LOCK:
        ModelConfig.from_dict = staticmethod(from_dict)
        try:
            yield
        finally:
            ModelConfig.from_dict = original


def load_model(model_dir: str | Path, logging_level: int | None = None, **kwargs):
    """``LudwigModel.load(model_dir, **kwargs)``, retried with the workaround when Ludwig trips over its own config
    (`logging_level`: logging.ERROR unless given). A model on the Hub: `loading.load_ludwig_model`."""
    import logging  # here: every push imports this module, and only loading a model needs it

    from ..deps import require

    LudwigModel = require("ludwig.api", "LudwigModel")
    ConfigValidationError = require("ludwig.error", "ConfigValidationError")
    kwargs["logging_level"] = logging.ERROR if logging_level is None else logging_level
    try:
        return LudwigModel.load(str(model_dir), **kwargs)
    except ConfigValidationError:
        config = json.loads((Path(model_dir) / "model_hyperparameters.json").read_text())
        # An LLM config fails even without null keys in the file (load re-renders them, e.g. the uploaded
        # ludwig_config.json, which has them dropped); other failures are real.
        if not drop_null_adapters(config) and config.get("model_type") != "llm":
            raise
    with _tolerate_null_adapters():
        return LudwigModel.load(str(model_dir), **kwargs)
