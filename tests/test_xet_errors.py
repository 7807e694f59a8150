"""hf_xet's failures, as the real client raises them against the local Hub's CAS, classified by the retry policy."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from huggingface_hub import HfApi, hf_hub_download

from ludwig_hub_export.hub import retry, xet_errors
from ludwig_hub_export.testing import LocalHub
from ludwig_hub_export.testing.pytest_plugin import use_transfer_protocol


@pytest.fixture
def repo(hub_api: HfApi, local_hub: LocalHub, monkeypatch: pytest.MonkeyPatch) -> str:
    use_transfer_protocol("xet", local_hub, monkeypatch)
    hub_api.create_repo("tester/errors")
    return "tester/errors"


def _fault(hub: LocalHub, kind: str, status) -> None:
    if status == "drop":
        hub.add_fault(kind, action="drop", times=None)
    else:
        hub.add_fault(kind, status, times=None)


@pytest.mark.parametrize("kind, status, expected", [
    ("xet_token", 401, "auth"), ("xet_token", 403, "fatal"), ("xet_token", 503, "retry"),
    ("xorb", 400, "fatal"), ("xorb", 403, "fatal"), ("xorb", 413, "fatal"), ("xorb", 401, "auth"),
    ("xorb", "drop", "retry"), ("shard", 400, "fatal"), ("shard", 401, "auth"), ("shard", 503, "retry"),
])
def test_upload_failures_are_classified_from_hf_xet_messages(hub_api: HfApi, repo: str, local_hub: LocalHub,
                                                             tmp_path: Path, kind: str, status, expected: str):
    (tmp_path / "w.bin").write_bytes(os.urandom(200_000))
    _fault(local_hub, kind, status)
    with pytest.raises(Exception) as raised:
        hub_api.upload_file(path_or_fileobj=tmp_path / "w.bin", path_in_repo="w.bin", repo_id=repo)
    error = raised.value
    assert retry.classify(error) == expected, repr(error)
    assert retry.status_of(error) == (None if status == "drop" else status)
    assert retry.answer_was_lost(error) == (expected == "retry")
    assert retry.describe(error) == (f"HTTP {status}" if status != "drop" else type(error).__name__)


@pytest.mark.parametrize("kind, status, expected", [
    ("reconstruction", 403, "fatal"), ("reconstruction", 503, "retry"), ("reconstruction", "drop", "retry"),
    ("xorb_get", 404, "fatal"), ("reconstruction", 401, "auth"),
])
def test_download_failures_are_classified_from_hf_xet_messages(hub_api: HfApi, repo: str, local_hub: LocalHub,
                                                               tmp_path: Path, kind: str, status, expected: str):
    (tmp_path / "w.bin").write_bytes(os.urandom(200_000))
    hub_api.upload_file(path_or_fileobj=tmp_path / "w.bin", path_in_repo="w.bin", repo_id=repo)
    _fault(local_hub, kind, status)
    with pytest.raises(Exception) as raised:
        hf_hub_download(repo, "w.bin", cache_dir=tmp_path / "dl", token=local_hub.token)
    assert retry.classify(raised.value) == expected, repr(raised.value)
    assert retry.status_of(raised.value) == (None if status == "drop" else status)


@pytest.mark.parametrize("retryable", [False, True])
def test_a_shard_refused_inside_its_v2_stream_is_final_with_the_cas_reason(hub_api: HfApi, repo: str,
                                                                         local_hub: LocalHub, tmp_path: Path,
                                                                         retryable: bool):
    """The real CAS refuses a shard after its progress stream began: 200, then an error frame. hf_xet retries it
    only when the frame says so, then raises "Internal error: <reason>" with no status: final for the policy."""
    (tmp_path / "w.bin").write_bytes(os.urandom(200_000))
    local_hub.add_fault("shard", action="error_frame", retryable=retryable, times=None,
                        body={"message": "shard references an unknown xorb"})
    with pytest.raises(Exception) as raised:
        hub_api.upload_file(path_or_fileobj=tmp_path / "w.bin", path_in_repo="w.bin", repo_id=repo)
    error = raised.value
    assert retry.classify(error) == "fatal" and retry.status_of(error) is None, repr(error)
    assert not retry.answer_was_lost(error)
    assert xet_errors.xet_failure_reason(error) == "Internal error: shard references an unknown xorb"
    tries = [r.status for r in local_hub.requests("shard")]
    assert tries == [200] * len(tries) and (len(tries) > 1) == retryable  # hf_xet's own retries, when allowed


def test_a_retryable_error_frame_once_is_survived_by_hf_xet(hub_api: HfApi, repo: str, local_hub: LocalHub,
                                                           tmp_path: Path):
    (tmp_path / "w.bin").write_bytes(os.urandom(200_000))
    local_hub.add_fault("shard", action="error_frame", retryable=True, times=1)
    hub_api.upload_file(path_or_fileobj=tmp_path / "w.bin", path_in_repo="w.bin", repo_id=repo)
    assert len(local_hub.requests("shard")) == 2
    assert local_hub.read_file(repo, "w.bin") == (tmp_path / "w.bin").read_bytes()


def test_push_ends_at_once_on_a_refused_shard_and_says_why(local_hub: LocalHub, tmp_path: Path):
    """From the command line: exit 4 with hf_xet's reason and a remedy, no traceback, nothing claims completion,
    and no try of ours beyond the head start's and the client path's one each."""
    from helpers import copy_fixture

    source = copy_fixture("lora_saved", tmp_path)
    local_hub.add_fault("shard", action="error_frame", times=None, body={"message": "shard failed verification"})
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "LOCAL_HUB"))}
    env.update(local_hub.env(local_hub.token, transfer="xet", hf_home=tmp_path / "hf-home"),
               LUDWIG_HUB_EXPORT_CACHE=str(tmp_path / "cache"), PYTHONPATH=os.environ.get("PYTHONPATH", ""))
    out = subprocess.run([sys.executable, "-m", "ludwig_hub_export", "push", str(source), "--repo-id", "tester/refused",
                          "--base-model", "tester/tiny-llama"], env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 4, out.stderr
    assert "hf_xet stopped: Internal error: shard failed verification" in out.stderr
    assert "Run the same command again later" in out.stderr and "Traceback" not in out.stderr
    assert "still failing after" not in out.stderr  # it was not retried
    assert len(local_hub.requests("shard")) <= 2
    assert "ludwig_export.json" not in local_hub.files("tester/refused")


def test_a_refused_or_unreachable_grant_url_is_handled_by_hf_xet(hub_api: HfApi, repo: str, local_hub: LocalHub,
                                                                  tmp_path: Path):
    """The real CAS hands out a grant (a presigned URL) per xorb. A 403 there (an expired grant) makes hf_xet ask for
    a new grant; a URL it cannot reach makes it send the xorb to /v1/xorbs instead. Neither reaches us."""
    (tmp_path / "a.bin").write_bytes(os.urandom(200_000))
    local_hub.add_fault("xorb", 403, times=1, path_contains="/grant-uploads/")
    hub_api.upload_file(path_or_fileobj=tmp_path / "a.bin", path_in_repo="a.bin", repo_id=repo)
    assert [r.status for r in local_hub.requests("xorb_grant")] == [201, 201]
    assert [r.status for r in local_hub.requests("xorb")] == [403, 200]
    assert [r.status for r in local_hub.requests("xorb_commit")] == [200]

    local_hub.log.clear()
    (tmp_path / "b.bin").write_bytes(os.urandom(200_000))
    local_hub.add_fault("xorb", action="drop", times=None, path_contains="/grant-uploads/")
    hub_api.upload_file(path_or_fileobj=tmp_path / "b.bin", path_in_repo="b.bin", repo_id=repo)
    sends = [(r.method, r.status) for r in local_hub.requests("xorb")]
    assert ("POST", 200) in sends and ("PUT", 200) not in sends, sends  # to /v1/xorbs instead
    assert not local_hub.requests("xorb_commit")
    for name in ("a.bin", "b.bin"):
        assert local_hub.read_file(repo, name) == (tmp_path / name).read_bytes()


def test_plain_connection_errors_are_still_connection_failures():
    assert retry.classify(ConnectionError("connection refused")) == "retry"
    assert retry.status_of(ConnectionError("Network error: something else")) is None
    assert retry.classify(RuntimeError("HTTP status client error (403 Forbidden)")) == "fatal"  # not hf_xet's


def test_bounds_keep_what_the_user_set():
    environ = {"HF_XET_CLIENT_RETRY_MAX_ATTEMPTS": "9"}
    xet_errors.bound_retries(15, 120, environ)
    assert environ["HF_XET_CLIENT_RETRY_MAX_ATTEMPTS"] == "9"
    assert environ["HF_XET_CLIENT_READ_TIMEOUT"] == "120000ms"


def test_bounded_hf_xet_gives_up_on_a_persistent_503_within_seconds(local_hub: LocalHub, tmp_path: Path):
    (tmp_path / "w.bin").write_bytes(os.urandom(100_000))
    HfApi(endpoint=local_hub.url, token=local_hub.token).create_repo("tester/bounded")
    local_hub.add_fault("shard", 503, times=None)
    client = (
        "import sys, time\n"
        "from ludwig_hub_export.hub import retry, xet_errors\n"
        "retry.bound_xet_retries(retry.RetryPolicy())\n"
        "from huggingface_hub import HfApi\n"
        "started = time.monotonic()\n"
        "try:\n"
        "    HfApi().upload_file(path_or_fileobj=sys.argv[1], path_in_repo='w.bin', repo_id='tester/bounded')\n"
        "except Exception as e:\n"
        "    print(retry.classify(e), round(time.monotonic() - started, 1))\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "LOCAL_HUB"))}
    env.update(local_hub.env(local_hub.token, transfer="xet"), PYTHONPATH=os.environ.get("PYTHONPATH", ""))
    started = time.monotonic()
    out = subprocess.run([sys.executable, "-c", client, str(tmp_path / "w.bin")], env=env, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    verdict, seconds = out.stdout.split()
    assert verdict == "retry" and float(seconds) < 15, out.stdout
    assert len(local_hub.requests("shard")) == 3  # the first try and the 2 retries hf_xet is allowed
    assert time.monotonic() - started < 60
