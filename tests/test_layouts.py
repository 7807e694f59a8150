"""Layout detection, `check` and `normalize` on real saved Ludwig models and their corruptions."""

from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import FIXTURES, KIND_OF_LAYOUT, MANIFEST, tree_digest

from ludwig_hub_export.source.checks import check
from ludwig_hub_export.errors import InvalidModelError, UsageError
from ludwig_hub_export.source.layout import find_layout
from ludwig_hub_export.source.normalization import normalize

ALL = sorted(MANIFEST)


@pytest.mark.parametrize("name", ALL)
def test_every_fixture_is_detected_as_its_kind(name: str):
    layout = find_layout(FIXTURES / name)
    assert layout.kind == KIND_OF_LAYOUT[MANIFEST[name]["layout"]], layout.reason
    assert layout.model_dir == (FIXTURES / MANIFEST[name]["model_dir"]).resolve()
    assert layout.reason
    if MANIFEST[name]["container"] == "run":
        assert layout.run_dir == layout.model_dir.parent
        assert "training_statistics.json" in layout.files
    assert not any("training_checkpoints" in p or "/logs/" in p for p in layout.files)


@pytest.mark.parametrize("name", [n for n in ALL if MANIFEST[n]["container"] == "run"])
def test_run_is_found_from_model_dir_run_dir_and_results_dir(name: str):
    info = MANIFEST[name]
    paths = [FIXTURES / info["model_dir"], FIXTURES / info["run_dir"], FIXTURES / info["results_dir"], FIXTURES / name]
    layouts = [find_layout(p) for p in paths]
    assert {lay.model_dir for lay in layouts} == {(FIXTURES / info["model_dir"]).resolve()}


def test_named_adapter_and_legacy_formats_are_reported():
    named = find_layout(FIXTURES / "lora_named_adapter")
    assert named.adapter_name == "tiny_adapter"
    assert "model/model_weights/tiny_adapter/adapter_config.json" in named.files
    assert find_layout(FIXTURES / "lora_legacy_bin").legacy == ["model/model_weights/adapter_model.bin"]
    assert find_layout(FIXTURES / "ecd_legacy_pickle").legacy == ["model/model_weights"]


def test_merged_run_exports_merged_model_and_leaves_stale_adapter_out():
    merged = find_layout(FIXTURES / "merged_run")
    assert "model/model_weights/model.safetensors" in merged.files
    assert not any("adapter_" in p for p in merged.files)
    assert set(merged.left_out) == {"model_weights/adapter_config.json", "model_weights/adapter_model.safetensors",
                                    "model_weights/README.md"}
    adapter = find_layout(FIXTURES / "merged_run", prefer_adapter=True)
    assert adapter.kind == "adapter"
    assert "model/model_weights/adapter_model.safetensors" in adapter.files
    assert "model/model_weights/model.safetensors" not in adapter.files


def test_several_runs_need_a_choice_or_latest(tmp_path: Path):
    results = tmp_path / "results"
    for i, name in enumerate(["experiment_run", "experiment_run_1"]):
        shutil.copytree(FIXTURES / "ecd_run" / "results" / "api_experiment_run", results / name)
        os.utime(results / name, (1_000_000 + i, 1_000_000 + i))
    with pytest.raises(UsageError) as err:
        find_layout(results)
    assert "experiment_run" in str(err.value) and "--latest" in str(err.value)
    assert find_layout(results, latest=True).run_dir == (results / "experiment_run_1").resolve()


@pytest.mark.parametrize("name", ["ecd_saved", "ecd_run", "full_saved", "full_sharded", "merged_run",
                                  "ecd_legacy_pickle"])
def test_clean_fixtures_pass_check(name: str):
    report = check(FIXTURES / name, base_model="org/tiny-llama")
    assert report.passed(), report.format()
    # Weights are read only up to the end of their header; small files once each.
    weights = [k for k in report.files if k.endswith(".safetensors")]
    small = sum(size for k, size in report.files.items() if k not in weights and not k.endswith("/model_weights"))
    assert report.headers.keys() == set(weights)
    assert report.bytes_read <= small + sum(h.bytes_read for h in report.headers.values())


@pytest.mark.parametrize("name", ["lora_saved", "lora_run", "lora_named_adapter", "lora_legacy_bin"])
def test_adapters_with_local_base_path_fail_until_a_hub_id_is_given(name: str):
    report = check(FIXTURES / name)
    assert [p.code for p in report.errors] == ["local-base-model"]
    assert "--base-model" in report.errors[0].fix
    assert check(FIXTURES / name, base_model="org/tiny-llama").passed()
    assert check(FIXTURES / name, for_upload=False).passed()


