"""Publish a hyperopt sweep: the best trial, one chosen trial, or several (best on ``main``, the others on
branches ``trial-<id>`` of the same repo, or each in its own repo grouped in a Collection).

A loop over `push.push`: every trial checked before any request, paced by a rate plan, journaled so that a rerun
publishes only what is missing, deferred (exit 5) past the budget. Branches start from the repo's first commit and
``main`` goes last, so no branch shows another trial's manifest and ``main``'s leaderboard links existing branches.
"""

from __future__ import annotations

import functools
import sys
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from ..artifact.card import hyperopt_section
from ..errors import DeferredError, ExportError, InvalidModelError, UsageError
from ..source.hyperopt import Experiment, read_experiment
from .journal import Journal, fingerprint
from .rate_plan import RatePlan, RateQuotas, rate_plan
from .sweep_targets import Target, hub_path, select, targets_for
from ..settings import ExportSettings, settings_from


@dataclass
class TrialReport:
    """What a sweep did with one trial."""

    trial_id: str
    score: float | None
    repo_id: str
    revision: str
    status: str  # published | already published | planned | pending | deferred | failed | skipped
    url: str | None = None
    commit: str | None = None
    verified: bool = False
    commits: int = 0
    bytes_uploaded: int = 0
    reason: str | None = None
    export: object | None = field(default=None, repr=False)  # the trial's ExportReport, when pushed in this run


@dataclass
class SweepReport:
    """What a sweep published, per trial, and the rate plan it followed."""

    experiment: str
    repo_id: str
    mode: str  # "best", "trial", "branches" or "repos"
    metric: str
    goal: str
    plan: RatePlan
    trials: list[TrialReport] = field(default_factory=list)
    collection: str | None = None
    journal: str | None = None
    duration: float = 0.0

    def to_dict(self) -> dict:
        out = asdict(self)
        for row in out["trials"]:
            row.pop("export", None)
        return out

    def summary(self) -> str:
        lines = []
        for t in self.trials:
            where = f"{t.repo_id}@{t.revision}"
            extra = f" @ {t.commit[:12]}" if t.commit else ""
            lines.append(f"  {t.status:17} trial {t.trial_id:16} {where}{extra}"
                         + (f" ({t.reason})" if t.reason else ""))
        if self.collection:
            lines.append(f"  collection: {self.collection}")
        return "\n".join(lines)


def export_sweep(path: str | Path, repo_id: str, *, trials: str | None = None, trial: str | None = None,
                 as_repos: bool = False, quotas: RateQuotas | None = None, **options) -> SweepReport:
    """Publish trials of the hyperopt at `path` (`trials`: best | all | top-K, or one `trial` id); options are
    `ExportSettings` fields. `DeferredError` (with `.report`) past the budget: the rest is left for a rerun."""
    settings = settings_from(repo_id, options)
    repo_id = settings.repo_id  # a Hub URL given becomes the id
    if settings.revision not in (None, "main") or settings.create_pr:
        raise UsageError("a hyperopt export chooses its own revisions: main for the best trial, trial-<id> "
                         "branches for the others", "drop --revision / --create-pr")
    experiment = read_experiment(path, settings.storage_options)
    chosen, mode = select(experiment, trials if trials or trial else "all", trial)
    if mode == "sweep":
        mode = "repos" if as_repos else "branches"
    targets = targets_for(chosen, repo_id, as_repos and mode == "repos")
    _check_all(targets, settings)
    quotas = quotas or RateQuotas()
    from huggingface_hub import constants

    from ..hub.transfer import client_hashes_while_uploading
    from ..hub_inputs import redact_url

    # The journal file keeps the destination: never credentials in HF_ENDPOINT
    journal = Journal.open(experiment.directory, f"{redact_url(settings.endpoint or constants.ENDPOINT)}|{repo_id}",
                           mode)
    where = {t.trial.trial_id: hub_path(t) for t in targets}
    sections = {t.trial.trial_id: hyperopt_section(experiment, t.trial, where) for t in targets}
    prints = {t.trial.trial_id: _fingerprint(t, sections[t.trial.trial_id], settings) for t in targets}
    if mode in ("best", "trial"):
        journal.trials.clear()  # one model: push itself finds what is already there, and reports it
    journaled = {t.trial.trial_id: e for t in targets if (e := journal.published(t.trial.trial_id,
                                                                                  prints[t.trial.trial_id]))}
    if journaled and not settings.dry_run:  # trust the journal only where the remote still agrees
        for trial_id in set(journaled) - _still_there(settings, journaled):
            journal.trials.pop(trial_id, None)
    todo = [t for t in targets if not journal.published(t.trial.trial_id, prints[t.trial.trial_id])]
    plan = rate_plan(todo, quotas, settings.limits.files_per_commit,
                     repo_exists=True if len(todo) < len(targets) and not as_repos else None,
                     as_repos=mode == "repos", xet=client_hashes_while_uploading())
    report = SweepReport(str(experiment.directory), repo_id, mode, experiment.metric_label, experiment.goal, plan,
                         journal=str(journal.path))
    say = (lambda m: None) if settings.quiet else functools.partial(print, file=sys.stderr, flush=True)
    say(experiment.format())
    say(plan.format())
    started = time.monotonic()
    # main last: its leaderboard links the branches, which then exist.
    order = [t for t in targets if t.revision != "main"] + [t for t in targets if t.revision == "main"]
    for target in order:
        entry = journal.published(target.trial.trial_id, prints[target.trial.trial_id]) or {}
        status = "already published" if entry else ("planned" if settings.dry_run else "pending")
        report.trials.append(TrialReport(target.trial.trial_id, target.trial.score, target.repo_id, target.revision,
                                         status, url=entry.get("url"), commit=entry.get("commit"),
                                         verified=bool(entry)))
    for t in experiment.trials:
        if t.problem:
            report.trials.append(TrialReport(t.trial_id, t.score, repo_id, "-", "skipped", reason=t.problem))
    if settings.dry_run:
        say("dry run: nothing was sent")
        return report
    try:
        _publish(order, report, journal, settings, sections, prints, plan, started, say)
        if mode == "repos":
            _collection(report, journal, settings, experiment, order)
    except ExportError as e:
        e.report = report  # type: ignore[attr-defined]
        if isinstance(e, DeferredError):  # what was published, and what the rerun has left
            e.message = f"{e.message}\n{_left(report)}"
            e.args = (f"{e.message}\n  -> {e.remedy}",)
        raise
    report.duration = time.monotonic() - started
    return report


