"""A user's environment that does not import together gets one clear line, not a traceback wall."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from ludwig_hub_export.deps import DependencyError, require

# What torchaudio raises when torch was built for another CUDA (torch 2.15 / CUDA 13.2 beside torchaudio 2.11).
MISMATCH = ("Detected that PyTorch and TorchAudio were compiled with different CUDA versions. PyTorch has CUDA "
            "version 13.2 whereas TorchAudio has CUDA version 13.0. Please install the TorchAudio version that "
            "matches your PyTorch version.")


@pytest.fixture
def broken_torchaudio(tmp_path):
    """An environment whose torchaudio refuses the installed torch, as pip's newest-of-each set did."""
    site = tmp_path / "site-packages"
    (site / "torchaudio").mkdir(parents=True)
    (site / "torchaudio" / "__init__.py").write_text(f"raise RuntimeError({MISMATCH!r})\n")
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")])}


def test_setup_import_check_names_the_broken_package_in_one_line(broken_torchaudio):
    out = subprocess.run([sys.executable, "-m", "ludwig_hub_export.deps", "--check"], env=broken_torchaudio,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 1
    assert "Traceback" not in out.stderr
    errors = [line for line in out.stderr.splitlines() if line.startswith("error: ")]
    # transformers imports lazily: peft's import fails inside it with a vague message; the cause is named.
    assert errors == [f"error: importing {module} failed in torchaudio: RuntimeError: {MISMATCH} "
                      f"(installed: {_torch_versions()})" for module in ("peft", "ludwig.api")], out.stderr
    assert "make env" in out.stderr and "torch<2.15" in out.stderr


def test_loading_a_pulled_model_is_a_dependency_error_not_a_crash(broken_torchaudio, tmp_path):
    code = ("import sys\nfrom ludwig_hub_export import load_ludwig_model\n"
            "from ludwig_hub_export.errors import ExportError\n"
            "try:\n    load_ludwig_model(sys.argv[1])\n"
            "except ExportError as e:\n    print(type(e).__name__, e.exit_code, e.message.split(':')[0])\n")
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path)], env=broken_torchaudio, capture_output=True,
                         text=True, timeout=300)
    assert out.stdout.strip() == "DependencyError 1 importing ludwig.api failed in torchaudio", out.stderr


def test_a_missing_optional_package_says_which_extra_to_install():
    pytest.importorskip("ludwig_hub_export")
    if any(p for p in sys.path if os.path.isdir(os.path.join(p, "gcsfs"))):
        pytest.skip("gcsfs is installed here")
    with pytest.raises(DependencyError) as err:
        require("gcsfs")
    assert err.value.message == "gcsfs is not installed, and this command needs it"
    assert err.value.remedy == "pip install 'ludwig-hub-export[gcs]'"


def _torch_versions() -> str:
    from importlib import metadata

    found = []
    for name in ("torch", "torchaudio", "torchvision", "torchcodec"):
        try:
            found.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            pass
    return ", ".join(found)


def test_every_public_name_is_what_it_says_whichever_module_was_imported_first():
    """`from ludwig_hub_export import pull` must give the function even after `ludwig_hub_export.<module>` was
    imported: a submodule named like a public function would replace it on the package (module not callable)."""
    code = ("import importlib, pkgutil, types, ludwig_hub_export as p\n"
            "for m in pkgutil.iter_modules(p.__path__):\n"
            "    if m.name not in ('__main__', 'demo'):\n"
            "        importlib.import_module('ludwig_hub_export.' + m.name)\n"
            "bad = [n for n in p.__all__ if isinstance(getattr(p, n), types.ModuleType)]\n"
            "print(bad)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "[]"
