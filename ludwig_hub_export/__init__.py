"""Publish models saved by Ludwig to the Hugging Face Hub: normalize, check, push (with retries, per-file
fallback and resume), verify, and pull back.

The public API is imported lazily so that ``import ludwig_hub_export`` stays cheap.
"""

from __future__ import annotations

__version__ = "0.1.0"

# each public name -> the module that holds it (imported on first use)
_EXPORTS = {name: module for module, names in {
    "source.checks": "check", "source.check_report": "CheckReport", "source.normalization": "normalize",
    "source.layout": "find_layout", "workflows.api": "export", "workflows.push": "push",
    "settings": "ExportSettings RetryPolicy", "report": "ExportReport", "workflows.pull": "pull PullResult",
    "workflows.callback": "HubExportCallback", "limits": "HubLimits", "workflows.rate_plan": "RateQuotas",
    "workflows.sweep": "export_sweep SweepReport", "source.hyperopt": "read_experiment",
    "errors": "ExportError InvalidModelError AuthError HubError UsageError DeferredError StorageError",
    "workflows.load": "load_ludwig_model load",
}.items() for name in names.split()}

__all__ = sorted(_EXPORTS) + ["__version__"]


def __getattr__(name: str):
    if name in _EXPORTS:
        import importlib

        value = getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
