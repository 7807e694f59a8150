"""Publish models saved by Ludwig to the Hugging Face Hub: normalize, check, push (with retries, per-file
fallback and resume), verify, and pull back.

The public API is imported lazily so that ``import ludwig_hub_export`` stays cheap.
"""

from __future__ import annotations

__version__ = "0.1.0"

_EXPORTS = {
    "check": ("checks", "check"),
    "CheckReport": ("checks", "CheckReport"),
    "normalize": ("normalization", "normalize"),
    "find_layout": ("layout", "find_layout"),
    "export": ("api", "export"),
    "push": ("publish", "push"),
    "ExportSettings": ("settings", "ExportSettings"),
    "ExportReport": ("report", "ExportReport"),
    "pull": ("retrieve", "pull"),
    "PullResult": ("retrieve", "PullResult"),
    "HubExportCallback": ("callback", "HubExportCallback"),
    "RetryPolicy": ("settings", "RetryPolicy"),
    "HubLimits": ("limits", "HubLimits"),
    "RateQuotas": ("rate_plan", "RateQuotas"),
    "export_sweep": ("sweep", "export_sweep"),
    "SweepReport": ("sweep", "SweepReport"),
    "read_experiment": ("hyperopt", "read_experiment"),
    "ExportError": ("errors", "ExportError"),
    "InvalidModelError": ("errors", "InvalidModelError"),
    "AuthError": ("errors", "AuthError"),
    "HubError": ("errors", "HubError"),
    "UsageError": ("errors", "UsageError"),
    "DeferredError": ("errors", "DeferredError"),
    "StorageError": ("errors", "StorageError"),
    "load_ludwig_model": ("loading", "load_ludwig_model"),
    "load": ("loading", "load"),
}

__all__ = sorted(_EXPORTS) + ["__version__"]


def __getattr__(name: str):
    if name in _EXPORTS:
        import importlib

        module, attr = _EXPORTS[name]
        value = getattr(importlib.import_module(f".{module}", __name__), attr)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
