"""`push` against the local Hub with the real client: what lands, that it loads, and how failures end."""

from __future__ import annotations

import json
import threading
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from helpers import BASE, cli_env, copy_fixture, fast_retry, tree_digest, wait_until_not_racy
from helpers import settings as _settings
from huggingface_hub import HfApi

from ludwig_hub_export.errors import AuthError, HubError, InvalidModelError
from ludwig_hub_export.hashing import GIT_SHA1_MAX
from ludwig_hub_export.source.normalization import normalize
from ludwig_hub_export.workflows.push import ExportSettings, push
from ludwig_hub_export.hub.retry import RetryPolicy
from ludwig_hub_export.testing import LocalHub

FAST = fast_retry()


def settings(repo_id: str = "tester/model", **options) -> ExportSettings:
    """`helpers.settings` with the tiny base model as the base model, as most pushes here name it."""
    options.setdefault("base_model", BASE)
    return _settings(repo_id, **options)


def logits(model, ids=(1, 5, 9, 12)) -> torch.Tensor:
    with torch.no_grad():
        return model(torch.tensor([list(ids)])).logits


# --- what lands, and that the ecosystem loads it ---------------------------------------------------------------

def test_adapter_push_loads_with_peft_from_the_hub(tmp_path, local_hub, base_on_hub, env_token):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    source = copy_fixture("lora_run", tmp_path)
    before = tree_digest(tmp_path)
    report = push(source, settings())
    assert report.verified and report.created_repo and len(report.commits) == 1
    assert tree_digest(tmp_path) == before  # the user's files are never edited

    files = local_hub.files("tester/model")
    assert {"adapter_config.json", "adapter_model.safetensors", "ludwig_config.json", "training_set_metadata.json",
            "README.md", "ludwig_export.json"} <= set(files)
    remote_config = json.loads(local_hub.read_file("tester/model", "adapter_config.json"))
    assert remote_config["base_model_name_or_path"] == BASE
    assert str(tmp_path) not in local_hub.read_file("tester/model", "training_set_metadata.json").decode()
    assert HfApi(token=env_token).repo_info("tester/model").private is True

    hub_model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(BASE), "tester/model")
    local_dir = source / "results" / "api_experiment_run" / "model" / "model_weights"
    local_model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tmp_path / "_base" / "tiny-llama"),
                                            local_dir)
    assert torch.equal(logits(hub_model), logits(local_model))


@pytest.mark.parametrize("name", ["full_sharded", "merged_run"])
def test_full_and_merged_models_load_with_transformers(name, tmp_path, local_hub, base_on_hub, env_token):
    from transformers import AutoModelForCausalLM

    source = copy_fixture(name, tmp_path)
    report = push(source, settings(f"tester/{name}"))
    assert report.kind == ("full" if name == "full_sharded" else "merged")
    remote = set(local_hub.files(f"tester/{name}"))
    assert not any(p.startswith("adapter_") for p in remote)  # stale adapter files left out of a merged export
    # Locally, the merged run's stale adapter files would make transformers apply the adapter a second time on
    # top of the merged weights; the normalized layout leaves them out, like the export.
    weights = normalize(source, tmp_path / "normalized").model_dir / "model_weights"
    assert torch.equal(logits(AutoModelForCausalLM.from_pretrained(f"tester/{name}")),
                       logits(AutoModelForCausalLM.from_pretrained(weights)))


def test_card_and_manifest_describe_the_upload(tmp_path, local_hub, env_token):
    source = copy_fixture("ecd_run", tmp_path)
    report = push(source, settings(base_model=None))
    card = local_hub.read_file("tester/model", "README.md").decode()
    assert card.startswith("---\nlibrary_name: ludwig\n") and "pipeline_tag: tabular-classification" in card
    assert "| label accuracy |" in card  # metrics from the run's training_statistics.json
    manifest = json.loads(local_hub.read_file("tester/model", "ludwig_export.json"))
    assert manifest["kind"] == "ecd" and manifest["versions"]["ludwig"]
    remote = local_hub.files("tester/model")
    for entry in manifest["files"]:
        assert remote[entry["path"]].size == entry["size"]
        assert local_hub.read_file("tester/model", entry["path"]).__len__() == entry["size"]
    assert {e["path"] for e in manifest["files"]} == {f.path for f in report.files} - {"ludwig_export.json"}


