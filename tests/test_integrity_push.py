"""What a push publishes is what the user has, and the manifest never claims more: files rewritten while a push
runs (a second `model.save()`, a sync tool), on Xet and LFS."""

from __future__ import annotations

import hashlib
import json
import threading
import time

import pytest
from helpers import wait_until_not_racy
from test_push import BASE, _big_sharded_model, settings

from ludwig_hub_export.errors import HubError
from ludwig_hub_export.workflows.push import push

MANIFEST = "ludwig_export.json"


def _when(local_hub, kind: str, action, timeout: float = 30) -> threading.Thread:
    """Run `action` in a thread as soon as the Hub sees a new request of `kind`."""
    seen = len(local_hub.requests(kind))

    def wait_then_act():
        deadline = time.monotonic() + timeout
        while len(local_hub.requests(kind)) <= seen and time.monotonic() < deadline:
            time.sleep(0.005)
        action()

    thread = threading.Thread(target=wait_then_act, daemon=True)
    thread.start()
    return thread


def _manifest_matches_the_revision(local_hub, repo_id: str) -> None:
    """Every file the manifest names is on the revision with exactly the bytes it describes."""
    manifest = json.loads(local_hub.read_file(repo_id, MANIFEST))
    for entry in manifest["files"]:
        data = local_hub.read_file(repo_id, entry["path"])
        assert hashlib.sha256(data).hexdigest() == entry["sha256"], entry["path"]


def test_a_small_file_rewritten_during_the_push_lands_as_the_manifest_describes(
        tmp_path, local_hub, env_token, transfer_protocol):
    source, _ = _big_sharded_model(tmp_path)
    config = source / "model_weights" / "config.json"
    rewritten = json.dumps({**json.loads(config.read_text()), "note": "saved again"}).encode()
    local_hub.add_fault("repo_info", delay=1.0, times=1)  # the plan is made; the push waits on the Hub
    _when(local_hub, "repo_info", lambda: config.write_bytes(rewritten))
    report = push(source, settings(base_model=BASE))
    assert report.verified
    _manifest_matches_the_revision(local_hub, "tester/model")
    assert local_hub.read_file("tester/model", "config.json") == rewritten


def test_a_large_file_rewritten_while_it_is_sent_fails_the_push_and_leaves_no_manifest_claiming_it(
        tmp_path, local_hub, env_token, transfer_protocol):
    source, sizes = _big_sharded_model(tmp_path, floats=3 * 1024 * 1024)  # 12 MB: sent from its path
    shards = sorted((source / "model_weights").glob("*.safetensors"))
    hold = "lfs_upload" if transfer_protocol == "lfs" else "xorb"
    local_hub.add_fault(hold, delay=1.5, times=1)

    def save_again():  # same names, same sizes, new weights
        newer, _ = _big_sharded_model(tmp_path / "newer", floats=3 * 1024 * 1024, seed=7)
        for shard in shards:
            shard.write_bytes((newer / "model_weights" / shard.name).read_bytes())

    saving = _when(local_hub, hold, save_again)
    with pytest.raises(HubError) as err:
        push(source, settings(base_model=BASE))
    assert err.value.exit_code == 4 and "changed" in str(err.value)
    saving.join()  # the push may notice the first rewritten shard while the last is still being written
    if MANIFEST in local_hub.files("tester/model"):
        _manifest_matches_the_revision(local_hub, "tester/model")

    report = push(source, settings(base_model=BASE))  # once the save is done: the new weights, verified
    assert report.verified
    _manifest_matches_the_revision(local_hub, "tester/model")
    for shard in shards:
        assert local_hub.files("tester/model")[shard.name].lfs_oid == hashlib.sha256(shard.read_bytes()).hexdigest()


HANDWRITTEN = "---\nlicense: mit\nlanguage: en\n---\n# My model\n\nWritten by hand: how I trained it.\n"


def test_a_card_this_tool_did_not_write_is_kept_and_the_dry_run_says_so(
        tmp_path, local_hub, hub_api, env_token, capsys, transfer_protocol):
    from helpers import copy_fixture

    source = copy_fixture("ecd_saved", tmp_path)
    (source / "example.csv").write_text("a,b\n1,2\n")  # beside the model: left out, and said
    hub_api.create_repo("tester/model", private=True)
    hub_api.upload_file(path_or_fileobj=HANDWRITTEN.encode(), path_in_repo="README.md", repo_id="tester/model")

    dry = push(source, settings(base_model=None, dry_run=True, quiet=False))
    err = capsys.readouterr().err
    assert "your own card is kept" in err and "example.csv" in err and "left out" in err
    assert dry.dry_run and local_hub.read_file("tester/model", "README.md").decode() == HANDWRITTEN

    report = push(source, settings(base_model=None))
    card = local_hub.read_file("tester/model", "README.md").decode()
    assert report.verified and "Written by hand: how I trained it." in card and "license: mit" in card
    assert "library_name: ludwig" in card  # the metadata this tool owns
    assert any("your own card is kept" in note for note in report.notes)
    _manifest_matches_the_revision(local_hub, "tester/model")

    again = push(source, settings(base_model=None))  # nothing changed: nothing sent
    assert again.verified and all(f.status == "already there" for f in again.files)

    replaced = push(source, settings(base_model=None, replace_card=True))
    assert replaced.verified and "Written by hand" not in local_hub.read_file("tester/model", "README.md").decode()


def test_a_large_file_rewritten_between_the_plan_and_the_send_lands_as_it_is_then(
        tmp_path, local_hub, env_token, transfer_protocol):
    """The digest the plan took from the hash cache is of the old bytes: a file rewritten after the plan (same
    size, same names) is hashed or sent again, never committed under the old digest."""
    source, _ = _big_sharded_model(tmp_path, floats=3 * 1024 * 1024)  # 12 MB: sent from its path
    shards = sorted((source / "model_weights").glob("*.safetensors"))
    wait_until_not_racy(*shards)
    push(source, settings(base_model=BASE, repo_id="tester/first"))  # the hash cache now knows every shard

    from ludwig_hub_export.artifact.plan import build_plan
    from ludwig_hub_export.hub.progress import Console
    from ludwig_hub_export.source.checks import check
    from ludwig_hub_export.workflows.push import publish

    plan = build_plan(check(source, base_model=BASE), "tester/model", base_model=BASE)  # digests from the cache
    newer, _ = _big_sharded_model(tmp_path / "newer", floats=3 * 1024 * 1024, seed=7)
    for shard in shards:  # a second save between the plan and the send: same names, same sizes
        shard.write_bytes((newer / "model_weights" / shard.name).read_bytes())
    try:
        report = publish(plan, settings(base_model=BASE), Console(quiet=True))
    finally:
        plan.cleanup()
    assert report.verified
    _manifest_matches_the_revision(local_hub, "tester/model")
    for shard in shards:
        assert local_hub.files("tester/model")[shard.name].lfs_oid == hashlib.sha256(shard.read_bytes()).hexdigest()
