"""The Hub's conventions, each tested against the local Hub with the real client: token sources (OIDC trusted
publishing, HUGGING_FACE_HUB_TOKEN), download counting, card metadata, and the CLI's output formats."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from helpers import BASE, cli_env, copy_fixture, fast_retry, settings

from ludwig_hub_export.errors import AuthError
from ludwig_hub_export.workflows.push import push
from ludwig_hub_export.testing import LocalHub

FAST = fast_retry()


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


def test_oidc_token_that_expires_mid_export_is_exchanged_again_after_the_401(tmp_path, local_hub, hub_api,
                                                                            monkeypatch):
    repo = "tester/oidc-short-lived"
    hub_api.create_repo(repo)
    subject = "repo:tester/train:ref:refs/heads/main"
    issuer = local_hub.trust_publisher(repo, subject=subject)
    local_hub.api.trusted.token_ttl = 1  # the Hub's tokens live an hour; here one second
    monkeypatch.setenv("HF_OIDC_RESOURCE", repo)
    monkeypatch.setenv("HF_OIDC_ID_TOKEN", issuer.id_token(audience=local_hub.url, subject=subject))
    local_hub.add_fault("preupload", delay=1.5)  # the minted token expires while this request waits
    report = push(copy_fixture("ecd_saved", tmp_path), settings(repo))
    assert report.verified and report.token_origin.startswith("OIDC trusted publishing")
    assert local_hub.stats.statuses[("preupload", 401)] == 1
    exchanges = [r.status for r in local_hub.requests("oidc_token")]  # more if a slow machine outlives the next
    assert len(exchanges) >= 2 and set(exchanges) == {200}


def test_trusted_publishing_of_a_hub_in_another_process_through_the_cli(tmp_path, local_hub, hub_api):
    """`hub serve` users configure it through the admin API (HubControl); the CLI push exchanges the id token."""
    from ludwig_hub_export.testing import HubControl

    hub_api.create_repo("tester/ci")
    issuer = HubControl(local_hub.url, local_hub.admin_key).trust_publisher("tester/ci", "repo:tester/train:ref:x")
    env = cli_env(local_hub, tmp_path, None)
    env.update(HF_OIDC_RESOURCE="tester/ci",
               HF_OIDC_ID_TOKEN=issuer.id_token(audience=local_hub.url, subject="repo:tester/train:ref:x"))
    out = subprocess.run([sys.executable, "-m", "ludwig_hub_export", "push", str(copy_fixture("ecd_saved", tmp_path)),
                          "--repo-id", "tester/ci", "--json"], env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["verified"] and report["token_origin"].startswith("OIDC trusted publishing")
    minted = [t.value for t in local_hub.accounts.tokens.values() if t.name == "oidc"]
    assert minted and not any(value in out.stdout + out.stderr for value in minted + [env["HF_OIDC_ID_TOKEN"]])


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


def test_oidc_exchange_that_fails_on_the_hubs_side_is_a_hub_error(tmp_path, local_hub, monkeypatch):
    from ludwig_hub_export.errors import HubError

    issuer = local_hub.trust_publisher("tester/oidc-503", subject="repo:tester/train:ref:refs/heads/main")
    monkeypatch.setenv("HF_OIDC_RESOURCE", "tester/oidc-503")
    monkeypatch.setenv("HF_OIDC_ID_TOKEN", issuer.id_token(audience=local_hub.url,
                                                           subject="repo:tester/train:ref:refs/heads/main"))
    local_hub.add_fault("oidc_token", 503)
    with pytest.raises(HubError, match="token exchange with the Hub failed") as err:
        push(copy_fixture("ecd_saved", tmp_path), settings("tester/oidc-503"))
    assert err.value.exit_code == 4


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


@pytest.fixture
def token_file(local_hub: LocalHub):
    """The token file huggingface_hub reads in this process (`$HF_HOME/token`), removed afterwards."""
    from ludwig_hub_export.hub.auth import token_file

    path = token_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    yield path
    path.unlink(missing_ok=True)


def test_token_file_is_named_and_a_401_falls_back_to_it_from_a_stale_hf_token(tmp_path, local_hub, token_file,
                                                                             monkeypatch):
    token_file.write_text(local_hub.token + "\n")
    report = push(copy_fixture("ecd_saved", tmp_path), settings("tester/from-file"))
    assert report.token_origin.startswith("token file ") and report.token_origin.endswith("token")
    stale = local_hub.add_token("tester")
    local_hub.revoke(stale)
    monkeypatch.setenv("HF_TOKEN", stale)  # ranks above the file, and is refused: the file's token is different
    report = push(copy_fixture("ecd_saved", tmp_path / "again"), settings("tester/after-401"))
    assert report.verified and report.token_origin.startswith("token file ")
    assert local_hub.stats.statuses[("repo_info", 401)] == 1  # the first request: refused, then the file's token


# --- downloads the Hub counts ----------------------------------------------------------------------------------

def test_ecd_repo_has_a_counted_config_yaml_and_pull_fetches_it_first_once(tmp_path, local_hub, env_token):
    import yaml

    from ludwig_hub_export.artifact.plan import DOWNLOAD_COUNTED
    from ludwig_hub_export.workflows.pull import pull

    push(copy_fixture("ecd_run", tmp_path), settings("tester/ecd"))
    files = local_hub.files("tester/ecd")
    assert [p for p in files if p in DOWNLOAD_COUNTED] == ["config.yaml"]
    ludwig_config = json.loads(local_hub.read_file("tester/ecd", "ludwig_config.json"))
    ludwig_config.pop("hyperopt", None)  # the YAML is for `ludwig train`, which stops to ask when it is there
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
    from ludwig_hub_export.artifact.plan import DOWNLOAD_COUNTED

    push(copy_fixture(name, tmp_path), settings("tester/llm", base_model=BASE))
    assert [p for p in local_hub.files("tester/llm") if p in DOWNLOAD_COUNTED] == [counted]


# --- the card: metadata the Hub accepts and shows ----------------------------------------------------------------

KIND_FIXTURES = {"ecd": "ecd_run", "adapter": "lora_run", "full": "full_sharded", "merged": "merged_run",
                 "named adapter": "lora_named_adapter", "legacy ecd": "ecd_legacy_pickle"}


def _validate_yaml(local_hub: LocalHub, content: str):
    """The card as `create_commit` sends it: POST /api/validate-yaml, through the client's own HTTP session."""
    from huggingface_hub.utils import get_session

    return get_session().post(f"{local_hub.url}/api/validate-yaml", json={"content": content, "repoType": "model"})


