"""`push`: publish a checked model to the Hub, as a straight pipeline of values (check -> plan -> read the
revision -> what it lacks -> `transfer.prepare` -> `upload` -> verify), every request under the one retry policy
(`HubSession.call`). The CLI, the Python API, the callback and sweeps all run this."""

from __future__ import annotations

import time
from pathlib import Path

from ..errors import HubError, InvalidModelError
from ..limits import human_size
from ..hub.progress import Console
from ..report import ExportReport, FileResult, repo_url
from ..settings import ExportSettings

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ..artifact.plan import ExportPlan

__all__ = ["ExportReport", "ExportSettings", "FileResult", "push"]


def push(path: str | Path, settings: ExportSettings) -> ExportReport:
    """Check, plan, upload and verify. Raises an `ExportError` subclass (with a remedy) on failure."""
    from ..source.checks import check
    from ..hashing import HashCache
    from ..artifact.plan import build_plan

    started = time.monotonic()
    console = Console(settings.quiet)
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
                      dataset=settings.dataset, card_sections=settings.card_sections,
                      hash_cache=HashCache(settings.hash_cache) if settings.hash_cache else None)
    from ..source.left_out import left_out_files

    left_out = left_out_files(report.layout) if report.layout is not None else {}
    try:
        result = publish(plan, settings, console, left_out)
    finally:
        plan.cleanup()
    result.duration = time.monotonic() - started
    return result


def publish(plan: ExportPlan, settings: ExportSettings, console: Console,
            left_out: dict[str, str] | None = None) -> ExportReport:
    """Everything after the plan: the target revision read once, what it lacks sent and committed, the result read
    back. `left_out`: the model's files the plan does not upload, and why (said in a dry run)."""
    from ..artifact.plan import MANIFEST, add_manifest
    from ..hub.remote import differing, snapshot, verify
    from ..hub.repo import authenticate, ensure_repo
    from ..hub.retry import Deadline, Deferred, RateLimitPacer, bound_xet_retries
    from ..hub.session import HubSession, PutBytes, client_settings, deferred_error
    from ..hub.transfer import check_unchanged, prepare
    from ..hub.upload import upload, withdraw_manifest

    deadline = Deadline(settings.retry.budget)
    pacer = RateLimitPacer(deadline)
    put_bytes = PutBytes()
    # hf_xet reads its retry settings once, at its first session: seconds, so this policy decides.
    bound_xet_retries(settings.retry)
    try:
        with client_settings(settings.retry, settings.quiet, pacer, put_bytes):
            s = HubSession(settings, plan, console, deadline)
            pacer.on_wait = lambda wait: s.note_wait(wait.reason)
            result = s.report
            ahead = _whoami_ahead(s, plan)
            seen = ensure_repo(s, snapshot(s))
            result.url = repo_url(settings)
            card = _settle_card(s, plan, seen)
            todo = differing(plan, plan.files, seen.files)
            if settings.dry_run:
                authenticate(s)  # would the token be allowed to write here?
                _print_plan(console, plan, {f.path for f in todo}, settings, card, left_out or {})
                result.files = _file_results(plan, {f.path for f in todo})
                if todo:  # made once every file is hashed, which a dry run does not do for large ones
                    result.files.append(FileResult(MANIFEST, 0, None, "uploaded"))
                return result
            if not todo and add_manifest(plan).matches_remote(seen.files.get(MANIFEST)):  # every digest known
                authenticate(s, ahead)  # nothing is written: whoami is what says the token may write here
                console.say("every file is already on the Hub: nothing to upload")
                verify(s, seen)  # nothing changed since the snapshot, which is the verification
                result.files = _file_results(plan, set())
            else:
                # The Hub's answer to the first write says whether the token may (`HubSession` explains a 403).
                console.say(f"publishing with the {s.token}")
                out = prepare(s, plan, todo, seen.files)
                result.files = _file_results(plan, {f.path for f in out.files})
                try:
                    upload(s, out)
                except HubError:
                    check_unchanged(out)  # a file rewritten while it was sent explains a refused upload best
                    raise
                try:
                    check_unchanged(out)
                    landed = verify(s)
                except HubError:
                    withdraw_manifest(s)  # no manifest may claim what the revision does not hold
                    raise
                result.bytes_uploaded = _bytes_sent(out, put_bytes, landed)
            result.bytes_hashed = plan.bytes_hashed
            if result.pr_url is None and s.revision != "main":
                result.url = f"{result.url}/tree/{s.revision}"
    except Deferred as e:  # the pacer, inside a client call, found the quota spent for longer than the budget
        raise deferred_error(e) from e
    return result


