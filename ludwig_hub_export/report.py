"""What an export did: `ExportReport` (returned by the API, written by `--report`) and its `FileResult`s."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

TYPE_CHECKING = False  # typing's, without loading typing
if TYPE_CHECKING:
    from .hub.auth import Token
    from .settings import ExportSettings


@dataclass
class FileResult:
    """One file of a push: its size, sha256, and whether it was sent or already there."""

    path: str
    size: int
    sha256: str | None  # None only in a dry run, for a large file not hashed yet
    status: str  # "uploaded" or "already there"


@dataclass
class ExportReport:
    """What one push did: its files and commits, what it sent, waited for and verified."""

    repo_id: str
    url: str
    kind: str
    revision: str
    token_origin: str
    files: list[FileResult] = field(default_factory=list)
    commits: list[str] = field(default_factory=list)
    commit_oid: str | None = None
    pr_url: str | None = None
    bytes_uploaded: int = 0
    bytes_hashed: int = 0
    retries: int = 0
    waits: list[str] = field(default_factory=list)
    fallback: str | None = None  # why per-file uploads were used
    created_repo: bool = False
    verified: bool = False
    dry_run: bool = False
    notes: list[str] = field(default_factory=list)
    duration: float = 0.0

    def to_dict(self) -> dict:
        return asdict(self)

    def write(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=2) + "\n")


def new_report(settings: ExportSettings, kind: str, notes: list[str], token: Token, bytes_hashed: int) -> ExportReport:
    """The report of an export that has not sent anything yet."""
    return ExportReport(settings.repo_id, "", kind, settings.revision or "main", token.origin, notes=list(notes),
                        dry_run=settings.dry_run, bytes_hashed=bytes_hashed)


def repo_url(settings: ExportSettings, path: str | None = None) -> str:
    """The repo's URL (or `path`'s on the Hub), as shown and written into --report: credentials in HF_ENDPOINT
    (https://user:pw@host) masked."""
    from huggingface_hub import constants

    from .hub_inputs import redact_url

    return redact_url(f"{(settings.endpoint or constants.ENDPOINT).rstrip('/')}/{path or settings.repo_id}")