def _check_all(targets: list[Target], settings: ExportSettings) -> None:
    """Every selected trial passes `check` before the first request."""
    from ..source.checks import check

    for t in targets:
        result = check(t.trial.run_dir, base_model=settings.base_model, prefer_adapter=settings.prefer_adapter,
                       limits=settings.limits, convert_pickle=settings.convert_pickle)
        if not result.passed(settings.strict):
            raise InvalidModelError(f"trial {t.trial.trial_id} fails its check; nothing was sent:\n"
                                    f"{result.format(settings.strict)}", "fix it, or leave it out (--trials top-K, "
                                    "--trial ID)")


def _fingerprint(target: Target, section: str, settings: ExportSettings) -> str:
    from ..source.layout import find_layout

    generated = "\0".join(str(x) for x in (section, target.repo_id, target.revision, settings.base_model,
                                           settings.license, settings.convert_pickle, settings.prefer_adapter))
    return fingerprint(find_layout(target.trial.run_dir).files, generated)


def _publish(order, report: SweepReport, journal: Journal, settings: ExportSettings, sections, prints,
             plan: RatePlan, started: float, say) -> None:
    from .push import push

    branch_from = ...  # the repo's first commit (None: no repo yet), looked up when a branch first needs it
    last_trial = 0.0
    rows = {(r.repo_id, r.revision): r for r in report.trials}
    for target in order:
        row = rows[(target.repo_id, target.revision)]
        if row.status == "already published":
            continue
        left = settings.retry.budget - (time.monotonic() - started)
        wait = plan.commit_interval - (time.monotonic() - last_trial) if last_trial else 0.0
        if wait > 0:
            if wait > left:
                _defer(row, f"the commits quota ({plan.quotas.commits}) needs {wait:.0f} s between trials", wait)
            say(f"pacing: waiting {wait:.1f} s before trial {target.trial.trial_id} (commits quota)")
            time.sleep(wait)
            left -= wait
        if report.mode == "repos":
            recent = sorted(t for t in journal.creations if time.time() - t < plan.quotas.repo_create.window)
            if len(recent) >= plan.quotas.repo_create.limit:
                _defer(row, f"{len(recent)} repos were created within the creation quota's window "
                            f"({plan.quotas.repo_create})", recent[0] + plan.quotas.repo_create.window - time.time())
        if target.revision != "main" and branch_from is ...:
            branch_from = _first_commit(settings, target.repo_id)
        one = replace(settings, repo_id=target.repo_id, revision=target.revision, card_sections=sections[
            target.trial.trial_id], branch_from=branch_from if target.revision != "main" else None,
            min_interval=max(settings.min_interval, plan.commit_interval),
            retry=replace(settings.retry, budget=max(1.0, left)))
        say(f"--- trial {target.trial.trial_id} (score {target.trial.score:.6g}) -> {target.repo_id}@{target.revision}")
        creation = journal.may_create_repo()
        try:
            result = push(target.trial.run_dir, one)
        except ExportError as e:
            row.status = "deferred" if isinstance(e, DeferredError) else "failed"
            row.reason = e.message.splitlines()[0]
            journal.record(target.trial.trial_id, state=row.status, repo_id=target.repo_id, revision=target.revision)
            raise
        last_trial = time.monotonic()
        if not result.created_repo:
            journal.no_repo_created(creation)
        row.status, row.url, row.commit, row.verified = "published", result.url, result.commit_oid, result.verified
        row.commits, row.bytes_uploaded, row.export = len(result.commits), result.bytes_uploaded, result
        journal.record(target.trial.trial_id, state="published", repo_id=target.repo_id, revision=target.revision,
                       commit=result.commit_oid, url=result.url, fingerprint=prints[target.trial.trial_id])