def test_empty_adapter_of_merged_save_is_refused():
    report = check(FIXTURES / "merged_saved", base_model="org/tiny-llama")
    assert [p.code for p in report.errors] == ["empty-adapter"]


# --- corruptions: each fails with its own message, and the source is never touched -----------------------------

def _weights(root: Path, name: str) -> Path:
    return root / "model_weights" / name


def truncate(root: Path) -> None:
    path = _weights(root, "adapter_model.safetensors")
    path.write_bytes(path.read_bytes()[:-100])


def garbage_header(root: Path) -> None:
    path = _weights(root, "adapter_model.safetensors")
    data = path.read_bytes()
    path.write_bytes(data[:8] + b"\x00garbage" + data[16:])


def absurd_header_length(root: Path) -> None:
    path = _weights(root, "adapter_model.safetensors")
    path.write_bytes(struct.pack("<Q", 2**62) + path.read_bytes()[8:])


def invalid_json(root: Path) -> None:
    (root / "training_set_metadata.json").write_text('{"truncated": ')


def missing_adapter_config(root: Path) -> None:
    _weights(root, "adapter_config.json").unlink()


def _edit_adapter_config(root: Path, **changes) -> None:
    path = _weights(root, "adapter_config.json")
    config = json.loads(path.read_text())
    config.update(changes)
    path.write_text(json.dumps(config))


def unknown_peft_type(root: Path) -> None:
    _edit_adapter_config(root, peft_type="SUPER_LORA")


def rank_mismatch(root: Path) -> None:
    _edit_adapter_config(root, r=8)


def missing_target_module(root: Path) -> None:
    _edit_adapter_config(root, target_modules=["q_proj", "v_proj", "o_proj"])


def secret_file(root: Path) -> None:
    (root / "model_weights" / ".env").write_text("HF_TOKEN=x\n")


def token_in_file(root: Path) -> None:
    (root / "model_weights" / "notes.txt").write_text("push with hf_" + "a1B2" * 9 + "\n")


def escaping_symlink(root: Path) -> None:
    outside = root.parent / "outside.txt"
    outside.write_text("not part of the model")
    (root / "model_weights" / "extra.txt").symlink_to(outside)


CORRUPTIONS = {
    "truncated safetensors": ("lora_saved", truncate, "bad-safetensors", "truncated"),
    "garbage header": ("lora_saved", garbage_header, "bad-safetensors", "header"),
    "absurd header length": ("lora_saved", absurd_header_length, "bad-safetensors", "absurd"),
    "invalid JSON": ("lora_saved", invalid_json, "invalid-json", "not valid JSON"),
    "missing adapter config": ("lora_saved", missing_adapter_config, "bad-layout", "neither adapter files"),
    "unknown PEFT type": ("lora_saved", unknown_peft_type, "bad-adapter-config", "SUPER_LORA"),
    "rank mismatch": ("lora_saved", rank_mismatch, "adapter-shape-mismatch", "r=8"),
    "missing target module": ("lora_saved", missing_target_module, "adapter-shape-mismatch", "o_proj"),
    "secret file": ("lora_saved", secret_file, "secret-file", "secrets"),
    "token in a text file": ("lora_saved", token_in_file, "token-in-file", "token"),
    "escaping symlink": ("lora_saved", escaping_symlink, "escaping-symlink", "leaves the model directory"),
}


@pytest.mark.parametrize("case", sorted(CORRUPTIONS))
def test_each_corruption_fails_with_its_own_message(case: str, tmp_path: Path):
    name, corrupt, code, words = CORRUPTIONS[case]
    root = tmp_path / name
    shutil.copytree(FIXTURES / name, root, symlinks=True)
    corrupt(root)
    before = tree_digest(tmp_path)
    report = check(root, base_model="org/tiny-llama")
    assert not report.passed()
    assert code in [p.code for p in report.errors], report.format()
    problem = next(p for p in report.errors if p.code == code)
    assert words in problem.message and problem.fix
    assert tree_digest(tmp_path) == before


def _sharded(tmp_path: Path) -> Path:
    root = tmp_path / "full_sharded"
    shutil.copytree(FIXTURES / "full_sharded", root)
    return root


def test_dangling_and_missing_shards(tmp_path: Path):
    root = _sharded(tmp_path)
    shutil.copy(root / "model_weights" / "model-00003-of-00003.safetensors",
                root / "model_weights" / "model-00004-of-00004.safetensors")
    (root / "model_weights" / "model-00002-of-00003.safetensors").unlink()
    codes = [p.code for p in check(root, base_model="org/tiny-llama").errors]
    assert "dangling-shard" in codes and "missing-shard" in codes


