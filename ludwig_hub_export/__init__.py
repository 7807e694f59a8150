"""Publish models saved by Ludwig to the Hugging Face Hub: normalize, check, push (with retries, per-file
fallback and resume), verify, and pull back.

The public API is imported lazily so that ``import ludwig_hub_export`` stays cheap.
"""

from __future__ import annotations

__version__ = "0.1.0"

_EXPORTS = {
    "check": ("source.checks", "check"),
    "CheckReport": ("source.check_report", "CheckReport"),
    "normalize": ("source.normalization", "normalize"),
    "find_layout": ("source.layout", "find_layout"),
    "export": ("workflows.api", "export"),
    "push": ("workflows.push", "push"),
    "ExportSettings": ("settings", "ExportSettings"),
    "ExportReport": ("report", "ExportReport"),
    "pull": ("workflows.pull", "pull"),
    "PullResult": ("workflows.pull", "PullResult"),
    "HubExportCallback": ("workflows.callback", "HubExportCallback"),
    "RetryPolicy": ("settings", "RetryPolicy"),
    "HubLimits": ("limits", "HubLimits"),
    "RateQuotas": ("workflows.rate_plan", "RateQuotas"),
    "export_sweep": ("workflows.sweep", "export_sweep"),
    "SweepReport": ("workflows.sweep", "SweepReport"),
    "read_experiment": ("source.hyperopt", "read_experiment"),
    "ExportError": ("errors", "ExportError"),
    "InvalidModelError": ("errors", "InvalidModelError"),
    "AuthError": ("errors", "AuthError"),
    "HubError": ("errors", "HubError"),
    "UsageError": ("errors", "UsageError"),
    "DeferredError": ("errors", "DeferredError"),
    "StorageError": ("errors", "StorageError"),
    "load_ludwig_model": ("workflows.load", "load_ludwig_model"),
    "load": ("workflows.load", "load"),
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
