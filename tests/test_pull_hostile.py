"""`pull` against repos built to attack it: crafted directly in the local Hub (files and manifests committed
with the real client), then pulled through the command line's entry point.

Every case must end with exit 1 (bad repo) or 4 (network), name the problem and the field, print no
traceback, and write nothing outside DEST (a listing of DEST's parent is taken before and after).
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ludwig_hub_export.cli.main import main
from ludwig_hub_export.errors import HubError, UntrustedRepoError
from ludwig_hub_export.workflows.pull import pull
from ludwig_hub_export.hub.retry import RetryPolicy
from ludwig_hub_export.artifact.safe_paths import STAGING, resolve_inside

REPO = "tester/hostile"
FAST = RetryPolicy(max_attempts=2, base_delay=0.01, max_delay=0.05, budget=30)
FILES = {  # a small ECD-shaped repo: repo path -> (bytes, ludwig_path)
    "model_weights.safetensors": (b"\x08\x00\x00\x00\x00\x00\x00\x00{}      " + bytes(range(256)) * 64,
                                  "model/model_weights.safetensors"),
    "ludwig_config.json": (b'{"model_type": "ecd"}\n', "model/model_hyperparameters.json"),
    "training_set_metadata.json": (b"{}\n", "model/training_set_metadata.json"),
    "README.md": (b"---\nlibrary_name: ludwig\n---\n# hostile\n", None),
}


def entry(path: str, data: bytes, ludwig_path: str | None) -> dict:
    return {"path": path, "size": len(data), "sha256": hashlib.sha256(data).hexdigest(), "ludwig_path": ludwig_path}


def good_manifest(files: dict = FILES) -> dict:
    return {"format": 1, "kind": "ecd", "adapter_name": None, "base_model": None, "versions": {"ludwig": "0.17.10"},
            "files": [entry(p, data, lp) for p, (data, lp) in files.items()]}


def craft(hub_api, manifest, files: dict = FILES, repo: str = REPO) -> None:
    """One commit holding `files` and `manifest` (a dict, or raw bytes for the malformed ones)."""
    from huggingface_hub import CommitOperationAdd

    hub_api.create_repo(repo, exist_ok=True)
    raw = manifest if isinstance(manifest, bytes) else json.dumps(manifest).encode()
    ops = [CommitOperationAdd(path, data) for path, (data, _) in files.items()]
    ops.append(CommitOperationAdd("ludwig_export.json", raw))
    hub_api.create_commit(repo, ops, commit_message="crafted")


def listing(root: Path, skip: Path) -> dict[str, str]:
    out = {}
    for path in sorted(root.rglob("*")):
        if path == skip or skip in path.parents:
            continue
        out[str(path.relative_to(root))] = "dir" if path.is_dir() else hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def run_pull(tmp_path: Path, capsys, *extra: str, repo: str = REPO) -> tuple[int, str, Path]:
    """`ludwig-hub-export pull` through the CLI's entry point: an exception other than the package's own
    would escape main() and fail the test (the CLI prints no traceback for those)."""
    dest = tmp_path / "dest"
    before = listing(tmp_path, dest)
    capsys.readouterr()
    code = main(["pull", repo, str(dest), *extra])
    err = capsys.readouterr().err
    assert listing(tmp_path, dest) == before, "pull wrote outside DEST"
    assert "Traceback" not in err
    return code, err, dest


def assert_refused(tmp_path, capsys, *needles: str, extra=()) -> Path:
    code, err, dest = run_pull(tmp_path, capsys, *extra)
    assert code == 1, err
    for needle in needles:
        assert needle in err, f"{needle!r} not in {err!r}"
    assert "->" in err  # a remedy
    # Nothing half-built: at most the staging area, which only ever holds verified files.
    assert not dest.exists() or {p.name for p in dest.iterdir()} <= {STAGING}
    return dest


# --- paths ----------------------------------------------------------------------------------------------------
HOSTILE_PATHS = [
    ("../escaped.txt", "'..' segment"),
    ("model/../../escaped.txt", "'..' segment"),
    ("model/..", "'..' segment"),
    ("./model/x.json", "'.' segment"),
    ("/tmp/escaped.txt", "absolute"),
    ("//server/share/x", "absolute"),
    ("~/escaped.txt", "home-relative"),
    ("C:/escaped.txt", "drive letter"),
    ("c:escaped.txt", "drive letter"),
    ("..\\escaped.txt", "backslash"),
    ("model\\x.json", "backslash"),
    ("model/x.json:stream", "contains ':'"),
    ("model/x.json.", "ends with a dot or a space"),
    ("model /x.json", "ends with a dot or a space"),
    ("model/x\x00.json", "NUL"),
    ("model/x\n.json", "control character"),
    ("", "empty"),
    ("model//x.json", "empty segment"),
    ("model/", "empty segment"),
    ("model/\ud800.json", "lone surrogate"),
    ("model/" + "x" * 300, "longer than 255"),
    (f"{STAGING}/staging/objects/x", "stages its downloads"),
    (123, "expected a string"),
]


@pytest.mark.parametrize("field", ["path", "ludwig_path"])
@pytest.mark.parametrize("bad,why", HOSTILE_PATHS, ids=[repr(p)[:30] for p, _ in HOSTILE_PATHS])
def test_a_hostile_path_in_any_manifest_field_is_refused_before_any_download(
        bad, why, field, tmp_path, capsys, local_hub, hub_api, env_token):
    manifest = good_manifest()
    manifest["files"][1][field] = bad
    craft(hub_api, manifest)
    dest = assert_refused(tmp_path, capsys, f"files[1].{field}", why)
    assert not dest.exists()
    assert not local_hub.requests("resolve") or all("ludwig_export.json" in r.path
                                                    for r in local_hub.requests("resolve"))


@pytest.mark.parametrize("path", ["README.md", "model/model_weights/model-00001-of-00008.safetensors",
                                  "model/model_weights/tiny_adapter/adapter_config.json", "mod\u00e8le/donn\u00e9es.json",
                                  "model/.hidden", "model/a..b.json", "x" * 255])
def test_ordinary_paths_pass(path):
    from ludwig_hub_export.artifact.safe_paths import check_relative

    assert check_relative(path, "files[0].path", REPO) == path


def test_a_symlink_out_of_dest_is_never_followed(tmp_path):
    root = tmp_path / "dest"
    (root / "model").mkdir(parents=True)
    (tmp_path / "outside").mkdir()
    (root / "model" / "link").symlink_to(tmp_path / "outside")
    assert resolve_inside(root, "model/x.json", "f", "r") == (root / "model" / "x.json").resolve()
    with pytest.raises(UntrustedRepoError, match="outside"):
        resolve_inside(root, "model/link/x.json", "files[0].ludwig_path", "r")


def test_a_staging_area_that_is_a_symlink_is_refused(tmp_path, capsys, local_hub, hub_api, env_token):
    craft(hub_api, good_manifest())
    (tmp_path / "outside").mkdir()
    (tmp_path / "dest").mkdir()
    (tmp_path / "dest" / STAGING).symlink_to(tmp_path / "outside")
    code, err, _ = run_pull(tmp_path, capsys)
    assert code == 2 and STAGING in err
    assert not any((tmp_path / "outside").iterdir())


# --- collisions -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("first,second,why", [
    ("model/a.json", "model/a.json", "the same path"),
    ("model/A.json", "model/a.json", "differ only in case"),
    ("model/\u00e9.json", "model/e\u0301.json", "Unicode form"),
    ("model", "model/x.json", "to be a directory"),
    ("ludwig_export.json", None, "the manifest itself"),
])
def test_two_entries_with_one_target_are_refused(first, second, why, tmp_path, capsys, local_hub, hub_api,
                                                 env_token):
    manifest = good_manifest()
    manifest["files"][0]["ludwig_path"] = first
    if second is not None:
        manifest["files"][1]["ludwig_path"] = second
    craft(hub_api, manifest)
    assert_refused(tmp_path, capsys, "files[0].ludwig_path", why)


def test_a_repeated_repo_path_is_refused(tmp_path, capsys, local_hub, hub_api, env_token):
    manifest = good_manifest()
    manifest["files"].append(dict(manifest["files"][0], ludwig_path="model/copy.safetensors"))
    craft(hub_api, manifest)
    assert_refused(tmp_path, capsys, "files[4].path", "repeats files[0].path")


# --- malformed manifests ----------------------------------------------------------------------------------
def _mutated(change) -> bytes:
    manifest = good_manifest()
    change(manifest)
    return json.dumps(manifest).encode()


MALFORMED = [
    (b"{not json", "not valid JSON"),
    (b"\xff\xfe{}", "not UTF-8"),
    (b"[]", "a JSON object at the top"),
    (b"null", "a JSON object at the top"),
    (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
    (b'{"format": 1, "format": 1, "kind": "ecd", "files": []}', "format appears twice"),
    (b'{"format": NaN}', "holds NaN"),
    (_mutated(lambda m: m.pop("format")), "field format is missing"),
    (_mutated(lambda m: m.update(format="1")), "field format expected an integer, got a string"),
    (_mutated(lambda m: m.update(format=True)), "field format expected an integer, got a boolean"),
    (_mutated(lambda m: m.update(format=2)), "has format 2"),
    (_mutated(lambda m: m.update(kind="trojan")), "field kind is 'trojan'"),
    (_mutated(lambda m: m.pop("kind")), "field kind is missing"),
    (_mutated(lambda m: m.update(files={"a": 1})), "field files expected an array, got an object"),
    (_mutated(lambda m: m.update(files=[])), "field files is empty"),
    (_mutated(lambda m: m.pop("files")), "field files is missing"),
    (_mutated(lambda m: m.update(versions=["1"])), "field versions expected an object"),
    (_mutated(lambda m: m["versions"].update(ludwig=17)), "field versions.ludwig expected a string"),
    (_mutated(lambda m: m.update(adapter_name=5)), "field adapter_name expected a string or null"),
    (_mutated(lambda m: m.update(extra=1)), "field extra is not a field of the manifest"),
    (_mutated(lambda m: m["files"].__setitem__(2, "README.md")), "field files[2] expected an object, got a string"),
    (_mutated(lambda m: m["files"][3].pop("sha256")), "field files[3].sha256 is missing"),
    (_mutated(lambda m: m["files"][3].pop("size")), "field files[3].size is missing"),
    (_mutated(lambda m: m["files"][3].update(sha256="abc")), "field files[3].sha256 is not 64 lowercase hex"),
    (_mutated(lambda m: m["files"][3].update(sha256="A" * 64)), "field files[3].sha256 is not 64 lowercase hex"),
    (_mutated(lambda m: m["files"][3].update(sha256=None)), "field files[3].sha256 expected a string, got null"),
    (_mutated(lambda m: m["files"][3].update(size=-1)), "field files[3].size is negative"),
    (_mutated(lambda m: m["files"][3].update(size="10")), "field files[3].size expected an integer, got a string"),
    (_mutated(lambda m: m["files"][3].update(size=1.5)), "field files[3].size expected an integer, got a number"),
    (_mutated(lambda m: m["files"][3].update(size=True)), "field files[3].size expected an integer, got a boolean"),
    (_mutated(lambda m: m["files"][3].update(mode="0777")), "field files[3].mode is not a field"),
    (_mutated(lambda m: m["files"][3].update(path="ludwig_export.json")), "files[3].path lists ludwig_export.json"),
]


@pytest.mark.parametrize("raw,needle", MALFORMED, ids=[n[:40] for _, n in MALFORMED])
def test_a_malformed_manifest_names_what_is_wrong(raw, needle, tmp_path, capsys, local_hub, hub_api, env_token):
    craft(hub_api, raw)
    dest = assert_refused(tmp_path, capsys, "ludwig_export.json", needle)
    assert not dest.exists()


def test_an_oversized_manifest_is_not_read_whole(tmp_path, capsys, local_hub, hub_api, env_token):
    craft(hub_api, b" " * (16 << 20) + b"{}")
    assert_refused(tmp_path, capsys, "ludwig_export.json", "at most")


# --- hypothesis: any JSON, in any field ------------------------------------------------------------------------
JSON = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-2**70, max_value=2**70) | st.floats(allow_nan=False)
    | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12)
TOP = ["format", "kind", "adapter_name", "base_model", "versions", "files"]
ENTRY = ["path", "size", "sha256", "ludwig_path"]


@st.composite
def manifests(draw):
    if draw(st.integers(0, 9)) == 0:
        return draw(JSON)  # anything at all
    manifest = good_manifest()
    for _ in range(draw(st.integers(1, 3))):
        if draw(st.booleans()):
            manifest[draw(st.sampled_from(TOP))] = draw(JSON)
        elif isinstance(manifest.get("files"), list) and manifest["files"] \
                and isinstance(manifest["files"][0], dict):
            target = manifest["files"][draw(st.integers(0, len(manifest["files"]) - 1))]
            if isinstance(target, dict):
                key = draw(st.sampled_from(ENTRY + ["extra"]))
                if draw(st.integers(0, 4)) == 0:
                    target.pop(key, None)
                else:
                    target[key] = draw(JSON | st.sampled_from([p for p, _ in HOSTILE_PATHS]))
    return manifest


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(manifest=manifests())
def test_any_manifest_json_ends_in_a_clean_refusal_or_a_safe_pull(manifest, tmp_path_factory, capsys, local_hub,
                                                                  hub_api, env_token):
    tmp_path = tmp_path_factory.mktemp("fuzz")
    try:
        raw = json.dumps(manifest).encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: json.dumps escapes it, so this does not happen; kept honest
        raw = json.dumps(manifest, ensure_ascii=True).encode()
    craft(hub_api, raw)
    code, err, dest = run_pull(tmp_path, capsys)
    assert code in (0, 1), err
    if code == 1:
        assert REPO in err and "->" in err
    else:  # the mutation kept the manifest valid: every file landed where it says, inside DEST
        for path in dest.rglob("*"):
            assert dest.resolve() in path.resolve().parents


# --- sizes and contents --------------------------------------------------------------------------------------
@pytest.fixture
def small_disk(tmp_path):
    """mount(size, inodes) -> a directory on a tmpfs that small (root only; skipped where mounting is denied)."""
    mounted = []

    def mount(size: str, inodes: int) -> Path:
        where = tmp_path / f"disk{len(mounted)}"
        where.mkdir()
        out = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},nr_inodes={inodes}", "tmpfs", str(where)],
                             capture_output=True, text=True)
        if out.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here: {out.stderr.strip()}")
        mounted.append(where)
        return where

    yield mount
    for where in mounted:
        subprocess.run(["umount", "-l", str(where)], check=False)


def many_files(n: int, size: int) -> dict:
    files = {f"model/part{i}.json": (bytes([i % 256]) * size, None) for i in range(n)}
    files["README.md"] = FILES["README.md"]
    return files


@pytest.mark.parametrize("size,inodes,files,needle", [
    ("64k", 1000, 20, "4096-byte blocks"),  # 20 files of 10 bytes: 200 bytes, but 20 blocks of 16
    ("4m", 12, 20, "inodes"),
    ("4m", 2, 2, "no space left"),  # not even an inode for pull's own directory
])
def test_the_free_space_check_counts_blocks_and_inodes_before_downloading(
        size, inodes, files, needle, small_disk, tmp_path, capsys, local_hub, hub_api, env_token):
    disk = small_disk(size, inodes)
    contents = many_files(files, 10)
    craft(hub_api, good_manifest(contents), contents)
    capsys.readouterr()
    code = main(["pull", REPO, str(disk / "dest")])
    err = capsys.readouterr().err
    assert code == 1 and needle in err and str(disk / "dest") in err and "Traceback" not in err, err
    assert not (disk / "dest").exists()
    assert all("ludwig_export.json" in r.path for r in local_hub.requests("resolve"))


def test_a_full_disk_mid_pull_exits_cleanly_and_the_rerun_resumes(small_disk, tmp_path, capsys, local_hub, hub_api,
                                                                  env_token):
    import threading
    import time

    disk = small_disk("1m", 1000)
    contents = dict(FILES, **{"model/big.bin.safetensors": (bytes(range(256)) * 1024, None)})  # 256 KiB
    craft(hub_api, good_manifest(contents), contents)
    reads = file_reads(local_hub, "model/big.bin.safetensors")
    local_hub.add_fault(reads["kind"], delay=3, times=1, path_contains=reads["path_contains"])  # holds it back
    dest = disk / "dest"
    codes = []
    worker = threading.Thread(target=lambda: codes.append(main(["pull", REPO, str(dest)])))
    capsys.readouterr()
    worker.start()
    objects = dest / STAGING / "staging" / "objects"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not (objects.exists() and len(list(objects.iterdir())) == 4):
        time.sleep(0.02)
    with open(disk / "filler", "wb") as f:  # the disk fills up while the big file is on its way
        with pytest.raises(OSError):
            while True:
                f.write(b"\0" * 65536)
                f.flush()
    worker.join(60)
    err = capsys.readouterr().err
    assert codes == [1], err
    assert "no space left" in err and str(dest) in err and "resumes" in err and "Traceback" not in err
    assert [p.name for p in dest.iterdir()] == [STAGING]
    (disk / "filler").unlink()
    result = pull(REPO, dest, retry=FAST, progress=False)
    assert (result.downloaded, result.resumed) == (1, 4)
    assert (dest / "model" / "big.bin.safetensors").read_bytes() == contents["model/big.bin.safetensors"][0]


def test_a_size_or_lfs_hash_the_repo_contradicts_is_refused_before_downloading(tmp_path, capsys, local_hub,
                                                                               hub_api, env_token):
    manifest = good_manifest()
    manifest["files"][2]["size"] += 1
    craft(hub_api, manifest)
    assert_refused(tmp_path, capsys, "training_set_metadata.json", "files[2]", "the Hub lists 3 bytes")
    manifest = good_manifest()
    manifest["files"][0]["sha256"] = "0" * 64  # an LFS file: the listing has its sha256
    craft(hub_api, manifest)
    assert_refused(tmp_path, capsys, "model_weights.safetensors", "files[0]", "does not match")
    assert all("ludwig_export.json" in r.path for r in local_hub.requests("resolve"))


def test_a_file_that_differs_from_its_entry_is_caught_by_its_hash(tmp_path, capsys, local_hub, hub_api, env_token):
    manifest = good_manifest()
    files = dict(FILES, **{"training_set_metadata.json": (b"[]\n", "model/training_set_metadata.json")})
    craft(hub_api, manifest, files)  # same size, other bytes, a regular file: only the download can tell
    dest = assert_refused(tmp_path, capsys, "training_set_metadata.json", "does not match ludwig_export.json",
                          "sha256")
    objects = dest / STAGING / "staging" / "objects"
    stored = {p.name for p in objects.iterdir()} if objects.exists() else set()
    assert hashlib.sha256(b"[]\n").hexdigest() not in stored  # only verified files are kept


def test_a_file_missing_from_the_repo_is_named(tmp_path, capsys, local_hub, hub_api, env_token):
    manifest = good_manifest()
    manifest["files"].append(entry("tokenizer.json", b"{}", "model/tokenizer.json"))
    craft(hub_api, manifest)
    assert_refused(tmp_path, capsys, "tokenizer.json is listed in ludwig_export.json (files[4])")


# --- pickle --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["pytorch_model.bin", "model.pt", "weights.pth", "state.pkl", "model_weights"])
def test_pickle_weights_are_refused_unless_allowed(name, tmp_path, capsys, local_hub, hub_api, env_token):
    files = dict(FILES)
    files[name] = (b"\x80\x04\x95" + b"not really a pickle", f"model/{name}")
    files.pop("model_weights.safetensors")
    craft(hub_api, good_manifest(files), files)
    assert_refused(tmp_path, capsys, name, "pickle", "--allow-pickle")
    code, err, dest = run_pull(tmp_path, capsys, "--allow-pickle")
    assert code == 0, err
    assert (dest / "model" / name).read_bytes() == files[name][0]
    assert sorted(p.name for p in dest.iterdir()) == [STAGING, "README.md", "ludwig_export.json", "model"]


# --- network: exit 4, then a rerun resumes ----------------------------------------------------------------
def file_reads(hub, path: str) -> dict:
    """Where `path`'s bytes are read: its resolve URL (LFS), or its Xet reconstruction."""
    entry = hub.files(REPO)[path]
    if hub.default_transfer == "xet" and entry.xet_hash:
        return {"kind": "reconstruction", "path_contains": entry.xet_hash}
    return {"kind": "resolve", "path_contains": path}


