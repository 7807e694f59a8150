"""`push`: publish a checked model to the Hub, one phase per function.

check (no network on failure) -> plan (paths, hashes, rewritten copies) -> authenticate -> ensure the repo ->
read what the remote already has -> upload what is missing: one commit for the lot (atomic), or per file when
that keeps failing -> verify every file's remote oid -> report.

Every call goes through `retry.run_with_retries`. A commit whose answer was lost is never simply repeated:
the remote is compared with the local files first, so a commit that landed is not made twice.
"""

from __future__ import annotations

import contextlib
import json
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

from . import auth
from .checks import check
from .errors import AuthError, ExportError, HubError, InvalidModelError, UsageError
from .hashing import HashCache
from .limits import HubLimits, human_size
from .plan import CARD, MANIFEST, ExportPlan, PlannedFile, build_plan
from .retry import Deadline, OutOfTime, RetryPolicy, classify, describe, run_with_retries, status_of


@dataclass
class ExportSettings:
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
    license: str | None = None
    commit_message: str | None = None
    commit_description: str | None = None
    dry_run: bool = False
    min_interval: float = 0.0  # seconds between commits
    strict: bool = False
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    limits: HubLimits = field(default_factory=HubLimits)
    quiet: bool = False
    hash_cache: Path | None = None

    def __post_init__(self) -> None:
        from .card_metadata import is_repo_id

        if not is_repo_id(self.repo_id) or "/" not in self.repo_id:
            raise UsageError(f"repo id {self.repo_id!r} is not of the form NAMESPACE/NAME",
                             "for example: --repo-id my-user/my-ludwig-model")
        if self.create_pr and self.revision not in (None, "main"):
            raise UsageError("--create-pr opens a PR against main; it cannot be combined with --revision",
                             "drop --revision, or push to the branch without --create-pr")


@dataclass
class FileResult:
    path: str
    size: int
    sha256: str
    status: str  # "uploaded" or "already there"


@dataclass
class ExportReport:
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


class _Console:
    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet

    def say(self, message: str) -> None:
        if not self.quiet:
            print(message, file=sys.stderr, flush=True)


@contextlib.contextmanager
def _client_settings(policy: RetryPolicy, quiet: bool):
    """Explicit timeouts (the client has none by default) and quiet progress bars, for this export only."""
    import httpx2
    from huggingface_hub import set_client_factory
    from huggingface_hub.utils import are_progress_bars_disabled, disable_progress_bars, enable_progress_bars
    from huggingface_hub.utils import _http

    previous = getattr(_http, "_GLOBAL_CLIENT_FACTORY", _http.default_client_factory)

    def factory():
        client = previous()
        client.timeout = httpx2.Timeout(policy.read_timeout, connect=policy.connect_timeout)
        return client

    bars_were_off = are_progress_bars_disabled()
    set_client_factory(factory)
    if quiet:
        disable_progress_bars()
    try:
        yield
    finally:
        set_client_factory(previous)
        if quiet and not bars_were_off:
            enable_progress_bars()


