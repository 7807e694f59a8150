"""How long an export waits, read from the Hub's own headers the way the Hub means them (and huggingface_hub
reads them): `Retry-After` wins; the `RateLimit` reset is a required wait only when the quota is spent or the
answer is a 429; otherwise backoff. And the pacer, which slows down before a quota runs out."""

from __future__ import annotations

import re

import pytest
from helpers import copy_fixture
from huggingface_hub import HfApi

from ludwig_hub_export.errors import EXIT_DEFERRED, DeferredError
from ludwig_hub_export.workflows.push import ExportSettings, push
from ludwig_hub_export.hub.retry import RetryPolicy

POLICY = RetryPolicy(base_delay=0.5, max_delay=60, budget=120)


def _settings(**options) -> ExportSettings:
    options.setdefault("retry", POLICY)
    return ExportSettings(repo_id="tester/model", quiet=True, interactive=False, **options)


def _waits(report) -> list[tuple[float, str]]:
    """(seconds, the wait line) for every retry wait the export announced (pacing waits apart)."""
    return [(float(re.search(r"waiting ([\d.]+) s", line).group(1)), line) for line in report.waits
            if not line.startswith("pacing:")]


@pytest.fixture
def ecd(tmp_path, local_hub, transfer_protocol, monkeypatch):
    """An ECD model to push, once over Xet and once over LFS."""
    monkeypatch.setenv("HF_TOKEN", local_hub.token)
    return copy_fixture("ecd_saved", tmp_path)


def test_every_api_answer_carries_the_quota_state_faults_included(local_hub, hub_api: HfApi):
    import httpx2

    local_hub.add_fault("whoami", 503)
    url = f"{local_hub.url}/api/whoami-v2"
    headers = {"Authorization": f"Bearer {local_hub.token}"}
    failed = httpx2.get(url, headers=headers)
    ok = httpx2.get(url, headers=headers)
    assert (failed.status_code, ok.status_code) == (503, 200)
    for response in (failed, ok):
        assert re.fullmatch(r'"api";r=\d+;t=\d+', response.headers["RateLimit"])
        assert response.headers["RateLimit-Policy"] == '"fixed window";"api";q=1000;w=300'
    remaining = [int(re.search(r"r=(\d+)", r.headers["RateLimit"]).group(1)) for r in (failed, ok)]
    assert remaining[1] < 1000  # the successful call was counted


def test_a_transient_503_with_plenty_of_quota_left_is_backoff_not_the_reset(ecd, local_hub):
    # The real Hub's situation: r=900 remaining, reset in 280 s, on a one-off gateway error.
    local_hub.add_fault("commit", 503, headers={"RateLimit": '"api";r=900;t=280',
                                                "RateLimit-Policy": '"fixed window";"api";q=1000;w=300'})
    report = push(ecd, _settings())
    assert report.verified and report.retries == 1
    [(seconds, line)] = _waits(report)
    assert seconds <= POLICY.base_delay * (1 + POLICY.jitter)
    assert "backoff" in line and "HTTP 503" in line


def test_retry_after_always_wins(ecd, local_hub):
    local_hub.add_fault("commit", 429, headers={"Retry-After": "2", "RateLimit": '"api";r=40;t=250'})
    report = push(ecd, _settings())
    [(seconds, line)] = _waits(report)
    assert seconds == 2.0 and "asked to retry after 2 s" in line


@pytest.mark.parametrize("status,remaining", [(429, 5), (503, 0)])
def test_the_reset_is_waited_when_the_quota_is_spent_or_the_answer_is_a_429(status, remaining, ecd, local_hub):
    local_hub.add_fault("commit", status, headers={"RateLimit": f'"api";r={remaining};t=2',
                                                   "RateLimit-Policy": '"fixed window";"api";q=1000;w=300'})
    report = push(ecd, _settings())
    [(seconds, line)] = _waits(report)
    assert seconds == 2.0 and "'api' quota of 1000 spent, resets in 2 s" in line
    assert report.verified


def test_a_required_wait_past_the_budget_defers_with_exit_5(ecd, local_hub):
    # Repo creations: as low as 20 a day on the real Hub, with a Retry-After of hours.
    local_hub.add_fault("create_repo", 429, headers={"Retry-After": str(21 * 3600)}, times=None)
    with pytest.raises(DeferredError) as err:
        push(ecd, _settings())
    assert err.value.exit_code == EXIT_DEFERRED == 5
    assert "asked to retry after 75600 s" in err.value.message
    assert "run the same command again after" in err.value.remedy
    assert local_hub.stats.requests["create_repo"] == 1  # no pointless retries into a spent quota
    assert "tester/model" not in local_hub.repos.repos


def test_deferral_exits_5_from_the_command_line(ecd, local_hub):
    import subprocess
    import sys

    local_hub.add_fault("create_repo", 429, headers={"Retry-After": "7200"}, times=None)
    out = subprocess.run([sys.executable, "-m", "ludwig_hub_export", "push", str(ecd), "--repo-id", "tester/model",
                          "--budget", "30"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 5, out.stderr
    assert "Traceback" not in out.stderr and "run the same command again after" in out.stderr


def test_the_pacer_slows_down_before_the_quota_runs_out(ecd, local_hub):
    # A tiny "api" quota: the export needs more calls than one window allows.
    local_hub.set_rate_limit("api", limit=5, window=3)
    report = push(ecd, _settings())
    assert report.verified
    assert local_hub.stats.statuses.get(("commit", 429), 0) == 0
    assert not [key for key, count in local_hub.stats.statuses.items() if key[1] == 429 and count]
    pacing = [line for line in report.waits if line.startswith("pacing:")]
    assert pacing and "'api' quota nearly spent" in pacing[0]
    assert report.retries == 0  # paced, never refused