def _whoami_ahead(s, plan: ExportPlan):
    """A likely unchanged re-push (the hash cache knows every large file) needs whoami: asked beside the revision's
    read, a round trip saved. A future of (token, answer), or None. Without retries or a token refresh (two at once
    could prompt twice): if it fails, `authenticate` asks again."""
    from concurrent.futures import ThreadPoolExecutor

    from ..hashing import GIT_SHA1_MAX

    large = [f for f in plan.files if f.make is None and f.size >= GIT_SHA1_MAX]
    if s.settings.dry_run or not large or any(f.digest is None for f in large):
        return None
    api, token = s.api, s.token
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="whoami")
    future = pool.submit(lambda: (token, api.whoami(cache=False)))
    pool.shutdown(wait=False)  # the answer is awaited only where it is needed
    return future


def _settle_card(s, plan: ExportPlan, seen) -> str:
    """The card this push publishes: the generated one, or, over a README.md this tool did not write, that card
    with only the metadata this tool owns updated (`card.card_to_publish`). Returns what happens to README.md."""
    from ..artifact.card import card_to_publish
    from ..hashing import digest_bytes
    from ..artifact.plan import CARD
    from ..hub.remote import read_text

    ours = plan.by_path()[CARD]
    there = seen.files.get(CARD)
    if there is None or ours.matches_remote(there):
        return f"{CARD}: {'unchanged' if there is not None else 'the generated model card'}"
    update = card_to_publish(read_text(s, seen, CARD), ours.data.decode(), replace_card=s.settings.replace_card)
    if update.problems:
        raise InvalidModelError(f"{CARD}: the repo's own card, with this tool's metadata, would be refused by the "
                                f"Hub: {'; '.join(update.problems)}",
                                "fix the card's metadata on the Hub, or pass --replace-card to replace the card")
    ours.data = update.text.encode()
    ours.size, ours.digest = len(ours.data), digest_bytes(ours.data)
    if update.action == "keep":
        s.report.notes.append(update.reason)
        s.console.say(update.reason)
    return update.reason


def _bytes_sent(out, put_bytes, landed: dict) -> int:
    """The regular files' sizes, plus on LFS the bytes PUT; on Xet the files' sizes, an upper bound (hf_xet sends
    only the chunks the Hub lacks, and no public API says how many)."""
    from ..hub.transfer import client_hashes_while_uploading

    stored = [f for f in out.files if f.path in landed and landed[f.path].sha256 is not None]
    regular = sum(f.size for f in out.files if f not in stored)
    return regular + (sum(f.size for f in stored) if client_hashes_while_uploading() else put_bytes.total)


def _file_results(plan: ExportPlan, uploaded: set[str]) -> list[FileResult]:
    return [FileResult(f.path, f.size, f.sha256, "uploaded" if f.path in uploaded else "already there")
            for f in plan.files]


def _print_plan(console: Console, plan: ExportPlan, todo: set[str], settings: ExportSettings, card: str,
                left_out: dict[str, str]) -> None:
    from ..artifact.plan import CARD, MANIFEST
    from ..hub.upload import batches

    console.say(f"dry run: nothing will be changed on {settings.repo_id}")
    for f in plan.files:
        console.say(f"  {'upload' if f.path in todo else 'already there':13} {f.path:40} {human_size(f.size):>10}")
    if todo:  # the manifest changes whenever a file does
        console.say(f"  {'upload':13} {MANIFEST:40} {'':>10}")
    if CARD in todo:
        console.say(f"  {card}")
    for path, why in left_out.items():
        console.say(f"  {'left out':13} {path:40} {why}")
    commits = batches([f for f in plan.files if f.path in todo], settings.limits.files_per_commit)
    console.say(f"  {len(todo) + bool(todo)} file(s) to upload in {len(commits) if todo else 0} commit(s), "
                f"{human_size(sum(f.size for f in plan.files if f.path in todo))}")
    for note in plan.notes:
        console.say(f"  note: {note}")