@pytest.mark.parametrize("label", sorted(KIND_FIXTURES))
def test_card_of_every_kind_passes_the_hubs_validate_yaml(label, tmp_path, local_hub):
    import yaml

    from ludwig_hub_export.card_metadata import split_front_matter
    from ludwig_hub_export.source.checks import check
    from ludwig_hub_export.artifact.plan import build_plan

    name = KIND_FIXTURES[label]
    base = None if "ecd" in label else BASE
    report = check(copy_fixture(name, tmp_path), base_model=base, convert_pickle=True)
    plan = build_plan(report, "tester/m", base_model=base, convert_pickle=True, license="apache-2.0",
                      dataset="acme/training-data")
    try:
        card = plan.by_path()["README.md"].data.decode()
    finally:
        plan.cleanup()
    answer = _validate_yaml(local_hub, card)
    assert answer.status_code == 200, answer.text
    meta = yaml.safe_load(split_front_matter(card)[0])
    assert meta["datasets"] == ["acme/training-data"] and meta["license"] == "apache-2.0"
    if plan.kind == "adapter":
        assert meta["base_model_relation"] == "adapter" and f"base_model:adapter:{BASE}" in meta["tags"]
        assert {"peft", "lora", "transformers"} <= set(meta["tags"])
    elif plan.kind in ("full", "merged"):
        assert meta["base_model_relation"] == "finetune" and f"base_model:finetune:{BASE}" in meta["tags"]
    else:
        assert "base_model_relation" not in meta and "base_model" not in meta
    assert "## Training hyperparameters" in card and "| learning rate |" in card
    if plan.kind in ("adapter", "merged"):
        assert "| r | 4 |" in card and "| alpha | 8 |" in card and "| target modules |" in card
    # A model-index only with test metrics to show (runs have training_statistics.json; saved models do not).
    assert ("model-index" in meta) == ("training_statistics.json" in plan.by_path())