def test_a_failing_download_exits_4_and_a_rerun_fetches_only_the_rest(tmp_path, local_hub, hub_api, env_token):
    craft(hub_api, good_manifest())
    reads = file_reads(local_hub, "model_weights.safetensors")
    local_hub.add_fault(reads["kind"], 500, times=None, path_contains=reads["path_contains"])
    with pytest.raises(HubError) as failure:
        pull(REPO, tmp_path / "dest", retry=FAST, progress=False)
    assert failure.value.exit_code == 4 and "model_weights.safetensors" in str(failure.value)
    assert [p.name for p in (tmp_path / "dest").iterdir()] == [STAGING]  # nothing half-built
    staged = {p.name for p in (tmp_path / "dest" / STAGING / "staging" / "objects").iterdir()}
    assert staged == {e["sha256"] for e in good_manifest()["files"][1:]}  # the others are verified and kept
    local_hub.faults.clear()
    before = len(local_hub.requests("resolve"))
    result = pull(REPO, tmp_path / "dest", retry=FAST, progress=False)
    fetched = [r.path for r in local_hub.requests("resolve")[before:] if r.method == "GET"]
    assert result.downloaded == 1 and result.resumed == 3
    # Only the manifest and the missing file travel again (on Xet the weights come from the CAS, not resolve).
    assert fetched and all("model_weights.safetensors" in p or "ludwig_export.json" in p for p in fetched)
    assert sorted(p.name for p in (tmp_path / "dest").iterdir()) == [STAGING, "README.md", "ludwig_export.json",
                                                                      "model"]


