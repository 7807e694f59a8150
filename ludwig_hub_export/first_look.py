"""The first look at the Hub, before the Hub client is loaded: who the token belongs to and what the target
revision holds, as two parallel GETs made with the standard library.

Loading huggingface_hub's API and its HTTP client costs ~0.2 s, most of an unchanged re-push, which needs
nothing but these two answers. Anything short of a clear answer (an error status, a redirect, malformed JSON, a
proxy to honour, a token only the client can find, a client already loaded) gives None, and the push takes the
same two requests through the client under the one retry policy (which refreshes a stale token and paces rate
limits). So nothing here retries, explains or prints; a push that goes on uses the answers instead of asking
again.
"""

from __future__ import annotations

import os
import sys
import threading
from dataclasses import dataclass
from urllib.parse import quote

from . import auth
from .quick_http import request_json, tls_context
from .remote import RemoteEntry, Snapshot
from .settings import ExportSettings

_PROXY_VARS = ("http_proxy", "https_proxy", "all_proxy")  # honoured by the client (httpx), not by http.client


@dataclass(frozen=True)
class FirstLook:
    """The token, the account and the target revision, read with the standard library."""

    token: auth.Token
    whoami: dict  # /api/whoami-v2, as `HfApi.whoami` returns it
    snapshot: Snapshot | None  # the target revision, as `remote.snapshot` gives it; None: changed since, read again


def applies(settings: ExportSettings) -> bool:
    """Worth it and safe: a fresh process (the client not loaded: a command, a script), and nothing the client
    would do differently (offline mode, proxies, a dry run's or a PR's own flow)."""
    if settings.dry_run or settings.create_pr or "huggingface_hub.hf_api" in sys.modules:
        return False
    if any(os.environ.get(name) or os.environ.get(name.upper()) for name in _PROXY_VARS):
        return False
    from huggingface_hub import constants  # a cheap module: the client's own reading of HF_HUB_OFFLINE

    return not constants.is_offline_mode()


def first_look(settings: ExportSettings) -> FirstLook | None:
    if not applies(settings):
        return None
    token = auth.quick_token(settings.token)
    if token is None:
        return None
    endpoint = endpoint_of(settings)
    revision = settings.revision or "main"
    timeout = min(settings.retry.read_timeout, 30.0)
    try:
        tls = tls_context() if endpoint.startswith("https:") else None  # one for both: it loads the CA bundle
    except (OSError, ValueError):
        return None
    answers: dict[str, tuple[int, dict, object] | None] = {}

    def whoami() -> None:
        try:
            answers["whoami"] = request_json("GET", f"{endpoint}/api/whoami-v2", token.value, timeout, tls)
        except Exception:  # noqa: BLE001 - no answer: the client asks again, and explains what fails
            answers["whoami"] = None

    thread = threading.Thread(target=whoami, name="first-look-whoami", daemon=True)
    thread.start()
    snapshot = read_revision(endpoint, settings.repo_id, revision, token.value, timeout, tls)
    thread.join(timeout + 1)
    who = answers.get("whoami")
    if who is None or who[0] != 200 or not isinstance(who[2], dict) or not isinstance(who[2].get("name"), str):
        return None
    return FirstLook(token, who[2], snapshot) if snapshot is not None else None


def read_revision(endpoint: str, repo_id: str, revision: str, token: str, timeout: float,
                  tls=None) -> Snapshot | None:
    """The revision as `remote.snapshot` gives it, in one request (repo info with file metadata); None for
    anything short of a clear answer."""
    return _snapshot(request_json("GET", f"{endpoint}/api/models/{quote(repo_id, safe='/')}/revision/"
                                  f"{quote(revision, safe='')}?blobs=true", token, timeout, tls))


def endpoint_of(settings: ExportSettings) -> str:
    from huggingface_hub import constants  # the endpoint as the client reads it

    return (settings.endpoint or constants.ENDPOINT).rstrip("/")


def _snapshot(answer: tuple[int, dict, object] | None) -> Snapshot | None:
    """The answer as `remote._fetch_snapshot` reads the client's: 404s by their X-Error-Code, as the client
    tells RepositoryNotFoundError from RevisionNotFoundError; None for anything else or anything malformed."""
    if answer is None:
        return None
    status, headers, body = answer
    if status == 404:
        code = headers.get("x-error-code")
        return Snapshot(False, None, {}) if code == "RepoNotFound" else \
            Snapshot(True, None, {}) if code == "RevisionNotFound" else None
    if status != 200 or not isinstance(body, dict) or not isinstance(body.get("sha"), str):
        return None
    files: dict[str, RemoteEntry] = {}
    for sibling in body.get("siblings") or []:
        if not isinstance(sibling, dict) or not isinstance(sibling.get("rfilename"), str):
            return None
        lfs = sibling.get("lfs")
        sha256 = lfs.get("sha256") if isinstance(lfs, dict) else None
        size = sibling.get("size")
        blob_id = sibling.get("blobId")
        if not (isinstance(sha256, (str, type(None))) and isinstance(size, (int, type(None)))
                and isinstance(blob_id, (str, type(None)))):
            return None
        files[sibling["rfilename"]] = RemoteEntry(blob_id, sha256, size)
    return Snapshot(True, body["sha"], files)
