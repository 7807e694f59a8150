"""A sweep's journal: what each trial's export reached, so a rerun publishes only what is missing.

One file per (experiment, destination) in the cache directory, never in the user's results, written atomically
after every step (each idempotent). Losing it only costs a few API calls: the remote is the truth.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..hashing import default_cache_path, racy, signature, write_atomically

FORMAT = 1


def fingerprint(files: dict[str, Path], extra: str = "") -> str:
    """Changes when a file of the trial (its stat signature) or its generated card changes; a file too recent for
    its stat to show a change (`hashing.racy`) makes a fingerprint that matches no other (pushed again)."""
    at = time.time_ns()
    h = hashlib.sha256(extra.encode())
    for name, path in sorted(files.items()):
        sig = signature(path.stat())
        if racy((sig[1], sig[3]), at):
            h.update(os.urandom(16))
        h.update("\0".join(map(str, [name, *sig])).encode() + b"\n")
    return h.hexdigest()


@dataclass
class Journal:
    """What a sweep has published so far, on disk, so that a rerun resumes instead of starting over."""

    path: Path
    experiment: str
    destination: str
    mode: str
    trials: dict[str, dict] = field(default_factory=dict)  # trial id -> {state, repo_id, revision, commit, ...}
    creations: list[float] = field(default_factory=list)  # epoch seconds of the repo creations this sweep made
    collection: str | None = None  # slug, for --trials-as repos

    @classmethod
    def open(cls, experiment: Path, destination: str, mode: str) -> "Journal":
        key = hashlib.sha256(f"{experiment.resolve()}\0{destination}\0{mode}".encode()).hexdigest()[:24]
        path = default_cache_path().parent / "sweeps" / f"{key}.json"
        journal = cls(path, str(experiment), destination, mode)
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            return journal  # none yet, or unreadable: start afresh (the remote is checked anyway)
        if isinstance(data, dict) and data.get("format") == FORMAT:
            trials = data.get("trials")
            journal.trials = {str(k): v for k, v in trials.items() if isinstance(v, dict)} \
                if isinstance(trials, dict) else {}
            journal.creations = [float(t) for t in data.get("creations") or [] if isinstance(t, (int, float))]
            slug = data.get("collection")
            journal.collection = slug if isinstance(slug, str) else None
        return journal

    def published(self, trial_id: str, fp: str) -> dict | None:
        entry = self.trials.get(trial_id)
        if entry and entry.get("state") == "published" and entry.get("fingerprint") == fp:
            return entry
        return None

    def record(self, trial_id: str, **fields) -> None:
        self.trials.setdefault(trial_id, {}).update(fields, at=time.time())
        self.save()

    def may_create_repo(self) -> float:
        """Count a repo creation before the push that may make it: a push that fails after creating its repo
        must not be forgotten (the next run would ask past the quota). `no_repo_created` takes it back."""
        at = time.time()
        self.creations.append(at)
        self.save()
        return at

    def no_repo_created(self, at: float) -> None:
        if at in self.creations:
            self.creations.remove(at)
            self.save()

    def save(self) -> None:
        body = {k: v for k, v in asdict(self).items() if k != "path"}
        write_atomically(self.path, json.dumps({"format": FORMAT, **body}, indent=2) + "\n")