def test_rerun_of_a_complete_export_makes_no_commit(tmp_path, local_hub, env_token, transfer_protocol):
    source = copy_fixture("ecd_saved", tmp_path)
    first = push(source, settings(base_model=None))
    commits = local_hub.stats.requests["commit"]
    again = push(source, settings(base_model=None))
    assert local_hub.stats.requests["commit"] == commits
    assert again.commits == [] and again.verified and again.commit_oid == first.commit_oid
    assert {f.status for f in again.files} == {"already there"}


def test_a_change_of_the_card_alone_uploads_the_card_and_the_manifest(tmp_path, local_hub, env_token,
                                                                      transfer_protocol):
    """Nothing large to send: the generated files are made at once, and one request asks every upload mode."""
    source = copy_fixture("ecd_saved", tmp_path)
    first = push(source, settings(base_model=None))
    lookups = len(local_hub.requests("preupload"))
    second = push(source, settings(base_model=None, license="mit"))
    assert second.verified and second.commit_oid != first.commit_oid
    assert {f.path for f in second.files if f.status == "uploaded"} == {"README.md", "ludwig_export.json"}
    assert "\nlicense: mit\n" in local_hub.read_file("tester/model", "README.md").decode()
    assert len(local_hub.requests("preupload")) == lookups + 1


def test_check_failure_makes_no_network_call(tmp_path, local_hub, env_token):
    source = copy_fixture("lora_saved", tmp_path)
    weights = source / "model_weights" / "adapter_model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-10])
    with pytest.raises(InvalidModelError, match="nothing was uploaded"):
        push(source, settings())
    assert local_hub.requests() == []


def test_dry_run_prints_the_plan_and_changes_nothing(tmp_path, local_hub, env_token, capsys):
    source = copy_fixture("lora_saved", tmp_path)
    report = push(source, settings(quiet=False, dry_run=True))
    err = capsys.readouterr().err
    assert "dry run" in err and "adapter_model.safetensors" in err and "would create private repo" in \
        " ".join(report.notes)
    assert not [r for r in local_hub.requests() if r.kind in ("create_repo", "commit", "preupload", "lfs_upload")]


def test_create_pr_and_revision(tmp_path, local_hub, env_token):
    source = copy_fixture("ecd_saved", tmp_path)
    push(source, settings(base_model=None))
    changed = copy_fixture("ecd_legacy_pickle", tmp_path)
    report = push(changed, settings(base_model=None, create_pr=True, convert_pickle=True))
    assert report.pr_url.endswith("/discussions/1") and report.revision == "refs/pr/1" and report.verified
    assert "model_weights.safetensors" in local_hub.files("tester/model", "refs/pr/1")
    report = push(source, settings(base_model=None, revision="experiments"))
    assert report.verified and "ludwig_export.json" in local_hub.files("tester/model", "experiments")


def test_new_repos_are_private_unless_public_and_existing_visibility_is_kept(tmp_path, local_hub, hub_api, env_token):
    source = copy_fixture("ecd_saved", tmp_path)
    push(source, settings("tester/open", base_model=None, public=True))
    assert hub_api.repo_info("tester/open").private is False
    hub_api.create_repo("tester/closed", private=True)
    push(source, settings("tester/closed", base_model=None, public=True))
    assert hub_api.repo_info("tester/closed").private is True
    assert local_hub.stats.requests["create_repo"] == 2  # looked before creating: none for the existing repo


# --- authentication ----------------------------------------------------------------------------------------------

def test_read_only_token_fails_before_anything_is_uploaded(tmp_path, local_hub):
    source = copy_fixture("ecd_saved", tmp_path)
    reader = local_hub.add_token("tester", role="read")
    with pytest.raises(AuthError, match="read-only") as err:
        push(source, settings(base_model=None, token=reader))
    assert err.value.exit_code == 3 and reader not in str(err.value)
    # nothing sent: the revision read, the repo creation the Hub refused, and whoami to say why
    kinds = [r.kind for r in local_hub.requests()]
    assert "whoami" in kinds and set(kinds) <= {"whoami", "repo_info", "create_repo"}, kinds
    assert all(r.status == 403 for r in local_hub.requests("create_repo"))


def test_token_for_another_namespace_is_refused(tmp_path, local_hub):
    source = copy_fixture("ecd_saved", tmp_path)
    with pytest.raises(AuthError, match="cannot write to the namespace 'acme'"):
        push(source, settings("acme/model", base_model=None, token=local_hub.token))