class _Exporter:
    def __init__(self, settings: ExportSettings, plan: ExportPlan, console: _Console) -> None:
        self.settings = settings
        self.plan = plan
        self.console = console
        self.token = auth.resolve_token(settings.token)
        self.deadline = Deadline(settings.retry.budget)
        self.revision = settings.revision or "main"
        self.report = ExportReport(settings.repo_id, "", plan.kind, self.revision, self.token.origin,
                                   notes=list(plan.notes), dry_run=settings.dry_run,
                                   bytes_hashed=plan.bytes_hashed)
        self._last_commit = 0.0
        self._make_api()

    # --- plumbing ---------------------------------------------------------------------------------------------
    def _make_api(self) -> None:
        from huggingface_hub import HfApi

        self.api = HfApi(endpoint=self.settings.endpoint, token=self.token.value)

    def _on_wait(self, step: str, error: BaseException, wait: float, attempt: int) -> None:
        self.report.retries += 1
        line = f"{step}: {describe(error)}; waiting {wait:.1f} s before try {attempt + 1}/" \
               f"{self.settings.retry.max_attempts}"
        self.report.waits.append(line)
        self.console.say(line)

    def _refresh(self, error: BaseException) -> bool:
        fresh = auth.fresher_token(self.token, self.settings.token_command, self.settings.interactive)
        if fresh is None:
            return False
        self.console.say(f"the Hub refused the {self.token} (401); retrying with the {fresh}")
        self.token = fresh
        self.report.token_origin = fresh.origin
        self._make_api()
        return True

    def call(self, step: str, fn: Callable[[], object], after_failure=None):
        try:
            return run_with_retries(step, fn, policy=self.settings.retry, deadline=self.deadline,
                                    on_wait=self._on_wait, refresh_auth=self._refresh, after_failure=after_failure)
        except OutOfTime as e:
            raise HubError(str(e), "try again later; --budget gives the export more time") from e
        except ExportError:
            raise
        except Exception as e:  # noqa: BLE001 - turned into our errors with a remedy
            raise self._explain(step, e) from e

    def _explain(self, step: str, error: BaseException) -> ExportError:
        status = status_of(error)
        where = f"{step} ({self.settings.repo_id})"
        if status == 401:
            return AuthError(f"{where}: the Hub refused the {self.token} (401 Invalid credentials) and no fresher "
                             "token was found", "log in again (`hf auth login`), set HF_TOKEN to a valid write "
                             "token, or pass --token-command to fetch one")
        if status == 403:
            return AuthError(f"{where}: permission denied (403): {_server_message(error)}",
                             "use a write token of the repo's owner or of a member of its organisation")
        if status is not None and 400 <= status < 500 and status not in (408, 429):
            return HubError(f"{where}: the Hub answered {status}: {_server_message(error)}",
                            "this will fail the same way again; check the repo id, revision and files")
        return HubError(f"{where}: still failing after {self.settings.retry.max_attempts} tries: "
                        f"{describe(error)} {_server_message(error)}".rstrip(),
                        "the Hub or the network is having trouble; run the same command again later: it resumes "
                        "and uploads only what is missing")

    # --- phases -----------------------------------------------------------------------------------------------
    def authenticate(self) -> auth.Identity:
        info = self.call("whoami", lambda: self.api.whoami(cache=False))
        identity = auth.identity_from_whoami(info)
        auth.check_can_write(identity, self.token, self.settings.repo_id)
        self.console.say(f"authenticated as {identity.user} with the {self.token}")
        return identity

    def ensure_repo(self) -> None:
        from huggingface_hub.errors import RepositoryNotFoundError, RevisionNotFoundError

        repo_id = self.settings.repo_id

        def exists() -> bool:
            try:
                self.api.repo_info(repo_id)
                return True
            except RepositoryNotFoundError as e:
                if status_of(e) == 401:
                    raise
                return False

        # Look before creating: creations have their own, strict rate limit.
        if not self.call("repo info", exists):
            if self.settings.dry_run:
                self.report.notes.append(f"would create {'public' if self.settings.public else 'private'} repo")
            else:
                self.call("create repo", lambda: self.api.create_repo(repo_id, private=not self.settings.public,
                                                                    exist_ok=True))
                self.report.created_repo = True
                self.console.say(f"created {'public' if self.settings.public else 'private'} repo {repo_id}")
        if self.revision != "main" and not self.settings.create_pr:
            def branch_exists() -> bool:
                try:
                    self.api.repo_info(repo_id, revision=self.revision)
                    return True
                except (RevisionNotFoundError, RepositoryNotFoundError) as e:
                    if status_of(e) == 401:
                        raise
                    return False

            if self.report.created_repo or self.settings.dry_run or not self.call("revision", branch_exists):
                if self.settings.dry_run:
                    self.report.notes.append(f"would create branch {self.revision}")
                elif self.revision.startswith("refs/pr/"):
                    raise UsageError(f"{self.revision} does not exist in {repo_id}",
                                     "use --create-pr to open a new pull request")
                else:
                    self.call("create branch", lambda: self.api.create_branch(repo_id, branch=self.revision,
                                                                             exist_ok=True))

    def remote_state(self, paths: list[str], revision: str | None = None) -> dict[str, tuple[str | None, str | None]]:
        """path -> (git blob id, LFS sha256) for the paths that exist on the remote revision."""
        from huggingface_hub.errors import RepositoryNotFoundError, RevisionNotFoundError

        revision = revision or self.revision
        state: dict[str, tuple[str | None, str | None]] = {}

        def fetch(chunk: list[str]):
            try:
                return self.api.get_paths_info(self.settings.repo_id, chunk, revision=revision)
            except (RepositoryNotFoundError, RevisionNotFoundError) as e:
                if status_of(e) == 401:
                    raise
                return []  # nothing there yet (dry run of a new repo or branch)

        for start in range(0, len(paths), 500):
            for entry in self.call("list remote files", lambda c=paths[start:start + 500]: fetch(c)):
                lfs = getattr(entry, "lfs", None)
                if hasattr(entry, "blob_id"):
                    state[entry.path] = (entry.blob_id, lfs.sha256 if lfs else None)
        return state

    def missing(self, files: list[PlannedFile], revision: str | None = None) -> list[PlannedFile]:
        state = self.remote_state([f.path for f in files], revision)
        return [f for f in files if not (f.path in state and f.digest.matches_remote(*state[f.path]))]

    def _pace(self) -> None:
        wait = self.settings.min_interval - (time.monotonic() - self._last_commit)
        if self._last_commit and wait > 0:
            self.console.say(f"pacing: waiting {wait:.1f} s before the next commit (--min-interval)")
            time.sleep(wait)

    def _operations(self, files: list[PlannedFile]):
        from huggingface_hub import CommitOperationAdd

        ops = []
        for f in files:
            op = CommitOperationAdd(path_in_repo=f.path,
                                    path_or_fileobj=f.data if f.data is not None else str(f.source))
            op.upload_info.sha256 = bytes.fromhex(f.digest.sha256)  # hashed once per run, not again by the client
            ops.append(op)
        return ops

    def commit(self, files: list[PlannedFile], message: str, revision: str, create_pr: bool) -> str:
        """One commit of `files`, made at most once even when its answer is lost."""
        self._pace()
        prs_before = self._pr_refs() if create_pr else set()

        def attempt():
            info = self.api.create_commit(self.settings.repo_id, self._operations(files), commit_message=message,
                                          commit_description=self.settings.commit_description, revision=revision,
                                          create_pr=create_pr)
            return info.oid, info.pr_url

        def landed_anyway(error):
            # The request may have been carried out: look before trying again, or the commit lands twice.
            target = revision
            if create_pr:
                new = self._pr_refs() - prs_before
                if not new:
                    return None
                target = sorted(new)[-1]
            if self.missing(files, target):
                return None
            info = self.api.repo_info(self.settings.repo_id, revision=target)
            self.console.say(f"the answer to the commit was lost ({describe(error)}), but it landed: {info.sha}")
            pr = f"{self._repo_url()}/discussions/{target.rsplit('/', 1)[-1]}" if create_pr else None
            return info.sha, pr

        oid, pr_url = self.call(f"commit of {len(files)} file(s)", attempt, after_failure=landed_anyway)
        self._last_commit = time.monotonic()
        self.report.commits.append(oid)
        self.report.commit_oid = oid
        if pr_url:
            self.report.pr_url = pr_url
            self.revision = f"refs/pr/{pr_url.rstrip('/').rsplit('/', 1)[-1]}"
            self.report.revision = self.revision
        for f in files:
            self.report.bytes_uploaded += f.size
        return oid

    def _pr_refs(self) -> set[str]:
        refs = self.call("list refs", lambda: self.api.list_repo_refs(self.settings.repo_id,
                                                                      include_pull_requests=True))
        return {r.ref for r in (refs.pull_requests or [])}

    def _repo_url(self) -> str:
        from huggingface_hub import constants

        return f"{self.settings.endpoint or constants.ENDPOINT}/{self.settings.repo_id}"

    def upload(self, missing: list[PlannedFile]) -> None:
        message = self.settings.commit_message or f"Upload {self.plan.kind} model exported from Ludwig"
        batches = _batches(missing, self.settings.limits.files_per_commit)
        try:
            for n, batch in enumerate(batches, start=1):
                suffix = f" (part {n}/{len(batches)})" if len(batches) > 1 else ""
                self.console.say(f"committing {len(batch)} file(s), {human_size(sum(f.size for f in batch))}"
                                 f"{suffix}")
                self.commit(batch, message + suffix, self.revision, self.settings.create_pr and n == 1)
            return
        except HubError as e:
            # Only a step that kept failing for transient reasons falls back; a refusal (4xx) or an exhausted
            # time budget would fail the same way file by file.
            if e.__cause__ is None or isinstance(e.__cause__, OutOfTime) or classify(e.__cause__) != "retry":
                raise
            self.report.fallback = e.message
            self.console.say(f"the folder commit keeps failing ({e.message.splitlines()[0]}); "
                             "falling back to one commit per file")
        self.upload_per_file(message)

    def upload_per_file(self, message: str) -> None:
        remaining = self.missing(self.plan.files)
        manifest = next(f for f in self.plan.files if f.path == MANIFEST)
        stale = self.remote_state([MANIFEST]).get(MANIFEST)
        if stale is not None and not manifest.digest.matches_remote(*stale):
            # An older manifest says "complete" while the files change under it: remove it first.
            self._delete_manifest()
        for f in remaining:  # the plan's order: weights first, card and manifest last
            self.console.say(f"uploading {f.path} ({human_size(f.size)})")
            self.commit([f], f"{message}: {f.path}", self.revision, self.settings.create_pr and
                        not self.report.pr_url)

    def _delete_manifest(self) -> None:
        from huggingface_hub import CommitOperationDelete

        self._pace()
        create_pr = self.settings.create_pr and not self.report.pr_url

        def attempt():
            return self.api.create_commit(self.settings.repo_id, [CommitOperationDelete(MANIFEST)],
                                          commit_message="Mark the export incomplete while it is updated",
                                          revision=self.revision, create_pr=create_pr)

        def gone_anyway(error):
            return None if create_pr or MANIFEST in self.remote_state([MANIFEST]) else "deleted"

        info = self.call("remove stale manifest", attempt, after_failure=gone_anyway)
        self._last_commit = time.monotonic()
        if info == "deleted":
            return
        self.report.commits.append(info.oid)
        if info.pr_url:
            self.report.pr_url = info.pr_url
            self.revision = self.report.revision = f"refs/pr/{info.pr_url.rstrip('/').rsplit('/', 1)[-1]}"

    def verify(self) -> None:
        wrong = self.missing(self.plan.files, self.revision)
        if wrong:
            names = ", ".join(f.path for f in wrong[:5])
            raise HubError(f"verification failed: {len(wrong)} file(s) on {self.settings.repo_id}@{self.revision} "
                           f"differ from the local ones ({names})",
                           "run the same command again: it uploads what is missing or different")
        self.report.verified = True
        if not self.report.commit_oid:
            info = self.call("repo info", lambda: self.api.repo_info(self.settings.repo_id, revision=self.revision))
            self.report.commit_oid = info.sha


