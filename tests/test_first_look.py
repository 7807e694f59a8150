"""The first look (`first_look`): from a fresh process, an unchanged re-push is answered by two standard-library
requests without loading the Hub client; every other push goes on through the client with the look's answers
(nothing asked twice), and every failure of the look is left to the client's retry policy."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import copy_fixture
from helpers import push_in_fresh_process as _push

from ludwig_hub_export import auth
from ludwig_hub_export.first_look import _snapshot
from ludwig_hub_export.remote import RemoteEntry, Snapshot


def _kinds(local_hub) -> list[str]:
    return [r.kind for r in local_hub.requests()]


def test_an_unchanged_re_push_is_two_requests_without_the_hub_client(tmp_path, local_hub, child_env):
    source = copy_fixture("ecd_saved", tmp_path)
    local_hub.log.clear()
    first = _push(source, "tester/look", child_env)
    kinds = _kinds(local_hub)
    assert first["report"]["verified"] and first["report"]["created_repo"]
    # The look's answers, not asked again; the second read is the one that verifies the new repo's commit.
    assert kinds.count("whoami") == 1 and kinds.count("repo_info") == 2
    commits = len(local_hub.commits("tester/look"))

    local_hub.log.clear()
    again = _push(source, "tester/look", child_env)
    assert sorted(_kinds(local_hub)) == ["repo_info", "whoami"]
    assert not again["client_loaded"] and not again["httpx_loaded"]
    assert first["card_code_loaded"] and not again["card_code_loaded"]  # the card as made the first time
    head = local_hub.commits("tester/look")[0].oid
    quick = again["report"]
    assert quick["verified"] and quick["commit_oid"] == head and quick["token_origin"] == "HF_TOKEN"
    assert {f["status"] for f in quick["files"]} == {"already there"}
    assert len(local_hub.commits("tester/look")) == commits

    # The client's path, for the same push, reports the same (the duration apart).
    through_client = _push(source, "tester/look", child_env, client=True)
    assert through_client["client_loaded"]
    assert {**through_client["report"], "duration": 0} == {**quick, "duration": 0}


def test_a_changed_model_goes_on_through_the_client_with_the_looks_answers(tmp_path, local_hub, child_env):
    source = copy_fixture("ecd_saved", tmp_path)
    _push(source, "tester/changed", child_env)
    commits = len(local_hub.commits("tester/changed"))
    weights = source / "model_weights.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0x01  # a weight's last byte: same size, other content
    weights.write_bytes(bytes(data))
    local_hub.log.clear()
    report = _push(source, "tester/changed", child_env)["report"]
    kinds = _kinds(local_hub)
    assert report["verified"] and "uploaded" in {f["status"] for f in report["files"]}
    assert kinds.count("whoami") == 1 and kinds.count("repo_info") == 1
    assert kinds.index("repo_info") < kinds.index("commit")
    assert len(local_hub.commits("tester/changed")) == commits + 1


def test_a_stale_token_in_the_look_is_refreshed_by_the_client(tmp_path, local_hub, child_env):
    """The look does not retry: its 401 hands the push to the client, which falls back to the token file."""
    source = copy_fixture("ecd_saved", tmp_path)
    _push(source, "tester/stale", child_env)
    token_path = tmp_path / "token"
    token_path.write_text(local_hub.token + "\n")
    stale = local_hub.add_token("tester")
    local_hub.revoke(stale)
    local_hub.log.clear()
    report = _push(source, "tester/stale", {**child_env, "HF_TOKEN": stale, "HF_TOKEN_PATH": str(token_path)})
    assert report["report"]["verified"] and report["report"]["token_origin"] == f"token file {token_path}"
    assert report["client_loaded"] and local_hub.stats.statuses[("whoami", 401)] >= 1


@pytest.mark.parametrize("setup", ["argument", "hf_token", "legacy_variable", "blank_hf_token_hides_legacy",
                                   "file", "env_over_file", "nothing", "oidc"])
def test_the_quick_token_is_the_one_the_library_resolves(setup, tmp_path, monkeypatch):
    """`quick_token` finds a token without the client; where it finds one, it is `resolve_token`'s, same origin."""
    from huggingface_hub import constants

    token_path = tmp_path / "token"
    monkeypatch.setattr(constants, "HF_TOKEN_PATH", str(token_path))
    for var in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_OIDC_RESOURCE"):
        monkeypatch.delenv(var, raising=False)
    explicit = None
    if setup == "argument":
        explicit = "hf_argument"
        monkeypatch.setenv("HF_TOKEN", "hf_env")
    elif setup == "hf_token":
        monkeypatch.setenv("HF_TOKEN", " hf_env\n")
    elif setup == "legacy_variable":
        monkeypatch.setenv("HUGGING_FACE_HUB_TOKEN", "hf_legacy")
    elif setup == "blank_hf_token_hides_legacy":
        monkeypatch.setenv("HF_TOKEN", "   ")
        monkeypatch.setenv("HUGGING_FACE_HUB_TOKEN", "hf_legacy")
        token_path.write_text("hf_file\n")
    elif setup == "file":
        token_path.write_text("hf_file\n")
    elif setup == "env_over_file":
        token_path.write_text("hf_file\n")
        monkeypatch.setenv("HUGGING_FACE_HUB_TOKEN", "hf_legacy")
    elif setup == "oidc":
        monkeypatch.setenv("HF_OIDC_RESOURCE", "tester/model")
        monkeypatch.setenv("HF_TOKEN", "hf_env")

    quick = auth.quick_token(explicit)
    if setup in ("nothing", "oidc"):
        assert quick is None  # left to the library (which explains a missing token, or exchanges the id token)
        return
    resolved = auth.resolve_token(explicit)
    assert quick is not None and (quick.value, quick.origin) == (resolved.value, resolved.origin)