def test_401_mid_export_is_refreshed_from_the_token_file(tmp_path, local_hub, monkeypatch, transfer_protocol):
    """A token the user did not name (HF_TOKEN here) may be replaced by the next source, as the client ranks them."""
    from ludwig_hub_export.hub.auth import token_file

    source = copy_fixture("ecd_saved", tmp_path)
    fresh = local_hub.add_token("tester")
    token_file().parent.mkdir(parents=True, exist_ok=True)
    token_file().write_text(fresh)
    monkeypatch.setenv("HF_TOKEN", local_hub.token)
    local_hub.add_fault("commit", 401, body={"error": "Invalid credentials in Authorization header"})
    try:
        report = push(source, settings(base_model=None))
    finally:
        token_file().unlink()
    assert report.verified and report.token_origin.startswith("token file")
    assert len(local_hub.commits("tester/model")) == 2


def test_an_explicit_token_the_hub_refuses_is_never_replaced_by_another_identity(
        tmp_path, local_hub, monkeypatch, transfer_protocol):
    """`token=` (or --token) refused: HF_TOKEN, another account's valid token, is not tried; exit 3 names the
    refused source and nothing is committed."""
    source = copy_fixture("ecd_saved", tmp_path)
    local_hub.add_user("other", orgs={"tester": "write"})
    monkeypatch.setenv("HF_TOKEN", local_hub.add_token("other"))
    revoked = local_hub.add_token("tester")
    local_hub.revoke(revoked)
    with pytest.raises(AuthError) as err:
        push(source, settings(base_model=None, token=revoked))
    assert err.value.exit_code == 3 and "argument" in str(err.value) and "--token-command" in str(err.value)
    assert revoked not in str(err.value)
    assert not local_hub.requests("commit") and not local_hub.requests("create_repo")


def test_revoked_token_is_replaced_by_the_token_command(tmp_path, local_hub, transfer_protocol):
    source = copy_fixture("ecd_saved", tmp_path)
    stale = local_hub.add_token("tester")
    local_hub.revoke(stale)
    fresh = local_hub.add_token("tester")
    report = push(source, settings(base_model=None, token=stale, token_command=lambda: fresh))
    assert report.verified and report.token_origin == "token command"


def test_401_without_a_fresher_token_exits_3(tmp_path, local_hub, monkeypatch, transfer_protocol):
    monkeypatch.delenv("HF_TOKEN", raising=False)
    source = copy_fixture("ecd_saved", tmp_path)
    local_hub.add_fault("preupload", 401, times=None, body={"error": "Invalid credentials in Authorization header"})
    with pytest.raises(AuthError) as err:
        push(source, settings(base_model=None, token=local_hub.token))
    assert err.value.exit_code == 3 and "--token-command" in str(err.value)
    assert local_hub.token not in str(err.value)


# --- failures the Hub and its gateways produce -------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["create_repo", "preupload", "commit"])
def test_429_with_retry_after_is_waited_out(kind, tmp_path, local_hub, env_token, transfer_protocol):
    source = copy_fixture("ecd_saved", tmp_path)
    local_hub.add_fault(kind, 429, headers={"Retry-After": "1"})
    started = time.monotonic()
    report = push(source, settings(base_model=None))
    assert report.verified and local_hub.stats.statuses[(kind, 429)] == 1
    assert time.monotonic() - started >= 1.0
    assert len(local_hub.commits("tester/model")) == 2


def test_5xx_bursts_end_in_one_verified_commit(tmp_path, local_hub, env_token, transfer_protocol):
    source = copy_fixture("lora_saved", tmp_path)
    # Where the bytes go: the LFS batch API, or the Xet CAS's xorb upload.
    local_hub.add_fault("lfs_batch" if transfer_protocol == "lfs" else "xorb", 500, times=2)
    local_hub.add_fault("commit", 502, times=2)
    local_hub.add_fault("repo_info", 503, times=1)
    report = push(source, settings())
    assert report.verified and report.retries >= 3 and report.fallback is None
    assert len(local_hub.commits("tester/model")) == 2


