"""Fault soak: many exports while the local Hub fails a random share of calls.

Every export must end verified (or, when the faults win, leave a repo that does not claim completion and then
finish on a rerun), no commit may be made twice, and the source trees must not change. Used by
``benchmarks/fault_soak.py`` (50 exports) and, shortened, by the test suite.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from .server import LocalHub

# (kind, status, extra fault options): each fires with the soak's probability on every matching call.
FAULT_MENU = [
    ("create_repo", 429, {"headers": {"Retry-After": "1"}}),
    ("commit", 429, {"headers": {"Retry-After": "1"}}),
    ("commit", 503, {}),
    ("commit", 504, {"when": "after"}),
    ("commit", None, {"when": "after", "action": "drop"}),
    ("lfs_batch", 502, {}),
    ("lfs_upload", None, {"action": "reset"}),
    ("paths_info", 500, {}),
    ("repo_info", 503, {}),
    ("whoami", 503, {}),
]


@dataclass
class SoakResult:
    exports: int = 0
    verified: int = 0
    failed_then_resumed: int = 0
    fallbacks: int = 0
    retries: int = 0
    duplicate_commits: int = 0
    incomplete_marked_complete: int = 0
    sources_changed: int = 0
    token_refreshes: int = 0
    faults_fired: Counter = field(default_factory=Counter)
    commits: int = 0

    @property
    def ok(self) -> bool:
        return (self.verified == self.exports and not self.duplicate_commits
                and not self.incomplete_marked_complete and not self.sources_changed)

    def lines(self) -> list[str]:
        return [
            f"exports                         {self.exports}",
            f"verified                        {self.verified}",
            f"failed, then finished on rerun  {self.failed_then_resumed}",
            f"per-file fallbacks              {self.fallbacks}",
            f"retries                         {self.retries}",
            f"401s refreshed with a new token {self.token_refreshes}",
            f"commits made                    {self.commits}",
            f"duplicate commits               {self.duplicate_commits}",
            f"incomplete repos marked complete {self.incomplete_marked_complete}",
            f"source trees changed            {self.sources_changed}",
            "faults fired                    " + ", ".join(f"{k} {v}" for k, v in sorted(self.faults_fired.items())),
        ]


def _digest(root: Path) -> str:
    h = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        h.update(str(path.relative_to(root)).encode())
        if path.is_file():
            h.update(path.read_bytes())
    return h.hexdigest()


def _duplicates(hub: LocalHub, repo_id: str) -> int:
    """Commits that changed nothing: what a blindly repeated commit leaves behind."""
    history = hub.commits(repo_id)
    return sum(1 for newer, older in zip(history, history[1:])
               if {p: f.etag for p, f in newer.files.items()} == {p: f.etag for p, f in older.files.items()})


def _manifest_lies(hub: LocalHub, repo_id: str) -> bool:
    """A manifest is on the repo but some file it lists is missing or different."""
    if hub.repos.get("model", repo_id) is None:
        return False
    files = hub.files(repo_id)
    if "ludwig_export.json" not in files:
        return False
    manifest = json.loads(hub.read_file(repo_id, "ludwig_export.json"))
    return any(entry["path"] not in files
               or hashlib.sha256(hub.read_file(repo_id, entry["path"])).hexdigest() != entry["sha256"]
               for entry in manifest["files"])


def run_soak(hub: LocalHub, sources: list[Path], exports: int, probability: float = 0.15, seed: int = 0,
             base_model: str | None = None, say=print) -> SoakResult:
    """Run `exports` pushes of the given saved models (round robin) under random faults."""

    from ..errors import HubError
    from ..workflows.push import ExportSettings, push
    from ..hub.retry import RetryPolicy

    rng = random.Random(seed)
    hub.faults.reseed(seed)
    result = SoakResult()
    digests = {src: _digest(src) for src in sources}
    policy = RetryPolicy(base_delay=0.01, max_delay=1.0, max_attempts=8, budget=300, read_timeout=30)
    refresh_at = rng.randrange(exports)
    for i in range(exports):
        source = sources[i % len(sources)]
        repo_id = f"{hub.default_user}/soak-{i}"
        hub.faults.clear()
        for kind, status, options in FAULT_MENU:
            hub.add_fault(kind, status, times=None, probability=probability, **options)
        token = hub.token
        if i == refresh_at:
            # One export meets a 401; its token command gives a fresh one (a token named by the user is never
            # replaced by another source).
            token = hub.add_token(hub.default_user)
            hub.revoke(token)
        settings = dict(repo_id=repo_id, token=token, token_command=lambda: hub.token, quiet=True,
                        interactive=False, retry=policy, base_model=base_model)
        result.exports += 1
        try:
            report = push(source, ExportSettings(**settings))
        except HubError:
            # The faults won this time: whatever landed must not claim to be complete.
            result.incomplete_marked_complete += _manifest_lies(hub, repo_id)
            report = push(source, ExportSettings(**settings))  # a rerun resumes
            result.failed_then_resumed += 1
        for fault in hub.faults.describe():
            if fault["fired"]:
                result.faults_fired[f"{fault['kind']} {fault['status'] or fault['action']}"] += fault["fired"]
        result.verified += report.verified
        result.retries += report.retries
        result.fallbacks += report.fallback is not None
        result.token_refreshes += report.token_origin == "token command"
        result.commits += len(hub.commits(repo_id)) - 1
        result.duplicate_commits += _duplicates(hub, repo_id)
        result.incomplete_marked_complete += _manifest_lies(hub, repo_id)
        say(f"  export {i + 1}/{exports}: {source.name} -> {repo_id}: verified={report.verified} "
            f"retries={report.retries} fallback={'yes' if report.fallback else 'no'}")
    hub.faults.clear()
    result.sources_changed = sum(_digest(src) != digest for src, digest in digests.items())
    return result
