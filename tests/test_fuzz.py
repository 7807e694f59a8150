"""Property-based inputs: whatever is on disk, `check` ends in a report or a clear error, never a traceback, a
hang, or a network call."""

from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from helpers import FIXTURES, MANIFEST
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ludwig_hub_export.source.checks import check
from ludwig_hub_export.errors import ExportError
from ludwig_hub_export.source.safetensors_header import DTYPE_BITS, SafetensorsError, read_header

# FUZZ_EXAMPLES=5000 for a deeper run than the suite's.
FUZZ = settings(max_examples=int(os.environ.get("FUZZ_EXAMPLES", "150")), deadline=2000,
                suppress_health_check=[HealthCheck.too_slow])
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**40), 2**40) | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=12,
)


def _check_ends_cleanly(root: Path, **options):
    """A report, or one of our errors: nothing else may escape."""
    try:
        report = check(root, base_model="org/base", **options)
    except ExportError as e:
        assert e.message and e.remedy
        return None
    assert report.status() in ("PASSED", "PASSED with warnings", "FAILED")
    for problem in report.problems:
        assert problem.message and problem.fix
    return report


@st.composite
def safetensors_files(draw) -> bytes:
    """Mostly well-formed files with one thing possibly wrong, plus plain garbage."""
    if draw(st.booleans()) and draw(st.booleans()):
        return draw(st.binary(max_size=300))
    tensors, offset = {}, 0
    for i in range(draw(st.integers(0, 4))):
        dtype = draw(st.sampled_from(sorted(DTYPE_BITS) + ["F128", 7]))
        shape = draw(st.lists(st.integers(-1, 5), max_size=3))
        size = draw(st.integers(0, 64))
        start = offset + draw(st.sampled_from([0, 0, 0, 1, -1]))
        tensors[f"t{i}"] = {"dtype": dtype, "shape": shape, "data_offsets": [start, start + size]}
        offset = start + size
    if draw(st.booleans()):
        tensors["__metadata__"] = draw(st.dictionaries(st.text(max_size=5), st.text(max_size=5) | st.integers(),
                                                       max_size=2))
    header = json.dumps(tensors).encode()
    length = len(header) + draw(st.sampled_from([0, 0, 0, 1, -1, 10**12]))
    data = draw(st.binary(min_size=max(0, offset - 2), max_size=max(0, offset + 2)))
    return struct.pack("<Q", max(0, length)) + header + data


@FUZZ
@given(safetensors_files())
def test_safetensors_header_is_parsed_or_refused_and_passes_only_what_the_library_loads(raw: bytes):
    from safetensors import safe_open

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "w.safetensors"
        path.write_bytes(raw)
        try:
            header = read_header(path)
        except SafetensorsError as e:
            assert str(e)
            return
        with safe_open(str(path), framework="numpy") as f:  # the real library agrees the file is sound
            assert set(f.keys()) == set(header.tensors)


def _adapter_copy(tmp: str) -> Path:
    root = Path(tmp) / "lora_saved"
    shutil.copytree(FIXTURES / "lora_saved", root)
    return root


@FUZZ
@given(safetensors_files())
def test_check_of_a_fuzzed_adapter_weights_file(raw: bytes):
    with tempfile.TemporaryDirectory() as tmp:
        root = _adapter_copy(tmp)
        (root / "model_weights" / "adapter_model.safetensors").write_bytes(raw)
        _check_ends_cleanly(root)


@FUZZ
@given(st.dictionaries(st.sampled_from(["peft_type", "r", "target_modules", "rank_pattern",
                                        "base_model_name_or_path", "lora_alpha", "task_type"]),
                       json_values | st.sampled_from(["LORA", "IA3", "ADALORA"]), max_size=6) | json_values)
def test_check_of_a_fuzzed_adapter_config(config):
    with tempfile.TemporaryDirectory() as tmp:
        root = _adapter_copy(tmp)
        (root / "model_weights" / "adapter_config.json").write_text(json.dumps(config))
        report = _check_ends_cleanly(root)
        if report is not None and not isinstance(config, dict):
            assert not report.passed()


@FUZZ
@given(st.dictionaries(st.sampled_from(["model_type", "input_features", "output_features", "base_model",
                                        "adapter", "adapters", "trainer"]),
                       json_values | st.sampled_from(["llm", "ecd", "gbm"]), max_size=6) | json_values)
def test_check_of_a_fuzzed_ludwig_config(config):
    with tempfile.TemporaryDirectory() as tmp:
        for name in ("lora_saved", "ecd_saved", "merged_run"):
            root = Path(tmp) / name
            shutil.copytree(FIXTURES / name, root)
            model_dir = Path(tmp) / MANIFEST[name]["model_dir"]
            (model_dir / "model_hyperparameters.json").write_text(json.dumps(config))
            _check_ends_cleanly(root)


NAMES = ["model_hyperparameters.json", "training_set_metadata.json", "model_weights", "model_weights.safetensors",
         "model_weights/adapter_config.json", "model_weights/adapter_model.safetensors", "model_weights/config.json",
         "model_weights/model.safetensors", "model_weights/model.safetensors.index.json",
         "model_weights/model-00001-of-00002.safetensors", "model_weights/a/adapter_config.json",
         "model/model_hyperparameters.json", "model/model_weights.safetensors", "results/run/model/x.json",
         "training_statistics.json", ".env"]


@FUZZ
@given(st.dictionaries(st.sampled_from(NAMES), st.sampled_from([b"", b"{}", b"[]", b"{", b"\x00" * 16,
                                                                b'{"model_type": "llm"}']), max_size=8),
       st.booleans())
def test_check_of_fuzzed_directory_shapes(files: dict[str, bytes], latest: bool):
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "m"
        root.mkdir()
        for name, data in sorted(files.items()):
            path = root / name
            if any(parent.is_file() for parent in path.parents):
                continue  # a file already stands where this needs a directory
            if path.is_dir():
                continue
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        _check_ends_cleanly(root, latest=latest)


def test_fuzzing_made_no_network_call(local_hub):
    assert local_hub.requests() == []


def test_check_does_not_even_import_the_hub_client():
    code = ("import sys; from ludwig_hub_export.source.checks import check; "
            f"check({str(FIXTURES / 'lora_saved')!r}, base_model='org/base'); "
            "print(sorted(m for m in ('huggingface_hub', 'httpx2', 'peft', 'ludwig', 'torch') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("raw", [b"", b"\xff" * 8, struct.pack("<Q", 2) + b"{}", struct.pack("<Q", 4) + b"[1] "])
def test_tiny_and_odd_safetensors_files(raw, tmp_path):
    path = tmp_path / "w.safetensors"
    path.write_bytes(raw)
    try:
        header = read_header(path)
        assert header.tensors == {}
    except SafetensorsError:
        pass