@pytest.mark.parametrize("action", ["respond", "drop"])
def test_lost_commit_response_makes_exactly_one_commit(action, tmp_path, local_hub, env_token, transfer_protocol):
    source = copy_fixture("lora_saved", tmp_path)
    local_hub.add_fault("commit", 504 if action == "respond" else None, when="after", action=action)
    report = push(source, settings())
    assert report.verified
    history = local_hub.commits("tester/model")
    assert len(history) == 2, [c.title for c in history]
    assert report.commit_oid == history[0].oid
    assert local_hub.stats.requests["commit"] == 1  # the landed commit was found, not repeated


def test_timeout_of_a_commit_that_landed_is_not_repeated(tmp_path, local_hub, env_token, transfer_protocol):
    source = copy_fixture("ecd_saved", tmp_path)
    local_hub.add_fault("commit", when="after", delay=2.0)
    report = push(source, settings(base_model=None, retry=RetryPolicy(base_delay=0.01, read_timeout=0.5,
                                                                      budget=60)))
    assert report.verified and len(local_hub.commits("tester/model")) == 2


def test_folder_commit_that_keeps_failing_falls_back_to_per_file(tmp_path, local_hub, env_token, transfer_protocol):
    source = copy_fixture("lora_run", tmp_path)
    local_hub.add_fault("commit", 500, times=FAST.max_attempts)
    report = push(source, settings())
    assert report.verified and report.fallback
    titles = [c.title for c in local_hub.commits("tester/model")]
    assert len(titles) == len(report.files) + 1
    assert titles[0].endswith("ludwig_export.json") and titles[1].endswith("README.md")  # card and manifest last
    assert titles[-2].endswith("adapter_model.safetensors")  # weights first


def test_persistent_503_exits_4_within_the_budget_and_nothing_claims_completion(tmp_path, local_hub, env_token, transfer_protocol):
    source = copy_fixture("ecd_saved", tmp_path)
    local_hub.add_fault("commit", 503, times=None)
    started = time.monotonic()
    with pytest.raises(HubError) as err:
        push(source, settings(base_model=None, retry=RetryPolicy(base_delay=0.2, max_delay=1, budget=4)))
    assert err.value.exit_code == 4
    assert time.monotonic() - started < 4 + 3
    assert "ludwig_export.json" not in local_hub.files("tester/model")


def test_stale_manifest_is_removed_before_a_per_file_update(tmp_path, local_hub, env_token, transfer_protocol):
    push(copy_fixture("ecd_saved", tmp_path), settings(base_model=None))
    local_hub.add_fault("commit", 500, times=FAST.max_attempts)
    report = push(copy_fixture("ecd_legacy_pickle", tmp_path), settings(base_model=None))
    titles = [c.title for c in local_hub.commits("tester/model")]
    assert report.fallback and titles[-3] == "Mark the export incomplete while it is updated"
    assert titles[0].endswith("ludwig_export.json")


def test_min_interval_paces_commits(tmp_path, local_hub, env_token):
    source = copy_fixture("ecd_saved", tmp_path)
    local_hub.add_fault("commit", 500, times=FAST.max_attempts)
    push(source, settings(base_model=None, min_interval=0.3))
    commits = [c for c in local_hub.commits("tester/model")][:-1]
    gaps = [a.date - b.date for a, b in zip(commits, commits[1:])]
    assert gaps and min(gaps) >= 0.29


# --- the command line: interruption and resume, secrets, exit codes ------------------------------------------------