@pytest.mark.parametrize("front,complaint", [
    ("license: Apache-2.0", "license"),
    ("license: other", "license_name"),
    ("base_model: /home/me/llama", "base_model"),
    ("datasets: [./data.csv]", "datasets"),
    ("base_model: org/base\nbase_model_relation: merged", "base_model_relation"),
    ("base_model_relation: adapter", "base_model_relation"),
    ("pipeline_tag: tabular-classifier", "pipeline_tag"),
    ("model-index:\n- name: m\n  results:\n  - task: {type: text-generation}\n    metrics: [{type: loss, value: 1}]",
     "dataset"),
    ("model-index:\n- name: m\n  results:\n  - task: {type: text-generation}\n    dataset: {type: a/b, name: a/b}\n"
     "    metrics: [{type: loss}]", "metrics"),
])
def test_validate_yaml_refuses_what_the_hub_refuses_and_the_client_reports_it(front, complaint, local_hub, hub_api):
    card = f"---\nlibrary_name: ludwig\n{front}\n---\n# m\n"
    answer = _validate_yaml(local_hub, card)
    assert answer.status_code == 400 and complaint in answer.text
    hub_api.create_repo("tester/refused")
    with pytest.raises(ValueError, match="Invalid metadata in README.md"):
        hub_api.upload_file(path_or_fileobj=card.encode(), path_in_repo="README.md", repo_id="tester/refused")
    assert local_hub.stats.requests["commit"] == 0


def test_validate_yaml_answers_any_front_matter_without_crashing():
    """Untrusted cards (any YAML shape in the checked keys) get errors, never an exception."""
    import yaml
    from hypothesis import given, settings as fuzz_settings
    from hypothesis import strategies as st

    from ludwig_hub_export.card_metadata import validate_front_matter

    scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=12),
                        st.sampled_from(["apache-2.0", "other", "org/x", "../x", "adapter", "text-generation"]))
    values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
        st.sampled_from(["name", "results", "task", "type", "dataset", "metrics", "value"]), inner, max_size=4),
        max_leaves=12)
    keys = st.sampled_from(["license", "license_name", "license_link", "datasets", "base_model", "tags",
                            "base_model_relation", "pipeline_tag", "model-index", "library_name"])

    @fuzz_settings(max_examples=int(os.environ.get("FUZZ_EXAMPLES", "150")), deadline=2000)
    @given(st.dictionaries(keys, values, max_size=5))
    def run(meta):
        errors, warnings = validate_front_matter("---\n" + yaml.safe_dump(meta) + "---\n")
        assert all(isinstance(e, str) for e in errors + warnings)

    run()


@pytest.mark.parametrize("options,message", [
    ({"license": "Apache-2.0"}, "did you mean 'apache-2.0'"),
    ({"license": "other"}, "license_name and license_link"),
    ({"license": "mit", "license_name": "x"}, "--license other"),
    ({"dataset": "../data.csv"}, "not a Hub dataset id"),
])
def test_bad_license_or_dataset_is_a_usage_error_before_any_request(options, message, local_hub):
    from ludwig_hub_export.errors import UsageError

    with pytest.raises(UsageError, match=message) as err:
        settings(**options)
    assert err.value.exit_code == 2 and local_hub.requests() == []


def test_license_other_and_dataset_land_in_the_card_on_the_hub(tmp_path, local_hub, env_token):
    import yaml

    from ludwig_hub_export.card_metadata import split_front_matter

    push(copy_fixture("lora_run", tmp_path), settings(base_model=BASE, license="other", license_name="acme-1.0",
                                                       license_link="https://acme.example/license",
                                                       dataset="acme/instructions"))
    card = local_hub.read_file("tester/model", "README.md").decode()
    meta = yaml.safe_load(split_front_matter(card)[0])
    assert (meta["license"], meta["license_name"], meta["license_link"]) == (
        "other", "acme-1.0", "https://acme.example/license")
    progress = json.loads((tmp_path / "lora_run" / "results" / "api_experiment_run" / "model" /
                           "training_progress.json").read_text())
    [model] = meta["model-index"]
    [result] = model["results"]
    assert result["task"]["type"] == "text-generation" and result["dataset"]["type"] == "acme/instructions"
    assert result["dataset"]["split"] == "test"
    # The metrics of the checkpoint Ludwig saved (and the push publishes), from training_progress.json.
    assert {m["type"]: m["value"] for m in result["metrics"]} == progress["best_eval_test_metrics"]["output"]
    # Read back by huggingface_hub itself: the Hub's parser sees the same results.
    from huggingface_hub import ModelCard

    parsed = ModelCard(card).data
    assert parsed.eval_results and {r.dataset_type for r in parsed.eval_results} == {"acme/instructions"}


def test_no_model_index_without_a_dataset(tmp_path, local_hub, env_token):
    push(copy_fixture("ecd_run", tmp_path), settings())
    card = local_hub.read_file("tester/model", "README.md").decode()
    assert "model-index" not in card and "datasets:" not in card


