"""Uploading what the remote lacks: one atomic commit (or batches of them), and the per-file fallback when that
keeps failing for a transient reason. A commit whose answer was lost is never simply repeated: the remote is
compared with the local files first, so a commit that landed is not made twice."""

from __future__ import annotations

import time

from ..errors import HubError
from ..limits import human_size
from ..artifact.plan import CARD, MANIFEST, PlannedFile
from ..report import repo_url
from .remote import missing, pr_refs, remote_state
from .retry import OutOfTime, classify, describe
from .session import HubSession
from .transfer import Outgoing


def batches(files: list[PlannedFile], size: int) -> list[list[PlannedFile]]:
    """Commits of at most `size` files; the card and manifest always ride in the last one."""
    last = [f for f in files if f.path in (CARD, MANIFEST)]
    body = [f for f in files if f.path not in (CARD, MANIFEST)]
    size = max(1, size - len(last))
    chunks = [body[i:i + size] for i in range(0, len(body), size)] or [[]]
    chunks[-1] = chunks[-1] + last
    return [b for b in chunks if b]


def _create_commit(s: HubSession, ops: list, message: str, create_pr: bool, step: str, landed_anyway,
                   description: str | None = None) -> str | None:
    """One commit, made at most once even when its answer is lost: `landed_anyway(error)` looks before a retry and
    gives (oid, PR url) when it landed. Returns the oid (None: a deletion that landed unseen)."""
    wait = s.settings.min_interval - (time.monotonic() - s.last_commit)
    if s.last_commit and wait > 0:  # for accounts near their commit limits
        s.console.say(f"pacing: waiting {wait:.1f} s before the next commit (--min-interval)")
        time.sleep(wait)

    def attempt():
        info = s.api.create_commit(s.settings.repo_id, ops, commit_message=message, commit_description=description,
                                   revision=s.revision, create_pr=create_pr)
        return info.oid, info.pr_url

    oid, pr_url = s.call(step, attempt, after_failure=landed_anyway)
    s.last_commit = time.monotonic()
    if oid:
        s.report.commits.append(oid)
    if pr_url:  # the commit opened a PR: later commits go to it
        s.report.pr_url = pr_url
        s.revision = s.report.revision = f"refs/pr/{pr_url.rstrip('/').rsplit('/', 1)[-1]}"
    return oid


def commit(s: HubSession, out: Outgoing, files: list[PlannedFile], message: str, create_pr: bool) -> None:
    prs_before = pr_refs(s) if create_pr else set()

    def landed_anyway(error):
        target = s.revision
        if create_pr:
            new = pr_refs(s) - prs_before
            if not new:
                return None
            target = sorted(new)[-1]
        if missing(s, files, target):
            return None
        info = s.api.repo_info(s.settings.repo_id, revision=target)
        s.console.say(f"the answer to the commit was lost ({describe(error)}), but it landed: {info.sha}")
        return info.sha, f"{repo_url(s.settings)}/discussions/{target.rsplit('/', 1)[-1]}" if create_pr else None

    s.report.commit_oid = _create_commit(s, [out.ops[f.path] for f in files], message, create_pr,
                                         f"commit of {len(files)} file(s)", landed_anyway,
                                         s.settings.commit_description)


def upload(s: HubSession, out: Outgoing) -> None:
    """Commit `out`: in one commit (or batches of `files_per_commit`), else, when that keeps failing for a
    transient reason, one commit per file with the manifest last."""
    message = s.settings.commit_summary(s.plan.kind)
    parts = batches(out.files, s.settings.limits.files_per_commit)
    try:
        if len(parts) > 1 and not s.settings.create_pr:
            # Every upload mode in one lookup, every LFS/Xet file in one transfer: no commit carries its own.
            ops = [out.ops[f.path] for f in out.files]
            s.call(f"upload of {len(ops)} file(s)", lambda: s.api.preupload_lfs_files(
                s.settings.repo_id, additions=ops, revision=s.revision, free_memory=False))
        for n, batch in enumerate(parts, start=1):
            suffix = f" (part {n}/{len(parts)})" if len(parts) > 1 else ""
            s.console.say(f"committing {len(batch)} file(s), {human_size(sum(f.size for f in batch))}{suffix}")
            commit(s, out, batch, message + suffix, s.settings.create_pr and n == 1)
        return
    except HubError as e:
        # Only a step that kept failing for transient reasons falls back; a refusal (4xx) or an exhausted
        # time budget would fail the same way file by file.
        if e.__cause__ is None or isinstance(e.__cause__, OutOfTime) or classify(e.__cause__) != "retry":
            raise
        s.report.fallback = e.message
        s.console.say(f"the folder commit keeps failing ({e.message.splitlines()[0]}); "
                      "falling back to one commit per file")
    remaining = missing(s, out.files)
    manifest = next(f for f in s.plan.files if f.path == MANIFEST)
    stale = remote_state(s, [MANIFEST]).get(MANIFEST)
    if stale is not None and not manifest.matches_remote(stale):
        # An older manifest says "complete" while the files change under it: remove it first.
        delete_manifest(s)
    for f in remaining:  # the plan's order: weights first, card and manifest last
        s.console.say(f"uploading {f.path} ({human_size(f.size)})")
        commit(s, out, [f], f"{message}: {f.path}", s.settings.create_pr and not s.report.pr_url)


def delete_manifest(s: HubSession) -> None:
    """Take the manifest off the revision: it says \"complete\" while the files are not what it describes."""
    from huggingface_hub import CommitOperationDelete

    create_pr = s.settings.create_pr and not s.report.pr_url

    def gone_anyway(error):
        return None if create_pr or MANIFEST in remote_state(s, [MANIFEST]) else (None, None)

    _create_commit(s, [CommitOperationDelete(MANIFEST)], "Mark the export incomplete while it is updated", create_pr,
                   "remove stale manifest", gone_anyway)


def withdraw_manifest(s: HubSession) -> None:
    """After a push that failed its verification: the manifest off the revision if it is there, so that nothing
    claims the repo complete. A failure here is said, not raised: the verification's error is the one to report."""
    try:
        if MANIFEST in remote_state(s, [MANIFEST]):
            delete_manifest(s)
    except HubError as e:
        s.console.say(f"could not remove {MANIFEST} after the failed verification ({e.message.splitlines()[0]}); "
                      "the next push replaces it")