def _big_sharded_model(tmp_path: Path, floats: int = 2 * 1024 * 1024, seed: int = 0) -> tuple[Path, list[int]]:
    """The sharded fixture with three shards of `floats` float32s each (8 MB: real safetensors, index to match)."""
    from safetensors.torch import save_file

    root = copy_fixture("full_sharded", tmp_path)
    weights = root / "model_weights"
    index = json.loads((weights / "model.safetensors.index.json").read_text())
    sizes = []
    for shard in sorted(set(index["weight_map"].values())):
        names = [k for k, v in index["weight_map"].items() if v == shard]
        generator = torch.Generator().manual_seed(seed + len(sizes))
        tensors = {n: torch.randn(floats // len(names), generator=generator) for n in names}
        save_file(tensors, str(weights / shard), metadata={"format": "pt"})
        sizes.append((weights / shard).stat().st_size)
    return root, sizes


# What holds a file back mid-upload, and where its bytes are counted: the LFS PUT, or Xet's shard (the file is
# registered by its shard, after its xorbs) and xorb uploads.
RESUME_KINDS = {"lfs": ("lfs_upload", "lfs_upload"), "xet": ("shard", "xorb")}


def test_interrupted_push_resumes_and_sends_only_the_rest(tmp_path, local_hub, transfer_protocol):
    source, sizes = _big_sharded_model(tmp_path, floats=3 << 20)  # 12 MB: sent from disk, each on its own
    hold, data = RESUME_KINDS[transfer_protocol]
    env = cli_env(local_hub, tmp_path, local_hub.token)
    command = [sys.executable, "-m", "ludwig_hub_export", "push", str(source), "--repo-id", "tester/big",
               "--base-model", BASE, "--quiet"]
    local_hub.add_fault(hold, delay=60, times=1)  # holds one file's upload; the others go through
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # wait until two shards are stored while the third is held
        if sum(1 for r in local_hub.requests(hold) if r.status == 200) >= 2:
            break
        time.sleep(0.05)
    process.kill()
    process.communicate()
    stored_first = sum(r.bytes_in for r in local_hub.requests(data) if r.status == 200)
    assert 0 < stored_first
    assert "ludwig_export.json" not in local_hub.files("tester/big")

    local_hub.faults.clear()
    before = len(local_hub.requests(data))
    rerun = subprocess.run(command + ["--json"], env=env, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    result = json.loads(rerun.stdout)
    assert result["verified"]
    sent = sum(r.bytes_in for r in local_hub.requests(data)[before:] if r.status == 200)
    if transfer_protocol == "lfs":
        assert stored_first < sum(sizes)
        assert sent == sum(sizes) - stored_first  # only what was missing crossed the wire again
    else:  # the two registered files are deduplicated away: at most the held one travels again
        assert sent <= max(sizes) * 1.05 + 65536, (sent, sizes)


def test_no_token_value_in_any_output_or_report(tmp_path, local_hub):
    source = copy_fixture("lora_saved", tmp_path)
    env = cli_env(local_hub, tmp_path, local_hub.token)
    report_file = tmp_path / "report.json"
    ok = subprocess.run([sys.executable, "-m", "ludwig_hub_export", "push", str(source), "--repo-id", "tester/m",
                         "--base-model", BASE, "--report", str(report_file), "--json"],
                        env=env, capture_output=True, text=True, timeout=300)
    assert ok.returncode == 0, ok.stderr
    local_hub.revoke(local_hub.token)
    env["HF_TOKEN_PATH"] = str(tmp_path / "no-token-file")
    refused = subprocess.run([sys.executable, "-m", "ludwig_hub_export", "push", str(source), "--repo-id",
                              "tester/m", "--base-model", BASE], env=env, capture_output=True, text=True,
                             timeout=300, stdin=subprocess.DEVNULL)
    assert refused.returncode == 3 and "Traceback" not in refused.stderr
    everything = ok.stdout + ok.stderr + refused.stdout + refused.stderr + report_file.read_text()
    for path in local_hub.data_dir.rglob("*"):
        if path.is_file() and path.stat().st_size < 1_000_000:
            everything += path.read_bytes().decode("utf-8", "replace")  # nothing the hub stored either
    assert local_hub.token not in everything
    assert json.loads(report_file.read_text())["token_origin"] == "HF_TOKEN"


def test_401_on_a_terminal_asks_for_a_token_and_finishes(tmp_path, local_hub):
    """A real pseudo-terminal: the prompt appears, the pasted token is not echoed, the push completes."""
    import select

    source = copy_fixture("ecd_saved", tmp_path)
    stale = local_hub.add_token("tester")
    local_hub.revoke(stale)
    fresh = local_hub.add_token("tester")
    env = cli_env(local_hub, tmp_path, stale)
    env["HF_TOKEN_PATH"] = str(tmp_path / "no-token-file")
    fd, child_end = os.openpty()
    # A new session whose first opened terminal becomes its controlling terminal (getpass reads /dev/tty).
    become_tty = ("import os, sys; os.close(os.open(os.ttyname(0), os.O_RDWR)); "
                  "os.execv(sys.executable, [sys.executable, '-m', 'ludwig_hub_export'] + sys.argv[1:])")
    child = subprocess.Popen([sys.executable, "-c", become_tty, "push", str(source), "--repo-id", "tester/tty"],
                             env=env, stdin=child_end, stdout=child_end, stderr=child_end, start_new_session=True)
    os.close(child_end)
    seen, answered = b"", False
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.5)
        if not ready:
            continue
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            break  # the child exited
        if not chunk:
            break
        seen += chunk
        if not answered and b"Token:" in seen:
            os.write(fd, fresh.encode() + b"\n")
            answered = True
    returncode = child.wait(timeout=60)
    os.close(fd)
    text = seen.decode("utf-8", "replace")
    assert answered, text
    assert returncode == 0, text
    assert "401" in text and fresh not in text and stale not in text
    assert "ludwig_export.json" in local_hub.files("tester/tty")


# Where the bytes of LFS/Xet files cross the wire on each protocol (regular files travel inside the commit).
WIRE_KINDS = {"lfs": ("lfs_upload",), "xet": ("xorb", "shard")}


def _wire_bytes(local_hub: LocalHub, protocol: str, since: dict | None = None) -> int:
    return sum(r.bytes_in for kind in WIRE_KINDS[protocol] for r in local_hub.requests(kind)[(since or {}).get(kind, 0):]
               if r.status == 200)


def _regular_bytes(local_hub: LocalHub, repo_id: str, report) -> int:
    pushed = {f.path for f in report.files}  # not the .gitattributes the repo was created with
    return sum(e.size for path, e in local_hub.files(repo_id).items() if not e.lfs_oid and path in pushed)


def test_bytes_uploaded_is_what_crossed_the_wire_and_a_deduplicated_push_sends_little(
        tmp_path, local_hub, env_token, transfer_protocol):
    """LFS: the bytes PUT plus the regular files. Xet: the files' sizes, an upper bound of what hf_xet sent (the
    client's public API does not say what its dedup saved)."""
    source, sizes = _big_sharded_model(tmp_path)
    first = push(source, settings("tester/first", base_model=BASE))
    wire = _wire_bytes(local_hub, transfer_protocol)
    assert wire > sum(sizes) * 0.8  # random weights: nothing to deduplicate (Xet compresses a little)
    regular = _regular_bytes(local_hub, "tester/first", first)
    if transfer_protocol == "lfs":
        assert first.bytes_uploaded == wire + regular
    else:
        assert first.bytes_uploaded == sum(f.size for f in first.files if f.status == "uploaded") >= wire

    # The same weights in another repo: Xet sends only a shard naming chunks the Hub already holds; the LFS
    # batch API answers that the objects exist, and nothing is PUT.
    since = {kind: len(local_hub.requests(kind)) for kind in WIRE_KINDS[transfer_protocol]}
    second = push(source, settings("tester/second", base_model=BASE))
    wire = _wire_bytes(local_hub, transfer_protocol, since)
    assert second.verified and wire < sum(sizes) * 0.01
    if transfer_protocol == "lfs":
        assert second.bytes_uploaded == wire + _regular_bytes(local_hub, "tester/second", second)


def test_upload_modes_are_asked_once_per_commit_and_once_more_for_files_xet_hashes(
        tmp_path, local_hub, env_token, transfer_protocol):
    """One upload-mode request for all files of a commit. On Xet a file whose digest is not known yet is sent
    first, on its own (hf_xet computes the digest while it reads, and the file is registered at once, so that a
    killed push resumes): one request each."""
    from safetensors.torch import save_file

    source, sizes = _big_sharded_model(tmp_path)
    first = push(source, settings(base_model=BASE))
    extra = sum(size >= GIT_SHA1_MAX for size in sizes) if transfer_protocol == "xet" else 0  # files in memory: hashed
    assert first.verified and len(local_hub.requests("preupload")) == 1 + extra

    # A changed shard of the same size: the manifest changes too (same size, new hashes) and must land.
    index = json.loads((source / "model_weights" / "model.safetensors.index.json").read_text())
    shard = sorted(set(index["weight_map"].values()))[0]
    names = [k for k, v in index["weight_map"].items() if v == shard]
    generator = torch.Generator().manual_seed(99)
    save_file({n: torch.randn(2 * 1024 * 1024 // len(names), generator=generator) for n in names},
              str(source / "model_weights" / shard), metadata={"format": "pt"})
    second = push(source, settings(base_model=BASE))  # every digest known (the hash cache): one request
    assert second.verified and len(local_hub.requests("preupload")) == 2 + extra
    assert len(local_hub.commits("tester/model")) == 3  # the repo's first, then one commit per push
    manifest = json.loads(local_hub.read_file("tester/model", "ludwig_export.json"))
    remote = local_hub.files("tester/model")
    assert {e["path"]: e["sha256"] for e in manifest["files"]} == {
        f.path: f.sha256 for f in second.files if f.path != "ludwig_export.json"}
    changed = [f for f in manifest["files"] if f["path"].endswith(shard)]
    assert changed and remote[changed[0]["path"]].lfs_oid == changed[0]["sha256"]


def test_a_digest_cache_save_never_puts_an_older_snapshot_over_a_newer_one(tmp_path, monkeypatch):
    """Files hashed in parallel each save the cache. Here the first save's write is held back until the second
    save is done (or 1 s has passed): written last, an older snapshot would lose the second entry (and the file
    from object storage it describes would be downloaded again on the next push)."""
    from ludwig_hub_export.hashing import JsonEntries

    entries = JsonEntries(tmp_path / "digests.json")
    replace, writing, second_done = os.replace, threading.Event(), threading.Event()

    def held_back_replace(src, dst):
        if not writing.is_set():
            writing.set()
            second_done.wait(timeout=1)
        replace(src, dst)

    monkeypatch.setattr(os, "replace", held_back_replace)

    def save(key: str, done: threading.Event | None = None) -> None:
        entries.put(key, [1, "0" * 64, None])
        entries.save()
        if done is not None:
            done.set()

    first = threading.Thread(target=save, args=("first",))
    first.start()
    assert writing.wait(timeout=5)
    second = threading.Thread(target=save, args=("second", second_done))
    second.start()
    first.join()
    second.join()
    assert set(json.loads((tmp_path / "digests.json").read_text())) == {"first", "second"}


def test_the_hash_cache_keeps_the_most_recently_used_entries_only(tmp_path, monkeypatch):
    """Its keys name files that come and go: a bound keeps the file every push reads and writes small."""
    from ludwig_hub_export.hashing import HashCache, JsonEntries

    monkeypatch.setattr(JsonEntries, "MAX_ENTRIES", 3)
    files = []
    for n in range(5):
        files.append(tmp_path / f"w{n}.bin")
        files[-1].write_bytes(os.urandom(1000 + n))
    wait_until_not_racy(*files)  # else never cached: just written, they may change unseen within a tick
    cache = HashCache(tmp_path / "hashes.json")
    digests = [cache.digest(f) for f in files]
    assert cache.cached(files[1]) == digests[1]  # used again: now among the newest
    cache.save()
    again = HashCache(tmp_path / "hashes.json")
    assert [again.cached(f) is not None for f in files] == [False, True, False, True, True]
    assert again.digest(files[4]) == digests[4] and again.bytes_read == 0
    assert len(json.loads((tmp_path / "hashes.json").read_text())) == 3


def test_an_exports_settings_go_on_the_shared_client_and_leave_with_the_export():
    """The export's hooks (the pacer, the byte count) and timeouts go on the client's shared HTTP client for the
    export only; the client itself is kept (its warm connections save handshakes at a distance)."""
    from huggingface_hub.utils import get_session

    from ludwig_hub_export.hub.retry import Deadline, RateLimitPacer
    from ludwig_hub_export.hub.session import PutBytes, client_settings

    client, timeout = get_session(), get_session().timeout
    pacer, put_bytes = RateLimitPacer(Deadline(60)), PutBytes()
    with client_settings(FAST, True, pacer, put_bytes):
        assert get_session() is client and put_bytes.request_hook in client.event_hooks["request"]
        assert pacer.response_hook in client.event_hooks["response"]
        assert client.timeout.read == FAST.read_timeout
    assert get_session() is client and put_bytes.request_hook not in client.event_hooks["request"]
    assert pacer.response_hook not in client.event_hooks["response"]
    assert client.timeout == timeout


def test_ctrl_c_during_an_upload_ends_the_push_at_once(tmp_path, local_hub, transfer_protocol):
    """The weights' upload is held by the Hub for a minute; Ctrl-C ends the command within seconds, with 130 and
    "interrupted", and nothing claims completion (the generated files are made in a thread beside the upload, which
    must not keep the interrupted command waiting for it)."""
    import signal

    source = copy_fixture("ecd_saved", tmp_path)
    hold = RESUME_KINDS[transfer_protocol][0]
    local_hub.add_fault(hold, delay=60, times=1)
    process = subprocess.Popen([sys.executable, "-m", "ludwig_hub_export", "push", str(source), "--repo-id",
                                "tester/ecd", "--quiet"], env=cli_env(local_hub, tmp_path, local_hub.token),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not local_hub.stats.requests.get(hold) and time.monotonic() < deadline:  # counted on arrival
        time.sleep(0.05)
    time.sleep(0.5)  # well inside the held request
    interrupted = time.monotonic()
    process.send_signal(signal.SIGINT)
    try:
        _, err = process.communicate(timeout=20)
    finally:
        process.kill()
    assert time.monotonic() - interrupted < 15
    assert process.returncode == 130 and "interrupted" in err
    assert "nothing on the Hub changed unless a commit was reported" in err and "the same command resumes" in err
    assert "ludwig_export.json" not in local_hub.files("tester/ecd")


def test_a_few_megabytes_of_new_large_files_cost_one_upload_mode_lookup(tmp_path, local_hub, env_token,
                                                                      transfer_protocol):
    """A new file just past the regular-file limit (an adapter's weights): hashed before the transfer on Xet too,
    so the push asks the upload modes once, as on LFS, rather than sending it first in a lookup of its own."""
    import hashlib

    from safetensors.torch import save_file

    source = copy_fixture("full_sharded", tmp_path)
    weights = source / "model_weights"
    index = json.loads((weights / "model.safetensors.index.json").read_text())
    shards = sorted(set(index["weight_map"].values()))
    for n, shard in enumerate(shards):  # the first shard 10.5 MB (large), the others small
        names = [k for k, v in index["weight_map"].items() if v == shard]
        floats = 2_625_000 if n == 0 else 1024
        save_file({k: torch.randn(floats // len(names)) for k in names}, str(weights / shard),
                  metadata={"format": "pt"})
    large = weights / shards[0]
    assert large.stat().st_size >= GIT_SHA1_MAX
    report = push(source, settings())
    assert report.verified and len(local_hub.requests("preupload")) == 1
    manifest = json.loads(local_hub.read_file("tester/model", "ludwig_export.json"))
    path = shards[0]  # a full model's weights sit at the repo's root, where transformers looks
    assert {e["path"]: e["sha256"] for e in manifest["files"]}[path] == hashlib.sha256(large.read_bytes()).hexdigest()
    assert local_hub.read_file("tester/model", path) == large.read_bytes()


def test_an_unchanged_re_push_asks_whoami_beside_the_revision_read(tmp_path, local_hub, env_token):
    """A re-push whose large files the hash cache knows asks whoami (nothing written says the token may write)
    and the revision at once: each answer held 3 s here, the push waits for them once (3 s), not twice (6 s)."""
    source, _ = _big_sharded_model(tmp_path, floats=3 << 20)  # 12 MB shards: large, hashed by the first push
    wait_until_not_racy(*(source / "model_weights").glob("*.safetensors"))  # so that their digests are cached
    assert push(source, settings()).verified
    local_hub.log.clear()
    local_hub.add_fault("repo_info", delay=3.0, times=None)
    local_hub.add_fault("whoami", delay=3.0, times=None)
    started = time.monotonic()
    report = push(source, settings())
    elapsed = time.monotonic() - started
    assert report.verified and not [f for f in report.files if f.status == "uploaded"]
    assert sorted(r.kind for r in local_hub.log) == ["repo_info", "whoami"]
    assert elapsed < 5.0, elapsed  # 2 s to spare for a loaded CI machine


def test_a_push_split_into_commits_asks_upload_modes_and_sends_once(tmp_path, local_hub, env_token,
                                                                   transfer_protocol):
    """Past `files_per_commit` a push is several commits, the manifest in the last: the files' upload modes come
    from one request and the large files travel before the first commit, not once per commit."""
    from ludwig_hub_export.limits import HubLimits

    source, sizes = _big_sharded_model(tmp_path, floats=3 << 20)  # 12 MB shards, sent from disk
    report = push(source, settings(limits=HubLimits(files_per_commit=3)))
    commits = local_hub.commits("tester/model")[1:]  # after the repo's first
    assert report.verified and len(commits) == len(report.commits) >= 3
    assert len(local_hub.requests("preupload")) == 1 + (len(sizes) if transfer_protocol == "xet" else 0)
    manifest = json.loads(local_hub.read_file("tester/model", "ludwig_export.json"))
    assert {e["path"] for e in manifest["files"]} == {f.path for f in report.files if f.path != "ludwig_export.json"}
