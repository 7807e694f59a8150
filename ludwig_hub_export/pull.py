"""`pull`: download a repo published by this tool, verify it against its manifest, rebuild ``DEST/model/``.

Everything is downloaded at one commit (the one the manifest was read from), every file's size and sha256
is checked against ``ludwig_export.json``, and the files are moved into the layout ``LudwigModel.load``
expects (``DEST/model/model_hyperparameters.json``, ``DEST/model/model_weights...``).
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from . import auth
from .errors import AuthError, ExportError, HubError, InvalidModelError, UsageError
from .hashing import file_digest
from .plan import MANIFEST, MANIFEST_FORMAT, pull_order
from .retry import Deadline, RetryPolicy, run_with_retries, status_of


@dataclass
class PullResult:
    repo_id: str
    commit: str
    dest: Path
    kind: str
    files: dict[str, str] = field(default_factory=dict)  # repo path -> local path

    @property
    def model_dir(self) -> Path:
        return self.dest / "model"


def pull(repo_id: str, dest: str | Path, *, revision: str | None = None, token: str | None = None,
         endpoint: str | None = None, retry: RetryPolicy | None = None) -> PullResult:
    from huggingface_hub import HfApi, hf_hub_download
    from huggingface_hub.errors import EntryNotFoundError, RepositoryNotFoundError, RevisionNotFoundError

    dest = Path(dest).expanduser()
    if dest.exists() and any(dest.iterdir()):
        raise UsageError(f"{dest} exists and is not empty", "choose a new or empty destination directory")
    tokens = auth.find_tokens(token)
    value = tokens[0].value if tokens else None
    api = HfApi(endpoint=endpoint, token=value)
    policy = retry or RetryPolicy()
    deadline = Deadline(policy.budget)

    def call(step, fn, missing_entry=None):
        def no_refresh(error):
            return False

        try:
            return run_with_retries(step, fn, policy=policy, deadline=deadline, refresh_auth=no_refresh,
                                    on_wait=lambda *a: None)
        except EntryNotFoundError as e:
            raise (missing_entry or HubError(f"{step} of {repo_id}: entry not found",
                                             "check the repo id and revision")) from e
        except (RepositoryNotFoundError, RevisionNotFoundError) as e:
            raise UsageError(f"{repo_id}@{revision or 'main'} not found ({status_of(e)})",
                             "check the repo id and revision; a private repo needs a token that can read it") from e
        except ExportError:
            raise
        except Exception as e:  # noqa: BLE001
            if status_of(e) == 401:
                raise AuthError(f"{repo_id}: the Hub refused the {tokens[0] if tokens else 'anonymous request'} "
                                "(401)", "log in again (`hf auth login`) or set HF_TOKEN") from e
            raise HubError(f"pull of {repo_id} failed: {e}", "run the command again later") from e

    commit = call("repo info", lambda: api.repo_info(repo_id, revision=revision)).sha
    staging = dest / ".download"

    def download(path: str, missing: ExportError) -> Path:
        return Path(call(f"download {path}", lambda: hf_hub_download(
            repo_id, path, revision=commit, local_dir=staging, token=value, endpoint=endpoint), missing))

    manifest = json.loads(download(MANIFEST, InvalidModelError(
        f"{repo_id} has no {MANIFEST}: it was not published by ludwig-hub-export, or its export did not complete",
        "push it (again) with ludwig-hub-export push; an interrupted push resumes")).read_text())
    if manifest.get("format") != MANIFEST_FORMAT:
        raise InvalidModelError(f"{repo_id}: {MANIFEST} has format {manifest.get('format')!r}; this version "
                                f"reads format {MANIFEST_FORMAT}", "upgrade ludwig-hub-export")
    result = PullResult(repo_id, commit, dest, manifest.get("kind", "?"))
    for entry in pull_order(manifest["files"]):  # the file the Hub counts downloads on first
        local = download(entry["path"], HubError(
            f"{repo_id}@{commit[:12]}: {entry['path']} is listed in {MANIFEST} but missing from the repo",
            "the repo changed after its export: push the model again"))
        _verify(local, entry, repo_id)
        target = dest / (entry.get("ludwig_path") or entry["path"])
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(local, target)
        result.files[entry["path"]] = str(target)
    os.replace(staging / MANIFEST, dest / MANIFEST)
    shutil.rmtree(staging, ignore_errors=True)
    return result


def _verify(local: Path, entry: dict, repo_id: str) -> None:
    digest = file_digest(local)
    if digest.size != entry["size"] or digest.sha256 != entry["sha256"]:
        raise HubError(f"{repo_id}: {entry['path']} does not match {MANIFEST} (got {digest.size} bytes, sha256 "
                       f"{digest.sha256[:12]}...; expected {entry['size']} bytes, {entry['sha256'][:12]}...)",
                       "the repo changed after its export or the download was damaged: pull again, or push the "
                       "model again")