def _batches(files: list[PlannedFile], size: int) -> list[list[PlannedFile]]:
    """Commits of at most `size` files; the card and manifest always ride in the last one."""
    last = [f for f in files if f.path in (CARD, MANIFEST)]
    body = [f for f in files if f.path not in (CARD, MANIFEST)]
    size = max(1, size - len(last))
    batches = [body[i:i + size] for i in range(0, len(body), size)] or [[]]
    batches[-1] = batches[-1] + last
    return [b for b in batches if b]


def _server_message(error: BaseException) -> str:
    message = getattr(error, "server_message", None)
    if message:
        return str(message).splitlines()[0]
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__


def push(path: str | Path, settings: ExportSettings) -> ExportReport:
    """Check, plan, upload and verify. Raises an `ExportError` subclass (with a remedy) on failure."""
    started = time.monotonic()
    console = _Console(settings.quiet)
    report = check(path, base_model=settings.base_model, latest=settings.latest,
                   prefer_adapter=settings.prefer_adapter, limits=settings.limits,
                   convert_pickle=settings.convert_pickle)
    if not report.passed(settings.strict):
        raise InvalidModelError(f"check failed, nothing was uploaded:\n{report.format(settings.strict)}",
                                "fix the problems listed above (each says how), then push again")
    console.say(f"{report.kind}: {report.kind_reason}")
    plan = build_plan(report, settings.repo_id, base_model=settings.base_model,
                      convert_pickle=settings.convert_pickle, license=settings.license,
                      hash_cache=HashCache(settings.hash_cache) if settings.hash_cache else None)
    try:
        with _client_settings(settings.retry, settings.quiet):
            exporter = _Exporter(settings, plan, console)
            result = exporter.report
            exporter.authenticate()
            exporter.ensure_repo()
            missing = exporter.missing(plan.files)
            names = {f.path for f in missing}
            result.files = [FileResult(f.path, f.size, f.digest.sha256,
                                       "uploaded" if f.path in names else "already there") for f in plan.files]
            result.url = exporter._repo_url()
            if settings.dry_run:
                _print_plan(console, plan, names, settings)
                result.duration = time.monotonic() - started
                return result
            if missing:
                exporter.upload(missing)
            else:
                console.say("every file is already on the Hub: nothing to upload")
            exporter.verify()
            if result.pr_url is None and exporter.revision != "main":
                result.url = f"{result.url}/tree/{exporter.revision}"
    finally:
        plan.cleanup()
    result.duration = time.monotonic() - started
    where = result.pr_url or result.url
    console.say(f"published {settings.repo_id} ({len(missing)} file(s) uploaded, {human_size(result.bytes_uploaded)}"
                f", verified): {where} @ {result.commit_oid}")
    return result