def test_the_command_prints_no_traceback_for_a_hostile_repo(tmp_path, local_hub, hub_api):
    manifest = good_manifest()
    manifest["files"][1]["ludwig_path"] = "../../escaped.txt"
    craft(hub_api, manifest)
    env = {k: v for k, v in os.environ.items() if not k.startswith("HF_")}
    env.update(local_hub.env(token=local_hub.token, hf_home=tmp_path / "hf-home"))
    out = subprocess.run([sys.executable, "-m", "ludwig_hub_export", "pull", REPO, str(tmp_path / "a" / "dest")],
                         env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 1 and "Traceback" not in out.stderr
    assert "files[1].ludwig_path" in out.stderr and "'..' segment" in out.stderr
    assert not (tmp_path / "escaped.txt").exists() and not (tmp_path / "a").exists()


def test_a_killed_pull_leaves_only_the_staging_area_and_the_rerun_resumes(tmp_path, local_hub, hub_api, env_token):
    import time

    craft(hub_api, good_manifest())
    reads = file_reads(local_hub, "model_weights.safetensors")
    local_hub.add_fault(reads["kind"], delay=60, times=1, path_contains=reads["path_contains"])  # holds one file
    env = {k: v for k, v in os.environ.items() if not k.startswith("HF_")}
    env.update(local_hub.env(token=local_hub.token, hf_home=tmp_path / "hf-home"))
    dest = tmp_path / "dest"
    process = subprocess.Popen([sys.executable, "-m", "ludwig_hub_export", "pull", REPO, str(dest)], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    objects = dest / STAGING / "staging" / "objects"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not (objects.exists() and len(list(objects.iterdir())) == 3):
        time.sleep(0.05)
    process.kill()
    process.wait(timeout=30)
    assert len(list(objects.iterdir())) == 3
    assert [p.name for p in dest.iterdir()] == [STAGING]
    local_hub.faults.clear()
    result = pull(REPO, dest, retry=FAST, progress=False)
    assert (result.downloaded, result.resumed) == (1, 3)
    assert sorted(p.name for p in dest.iterdir()) == [STAGING, "README.md", "ludwig_export.json", "model"]
    for path, (data, ludwig_path) in FILES.items():
        assert (dest / (ludwig_path or path)).read_bytes() == data


# --- one DEST: a lock, and updates --------------------------------------------------------------------------
def test_a_second_pull_into_the_same_dest_says_who_holds_it_and_leaves_nothing(tmp_path, capsys, local_hub, hub_api,
                                                                              env_token):
    import threading
    import time

    from ludwig_hub_export.errors import UsageError

    craft(hub_api, good_manifest())
    reads = file_reads(local_hub, "model_weights.safetensors")
    local_hub.add_fault(reads["kind"], delay=3, times=1, path_contains=reads["path_contains"])
    dest = tmp_path / "dest"
    results = []
    first = threading.Thread(target=lambda: results.append(pull(REPO, dest, retry=FAST, progress=False)))
    first.start()
    while not (dest / STAGING / "staging" / "objects").exists():
        time.sleep(0.02)
    with pytest.raises(UsageError, match=rf"another pull is writing into {dest} \(pid {os.getpid()} on "):
        pull(REPO, dest, retry=FAST, progress=False, lock_wait=0.3)
    first.join(60)
    assert results and results[0].downloaded == 4
    assert sorted(p.name for p in dest.iterdir()) == [STAGING, "README.md", "ludwig_export.json", "model"]
    assert sorted(p.name for p in (dest / STAGING).iterdir()) == ["lock", "state.json"]  # no stray staging


def test_a_pull_over_an_earlier_one_replaces_only_what_changed_and_nothing_of_the_users(tmp_path, capsys, local_hub,
                                                                                         hub_api, env_token):
    from ludwig_hub_export.errors import UsageError

    old = dict(FILES, **{"model/dropped.json": (b"[1]\n", None)})
    craft(hub_api, good_manifest(old), old)
    dest = tmp_path / "dest"
    pull(REPO, dest, retry=FAST, progress=False)
    weights = dest / "model" / "model_weights.safetensors"
    inode = weights.stat().st_ino
    (dest / "notes.txt").write_text("mine\n")  # the user's own files, beside and inside model/
    (dest / "model" / "mine.json").write_text("{}\n")
    new = dict(FILES, **{"training_set_metadata.json": (b'{"v": 2}\n', "model/training_set_metadata.json"),
                         "model/added.json": (b"[2]\n", None)})
    hub_api.delete_file("model/dropped.json", repo_id=REPO)
    craft(hub_api, good_manifest(new), new)
    before = len(local_hub.log)
    capsys.readouterr()
    assert main(["pull", REPO, str(dest)]) == 0, capsys.readouterr().err
    fetched = {r.path.rsplit("/", 1)[-1] for r in local_hub.log[before:]
               if r.kind == "resolve" and r.method == "GET" or r.kind == "reconstruction"}
    assert "model_weights.safetensors" not in fetched and weights.stat().st_ino == inode  # unchanged: untouched
    assert (dest / "model" / "training_set_metadata.json").read_bytes() == b'{"v": 2}\n'
    assert (dest / "model" / "added.json").read_bytes() == b"[2]\n" and not (dest / "model" / "dropped.json").exists()
    assert (dest / "notes.txt").read_text() == "mine\n" and (dest / "model" / "mine.json").exists()
    assert json.loads((dest / "ludwig_export.json").read_bytes()) == good_manifest(new)
    # Another repo's pull, or a file of the user's where pull would write: refused, nothing touched.
    craft(hub_api, good_manifest(), repo="tester/other")
    with pytest.raises(UsageError, match=f"holds a pull of {REPO}, not tester/other"):
        pull("tester/other", dest, retry=FAST, progress=False)
    mine = tmp_path / "mine"
    (mine / "model").mkdir(parents=True)
    (mine / "model" / "model_hyperparameters.json").write_text("{}")
    with pytest.raises(UsageError, match="model_hyperparameters.json is in the way"):
        pull(REPO, mine, retry=FAST, progress=False)
    assert (mine / "model" / "model_hyperparameters.json").read_text() == "{}"
    assert sorted(p.name for p in mine.iterdir()) == [STAGING, "model"]
