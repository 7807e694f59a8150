"""Importing the heavy libraries (Ludwig, PEFT, transformers, torch): `require` turns any import failure into one
`DependencyError` naming the package, the versions and the fix, since a user's environment may hold a set that
does not import together (torchaudio refusing a torch built for another CUDA). ``python -m ludwig_hub_export.deps
--check`` is the setup's import check of what users' code imports.
"""

from __future__ import annotations

import importlib
import logging
import sys
import traceback
import warnings
from importlib import metadata

from .errors import ExportError, cause_chain

# The packages whose versions must agree with each other; named in every message about a broken set.
TORCH_FAMILY = ("torch", "torchaudio", "torchvision", "torchcodec")
# What to install for each heavy module that is missing altogether.
_EXTRA_FOR = {"ludwig": "ludwig", "accelerate": "ludwig", "ray": "hyperopt", "dask": "hyperopt",
              "s3fs": "s3", "gcsfs": "gcs", "adlfs": "azure"}
# What users' code imports after a pull; the setup checks exactly these.
USER_IMPORTS = ("peft", "transformers", "ludwig.api:LudwigModel")


class DependencyError(ExportError):
    """A library the command needs is missing or does not import in this environment."""


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def _culprit(error: BaseException) -> str | None:
    """The top-level package whose code raised `error` (the deepest site-packages frame)."""
    culprit = None
    for frame in traceback.extract_tb(error.__traceback__):
        _, found, rest = frame.filename.replace("\\", "/").partition("/site-packages/")
        if found and rest:
            culprit = rest.split("/")[0].removesuffix(".py")
    return culprit


def explain_import_failure(module: str, error: BaseException) -> DependencyError:
    """One message for any failure to import `module`: what is missing or broken, and what to do."""
    top = module.split(".")[0]
    if isinstance(error, ModuleNotFoundError) and error.name and error.name.split(".")[0] == top:
        extra = _EXTRA_FOR.get(top)
        how = f"pip install 'ludwig-hub-export[{extra}]'" if extra else f"pip install {top}"
        return DependencyError(f"{top} is not installed, and this command needs it", how)
    # Lazy importers (transformers) re-raise with a vaguer message: the first failure is the informative one.
    *_, root = cause_chain(error)
    culprit = _culprit(root) or (root.name.split(".")[0] if isinstance(root, ImportError) and root.name else top)
    versions = ", ".join(f"{name} {v}" for name in TORCH_FAMILY if (v := _version(name)))
    first_line = (str(root).strip().splitlines() or [type(root).__name__])[0]
    message = (f"importing {module} failed in {culprit}: {type(root).__name__}: {first_line}"
               + (f" (installed: {versions})" if versions else ""))
    if culprit in TORCH_FAMILY or any(name in first_line.lower() for name in TORCH_FAMILY):
        remedy = ("install torch, torchaudio and torchvision releases built together (the same CUDA), e.g. "
                  "pin torch to the release line of the newest torchaudio: pip install 'torch<2.15'; "
                  "or build the project's tested set with `make env` (from uv.lock)")
    else:
        remedy = (f"reinstall {culprit} at a version that works with the rest "
                  f"(pip install --force-reinstall {culprit}), or use the project's tested set (`make env`)")
    return DependencyError(message, remedy)


def _drop_kernels_hint(record: logging.LogRecord) -> bool:
    # bitsandbytes asks, on every import, for the optional `kernels` package, which would download code from
    # the Hub at run time: nobody using this tool can or should act on it.
    return "gemm_4bit_forward" not in record.getMessage()


def quiet_third_party() -> None:
    """Drop the one import-time message that is noise for everyone (safe inside a user's own process)."""
    logging.getLogger("bitsandbytes.backends.cpu.ops").addFilter(_drop_kernels_hint)  # added once: addFilter dedups


def quiet_for_commands() -> None:
    """For our own commands (not a user's process): hide the libraries' warnings the user cannot act on (how
    Ludwig calls them, deprecations); our output and real errors are untouched."""
    quiet_third_party()
    for category in (DeprecationWarning, FutureWarning, UserWarning):
        for origin in ("transformers", "ludwig", "peft", "torch", "torchaudio", "torchvision", "ray", "dask"):
            warnings.filterwarnings("ignore", category=category, module=rf"{origin}(\.|$)")
    try:  # transformers' own logger: generation-argument notices raised by Ludwig's predict
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()
        if not sys.stderr.isatty():
            hf_logging.disable_progress_bar()
    except Exception:  # noqa: BLE001 - transformers missing or broken: `require` reports that where it matters
        pass


def require(module: str, attribute: str | None = None):
    """Import `module` (and return `attribute` of it), or raise a `DependencyError` with the remedy."""
    quiet_third_party()
    try:
        imported = importlib.import_module(module)
        return getattr(imported, attribute) if attribute else imported
    except Exception as error:  # noqa: BLE001 - any failure to import becomes one clear message
        raise explain_import_failure(module, error) from error


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv not in ([], ["--check"]):
        print("usage: python -m ludwig_hub_export.deps [--check]", file=sys.stderr)
        return 2
    problems = []
    for name in USER_IMPORTS:
        module, _, attribute = name.partition(":")
        try:
            require(module, attribute or None)
        except DependencyError as e:
            problems.append(f"{e.message}\n  -> {e.remedy}")
    for line in problems:
        print(f"error: {line}", file=sys.stderr)
    if not problems:
        print("import check: " + ", ".join(n.replace(":", ".") for n in USER_IMPORTS) + " import cleanly")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
