"""One exception hierarchy for the package. Every message says what is wrong, where, and what to do; each
class carries the exit code the command line uses for it."""

from __future__ import annotations

from collections.abc import Iterator

EXIT_OK = 0
EXIT_INVALID_INPUT = 1
EXIT_USAGE = 2
EXIT_AUTH = 3
EXIT_HUB = 4
EXIT_DEFERRED = 5


class ExportError(Exception):
    """Base class: a failure the user can act on. `remedy` is appended to the message."""

    exit_code = EXIT_INVALID_INPUT

    def __init__(self, message: str, remedy: str | None = None) -> None:
        self.message = message
        self.remedy = remedy
        super().__init__(f"{message}\n  -> {remedy}" if remedy else message)


class UsageError(ExportError):
    exit_code = EXIT_USAGE


class InvalidModelError(ExportError):
    """The saved model (or the path given) cannot be exported as it is."""


class UntrustedRepoError(InvalidModelError):
    """A repo's content is unsafe or inconsistent: a path that escapes, a malformed manifest, a file that does not
    match its manifest entry, pickle weights. Raised before anything is written outside the staging area."""


class DiskError(ExportError):
    """The destination's file system is full, over quota or out of inodes, or the process out of file handles.
    Exit 1 (the base class's), not 4: rerunning unchanged fails again; freeing space, the same command resumes."""


class AuthError(ExportError):
    """No usable token, a token without write access, or a namespace the token cannot write to."""

    exit_code = EXIT_AUTH


class HubError(ExportError):
    """The Hub or the network kept failing after the retries and time budget allowed."""

    exit_code = EXIT_HUB


class DeferredError(HubError):
    """The Hub requires a wait (a spent quota) longer than the time budget has left. Nothing is lost: what
    was published is complete or not marked complete, and a rerun after `retry_at` resumes."""

    exit_code = EXIT_DEFERRED

    def __init__(self, message: str, remedy: str | None = None, retry_at: float | None = None) -> None:
        super().__init__(message, remedy)
        self.retry_at = retry_at  # epoch seconds


class StorageError(ExportError):
    """Object storage (s3://, gs://, ...) kept failing: a network or server error, after the client's retries."""

    exit_code = EXIT_HUB


def cause_chain(error: BaseException | None) -> Iterator[BaseException]:
    """`error`, then what caused it (`raise ... from`, or raised while handling), to the root; each once."""
    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        yield error
        error = error.__cause__ or error.__context__
