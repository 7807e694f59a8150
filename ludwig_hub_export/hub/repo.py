"""Before any upload: who the token belongs to and whether it may write here, then the repo and branch."""

from __future__ import annotations

import contextlib

from . import auth
from ..errors import UsageError
from .remote import Snapshot, snapshot
from .session import HubSession


def authenticate(s: HubSession, ahead=None) -> None:
    """Who the token belongs to, and that it may write to the repo (else an `AuthError` saying why). `ahead`: a
    future of (token, whoami's answer) asked earlier; used if it answered for the session's current token."""
    info = None
    if ahead is not None:
        with contextlib.suppress(Exception):  # else asked again below, under the retry policy
            token, answer = ahead.result()
            info = answer if token is s.token else None
    if info is None:
        info = s.call("whoami", lambda: s.api.whoami(cache=False))
    user = auth.check_can_write(info, s.token, s.settings.repo_id, create_pr=s.settings.create_pr)
    s.console.once(f"authenticated as {user} with the {s.token}")


def ensure_repo(s: HubSession, seen: Snapshot | None = None) -> Snapshot:
    """The repo (private unless asked) and the target branch exist afterwards (a dry run notes what it would
    create). Returns the target revision's snapshot (`seen` when already taken and nothing was created)."""
    repo_id = s.settings.repo_id
    # Look before creating: creations have their own, strict rate limit.
    seen = seen or snapshot(s)
    if not seen.repo_exists:
        if s.settings.dry_run:
            s.report.notes.append(f"would create {'public' if s.settings.public else 'private'} repo")
        else:
            s.call("create repo", lambda: s.api.create_repo(repo_id, private=not s.settings.public, exist_ok=True))
            s.report.created_repo = True
            s.console.once(f"created {'public' if s.settings.public else 'private'} repo {repo_id}")
    if s.revision == "main" or s.settings.create_pr or seen.commit is not None:
        return seen
    if s.settings.dry_run:
        s.report.notes.append(f"would create branch {s.revision}")
        return seen
    if s.revision.startswith("refs/pr/"):
        raise UsageError(f"{s.revision} does not exist in {repo_id}", "use --create-pr to open a new pull request")
    s.call("create branch", lambda: s.api.create_branch(repo_id, branch=s.revision, exist_ok=True,
                                                        revision=s.settings.branch_from))
    return snapshot(s)  # the new branch holds what it was made from
