"""`ExportSettings`: every option of an export (the CLI flags), validated when it is built."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path

from .errors import UsageError
from .limits import HubLimits


@dataclass
class RetryPolicy:
    """How often and how long to retry a step, and the timeouts of each request."""

    max_attempts: int = 6  # per step, the first try included
    base_delay: float = 1.0
    max_delay: float = 60.0  # no backoff wait is longer (a wait the server requires is kept, within budget)
    budget: float = 3600.0  # seconds for the whole export
    jitter: float = 0.25  # +/- this share of each exponential wait
    connect_timeout: float = 15.0
    read_timeout: float = 120.0  # a commit of many files can take the Hub a while


@dataclass
class ExportSettings:
    """Everything one push is told: the repo, the token, the model card's fields and the limits."""

    repo_id: str
    token: str | None = None
    token_command: str | Callable[[], str | None] | None = None
    interactive: bool | None = None  # offer a login prompt on a 401 (default: when on a terminal)
    endpoint: str | None = None
    public: bool = False  # new repos are private unless asked
    revision: str | None = None
    create_pr: bool = False
    base_model: str | None = None
    latest: bool = False
    prefer_adapter: bool = False
    convert_pickle: bool = False
    license: str | None = None  # a Hub license id (licenses.py); "other" needs license_name and license_link
    license_name: str | None = None
    license_link: str | None = None
    dataset: str | None = None  # Hub dataset id: the card's `datasets:` and a model-index of the test metrics
    commit_message: str | None = None
    commit_description: str | None = None
    dry_run: bool = False
    min_interval: float = 0.0  # seconds between commits
    strict: bool = False
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    limits: HubLimits = field(default_factory=HubLimits)
    quiet: bool = False
    hash_cache: Path | None = None
    card_sections: str | None = None  # extra Markdown for the card (a hyperopt trial's score and leaderboard)
    branch_from: str | None = None  # the revision a missing --revision branch starts from (default: main)
    storage_options: dict | None = None  # for a source URL (s3://, gs://, ...): passed to its fsspec filesystem
    replace_card: bool = False  # replace a README.md this tool did not write (else: keep it, update our metadata)

    def commit_summary(self, kind: str) -> str:
        """The commit message: `commit_message`, or one that says what was exported."""
        return self.commit_message or f"Upload {kind} model exported from Ludwig"

    def __post_init__(self) -> None:
        from .card_metadata import is_repo_id
        from .hub_inputs import check_token, hub_endpoint, repo_target, require_online
        from .licenses import license_problem

        # A Hub URL copied from the browser becomes the repo id (and its /tree/REV the revision).
        self.repo_id, self.revision = repo_target(self.repo_id, self.revision, endpoint=self.endpoint)
        if (problem := license_problem(self.license, self.license_name, self.license_link)) is not None:
            raise UsageError(f"--license: {problem}", "nothing was uploaded; fix --license and run again")
        if self.license != "other" and (self.license_name or self.license_link):
            raise UsageError("--license-name and --license-link go with --license other",
                             "use --license other, or drop them")
        if self.dataset is not None and not is_repo_id(self.dataset):
            raise UsageError(f"--dataset {self.dataset!r} is not a Hub dataset id",
                             "give the id of the dataset on the Hub, e.g. --dataset my-org/my-data")
        if self.create_pr and self.revision not in (None, "main"):
            raise UsageError("--create-pr opens a PR against main; it cannot be combined with --revision",
                             "drop --revision, or push to the branch without --create-pr")
        # Settings no request could carry: refused here, before any, rather than retried as network trouble.
        hub_endpoint(self.endpoint)
        check_token(self.token)
        require_online("push")


def settings_from(repo_id: object, options: dict) -> ExportSettings:
    """`ExportSettings` from keyword options, as `export()`, `export_sweep()` and `HubExportCallback` take them:
    an unknown keyword (``licence=``) is a usage error naming the nearest option, not a `TypeError`."""
    known = sorted(f.name for f in fields(ExportSettings) if f.name != "repo_id")
    for name in sorted(set(options) - set(known)):
        import difflib

        close = difflib.get_close_matches(name, known, n=1)
        raise UsageError(f"unknown option {name}=" + (f" (did you mean {close[0]}=?)" if close else ""),
                         f"the options are: {', '.join(known)}")
    return ExportSettings(repo_id=repo_id, **options)  # type: ignore[arg-type] - checked in __post_init__
