"""hf_xet's failures, read for the retry policy, and hf_xet's own retries, bounded to fit our budget.

hf_xet (Rust) raises plain Python exceptions whose only trace of the HTTP answer is their message (xet-core
``xet_pkg/src/error.rs``): 4xx, 429, 5xx and dropped connections all become ``ConnectionError`` on upload
("Network error: Request error: HTTP status client error (403 Forbidden), domain: <url>", "Server error: ...
HTTP status server error (503 Service Unavailable) ..."), a ``RuntimeError`` on download ("Task error: File
reconstruction error: CAS Client Error: Request error: HTTP status ..."); a request that got no answer says
"error sending request for url (<url>)"; ``XetAuthenticationError`` (a PermissionError) and
``XetObjectNotFoundError`` (a FileNotFoundError) are its own types. The URL tells a refused Xet token
(``/xet-write-token/``, ``/xet-read-token/`` on the Hub) from a refused CAS call. A shard that the CAS refuses
after its ``/v2/shards`` progress stream began (status 200, then an error frame) has no status at all:
"Internal error: <the CAS's message>", a ``RuntimeError`` (`xet_failure_reason`).

hf_xet also retries each call itself (5 times, 3 s base delay doubling, up to 6 min a sleep, 5 min read
timeout): `bounded_retry_env` gives the ``HF_XET_*`` settings that keep one call within seconds, so that the
one policy in `retry.py` decides and the export's budget holds. hf_xet reads them once, when a process first
uses it (`apply_retry_bounds`).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator

_STATUS = re.compile(r"HTTP status (?:client|server) error \((\d{3})\b")
_URL = re.compile(r"(?:domain: |for url \()(?P<url>[a-z][a-z0-9+.-]*://[^\s)]+)")
# What hf_xet (reqwest, hyper) says when the request got no complete answer: worth another try.
_NO_ANSWER = ("error sending request", "connection closed", "connection reset", "broken pipe", "timed out",
              "error decoding response body", "unexpected eof", "incomplete message")
_XET_PREFIXES = ("Network error:", "Server error:", "Rate limited:", "Timeout:", "Task error:",
                 "Authentication error:", "Not found:", "Previous task error:", "Internal error:",
                 "Data integrity error:", "I/O error:")
# hf_xet's words for a failure with no HTTP status behind it: on upload, a `/v2/shards` stream that ended in an
# error frame (the CAS's message, after hf_xet's own retries when the frame said a retry could help).
_NO_STATUS_FAILURES = ("Internal error:", "Data integrity error:")


def _chain(error: BaseException | None) -> Iterator[BaseException]:
    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        yield error
        error = error.__cause__ or error.__context__


def is_xet_error(error: BaseException) -> bool:
    """Raised by hf_xet: one of its own exception types, or a builtin one carrying its message shape."""
    if type(error).__module__ == "hf_xet":
        return True
    return isinstance(error, (ConnectionError, RuntimeError, TimeoutError, OSError)) and str(error).startswith(
        _XET_PREFIXES)


def _xet_errors(error: BaseException) -> Iterator[BaseException]:
    return (e for e in _chain(error) if is_xet_error(e))


def xet_status(error: BaseException) -> int | None:
    """The HTTP status an hf_xet exception reports in its message (None: no answer, or not from hf_xet)."""
    for e in _xet_errors(error):
        match = _STATUS.search(str(e))
        if match:
            return int(match.group(1))
    return None


def xet_url(error: BaseException) -> str | None:
    for e in _xet_errors(error):
        match = _URL.search(str(e))
        if match:
            return match.group("url")
    return None


def is_xet_auth_error(error: BaseException) -> bool:
    """hf_xet's own authentication failure (no HTTP status in it): the Hub token needs refreshing."""
    return any(type(e).__name__ == "XetAuthenticationError" for e in _xet_errors(error))


def is_xet_no_answer(error: BaseException) -> bool:
    """An hf_xet call whose request never got a (complete) answer: timeouts, drops, resets."""
    for e in _xet_errors(error):
        if xet_status(e) is not None:
            return False
        if isinstance(e, TimeoutError) or str(e).startswith("Timeout:"):
            return True
        text = str(e).lower()
        if any(marker in text for marker in _NO_ANSWER):
            return True
    return False


def xet_failure_reason(error: BaseException) -> str | None:
    """hf_xet's reason for a failure that carries no HTTP status and is not a lost answer (a shard the CAS
    refused inside its 200 progress stream, or hf_xet failing here), first line; None for anything else."""
    for e in _xet_errors(error):
        text = str(e)
        if text.startswith(_NO_STATUS_FAILURES) and xet_status(e) is None and not is_xet_no_answer(e):
            return text.splitlines()[0]
    return None


def bounded_retry_env(connect_timeout: float, read_timeout: float, retries: int = 2,
                      base_delay: float = 0.5, max_delay: float = 4.0) -> dict[str, str]:
    """``HF_XET_*`` settings for hf_xet's internal retries: `retries` more tries per call, short waits.

    With the defaults one failing call costs hf_xet about 1.5 s of waiting before it raises, instead of
    minutes; the retry policy then counts it as one try and waits its own, budgeted, waits.
    """
    return {
        "HF_XET_CLIENT_RETRY_MAX_ATTEMPTS": str(retries),
        "HF_XET_CLIENT_RETRY_BASE_DELAY": f"{int(base_delay * 1000)}ms",
        "HF_XET_CLIENT_RETRY_MAX_DURATION": f"{int(max_delay * 1000)}ms",
        "HF_XET_CLIENT_CONNECT_TIMEOUT": f"{int(connect_timeout * 1000)}ms",
        "HF_XET_CLIENT_READ_TIMEOUT": f"{int(read_timeout * 1000)}ms",
    }


def apply_retry_bounds(settings: dict[str, str], environ=os.environ) -> None:
    """Put `settings` in the environment, keeping any the user set. hf_xet reads them when the process's first
    Xet session is created; after that only the budget checks between tries bound the time."""
    for name, value in settings.items():
        environ.setdefault(name, value)
