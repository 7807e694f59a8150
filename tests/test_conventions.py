"""The Hub's conventions, each tested against the local Hub with the real client: token sources (OIDC trusted
publishing, HUGGING_FACE_HUB_TOKEN), download counting, card metadata, and the CLI's output formats."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from helpers import copy_fixture

from ludwig_hub_export.errors import AuthError
from ludwig_hub_export.push import ExportSettings, push
from ludwig_hub_export.retry import RetryPolicy
from ludwig_hub_export.testing import LocalHub

FAST = RetryPolicy(base_delay=0.01, max_delay=1.5, budget=60)
BASE = "tester/tiny-llama"


@pytest.fixture
def env_token(local_hub: LocalHub, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("HF_TOKEN", local_hub.token)
    return local_hub.token


def settings(repo_id: str = "tester/model", **options) -> ExportSettings:
    options.setdefault("retry", FAST)
    options.setdefault("quiet", True)
    options.setdefault("interactive", False)
    return ExportSettings(repo_id=repo_id, **options)


def _cli_env(local_hub: LocalHub, tmp_path, token: str | None) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HF_")}
    env.update(local_hub.env(token=token, hf_home=tmp_path / "hf-home"))
    env["LUDWIG_HUB_EXPORT_CACHE"] = str(tmp_path / "cache")
    return env


# --- tokens: huggingface_hub's sources and order -------------------------------------------------------------

def test_oidc_trusted_publishing_exchanges_the_ci_id_token_for_a_scoped_write_token(
        tmp_path, local_hub, hub_api, monkeypatch):
    repo = "tester/oidc-published"
    hub_api.create_repo(repo)  # trusted publishers are configured on an existing repo
    issuer = local_hub.trust_publisher(repo, subject="repo:tester/train:ref:refs/heads/main")
    monkeypatch.setenv("HF_OIDC_RESOURCE", repo)
    monkeypatch.setenv("HF_OIDC_ID_TOKEN", issuer.id_token(audience=local_hub.url,
                                                           subject="repo:tester/train:ref:refs/heads/main"))
    monkeypatch.setenv("HF_TOKEN", local_hub.add_token("tester", role="read"))  # OIDC comes first
    report = push(copy_fixture("ecd_saved", tmp_path), settings(repo))
    assert report.verified and report.token_origin == f"OIDC trusted publishing (HF_OIDC_RESOURCE={repo})"
    exchanges = local_hub.requests("oidc_token")
    assert [r.status for r in exchanges] == [200]
    minted = [t for t in local_hub.accounts.tokens.values() if t.name == "oidc"]
    assert len(minted) == 1 and minted[0].scope == repo and minted[0].expires_at is not None
    assert {r.user for r in local_hub.requests("commit")} == {"tester"}
    # The minted token writes only where it was issued for.
    with pytest.raises(Exception, match="403"):
        from huggingface_hub import HfApi
        HfApi(token=minted[0].value).create_repo("tester/elsewhere")


@pytest.mark.parametrize("problem", ["audience", "subject", "expired", "issuer"])
def test_oidc_exchange_refused_is_an_auth_error_before_any_upload(problem, tmp_path, local_hub, hub_api,
                                                                  monkeypatch):
    from ludwig_hub_export.testing.oidc import OidcIssuer

    repo = f"tester/oidc-{problem}"  # the client caches exchanged tokens per resource: one resource per case
    hub_api.create_repo(repo)
    subject = "repo:tester/train:ref:refs/heads/main"
    issuer = local_hub.trust_publisher(repo, subject=subject)
    kwargs = {"audience": local_hub.url, "subject": subject}
    if problem == "audience":
        kwargs["audience"] = "https://huggingface.co"
    elif problem == "subject":
        kwargs["subject"] = "repo:mallory/fork:ref:refs/heads/main"
    elif problem == "expired":
        kwargs["ttl"] = -10
    elif problem == "issuer":
        issuer = OidcIssuer()  # same name, another key: the signature does not verify
    id_token = issuer.id_token(**kwargs)
    monkeypatch.setenv("HF_OIDC_RESOURCE", repo)
    monkeypatch.setenv("HF_OIDC_ID_TOKEN", id_token)
    with pytest.raises(AuthError, match="OIDC trusted publishing") as err:
        push(copy_fixture("ecd_saved", tmp_path), settings(repo))
    assert err.value.exit_code == 3 and id_token not in str(err.value)
    # Refused at the exchange: nothing else was asked of the Hub (the repo was created by the test itself).
    assert [(r.kind, r.status) for r in local_hub.requests() if r.kind != "create_repo"] == [("oidc_token", 400)]


def test_oidc_resource_without_an_id_token_says_what_to_set(tmp_path, local_hub, monkeypatch):
    monkeypatch.setenv("HF_OIDC_RESOURCE", "tester/no-id-token")
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    with pytest.raises(AuthError, match="HF_OIDC_ID_TOKEN"):
        push(copy_fixture("ecd_saved", tmp_path), settings("tester/no-id-token"))
    assert local_hub.requests() == []


def test_hugging_face_hub_token_is_a_source_and_hf_token_wins(tmp_path, local_hub, monkeypatch):
    legacy = local_hub.add_token("tester")
    monkeypatch.setenv("HUGGING_FACE_HUB_TOKEN", legacy)
    report = push(copy_fixture("ecd_saved", tmp_path), settings())
    assert report.token_origin == "HUGGING_FACE_HUB_TOKEN"
    monkeypatch.setenv("HF_TOKEN", local_hub.token)
    report = push(copy_fixture("ecd_saved", tmp_path / "again"), settings("tester/other"))
    assert report.token_origin == "HF_TOKEN"


# --- downloads the Hub counts ----------------------------------------------------------------------------------

def test_ecd_repo_has_a_counted_config_yaml_and_pull_fetches_it_first_once(tmp_path, local_hub, env_token):
    import yaml

    from ludwig_hub_export.plan import DOWNLOAD_COUNTED
    from ludwig_hub_export.pull import pull

    push(copy_fixture("ecd_run", tmp_path), settings("tester/ecd"))
    files = local_hub.files("tester/ecd")
    assert [p for p in files if p in DOWNLOAD_COUNTED] == ["config.yaml"]
    ludwig_config = json.loads(local_hub.read_file("tester/ecd", "ludwig_config.json"))
    assert yaml.safe_load(local_hub.read_file("tester/ecd", "config.yaml")) == ludwig_config
    assert "counts this repo's downloads on `config.yaml`" in local_hub.read_file("tester/ecd", "README.md").decode()

    local_hub.log.clear()
    result = pull("tester/ecd", tmp_path / "pulled")
    fetched = [r.path.rsplit("/", 1)[-1] for r in local_hub.requests("resolve")]
    manifest_listed = [name for name in dict.fromkeys(fetched) if name != "ludwig_export.json"]
    assert manifest_listed[0] == "config.yaml"  # first, so even an interrupted pull is counted
    assert sum(1 for r in local_hub.requests("resolve") if r.path.endswith("/config.yaml") and r.method == "GET") == 1
    assert yaml.safe_load((result.dest / "config.yaml").read_text()) == ludwig_config


@pytest.mark.parametrize("name,counted", [("lora_saved", "adapter_config.json"), ("full_saved", "config.json")])
def test_llm_repos_are_counted_on_their_own_config_and_get_no_extra_file(name, counted, tmp_path, local_hub,
                                                                         env_token):
    from ludwig_hub_export.plan import DOWNLOAD_COUNTED

    push(copy_fixture(name, tmp_path), settings("tester/llm", base_model=BASE))
    assert [p for p in local_hub.files("tester/llm") if p in DOWNLOAD_COUNTED] == [counted]