def _print_plan(console: _Console, plan: ExportPlan, missing: set[str], settings: ExportSettings) -> None:
    console.say(f"dry run: nothing will be changed on {settings.repo_id}")
    for f in plan.files:
        state = "upload" if f.path in missing else "already there"
        console.say(f"  {state:13} {f.path:40} {human_size(f.size):>10}")
    batches = _batches([f for f in plan.files if f.path in missing], settings.limits.files_per_commit)
    console.say(f"  {len(missing)} file(s) to upload in {len(batches) if missing else 0} commit(s), "
                f"{human_size(sum(f.size for f in plan.files if f.path in missing))}")
    for note in plan.notes:
        console.say(f"  note: {note}")


def export(model, repo_id: str, **options) -> ExportReport:
    """Publish `model` to `repo_id`: a saved-model path (any layout `push` takes) or a live `LudwigModel`,
    which is saved to a temporary directory first (removed afterwards). Options are `ExportSettings` fields."""
    settings = ExportSettings(repo_id=repo_id, **options)
    if isinstance(model, (str, Path)):
        return push(model, settings)
    if not (hasattr(model, "save") and hasattr(model, "config_obj")):
        raise UsageError(f"cannot export a {type(model).__name__}",
                         "pass a LudwigModel or the path of a saved model (model.save(), ludwig train results)")
    import tempfile

    with tempfile.TemporaryDirectory(prefix="ludwig-hub-export-model-") as tmp:
        model.save(tmp)
        return push(tmp, settings)