def _defer(row: TrialReport, why: str, wait: float) -> None:
    from ..hub.session import deferred_error
    from ..hub.retry import Deferred, Wait

    row.status, row.reason = "deferred", why
    raise deferred_error(Deferred(why, Wait(max(0.0, wait), why, required=True)))


def _api(settings: ExportSettings):
    from huggingface_hub import HfApi

    from ..hub import auth

    return HfApi(endpoint=settings.endpoint, token=auth.resolve_token(settings.token).value)


def _call(settings: ExportSettings, step: str, fn):
    """One call outside a push, under the same retry policy (no token refresh: the pushes do that)."""
    from ..hub.retry import Deadline, Deferred, run_with_retries
    from ..hub.session import deferred_error

    try:
        return run_with_retries(step, fn, policy=settings.retry, deadline=Deadline(settings.retry.budget),
                                on_wait=lambda *a: None, refresh_auth=lambda e: False)
    except Deferred as e:
        raise deferred_error(e) from e


def _still_there(settings: ExportSettings, entries: dict[str, dict]) -> set[str]:
    """The journaled trials whose recorded commit is still their branch's head: one refs call per repo."""
    from huggingface_hub.errors import RepositoryNotFoundError

    api = _api(settings)

    def refs(repo_id: str) -> dict[str, str]:
        try:
            return {b.name: b.target_commit for b in api.list_repo_refs(repo_id).branches}
        except RepositoryNotFoundError:
            return {}

    heads = functools.cache(lambda repo_id: _call(settings, "list refs", lambda: refs(repo_id)))  # once a repo
    confirmed = set()
    for trial_id, entry in entries.items():
        head = heads(str(entry.get("repo_id"))).get(str(entry.get("revision")))
        if entry.get("commit") and head == entry.get("commit"):
            confirmed.add(trial_id)
    return confirmed


def _first_commit(settings: ExportSettings, repo_id: str) -> str | None:
    """The repo's first commit, where trial branches start (None when the repo does not exist yet: its
    creation makes main that commit)."""
    from huggingface_hub.errors import RepositoryNotFoundError, RevisionNotFoundError

    api = _api(settings)

    def first():
        try:
            commits = api.list_repo_commits(repo_id)
        except (RepositoryNotFoundError, RevisionNotFoundError):
            return None
        return commits[-1].commit_id if commits else None

    return _call(settings, "list commits", first)


def _collection(report: SweepReport, journal: Journal, settings: ExportSettings, experiment: Experiment,
                order: list[Target]) -> None:
    """Group the trial repos in one Hub Collection (created once; adding an item twice is a no-op)."""
    api = _api(settings)
    namespace, name = report.repo_id.split("/", 1)
    if journal.collection is None:
        created = _call(settings, "create collection", lambda: api.create_collection(
            title=f"{name} hyperopt", namespace=namespace, private=not settings.public, exists_ok=True,
            description=f"Trials of the Ludwig hyperopt {experiment.name}, {experiment.metric_label}, goal "
                        f"{experiment.goal}"[:150]))
        journal.collection = created.slug
        journal.save()
    done = [r for r in report.trials if r.status in ("published", "already published")]
    present = {i.item_id for i in _call(settings, "get collection", lambda: api.get_collection(journal.collection)).items}
    for row in done:
        if row.repo_id not in present:
            _call(settings, "add to collection", lambda r=row: api.add_collection_item(
                journal.collection, r.repo_id, "model", note=f"trial {r.trial_id}: {experiment.metric} {r.score:.6g}",
                exists_ok=True))
    from ..report import repo_url

    report.collection = repo_url(settings, f"collections/{journal.collection}")


def _left(report: SweepReport) -> str:
    lines = []
    for label, states in (("published and verified", ("published", "already published")),
                          ("left for the rerun", ("pending", "deferred"))):
        rows = [r for r in report.trials if r.status in states]
        lines += [f"{label}: {len(rows)} trial(s)", *(f"  {r.trial_id} -> {r.repo_id}@{r.revision}" for r in rows)]
    return "\n".join(lines)


def export_best(path: str | Path, repo_id: str, *, trial: str | None = None, **options):
    """`push.export` for a hyperopt output: the best trial (or `trial`) to `repo_id`'s main, with the
    leaderboard on its card. Returns that trial's `ExportReport`."""
    report = export_sweep(path, repo_id, trials=None if trial else "best", trial=trial, **options)
    row = next(r for r in report.trials if r.revision == "main")
    if row.export is None:  # a dry run
        from ..report import ExportReport

        return ExportReport(repo_id, "", "", "main", "", dry_run=True, notes=[report.plan.format()])
    return row.export