@pytest.mark.parametrize("answer", [
    (200, {}, {"sha": "a" * 40, "siblings": [{"rfilename": ["x"], "size": 1}]}),
    (200, {}, {"sha": "a" * 40, "siblings": [{"rfilename": "x", "size": "1"}]}),
    (200, {}, {"sha": "a" * 40, "siblings": [{"rfilename": "x", "lfs": {"sha256": 5}}]}),
    (200, {}, {"sha": None, "siblings": []}),
    (200, {}, ["not", "an", "object"]),
    (404, {"x-error-code": "EntryNotFound"}, None),
    (401, {}, None),
    (307, {"location": "/api/models/other/name"}, None),
])
def test_a_malformed_or_unclear_repo_answer_leaves_the_push_to_the_client(answer):
    assert _snapshot(answer) is None


def test_repo_answers_read_as_the_client_reads_them():
    body = {"sha": "c" * 40, "siblings": [
        {"rfilename": "README.md", "size": 10, "blobId": "b" * 40},
        {"rfilename": "model.safetensors", "size": 99, "blobId": "d" * 40, "lfs": {"sha256": "e" * 64, "size": 99}}]}
    assert _snapshot((200, {}, body)) == Snapshot(True, "c" * 40, {
        "README.md": RemoteEntry("b" * 40, None, 10), "model.safetensors": RemoteEntry("d" * 40, "e" * 64, 99)})
    assert _snapshot((404, {"x-error-code": "RepoNotFound"}, None)) == Snapshot(False, None, {})
    assert _snapshot((404, {"x-error-code": "RevisionNotFound"}, None)) == Snapshot(True, None, {})


def test_a_request_that_fails_is_no_answer_not_an_error(local_hub):
    """A TLS handshake with a plain-HTTP server, a closed port, a scheme it does not speak: None each time, so the
    push goes on through the client (which explains what fails)."""
    from ludwig_hub_export.quick_http import request_json, tls_context

    https_to_http = local_hub.url.replace("http://", "https://") + "/api/whoami-v2"
    assert request_json("GET", https_to_http, "hf_x", 5.0, tls_context()) is None
    assert request_json("GET", "http://127.0.0.1:9/api/whoami-v2", "hf_x", 5.0) is None
    assert request_json("GET", "ftp://127.0.0.1/api/whoami-v2", "hf_x", 5.0) is None
    assert request_json("GET", local_hub.url + "/api/whoami-v2", local_hub.token, 5.0)[0] == 200


def test_the_look_trusts_the_certificates_the_client_trusts(monkeypatch, tmp_path):
    """huggingface_hub's client (httpx2, httpcore2) checks a server against SSL_CERT_FILE when it is set, else the
    system's paths, never certifi's bundle: so does the look (a company CA given in SSL_CERT_FILE works for both,
    and nothing the client would refuse passes the look)."""
    import re

    import httpcore2

    from ludwig_hub_export.quick_http import tls_context

    certifi = pytest.importorskip("certifi")
    assert tls_context().get_ca_certs() == httpcore2.default_ssl_context().get_ca_certs()  # the environment as it is
    one = re.search(r"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----\n", Path(certifi.where()).read_text(),
                    re.S).group(0)
    (tmp_path / "company.pem").write_text(one)
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "company.pem"))
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    assert len(tls_context().get_ca_certs()) == 1
    assert tls_context().get_ca_certs() == httpcore2.default_ssl_context().get_ca_certs()
