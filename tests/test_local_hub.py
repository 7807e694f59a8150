"""The local Hub, driven by the real huggingface_hub client over HTTP."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import time
from pathlib import Path

import httpx2
import pytest
from huggingface_hub import HfApi, hf_hub_download, set_client_factory
from huggingface_hub.errors import HfHubHTTPError, RepositoryNotFoundError
from huggingface_hub.utils import get_session

from ludwig_hub_export.testing import LocalHub
from ludwig_hub_export.testing.storage import git_blob_sha1


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def repo(hub_api: HfApi) -> str:
    hub_api.create_repo("tester/model")
    return "tester/model"


def test_whoami_reports_user_orgs_and_role(local_hub: LocalHub):
    token = local_hub.add_user("alice", orgs=["acme"], role="read")
    info = HfApi(token=token).whoami()
    assert info["name"] == "alice"
    assert [o["name"] for o in info["orgs"]] == ["acme"]
    assert info["auth"]["accessToken"]["role"] == "read"


def test_create_repo_and_again_with_exist_ok(hub_api: HfApi, local_hub: LocalHub):
    url = hub_api.create_repo("tester/m", private=True)
    assert url == f"{local_hub.url}/tester/m"
    assert hub_api.create_repo("tester/m", exist_ok=True) == url
    with pytest.raises(HfHubHTTPError) as err:
        hub_api.create_repo("tester/m")
    assert err.value.response.status_code == 409
    info = hub_api.repo_info("tester/m")
    assert info.private is True
    assert [s.rfilename for s in info.siblings] == [".gitattributes"]


def test_upload_small_and_lfs_files_and_list_them(hub_api: HfApi, repo: str, local_hub: LocalHub):
    small = b'{"hello": "world"}\n'
    big = os.urandom(11 * 1000 * 1000)  # over the 10 MB threshold: LFS by size
    weights = os.urandom(4096)  # LFS by extension
    hub_api.upload_file(path_or_fileobj=small, path_in_repo="config.json", repo_id=repo)
    hub_api.upload_file(path_or_fileobj=big, path_in_repo="data/big.dat", repo_id=repo)
    hub_api.upload_file(path_or_fileobj=weights, path_in_repo="w.safetensors", repo_id=repo)

    assert sorted(hub_api.list_repo_files(repo)) == [".gitattributes", "config.json", "data/big.dat", "w.safetensors"]
    info = {i.path: i for i in hub_api.get_paths_info(repo, ["config.json", "data/big.dat", "w.safetensors", "data"])}
    assert info["config.json"].lfs is None and info["config.json"].blob_id == git_blob_sha1(small)
    assert info["data/big.dat"].lfs.sha256 == sha256(big) and info["data/big.dat"].size == len(big)
    assert info["w.safetensors"].lfs.sha256 == sha256(weights)
    assert type(info["data"]).__name__ == "RepoFolder"
    assert local_hub.stats.requests["lfs_upload"] == 2  # the small file went inline in the commit


def test_upload_folder_is_one_commit_and_downloads_byte_for_byte(hub_api: HfApi, repo: str, tmp_path: Path,
                                                                local_hub: LocalHub):
    folder = tmp_path / "export"
    (folder / "model_weights").mkdir(parents=True)
    files = {
        "ludwig_config.json": b'{"model_type": "llm"}',
        "model_weights/adapter_model.safetensors": os.urandom(200_000),
        "model_weights/adapter_config.json": b'{"r": 8}',
        "README.md": b"---\nlibrary_name: ludwig\ntags:\n- ludwig\n---\n# Model\n",
    }
    for name, data in files.items():
        (folder / name).write_bytes(data)
    before = len(local_hub.commits(repo))
    hub_api.upload_folder(repo_id=repo, folder_path=folder, commit_message="export")
    assert len(local_hub.commits(repo)) == before + 1
    for name, data in files.items():
        path = hf_hub_download(repo, name, cache_dir=tmp_path / "cache", token=local_hub.token)
        assert Path(path).read_bytes() == data, name


def test_reupload_of_same_files_sends_no_commit(hub_api: HfApi, repo: str, tmp_path: Path, local_hub: LocalHub):
    folder = tmp_path / "f"
    folder.mkdir()
    (folder / "a.txt").write_text("same")
    (folder / "b.safetensors").write_bytes(os.urandom(1000))
    first = hub_api.upload_folder(repo_id=repo, folder_path=folder)
    commits_before = local_hub.stats.requests["commit"]
    again = hub_api.upload_folder(repo_id=repo, folder_path=folder)
    assert local_hub.stats.requests["commit"] == commits_before
    assert again.oid == first.oid


def test_tree_is_paged_with_link_headers(hub_api: HfApi, repo: str, tmp_path: Path, local_hub: LocalHub):
    folder = tmp_path / "many"
    folder.mkdir()
    for i in range(7):
        (folder / f"f{i}.txt").write_text(str(i))
    hub_api.upload_folder(repo_id=repo, folder_path=folder)
    local_hub.api.tree_page_size = 3
    files = sorted(f.path for f in hub_api.list_repo_tree(repo, recursive=True))
    assert files == [".gitattributes"] + [f"f{i}.txt" for i in range(7)]
    assert local_hub.stats.requests["tree"] == 3


def test_private_repo_is_invisible_to_others(hub_api: HfApi, local_hub: LocalHub, tmp_path: Path):
    hub_api.create_repo("tester/secret", private=True)
    hub_api.upload_file(path_or_fileobj=b"x", path_in_repo="x.txt", repo_id="tester/secret")
    other = HfApi(token=local_hub.add_user("mallory"))
    with pytest.raises(RepositoryNotFoundError):
        other.repo_info("tester/secret")
    with pytest.raises(RepositoryNotFoundError):
        hf_hub_download("tester/secret", "x.txt", token=False, cache_dir=tmp_path)
    with pytest.raises(HfHubHTTPError) as err:
        other.upload_file(path_or_fileobj=b"y", path_in_repo="y.txt", repo_id="tester/secret")
    assert err.value.response.status_code == 404
    assert hub_api.list_repo_files("tester/secret") == [".gitattributes", "x.txt"]


def test_org_members_write_to_org_but_not_elsewhere(local_hub: LocalHub):
    alice = HfApi(token=local_hub.add_user("alice", orgs=["acme"]))
    alice.create_repo("acme/shared")
    alice.upload_file(path_or_fileobj=b"x", path_in_repo="x.txt", repo_id="acme/shared")
    with pytest.raises(HfHubHTTPError) as err:
        alice.create_repo("other-org/nope")
    assert err.value.response.status_code == 403
    assert "namespace" in str(err.value)


def test_read_only_token_cannot_create_or_upload(hub_api: HfApi, repo: str, local_hub: LocalHub):
    reader = HfApi(token=local_hub.add_token("tester", role="read"))
    with pytest.raises(HfHubHTTPError) as err:
        reader.create_repo("tester/another")
    assert err.value.response.status_code == 403
    with pytest.raises(HfHubHTTPError) as err:
        reader.upload_file(path_or_fileobj=b"x", path_in_repo="x.txt", repo_id=repo)
    assert err.value.response.status_code == 403 and "read-only" in str(err.value)
    assert reader.list_repo_files(repo) == [".gitattributes"]  # reading still works


def test_revoked_token_gets_401_invalid_credentials(local_hub: LocalHub):
    token = local_hub.add_token("tester")
    api = HfApi(token=token)
    assert api.whoami()["name"] == "tester"
    local_hub.revoke(token)
    with pytest.raises(HfHubHTTPError) as err:
        api.whoami(cache=False)
    assert err.value.response.status_code == 401
    with pytest.raises(HfHubHTTPError) as err:
        api.create_repo("tester/x")
    assert err.value.response.status_code == 401
    assert "Invalid credentials in Authorization header" in str(err.value)
    assert token not in str(err.value)


def test_readme_with_local_base_model_fails_yaml_validation(hub_api: HfApi, repo: str):
    card = b"---\nbase_model: /home/me/models/llama\nlibrary_name: peft\n---\n# card\n"
    with pytest.raises(ValueError, match="base_model"):
        hub_api.upload_file(path_or_fileobj=card, path_in_repo="README.md", repo_id=repo)
    good = b"---\nbase_model: meta-llama/Llama-3.2-1B\nlibrary_name: peft\n---\n# card\n"
    hub_api.upload_file(path_or_fileobj=good, path_in_repo="README.md", repo_id=repo)


def test_create_pr_lands_on_a_pr_ref_not_main(hub_api: HfApi, repo: str, local_hub: LocalHub):
    info = hub_api.upload_file(path_or_fileobj=b"pr", path_in_repo="pr.txt", repo_id=repo, create_pr=True)
    assert info.pr_url.endswith("/discussions/1")
    assert "pr.txt" not in hub_api.list_repo_files(repo)
    assert "pr.txt" in hub_api.list_repo_files(repo, revision="refs/pr/1")


def test_parent_commit_mismatch_is_refused(hub_api: HfApi, repo: str):
    stale = hub_api.repo_info(repo).sha
    hub_api.upload_file(path_or_fileobj=b"1", path_in_repo="one.txt", repo_id=repo)
    with pytest.raises(HfHubHTTPError) as err:
        hub_api.upload_file(path_or_fileobj=b"2", path_in_repo="two.txt", repo_id=repo, parent_commit=stale)
    assert err.value.response.status_code == 412


def _auth(local_hub: LocalHub) -> dict:
    return {"Authorization": f"Bearer {local_hub.token}"}


def test_commit_referencing_an_lfs_object_never_uploaded_is_refused(repo: str, local_hub: LocalHub):
    lines = [
        {"key": "header", "value": {"summary": "bad"}},
        {"key": "file", "value": {"path": "ok.txt", "content": base64.b64encode(b"ok").decode(), "encoding": "base64"}},
        {"key": "lfsFile", "value": {"path": "w.bin", "algo": "sha256", "oid": "ab" * 32, "size": 10}},
    ]
    body = "".join(json.dumps(line) + "\n" for line in lines)
    r = httpx2.post(f"{local_hub.url}/api/models/{repo}/commit/main", content=body,
                    headers={**_auth(local_hub), "Content-Type": "application/x-ndjson"})
    assert r.status_code == 422 and "does not exist" in r.json()["error"]
    assert "ok.txt" not in local_hub.files(repo)  # atomic: nothing of the commit landed
    assert len(local_hub.commits(repo)) == 1


def test_lfs_put_body_must_match_its_oid(repo: str, local_hub: LocalHub):
    data = os.urandom(5000)
    batch = httpx2.post(
        f"{local_hub.url}/{repo}.git/info/lfs/objects/batch", headers=_auth(local_hub),
        json={"operation": "upload", "transfers": ["basic"], "objects": [{"oid": sha256(data), "size": len(data)}]},
    ).json()
    href = batch["objects"][0]["actions"]["upload"]["href"]
    tampered = bytes([data[0] ^ 1]) + data[1:]
    assert httpx2.put(href, content=tampered).status_code == 400
    assert not local_hub.blobs.has("lfs", sha256(data))
    assert httpx2.put(href.replace("sig=", "sig=0"), content=data).status_code == 403
    assert httpx2.put(href, content=iter([data[:1000], data[1000:]])).status_code == 200  # chunked body
    assert local_hub.blobs.path("lfs", sha256(data)).read_bytes() == data


def test_resolve_answers_range_requests_with_the_required_headers(hub_api: HfApi, repo: str, local_hub: LocalHub):
    data = os.urandom(100_000)
    commit = hub_api.upload_file(path_or_fileobj=data, path_in_repo="w.safetensors", repo_id=repo)
    url = f"{local_hub.url}/{repo}/resolve/main/w.safetensors"
    head = httpx2.head(url, headers=_auth(local_hub))
    assert head.headers["X-Repo-Commit"] == commit.oid
    assert head.headers["ETag"] == f'"{sha256(data)}"'
    assert int(head.headers["Content-Length"]) == len(data)
    part = httpx2.get(url, headers={**_auth(local_hub), "Range": "bytes=100-199"})
    assert part.status_code == 206 and part.content == data[100:200]
    missing = httpx2.head(f"{local_hub.url}/{repo}/resolve/main/nope.bin", headers=_auth(local_hub))
    assert missing.status_code == 404 and missing.headers["X-Error-Code"] == "EntryNotFound"


# --- rate limits and faults, seen from the client -----------------------------------------------------------

def test_429_with_retry_after_is_waited_out_by_the_client(hub_api: HfApi, repo: str, local_hub: LocalHub):
    local_hub.add_fault("preupload", 429, headers={"Retry-After": "1"})
    started = time.monotonic()
    hub_api.upload_file(path_or_fileobj=b"x", path_in_repo="x.txt", repo_id=repo)
    assert time.monotonic() - started >= 2.0  # the client waits Retry-After + 1 s
    assert local_hub.stats.statuses[("preupload", 429)] == 1
    assert "x.txt" in hub_api.list_repo_files(repo)


def test_fixed_window_quota_answers_429_with_ratelimit_headers(hub_api: HfApi, local_hub: LocalHub):
    local_hub.set_rate_limit("repo_create", limit=1, window=60)
    hub_api.create_repo("tester/first")
    with pytest.raises(HfHubHTTPError) as err:
        hub_api.create_repo("tester/second")
    response = err.value.response
    assert response.status_code == 429
    assert response.headers["RateLimit"].startswith('"repo_create";r=0;t=')
    assert "q=1;w=60" in response.headers["RateLimit-Policy"]
    assert 1 <= int(response.headers["Retry-After"]) <= 60
    other = HfApi(token=local_hub.add_user("bob"))  # quotas are per token
    other.create_repo("bob/first")


def test_5xx_burst_on_lfs_batch_is_retried_by_the_client(hub_api: HfApi, repo: str, local_hub: LocalHub):
    local_hub.add_fault("lfs_batch", 503, times=2)
    hub_api.upload_file(path_or_fileobj=os.urandom(100), path_in_repo="w.bin", repo_id=repo)
    assert local_hub.stats.statuses[("lfs_batch", 503)] == 2
    assert "w.bin" in hub_api.list_repo_files(repo)


def test_lost_commit_response_still_lands_the_commit(hub_api: HfApi, repo: str, local_hub: LocalHub):
    local_hub.add_fault("commit", 504, when="after")
    with pytest.raises(HfHubHTTPError) as err:
        hub_api.upload_file(path_or_fileobj=b"landed", path_in_repo="landed.txt", repo_id=repo)
    assert err.value.response.status_code == 504
    titles = [c.title for c in hub_api.list_repo_commits(repo)]
    assert titles == ["Upload landed.txt with huggingface_hub", "initial commit"]
    assert local_hub.read_file(repo, "landed.txt") == b"landed"


def test_dropped_connection_after_commit(hub_api: HfApi, repo: str, local_hub: LocalHub):
    local_hub.add_fault("commit", action="drop", when="after")
    with pytest.raises(httpx2.RemoteProtocolError):
        hub_api.upload_file(path_or_fileobj=b"x", path_in_repo="x.txt", repo_id=repo)
    assert "x.txt" in hub_api.list_repo_files(repo)


def test_dropped_connection_before_commit_lands_nothing(hub_api: HfApi, repo: str, local_hub: LocalHub):
    local_hub.add_fault("commit", action="drop")
    with pytest.raises(httpx2.RemoteProtocolError):
        hub_api.upload_file(path_or_fileobj=b"x", path_in_repo="x.txt", repo_id=repo)
    assert "x.txt" not in hub_api.list_repo_files(repo)


def test_reset_mid_body_on_lfs_put_is_retried(hub_api: HfApi, repo: str, local_hub: LocalHub):
    data = os.urandom(3_000_000)
    local_hub.add_fault("lfs_upload", action="reset")
    hub_api.upload_file(path_or_fileobj=data, path_in_repo="w.safetensors", repo_id=repo)
    uploads = local_hub.requests("lfs_upload")
    assert uploads[0].status is None and uploads[0].fault == "reset before"
    assert 0 < uploads[0].bytes_in < len(data)  # the body was cut mid-way
    assert uploads[-1].status == 200
    assert local_hub.read_file(repo, "w.safetensors") == data


@pytest.fixture
def short_timeout_client():
    from huggingface_hub.utils._http import default_client_factory

    def factory():
        client = default_client_factory()
        client.timeout = httpx2.Timeout(0.5)
        return client

    set_client_factory(factory)
    yield
    set_client_factory(default_client_factory)


def test_delayed_answer_trips_client_timeout(hub_api: HfApi, local_hub: LocalHub, short_timeout_client):
    local_hub.add_fault("whoami", delay=1.5)
    with pytest.raises(httpx2.ReadTimeout):
        hub_api.whoami(cache=False)
    assert hub_api.whoami(cache=False)["name"] == "tester"  # the fault fired once
    assert get_session() is not None


def test_faults_load_from_a_json_file(tmp_path: Path, hub_api: HfApi, repo: str, local_hub: LocalHub):
    spec = tmp_path / "faults.json"
    spec.write_text(json.dumps([{"kind": "preupload", "status": 502, "times": 1},
                                {"kind": "commit", "status": 500, "when": "after"}]))
    local_hub.faults.load(spec)
    with pytest.raises(HfHubHTTPError):
        hub_api.upload_file(path_or_fileobj=b"x", path_in_repo="x.txt", repo_id=repo)
    assert local_hub.stats.statuses[("preupload", 502)] == 1
    assert local_hub.stats.statuses[("commit", 500)] == 1
    assert "x.txt" in hub_api.list_repo_files(repo)


def test_data_directory_keeps_repos_across_restarts(tmp_path: Path):
    data = os.urandom(50_000)
    with LocalHub(data_dir=tmp_path / "hub") as first:
        api = HfApi(endpoint=first.url, token=first.token)
        api.create_repo("tester/kept")
        api.upload_file(path_or_fileobj=data, path_in_repo="w.bin", repo_id="tester/kept")
        token = first.token
    with LocalHub(data_dir=tmp_path / "hub", token=token) as second:
        path = hf_hub_download("tester/kept", "w.bin", endpoint=second.url, token=token, cache_dir=tmp_path / "c")
        assert Path(path).read_bytes() == data
    assert (tmp_path / "hub" / "state.json").exists()  # a given data dir is never removed


def test_hub_serve_command_prints_endpoint_first_and_serves_a_client_process(tmp_path: Path):
    import signal
    import subprocess
    import sys

    server = subprocess.Popen(
        [sys.executable, "-m", "ludwig_hub_export", "hub", "serve", "--data", str(tmp_path / "data"),
         "--user", "carol"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        endpoint_line = server.stdout.readline().strip()
        token_line = server.stdout.readline().strip()
        assert endpoint_line.startswith("HF_ENDPOINT=http://127.0.0.1:")
        token_path = token_line.removeprefix("HF_TOKEN_PATH=")
        assert Path(token_path).stat().st_mode & 0o077 == 0
        client = (
            "from huggingface_hub import HfApi; api = HfApi(); api.create_repo('carol/x');"
            "api.upload_file(path_or_fileobj=b'hi', path_in_repo='hi.txt', repo_id='carol/x');"
            "print(api.whoami()['name'], api.list_repo_files('carol/x'))"
        )
        env = {k: v for k, v in os.environ.items() if not k.startswith("HF_")}
        env.update(HF_ENDPOINT=endpoint_line.split("=", 1)[1], HF_TOKEN_PATH=token_path, HF_HUB_DISABLE_XET="1",
                   HF_HOME=str(tmp_path / "home"))
        out = subprocess.run([sys.executable, "-c", client], env=env, capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stderr
        assert out.stdout.strip() == "carol ['.gitattributes', 'hi.txt']"
    finally:
        server.send_signal(signal.SIGINT)
        rest, errors = server.communicate(timeout=30)
    assert server.returncode == 0, errors
    assert "Traceback" not in errors
    assert Path(token_path).read_text() not in endpoint_line + token_line + rest + errors


def test_tags_are_created_listed_and_resolved(hub_api: HfApi, repo: str, tmp_path: Path):
    hub_api.upload_file(path_or_fileobj=b"one", path_in_repo="a.txt", repo_id=repo)
    tagged = hub_api.repo_info(repo).sha
    hub_api.create_tag(repo, tag="v1")
    hub_api.upload_file(path_or_fileobj=b"two", path_in_repo="a.txt", repo_id=repo)
    refs = hub_api.list_repo_refs(repo)
    assert [(t.name, t.ref, t.target_commit) for t in refs.tags] == [("v1", "refs/tags/v1", tagged)]
    assert hub_api.repo_info(repo, revision="v1").sha == tagged
    path = hf_hub_download(repo, "a.txt", revision="v1", local_dir=tmp_path / "d")
    assert Path(path).read_bytes() == b"one"
    with pytest.raises(HfHubHTTPError) as again:
        hub_api.create_tag(repo, tag="v1")
    assert again.value.response.status_code == 409
