"""What verified pushes planned, kept by their inputs (`pushed`): a re-push of the same inputs is neither checked
nor planned again when the Hub holds every file, and any change of an input, of the code or of the remote files
checks and plans again."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import fields, replace
from pathlib import Path

import pytest
from helpers import copy_fixture, model_dir
from helpers import push_in_fresh_process as _push

from ludwig_hub_export import layout, pushed
from ludwig_hub_export.checks import check
from ludwig_hub_export.plan import add_manifest, build_plan
from ludwig_hub_export.report import ExportReport
from ludwig_hub_export.settings import ExportSettings


def _records(env: dict) -> list[Path]:
    return sorted((Path(env["LUDWIG_HUB_EXPORT_CACHE"]) / "pushes").glob("*.json"))


def _flip_last_byte_keeping_mtime(path: Path) -> None:
    """Same size, same mtime, other bytes: only the ctime tells (the hash cache alone would not)."""
    st = path.stat()
    data = bytearray(path.read_bytes())
    data[-1] ^= 0x01
    path.write_bytes(bytes(data))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


def test_a_re_push_of_pushed_inputs_is_not_checked_or_planned_again(tmp_path, local_hub, child_env):
    source = copy_fixture("lora_saved", tmp_path)
    first = _push(source, "tester/kept", child_env, base_model="tester/base")
    assert first["checked"] and first["report"]["verified"]
    [record] = _records(child_env)
    assert local_hub.token not in record.read_text()  # names files and digests, never the token
    commits = len(local_hub.commits("tester/kept"))

    local_hub.log.clear()
    again = _push(source, "tester/kept", child_env, base_model="tester/base")
    assert not again["checked"] and not again["planned"] and not again["client_loaded"]
    assert sorted(r.kind for r in local_hub.requests()) == ["repo_info", "whoami"]
    quick = again["report"]
    assert quick["verified"] and quick["commit_oid"] == local_hub.commits("tester/kept")[0].oid
    assert len(local_hub.commits("tester/kept")) == commits

    # Checked and planned again (no record), the same push reports the same, through the look and the client.
    record.unlink()
    planned = _push(source, "tester/kept", child_env, base_model="tester/base")
    through_client = _push(source, "tester/kept", child_env, client=True, base_model="tester/base")
    assert planned["checked"] and through_client["checked"]
    for other in (planned, through_client):
        assert {**other["report"], "duration": 0} == {**quick, "duration": 0}


@pytest.mark.parametrize("change", ["weights_bytes", "new_model_file", "run_file_beside_model", "setting",
                                    "remote_file_deleted", "record_damaged"])
def test_any_change_checks_and_plans_again(change, tmp_path, local_hub, child_env, hub_api):
    root = copy_fixture("ecd_run", tmp_path)
    source = model_dir(root, "ecd_run")  # a run's model/: the run's files beside it are inputs too
    base = "" if change != "setting" else "tester/base"
    first = _push(source, "tester/changes", child_env)
    assert first["report"]["verified"] and _records(child_env)
    changed = None  # the local file whose new bytes must be sent
    if change == "weights_bytes":
        changed = source / "model_weights.safetensors"
        _flip_last_byte_keeping_mtime(changed)
    elif change == "new_model_file":
        (source / "notes.txt").write_text("left out, but the layout saw it\n")
    elif change == "run_file_beside_model":
        changed = source.parent / "training_statistics.json"
        changed.write_text(json.dumps({**json.loads(changed.read_text()), "note": "trained again"}))
    elif change == "remote_file_deleted":
        hub_api.delete_file("training_statistics.json", "tester/changes")
    elif change == "record_damaged":
        _records(child_env)[0].write_text('{"kind": "ecd", "files": "not a list"}')
    commits = len(local_hub.commits("tester/changes"))

    again = _push(source, "tester/changes", child_env, base_model=base)
    report = again["report"]
    assert again["checked"] and report["verified"]
    sent = {f["path"] for f in report["files"] if f["status"] == "uploaded"}
    if changed is not None:
        digest = hashlib.sha256(changed.read_bytes()).hexdigest()
        assert digest in {f["sha256"] for f in report["files"] if f["status"] == "uploaded"}
    if change == "remote_file_deleted":
        assert "training_statistics.json" in sent
    if changed is not None or change == "remote_file_deleted":
        assert len(local_hub.commits("tester/changes")) == commits + 1
    if change == "record_damaged":  # nothing to send: the plan says so
        assert not sent and len(local_hub.commits("tester/changes")) == commits
    # The new inputs are kept in turn: one more re-push is answered from them.
    last = _push(source, "tester/changes", child_env, base_model=base)
    assert not last["checked"] and last["report"]["commit_oid"] == report["commit_oid"]


def _settings(**changes) -> ExportSettings:
    return replace(ExportSettings(repo_id="tester/key", base_model="tester/base"), **changes)


def test_the_key_covers_every_setting_that_changes_the_plan_and_no_secret(tmp_path):
    source = copy_fixture("ecd_saved", tmp_path)
    endpoint = "http://127.0.0.1:1"
    key = pushed.key(source, _settings(), endpoint)
    assert key is not None and key == pushed.key(source, _settings(), endpoint)
    planned = {"repo_id": "tester/other", "revision": "dev", "base_model": "tester/other-base", "latest": True,
               "prefer_adapter": True, "convert_pickle": True, "license": "mit", "dataset": "tester/data",
               "strict": True, "card_sections": "## More", "branch_from": "v1",
               "limits": replace(_settings().limits, max_file_size=1 << 20)}
    for name, value in planned.items():
        assert pushed.key(source, _settings(**{name: value}), endpoint) != key, name
    assert pushed.key(source, _settings(), "http://127.0.0.1:2") != key
    not_inputs = {"token": "hf_secret", "quiet": True, "public": True, "commit_message": "m", "min_interval": 3.0}
    for name, value in not_inputs.items():
        assert pushed.key(source, _settings(**{name: value}), endpoint) == key, name
    # Every field is either in the key or named as not an input: a new setting is in the key unless said.
    assert {f.name for f in fields(ExportSettings)} - set(planned) - set(not_inputs) - pushed._NOT_INPUTS <= {
        "dry_run", "create_pr", "license_name", "license_link", "endpoint"}
    assert pushed.key(source, _settings(dry_run=True), endpoint) is None
    assert pushed.key(source, _settings(create_pr=True), endpoint) is None


def test_only_layouts_whose_inputs_are_their_own_tree_are_kept(tmp_path):
    root = copy_fixture("ecd_run", tmp_path)
    run = model_dir(root, "ecd_run").parent
    endpoint = "http://127.0.0.1:1"
    assert pushed.key(run, _settings(), endpoint) is not None  # a run directory
    assert pushed.key(run / "model", _settings(), endpoint) is not None  # its model/, with the run's files
    assert pushed.key(run.parent, _settings(), endpoint) is None  # results/: which run is a listing's choice
    assert pushed.key("s3://bucket/model", _settings(), endpoint) is None
    assert pushed.key(tmp_path / "missing", _settings(), endpoint) is None
    # The layout's own names, which `pushed` copies so as not to load it.
    assert pushed._RUN_FILES == layout.RUN_FILES and pushed._HYPERPARAMETERS == layout.HYPERPARAMETERS


def test_a_plan_whose_inputs_changed_during_the_push_is_not_kept(tmp_path):
    source = copy_fixture("ecd_saved", tmp_path)
    settings = _settings(hash_cache=tmp_path / "cache" / "hashes.json")
    endpoint = "http://127.0.0.1:1"
    key = pushed.key(source, settings, endpoint)
    plan = build_plan(check(source), settings.repo_id)
    plan.generate()
    add_manifest(plan)
    report = ExportReport(settings.repo_id, "", plan.kind, "main", "argument", verified=True)
    _flip_last_byte_keeping_mtime(source / "model_weights.safetensors")  # as if saved again meanwhile
    pushed.remember(settings, key, source, endpoint, plan, "reason", report)
    assert pushed.recall(settings, key) is None
    assert pushed.recall(settings, pushed.key(source, settings, endpoint)) is None
    # Unchanged meanwhile: kept, and what is kept is what the plan held.
    key = pushed.key(source, settings, endpoint)
    pushed.remember(settings, key, source, endpoint, plan, "reason", report)
    record = pushed.recall(settings, key)
    assert [f[0] for f in record["files"]] == [f.path for f in plan.files]
    assert [f[2] for f in record["files"]] == [f.sha256 for f in plan.files]
    # Not verified: not kept.
    other = _settings(hash_cache=tmp_path / "other" / "hashes.json")
    pushed.remember(other, key, source, endpoint, plan, "reason", replace(report, verified=False))
    assert not (tmp_path / "other" / "pushes").exists()


def test_records_are_bounded(tmp_path, monkeypatch):
    monkeypatch.setattr(pushed, "MAX_RECORDS", 2)
    settings = _settings(hash_cache=tmp_path / "hashes.json")
    record = {"kind": "ecd", "kind_reason": "r", "notes": [], "files": [["a", 1, "0" * 64, None]]}
    for n, name in enumerate(["a" * 64, "b" * 64, "c" * 64]):
        pushed._write(settings, name, record)
        os.utime(tmp_path / "pushes" / f"{name}.json", ns=(n, n))  # written in this order, whatever the clock
    assert sorted(p.stem for p in (tmp_path / "pushes").glob("*.json")) == ["b" * 64, "c" * 64]
    assert pushed.recall(settings, "c" * 64) == record
    (tmp_path / "pushes" / f"{'c' * 64}.json").write_text(json.dumps({**record, "files": [["a", -1, "x", None]]}))
    assert pushed.recall(settings, "c" * 64) is None