def test_index_that_does_not_match_its_shards(tmp_path: Path):
    root = _sharded(tmp_path)
    index_path = root / "model_weights" / "model.safetensors.index.json"
    index = json.loads(index_path.read_text())
    index["weight_map"]["model.not_a_tensor.weight"] = "model-00001-of-00003.safetensors"
    index_path.write_text(json.dumps(index))
    assert "index-mismatch" in [p.code for p in check(root, base_model="org/tiny-llama").errors]


def test_empty_directory_and_wrong_path(tmp_path: Path):
    (tmp_path / "empty").mkdir()
    report = check(tmp_path / "empty")
    assert "empty" in report.errors[0].message
    with pytest.raises(UsageError, match="no such file or directory"):
        check(tmp_path / "nope")
    with pytest.raises(InvalidModelError):
        find_layout(FIXTURES / "_base")


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ludwig_hub_export", *args], capture_output=True, text=True,
                          timeout=120)


def test_cli_check_reports_twine_style_and_exit_codes(tmp_path: Path):
    ok = _cli("check", str(FIXTURES / "lora_run"), "--base-model", "org/tiny-llama")
    assert ok.returncode == 0 and ok.stdout.strip().endswith("PASSED"), ok.stdout + ok.stderr
    bad = _cli("check", str(FIXTURES / "lora_run"))
    # The adapter's base model path (an error), and the same local path in the Ludwig config and metadata.
    assert bad.returncode == 1 and "FAILED (1 error, 2 warnings)" in bad.stdout
    assert bad.stdout.count("fix: pass --base-model") == 3
    warned = _cli("check", str(FIXTURES / "ecd_legacy_pickle"))
    assert warned.returncode == 0 and "PASSED with warnings" in warned.stdout
    strict = _cli("check", str(FIXTURES / "ecd_legacy_pickle"), "--strict", "--json")
    assert strict.returncode == 1 and json.loads(strict.stdout)["status"] == "FAILED"
    missing = _cli("check", str(tmp_path / "missing"))
    assert missing.returncode == 2 and "no such file or directory" in missing.stderr
    usage = _cli("check")
    assert usage.returncode == 2
    root = tmp_path / "broken"
    shutil.copytree(FIXTURES / "lora_saved", root)
    truncate(root)
    broken = _cli("check", str(root), "--base-model", "org/x")
    assert broken.returncode == 1 and "truncated" in broken.stdout
    for result in (ok, bad, warned, strict, missing, usage, broken):
        assert "Traceback" not in result.stdout + result.stderr


# --- normalize ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ALL)
def test_normalize_hard_links_without_touching_the_source(name: str, tmp_path: Path):
    before = tree_digest(FIXTURES / name)
    result = normalize(FIXTURES / name, tmp_path / "out")
    assert tree_digest(FIXTURES / name) == before
    assert not result.copied
    for normalized, source in result.layout.files.items():
        out = tmp_path / "out" / normalized
        assert os.path.samefile(out, source), normalized
    assert (tmp_path / "out" / "model" / "model_hyperparameters.json").is_file()


def test_normalize_converts_pickles_into_new_files(tmp_path: Path):
    before = tree_digest(FIXTURES / "lora_legacy_bin")
    result = normalize(FIXTURES / "lora_legacy_bin", tmp_path / "out", convert_pickle=True)
    assert result.converted == {"model/model_weights/adapter_model.safetensors": "model/model_weights/adapter_model.bin"}
    assert not (tmp_path / "out" / "model" / "model_weights" / "adapter_model.bin").exists()
    assert tree_digest(FIXTURES / "lora_legacy_bin") == before
    report = check(tmp_path / "out", base_model="org/tiny-llama")
    assert report.passed(), report.format()  # shapes of the converted tensors agree with the config


def test_normalize_refuses_a_destination_inside_the_source_or_not_empty(tmp_path: Path):
    src = tmp_path / "m"
    shutil.copytree(FIXTURES / "ecd_saved", src)
    with pytest.raises(UsageError, match="inside"):
        normalize(src, src / "out")
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "x").write_text("x")
    with pytest.raises(UsageError, match="not empty"):
        normalize(src, tmp_path / "busy")


def test_normalize_copies_across_devices_and_says_so(tmp_path: Path):
    shm = Path("/dev/shm")
    if not shm.is_dir() or os.stat(shm).st_dev == os.stat(tmp_path).st_dev:
        pytest.skip("no second filesystem here")
    dest = Path(__import__("tempfile").mkdtemp(dir=shm))
    try:
        result = normalize(FIXTURES / "ecd_saved", dest / "out")
        assert set(result.copied.values()) == {"different device"}
    finally:
        shutil.rmtree(dest)
