"""`push`: publish a checked model to the Hub, one phase per module.

check (no network on failure) -> plan (`plan`: paths, hashes, rewritten copies) -> authenticate and ensure the
repo (`repo`) -> read what the remote already has (`remote`) -> upload what is missing (`upload`: one atomic
commit, or per file when that keeps failing) -> verify every file's remote oid (`remote`) -> report (`report`).
Every call goes through `HubSession.call`, i.e. the one retry policy in `retry`. Inputs checked, planned and
verified before (`pushed`) are only compared with the Hub's revision, and go through every phase when it lacks
a file of theirs.
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

from . import auth, progress, pushed
from .errors import AuthError, InvalidModelError, UsageError
from .first_look import FirstLook, endpoint_of, first_look
from .limits import human_size
from .progress import Console
from .report import ExportReport, FileResult, new_report, repo_url
from .settings import ExportSettings

TYPE_CHECKING = False  # typing's, without loading typing (~3 ms of an unchanged re-push)
if TYPE_CHECKING:
    from .head_start import HeadStart
    from .plan import ExportPlan, PlannedFile
    from .remote import RemoteEntry, Snapshot
    from .session import HubSession

__all__ = ["ExportReport", "ExportSettings", "FileResult", "export", "push"]


def push(path: str | Path, settings: ExportSettings) -> ExportReport:
    """Check, plan, upload and verify. Raises an `ExportError` subclass (with a remedy) on failure.

    Inputs that passed the check and were pushed before (`pushed`) are not checked or planned again unless the
    Hub lacks one of their files."""
    started = time.monotonic()
    console = Console(settings.quiet)
    endpoint = endpoint_of(settings)
    push_key = pushed.key(path, settings, endpoint)
    look: FirstLook | None = None
    record = pushed.recall(settings, push_key)
    if record is not None:  # these inputs were checked and planned before: the Hub is asked first
        look = first_look(settings)
        if look is not None:
            result = _repeated(look, settings, record, console, started)
            if result is not None:
                return result
    # check, plan, remote: what a push kept in `pushed` never loads
    from .checks import check
    from .hashing import HashCache
    from .plan import build_plan

    report = check(path, base_model=settings.base_model, latest=settings.latest,
                   prefer_adapter=settings.prefer_adapter, limits=settings.limits,
                   convert_pickle=settings.convert_pickle, storage_options=settings.storage_options)
    if not report.passed(settings.strict):
        raise InvalidModelError(f"check failed, nothing was uploaded:\n{report.format(settings.strict)}",
                                "fix the problems listed above (each says how), then push again")
    console.say(f"{report.kind}: {report.kind_reason}")
    plan = build_plan(report, settings.repo_id, base_model=settings.base_model,
                      convert_pickle=settings.convert_pickle, license=settings.license,
                      license_name=settings.license_name, license_link=settings.license_link,
                      dataset=settings.dataset,
                      card_sections=settings.card_sections,
                      hash_cache=HashCache(settings.hash_cache) if settings.hash_cache else None,
                      defer_generated=True)  # made while the weights upload (`_send_files`)
    try:
        if record is None:  # asked already when there was a record
            look = first_look(settings)
        result = _push_planned(plan, settings, console, started, look)
    finally:
        plan.cleanup()
    pushed.remember(settings, push_key, path, endpoint, plan, report.kind_reason, result)
    return result


def _repeated(look: FirstLook, settings: ExportSettings, record: dict, console: Console,
              started: float) -> ExportReport | None:
    """A push of inputs kept in `pushed` whose every file the target revision holds: the report, from the
    record and the first look alone. None otherwise."""
    if not _all_there(look, settings, lambda seen: pushed.lacking(record, seen)):
        return None
    console.say(f"{record['kind']}: {record['kind_reason']}")
    result = _verified_report(settings, record["kind"], record["notes"], look.token, look.snapshot.commit,
                              pushed.file_results(record), 0)
    _say_nothing_sent(console, look, settings, result, started)
    return result


def _push_planned(plan: ExportPlan, settings: ExportSettings, console: Console, started: float,
                  look: FirstLook | None) -> ExportReport:
    """Everything after the plan: nothing, when the first look shows every file there; else a new repo's head
    start, or the Hub client."""
    if look is not None:
        result = unchanged(look, settings, plan)
        if result is not None:
            _say_nothing_sent(console, look, settings, result, started)
            return result
    head = None
    if not settings.dry_run:
        from .head_start import begin

        head = begin(look, settings, plan)  # a new repo: made and sent to while the client loads
        _hash_ahead(plan)
    try:
        if head is not None:
            result, tried = _commit_head_start(head, plan, settings, console, started)
            if result is not None:
                return result
            if tried:  # a commit was posted and may have landed: the client path reads the revision again
                look = replace(look, snapshot=None)
        return _upload_planned(plan, settings, console, look, started, head)
    except BaseException:
        if head is not None:
            head.abort()
        raise


def _commit_head_start(head: HeadStart, plan: ExportPlan, settings: ExportSettings, console: Console,
                       started: float) -> tuple[ExportReport | None, bool]:
    """A new repo's push, committed and verified without the Hub client (`head_commit`) when it can be: the
    report, and whether a commit was posted."""
    from .head_commit import commit_head_start

    done, tried = commit_head_start(head, plan, settings, console)
    if done is None:
        return None, tried
    result = _verified_report(settings, plan.kind, plan.notes, head.look.token, done.oid,
                              _file_results(plan, {f.path for f in done.files}), plan.bytes_hashed)
    result.created_repo, result.commits, result.bytes_uploaded = True, [done.oid], done.bytes_sent
    result.duration = time.monotonic() - started
    _say_published(console, settings, result, len(done.files))
    return result, True


def _hash_ahead(plan: ExportPlan) -> None:
    """On the LFS path every large file's sha256 is needed before it is sent: reading starts now, on another core,
    while the Hub client loads (~0.2 s) and the repo is made. On Xet the client hashes as it uploads."""
    unknown = [f.source for f in plan.ready() if f.digest is None and f.source is not None]
    if unknown:
        from .transfer import client_hashes_while_uploading

        if not client_hashes_while_uploading():
            plan.cache.hash_ahead(unknown)


def unchanged(look: FirstLook, settings: ExportSettings, plan: ExportPlan) -> ExportReport | None:
    """The report of a push with nothing to do, from the first look alone (the Hub client never loaded): the
    target revision holds every planned file, the manifest included, and the token may write there. None
    otherwise: the upload path decides (and says why a token may not write)."""
    from .plan import add_manifest
    from .remote import differing

    def lacks_generated(seen: dict[str, RemoteEntry]) -> bool:  # made only once the rest is known to be there
        return bool(differing(plan, plan.generate(), seen) or differing(plan, [add_manifest(plan)], seen))

    if not _all_there(look, settings, lambda seen: bool(differing(plan, plan.ready(), seen)), lacks_generated):
        return None
    return _verified_report(settings, plan.kind, plan.notes, look.token, look.snapshot.commit,
                            _file_results(plan, set()), plan.bytes_hashed)


def _all_there(look: FirstLook, settings: ExportSettings, *lacks) -> bool:
    """Whether the revision the first look read holds every file and the token may write there. `lacks`: tests
    of the revision's files, cheapest first, each true when a file is missing or differs; the token's role is
    judged after the first (a token that may not write: the upload path says why)."""
    seen: Snapshot = look.snapshot
    if seen.commit is None or lacks[0](seen.files):
        return False
    try:
        auth.check_can_write(auth.identity_from_whoami(look.whoami), look.token, settings.repo_id)
    except AuthError:
        return False
    return not any(lack(seen.files) for lack in lacks[1:])


def _say_nothing_sent(console: Console, look: FirstLook, settings: ExportSettings, result: ExportReport,
                      started: float) -> None:
    console.say(f"authenticated as {auth.identity_from_whoami(look.whoami).user} with the {look.token}")
    console.say("every file is already on the Hub: nothing to upload")
    result.duration = time.monotonic() - started
    _say_published(console, settings, result, 0)


def _verified_report(settings: ExportSettings, kind: str, notes: list[str], token: auth.Token, commit_oid: str,
                     files: list[FileResult], bytes_hashed: int) -> ExportReport:
    """The report of a push verified without the Hub client (`unchanged`, `_repeated`, `_commit_head_start`), at
    `commit_oid`."""
    result = new_report(settings, kind, notes, token, bytes_hashed)
    result.url = repo_url(settings)
    if result.revision != "main":
        result.url = f"{result.url}/tree/{result.revision}"
    result.files = files
    result.verified, result.commit_oid = True, commit_oid
    return result


def _upload_planned(plan: ExportPlan, settings: ExportSettings, console: Console, look: FirstLook | None,
                    started: float, head: HeadStart | None = None) -> ExportReport:
    """Everything after the plan, through the Hub client: `look`'s answers, and what `head` did, are used rather
    than asked or done again."""
    # retry, session, repo, upload, transfer: only a push that goes on through the client
    from .remote import early_snapshot, missing, verify
    from .repo import authenticate, ensure_repo
    from .retry import Deadline, Deferred, RateLimitPacer
    from .session import HubSession, PutBytes, client_settings, deferred_error
    from .upload import upload

    deadline = Deadline(settings.retry.budget)
    pacer = RateLimitPacer(deadline)
    try:
        put_bytes = PutBytes()
        with client_settings(settings.retry, settings.quiet, pacer, put_bytes):
            s = HubSession(settings, plan, console, deadline, put_bytes)
            pacer.on_wait = lambda wait: s.note_wait(wait.reason)
            result = s.report
            early = early_snapshot(s) if look is None or look.snapshot is None else (lambda: look.snapshot)
            authenticate(s, look.whoami if look is not None else None)
            seen = ensure_repo(s, early(), created=head is not None and head.repo_created())
            result.url = s.repo_url()
            if settings.dry_run:
                plan.generate()
                todo = missing(s, plan.files, state=seen.files)
                _print_plan(console, plan, {f.path for f in todo}, settings)
                result.files = _file_results(plan, {f.path for f in todo})
                result.duration = time.monotonic() - started
                return result
            todo = _send_files(s, plan, seen, head)
            result.files = _file_results(plan, {f.path for f in todo})
            if todo:
                upload(s, todo)
                progress.close()
                verify(s)
            else:
                console.say("every file is already on the Hub: nothing to upload")
                verify(s, seen)  # nothing changed since the snapshot, which is the verification
            result.bytes_hashed = plan.bytes_hashed
            if result.pr_url is None and s.revision != "main":
                result.url = f"{result.url}/tree/{s.revision}"
    except Deferred as e:  # the pacer, inside a client call, found the quota spent for longer than the budget
        raise deferred_error(e) from e
    result.duration = time.monotonic() - started
    _say_published(console, settings, result, len(todo))
    return result


def _send_files(s: HubSession, plan: ExportPlan, seen: Snapshot,
                head: HeadStart | None = None) -> list[PlannedFile]:
    """Send the large files' bytes, and make the generated files meanwhile (the Hub is busy with the weights, and
    making them can load the card code, YAML and package metadata). Returns every file the commit must add: those
    `seen` (the remote snapshot) lacks, the manifest included whenever one of them changed. What `head` sent is
    not sent again."""
    from .plan import add_manifest
    from .remote import missing
    from .retry import bound_xet_retries
    from .transfer import adopt_head_start, adopt_manifest_mode, preupload

    def start_sending(files: list) -> None:
        # Before the client's first hf_xet session (an unchanged re-push never gets here; a head start bounded
        # them before its own): hf_xet's own retries in seconds, so this policy decides and the budget holds.
        bound_xet_retries(s.settings.retry)
        progress.start(sum(f.size for f in files), enabled=not s.settings.quiet)

    todo = missing(s, plan.ready(), state=seen.files)
    if todo:
        start_sending(todo)
    if head is not None:
        plan.generate()  # while the head start's sends run
        adopt_head_start(s, head.files(), todo)
    generated_todo = preupload(s, todo, lambda: missing(s, plan.generate(), state=seen.files))
    manifest_todo = missing(s, [add_manifest(plan)], state=seen.files)
    for manifest in manifest_todo:
        adopt_manifest_mode(s, manifest)
    later = generated_todo + manifest_todo
    if todo:
        progress.extend(sum(f.size for f in later))
    elif later:
        start_sending(later)
    return todo + later


def _say_published(console: Console, settings: ExportSettings, result: ExportReport, uploaded: int) -> None:
    # The URL is the result: the command line prints it last, on stdout.
    console.say(f"published {settings.repo_id} ({uploaded} file(s) uploaded, {human_size(result.bytes_uploaded)}"
                f", verified) at commit {result.commit_oid}")


def _file_results(plan: ExportPlan, uploaded: set[str]) -> list[FileResult]:
    return [FileResult(f.path, f.size, f.sha256, "uploaded" if f.path in uploaded else "already there")
            for f in plan.files]


def _print_plan(console: Console, plan: ExportPlan, todo: set[str], settings: ExportSettings) -> None:
    from .plan import MANIFEST

    console.say(f"dry run: nothing will be changed on {settings.repo_id}")
    for f in plan.files:
        state = "upload" if f.path in todo else "already there"
        console.say(f"  {state:13} {f.path:40} {human_size(f.size):>10}")
    if todo:  # the manifest changes whenever a file does
        console.say(f"  {'upload':13} {MANIFEST:40} {'':>10}")
    from .upload import batches

    commits = batches([f for f in plan.files if f.path in todo], settings.limits.files_per_commit)
    console.say(f"  {len(todo) + bool(todo)} file(s) to upload in {len(commits) if todo else 0} commit(s), "
                f"{human_size(sum(f.size for f in plan.files if f.path in todo))}")
    for note in plan.notes:
        console.say(f"  note: {note}")


def export(model, repo_id: str, **options) -> ExportReport:
    """Publish `model` to `repo_id`: a saved-model path (any layout `push` takes) or a live `LudwigModel`,
    which is saved to a temporary directory first (removed afterwards). Options are `ExportSettings` fields."""
    if isinstance(model, (str, Path)):
        from .hyperopt import is_experiment

        if is_experiment(model, options.get("storage_options")):  # a hyperopt output: its best trial
            from .sweep import export_best

            return export_best(model, repo_id, **options)
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
