"""A new repo's head start (`head_start`): from a fresh process on the Xet path, the repo the first look found
missing is created, its files' upload modes asked and its large files sent through hf_xet by the standard-library
thread while the Hub client loads, and the client path takes those answers instead of asking or sending again.
Every failure of the head start leaves the rest to the client path, which ends the push as it would have."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from helpers import copy_fixture
from helpers import push_in_fresh_process as push

from ludwig_hub_export.hashing import GIT_SHA1_MAX
from ludwig_hub_export.plan import MANIFEST

OURS = "ludwig_hub_export/"  # the head start's (and the first look's) User-Agent; the client's is huggingface_hub's
# Where the bytes of LFS/Xet files cross the wire on each protocol (regular files travel inside the commit).
WIRE_KINDS = {"lfs": ("lfs_upload",), "xet": ("xorb", "shard")}


def _big_adapter(tmp_path) -> Path:
    """The adapter fixture with weights past `GIT_SHA1_MAX`: a file that is not hashed when the plan is made."""
    from safetensors.torch import load_file, save_file

    source = copy_fixture("lora_saved", tmp_path)
    weights = source / "model_weights" / "adapter_model.safetensors"
    tensors = load_file(str(weights))
    extra = (GIT_SHA1_MAX + 2_000_000) // 4
    tensors["base_model.model.lm_head.modules_to_save.default.weight"] = torch.randn(
        extra, generator=torch.Generator().manual_seed(0))
    save_file(tensors, str(weights), metadata={"format": "pt"})
    return source


def _uploads(local_hub, repo_id: str) -> list:
    return [c for c in local_hub.commits(repo_id) if c.title.startswith("Upload")]


def test_a_new_repo_is_pushed_without_loading_the_client(tmp_path, local_hub, child_env, transfer_protocol):
    """The repo is made, the files' upload modes asked and the large files sent by the head start's thread while
    the main thread makes the card; then one commit of every file and the read that verifies it, all with the
    standard library: the Hub client never loads."""
    source = _big_adapter(tmp_path)
    local_hub.log.clear()
    out = push(source, "tester/head", child_env, base_model="tester/base")
    report, records = out["report"], local_hub.requests()
    assert report["verified"] and report["created_repo"] and not out["client_loaded"] and not out["httpx_loaded"]
    assert records and all(r.agent.startswith(OURS) for r in records)  # hf_xet's included: it sends our agent
    assert len([r for r in records if r.kind == "create_repo"]) == 1
    # The model's files, then the generated files and the manifest: none asked twice.
    assert len([r for r in records if r.kind == "preupload"]) == 2
    [commit] = [r for r in records if r.kind == "commit"]
    [upload] = _uploads(local_hub, "tester/head")
    assert commit.status == 200 and report["commits"] == [upload.oid] and report["commit_oid"] == upload.oid
    assert records[-1].kind == "repo_info"  # the verification, after the commit
    if transfer_protocol == "lfs":
        assert [r.kind for r in records if r.kind.startswith("lfs_")] == ["lfs_batch", "lfs_upload", "lfs_verify"]
    # Every planned file landed as planned (on Xet, hf_xet's sha256 is the manifest's and the Hub's), and the
    # report counts what was sent: the LFS/Xet bytes after dedup and the regular files inside the commit.
    landed = local_hub.files("tester/head")
    planned = {f["path"]: f for f in report["files"]}
    assert planned.keys() <= landed.keys() and all(f["status"] == "uploaded" for f in planned.values())
    for path, f in planned.items():
        assert f["size"] == landed[path].size
        assert landed[path].lfs_oid in (None, f["sha256"])
    manifest = json.loads(local_hub.read_file("tester/head", MANIFEST))
    assert {f["path"]: f["sha256"] for f in manifest["files"]} == {
        p: f["sha256"] for p, f in planned.items() if p != MANIFEST}
    wire = WIRE_KINDS[transfer_protocol]
    sent = sum(r.bytes_in for r in records if r.kind in wire and r.status == 200)
    regular = sum(e.size for path, e in landed.items() if not e.lfs_oid and path in planned)
    assert sent > 0 and report["bytes_uploaded"] == sent + regular
    assert landed["adapter_model.safetensors"].lfs_oid == planned["adapter_model.safetensors"]["sha256"]

    # The digests the head start computed (on Xet, hf_xet's) are kept: the re-push reads nothing and is the first
    # look's two requests.
    local_hub.log.clear()
    again = push(source, "tester/head", child_env, base_model="tester/base")
    assert sorted(r.kind for r in local_hub.requests()) == ["repo_info", "whoami"] and not again["client_loaded"]
    assert again["report"]["bytes_hashed"] == 0


def test_a_new_repos_report_is_the_client_paths(tmp_path, local_hub, child_env, transfer_protocol):
    """The same push to two new repos, without and with the client loaded first (which turns the head start off):
    the same files, sizes, statuses and digests (but the card's and the manifest's, which name the repo), one
    commit each, the same created, verified and token fields."""
    source = copy_fixture("lora_saved", tmp_path)
    ours = push(source, "tester/ours", child_env, base_model="tester/base")
    theirs = push(source, "tester/them", child_env, client=True, base_model="tester/base")
    assert not ours["client_loaded"] and theirs["client_loaded"]
    differ = ("repo_id", "url", "commits", "commit_oid", "bytes_uploaded", "duration", "bytes_hashed")
    named = ("README.md", MANIFEST)
    a, b = ({k: v for k, v in out["report"].items() if k not in differ} | {"files": [
        {**f, "sha256": None} if f["path"] in named else f for f in out["report"]["files"]]}
        for out in (ours, theirs))
    assert a == b and a["created_repo"] and a["verified"] and a["files"]
    for out, repo in ((ours, "tester/ours"), (theirs, "tester/them")):
        [upload] = _uploads(local_hub, repo)
        assert out["report"]["commits"] == [upload.oid]
    assert local_hub.files("tester/ours").keys() == local_hub.files("tester/them").keys()


@pytest.mark.parametrize("transfer_protocol, when", [("xet", "before"), ("lfs", "before"), ("xet", "after"),
                                                     ("lfs", "after")], indirect=["transfer_protocol"])
def test_a_new_repos_commit_that_fails_is_made_once(tmp_path, local_hub, child_env, transfer_protocol, when):
    """The head start's commit fails once: before it is carried out (the client path then reads the revision,
    finds nothing, and commits), or after it (a 502 whose commit landed: the read after it tells, and nothing is
    committed again). Either way one commit, verified."""
    source = copy_fixture("lora_saved", tmp_path)
    local_hub.add_fault("commit", 502 if when == "after" else 500, when=when, times=1)
    local_hub.log.clear()
    out = push(source, "tester/once", child_env, base_model="tester/base")
    report, records = out["report"], local_hub.requests()
    [upload] = _uploads(local_hub, "tester/once")
    assert report["verified"] and report["created_repo"] and report["commit_oid"] == upload.oid
    assert local_hub.files("tester/once").keys() >= {f["path"] for f in report["files"]}
    commits = [r for r in records if r.kind == "commit"]
    assert commits[0].agent.startswith(OURS) and commits[0].fault is not None
    if when == "after":  # landed: the client is never needed
        assert len(commits) == 1 and not out["client_loaded"] and report["commits"] == [upload.oid]
    else:  # the client path read the revision again (it had changed since the first look) and committed
        assert len(commits) == 2 and not commits[1].agent.startswith(OURS) and out["client_loaded"]
        client = [r.kind for r in records if not r.agent.startswith(OURS)]
        assert "repo_info" in client[:client.index("commit")]


def test_a_client_path_after_the_head_starts_commit_says_nothing_twice(tmp_path, local_hub, child_env):
    """From the command line: the head start's commit is refused (a 500, nothing landed), the client path reads the
    revision again and commits. Who the token is and the new repo are said once; each commit says it is made."""
    source = copy_fixture("lora_saved", tmp_path)
    local_hub.add_fault("commit", 500, times=1)
    out = subprocess.run([sys.executable, "-m", "ludwig_hub_export", "push", str(source), "--repo-id", "tester/cli",
                          "--base-model", "tester/base"], env=child_env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    lines = out.stderr.splitlines()
    assert sum(line.startswith("authenticated as tester") for line in lines) == 1
    assert sum(line == "created private repo tester/cli" for line in lines) == 1
    assert sum(line.startswith("committing ") for line in lines) == 2
    assert out.stdout.strip().splitlines()[-1] == f"{local_hub.url}/tester/cli"
    assert len(_uploads(local_hub, "tester/cli")) == 1


@pytest.mark.parametrize("transfer_protocol, kind, status", [
    ("xet", "create_repo", 500), ("xet", "preupload", 503), ("xet", "xet_token", 401), ("xet", "xorb_grant", 403),
    ("xet", "shard", 400), ("lfs", "lfs_batch", 500), ("lfs", "lfs_upload", 500), ("lfs", "lfs_verify", 500)],
    indirect=["transfer_protocol"])
def test_a_head_start_that_fails_leaves_the_rest_to_the_client(tmp_path, local_hub, child_env, transfer_protocol,
                                                                kind, status):
    """One failure, on the head start's request: it stops without retrying or saying anything, and the client path
    makes the push as if there had been no head start (the repo created if it is not, every file not sent). (A
    refused PUT of a xorb's bytes to its grant URL is hf_xet's to retry: `test_xet_errors`.)"""
    source = copy_fixture("lora_saved", tmp_path)
    local_hub.add_fault(kind, status, times=1)
    local_hub.log.clear()
    report = push(source, "tester/fallback", child_env, base_model="tester/base")["report"]
    records = local_hub.requests()
    failed = [r for r in records if r.kind == kind and r.status == status]
    assert len(failed) == 1 and failed[0].agent.startswith(OURS)
    assert report["verified"] and report["created_repo"] and report["retries"] == 0
    assert local_hub.files("tester/fallback").keys() >= {f["path"] for f in report["files"]}
    assert len([r for r in records if r.kind == "create_repo" and r.status == 200]) == 1
    if kind not in ("create_repo", "preupload"):  # the client took the weights over (what had landed is not resent)
        last = {"xet": "shard", "lfs": "lfs_batch"}[transfer_protocol]
        assert any(r.kind == last and r.status == 200 and not r.agent.startswith(OURS) for r in records)


def test_what_the_lfs_head_start_leaves_to_the_client(tmp_path, local_hub):
    """A multipart answer (the client's to send), and a verify address off the endpoint's host (the token goes to
    no other host), are left to the client before anything is sent; an object the Hub holds already is sent as
    0 bytes. Nothing reaches the Hub for any of them."""
    from ludwig_hub_export.auth import Token
    from ludwig_hub_export.first_look import FirstLook
    from ludwig_hub_export.head_start import HeadStart
    from ludwig_hub_export.plan import PlannedFile
    from ludwig_hub_export.remote import Snapshot
    from ludwig_hub_export.settings import ExportSettings

    weights = tmp_path / "w.bin"
    weights.write_bytes(b"x" * 1000)
    f = PlannedFile("w.bin", "weights", 1000, source=weights)
    head = HeadStart(ExportSettings(repo_id="tester/m", endpoint=local_hub.url),
                     FirstLook(Token("hf_secret", "argument"), {"name": "tester"}, Snapshot(False, None, {})), None,
                     [f])
    upload = {"href": f"{local_hub.url}/_lfs/{'0' * 64}"}
    local_hub.log.clear()
    assert head._put_lfs(f, None, {"upload": {**upload, "header": {"chunk_size": "500", "1": "u1"}}}) is None
    assert head._put_lfs(f, None, {"upload": upload, "verify": {"href": "https://elsewhere.example/verify"}}) is None
    assert head._put_lfs(f, None, {"upload": {"href": 5}}) is None
    assert head._put_lfs(f, None, None) == 0
    assert local_hub.requests() == []
