"""Uploading what the remote lacks: one atomic commit (or batches of them), and the per-file fallback when that
keeps failing for a transient reason. A commit whose answer was lost is never simply repeated: the remote is
compared with the local files first, so a commit that landed is not made twice."""

from __future__ import annotations

from . import progress
from .errors import HubError
from .limits import human_size
from .plan import CARD, MANIFEST, PlannedFile
from .remote import missing, pr_refs, remote_state
from .retry import OutOfTime, classify, describe
from .session import HubSession
from .transfer import operation


def batches(files: list[PlannedFile], size: int) -> list[list[PlannedFile]]:
    """Commits of at most `size` files; the card and manifest always ride in the last one."""
    last = [f for f in files if f.path in (CARD, MANIFEST)]
    body = [f for f in files if f.path not in (CARD, MANIFEST)]
    size = max(1, size - len(last))
    chunks = [body[i:i + size] for i in range(0, len(body), size)] or [[]]
    chunks[-1] = chunks[-1] + last
    return [b for b in chunks if b]


def _take_pr(s: HubSession, pr_url: str) -> None:
    s.report.pr_url = pr_url
    s.revision = s.report.revision = f"refs/pr/{pr_url.rstrip('/').rsplit('/', 1)[-1]}"


def commit(s: HubSession, files: list[PlannedFile], message: str, revision: str, create_pr: bool) -> str:
    """One commit of `files`, made at most once even when its answer is lost."""
    s.pace()
    prs_before = pr_refs(s) if create_pr else set()

    def attempt():
        info = s.api.create_commit(s.settings.repo_id, [operation(f) for f in files], commit_message=message,
                                   commit_description=s.settings.commit_description, revision=revision,
                                   create_pr=create_pr)
        return info.oid, info.pr_url

    def landed_anyway(error):
        # The request may have been carried out: look before trying again, or the commit lands twice.
        target = revision
        if create_pr:
            new = pr_refs(s) - prs_before
            if not new:
                return None
            target = sorted(new)[-1]
        if missing(s, files, target):
            return None
        info = s.api.repo_info(s.settings.repo_id, revision=target)
        s.console.say(f"the answer to the commit was lost ({describe(error)}), but it landed: {info.sha}")
        pr = f"{s.repo_url()}/discussions/{target.rsplit('/', 1)[-1]}" if create_pr else None
        return info.sha, pr

    oid, pr_url = s.call(f"commit of {len(files)} file(s)", attempt, after_failure=landed_anyway)
    s.committed()
    s.report.commits.append(oid)
    s.report.commit_oid = oid
    if pr_url:
        _take_pr(s, pr_url)
    # LFS/Xet objects were counted (and shown) when they were sent (transfer.preupload); regular files travel in
    # the commit.
    regular = sum(f.size for f in files if getattr(f.operation, "_upload_mode", None) != "lfs")
    s.report.bytes_uploaded += regular
    progress.advance(regular)
    return oid


def upload(s: HubSession, todo: list[PlannedFile]) -> None:
    message = s.settings.commit_summary(s.plan.kind)
    parts = batches(todo, s.settings.limits.files_per_commit)
    try:
        for n, batch in enumerate(parts, start=1):
            suffix = f" (part {n}/{len(parts)})" if len(parts) > 1 else ""
            s.console.say(f"committing {len(batch)} file(s), {human_size(sum(f.size for f in batch))}{suffix}")
            commit(s, batch, message + suffix, s.revision, s.settings.create_pr and n == 1)
        return
    except HubError as e:
        # Only a step that kept failing for transient reasons falls back; a refusal (4xx) or an exhausted
        # time budget would fail the same way file by file.
        if e.__cause__ is None or isinstance(e.__cause__, OutOfTime) or classify(e.__cause__) != "retry":
            raise
        s.report.fallback = e.message
        s.console.say(f"the folder commit keeps failing ({e.message.splitlines()[0]}); "
                      "falling back to one commit per file")
    upload_per_file(s, message)


def upload_per_file(s: HubSession, message: str) -> None:
    remaining = missing(s, s.plan.files)
    manifest = next(f for f in s.plan.files if f.path == MANIFEST)
    stale = remote_state(s, [MANIFEST]).get(MANIFEST)
    if stale is not None and not manifest.matches_remote(stale):
        # An older manifest says "complete" while the files change under it: remove it first.
        _delete_manifest(s)
    for f in remaining:  # the plan's order: weights first, card and manifest last
        s.console.say(f"uploading {f.path} ({human_size(f.size)})")
        commit(s, [f], f"{message}: {f.path}", s.revision, s.settings.create_pr and not s.report.pr_url)


def _delete_manifest(s: HubSession) -> None:
    from huggingface_hub import CommitOperationDelete

    s.pace()
    create_pr = s.settings.create_pr and not s.report.pr_url

    def attempt():
        return s.api.create_commit(s.settings.repo_id, [CommitOperationDelete(MANIFEST)],
                                   commit_message="Mark the export incomplete while it is updated",
                                   revision=s.revision, create_pr=create_pr)

    def gone_anyway(error):
        return None if create_pr or MANIFEST in remote_state(s, [MANIFEST]) else "deleted"

    info = s.call("remove stale manifest", attempt, after_failure=gone_anyway)
    s.committed()
    if info == "deleted":
        return
    s.report.commits.append(info.oid)
    if info.pr_url:
        _take_pr(s, info.pr_url)