# --- output like the hf CLI ----------------------------------------------------------------------------------------

def _cli(args: list[str], env: dict, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ludwig_hub_export", *args], env=env, capture_output=True,
                          text=True, timeout=300, **kwargs)


def test_push_formats_put_results_on_stdout_logs_on_stderr_and_the_url_last(tmp_path, local_hub):
    source = copy_fixture("ecd_saved", tmp_path)
    env = cli_env(local_hub, tmp_path, local_hub.token)
    url = f"{local_hub.url}/tester/fmt"

    human = _cli(["push", str(source), "--repo-id", "tester/fmt"], env, stdin=subprocess.DEVNULL)
    assert human.returncode == 0, human.stderr
    assert human.stdout.strip().splitlines()[-1] == url and "verified" in human.stdout
    assert "publishing with the token from HF_TOKEN" in human.stderr and url not in human.stderr
    assert "%|" not in human.stderr and "Uploading" not in human.stderr  # not a terminal: no progress bar

    for flags in (["--format", "json"], ["--json"]):
        out = _cli(["push", str(source), "--repo-id", "tester/fmt", *flags], env)
        assert out.returncode == 0 and json.loads(out.stdout)["url"] == url and out.stderr == ""
    for flags in (["--format", "quiet"], ["--quiet"], ["-q"]):
        out = _cli(["push", str(source), "--repo-id", "tester/fmt", *flags], env)
        assert out.returncode == 0 and out.stdout == url + "\n" and out.stderr == ""

    both = _cli(["push", str(source), "--repo-id", "tester/fmt", "--json", "--quiet"], env)
    assert both.returncode == 0 and json.loads(both.stdout)["url"] == url  # --json wins, as it always did
    clash = _cli(["push", str(source), "--repo-id", "tester/fmt", "--format", "human", "--json"], env)
    assert clash.returncode == 2 and "contradicts" in clash.stderr


def test_check_and_pull_formats(tmp_path, local_hub):
    source = copy_fixture("ecd_saved", tmp_path)
    env = cli_env(local_hub, tmp_path, local_hub.token)
    assert _cli(["check", str(source), "--format", "quiet"], env).stdout == "PASSED\n"
    assert json.loads(_cli(["check", str(source), "--format", "json"], env).stdout)["status"] == "PASSED"
    assert _cli(["push", str(source), "--repo-id", "tester/p", "-q"], env).returncode == 0
    out = _cli(["pull", "tester/p", str(tmp_path / "a"), "--format", "json"], env)
    assert out.returncode == 0 and json.loads(out.stdout)["model_dir"] == str(tmp_path / "a" / "model")
    out = _cli(["pull", "tester/p", str(tmp_path / "b"), "--quiet"], env)
    assert out.stdout == f"{tmp_path / 'b' / 'model'}\n" and out.stderr == ""


@pytest.mark.parametrize("transfer_protocol", ["xet"], indirect=True)
def test_the_clients_progress_bars_on_a_terminal(tmp_path, local_hub, transfer_protocol):
    """A real pseudo-terminal as stderr: the client's own progress bars, as `hf upload` shows them (hf_xet's here;
    on LFS the client shows one for a transfer of several files, none for this small adapter)."""
    import fcntl
    import select
    import struct
    import termios

    source = copy_fixture("lora_run", tmp_path)
    env = cli_env(local_hub, tmp_path, local_hub.token)
    fd, child_end = os.openpty()
    fcntl.ioctl(child_end, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))  # a terminal has a width
    child = subprocess.Popen([sys.executable, "-m", "ludwig_hub_export", "push", str(source), "--repo-id",
                              "tester/bar", "--base-model", BASE], env=env, stdin=subprocess.DEVNULL,
                             stdout=subprocess.PIPE, stderr=child_end)
    os.close(child_end)
    seen = b""
    while True:
        ready, _, _ = select.select([fd], [], [], 0.5)
        if ready:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                break
            if not chunk:
                break
            seen += chunk
        elif child.poll() is not None:
            break
    stdout, _ = child.communicate(timeout=120)
    os.close(fd)
    text = seen.decode("utf-8", "replace")
    assert child.returncode == 0, text
    bars = [line for line in text.replace("\r", "\n").splitlines() if "100%" in line and "|" in line]
    assert bars, text
    assert stdout.decode().strip().splitlines()[-1] == f"{local_hub.url}/tester/bar"
