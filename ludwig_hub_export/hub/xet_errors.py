"""hf_xet's failures, read for the retry policy, and hf_xet's own retries, bounded to fit our budget.

hf_xet (Rust) raises builtin exceptions whose only trace of the HTTP answer is their message (xet-core
``xet_pkg/src/error.rs``): "Network error: Request error: HTTP status client error (403 Forbidden), domain: <url>"
(a ``ConnectionError`` on upload, a ``RuntimeError`` "Task error: ..." on download), "error sending request for
url (<url>)" when no answer came, and "Internal error: <the CAS's message>" without any status when the CAS
refuses a shard inside its 200 ``/v2/shards`` stream. hf_xet also retries each call for minutes by default:
`bound_retries` keeps that within seconds, so `retry.py` decides and the budget holds.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator

from ..errors import cause_chain

_STATUS = re.compile(r"HTTP status (?:client|server) error \((\d{3})\b")
# What hf_xet (reqwest, hyper) says when the request got no complete answer: worth another try.
_NO_ANSWER = ("error sending request", "connection closed", "connection reset", "broken pipe", "timed out",
              "error decoding response body", "unexpected eof", "incomplete message")
_XET_PREFIXES = ("Network error:", "Server error:", "Rate limited:", "Timeout:", "Task error:",
                 "Authentication error:", "Not found:", "Previous task error:", "Internal error:",
                 "Data integrity error:", "I/O error:")
# A failure with no HTTP status behind it (a `/v2/shards` stream that ended in an error frame).
_NO_STATUS_FAILURES = ("Internal error:", "Data integrity error:")


def is_xet_error(error: BaseException) -> bool:
    """Raised by hf_xet: one of its own exception types, or a builtin one carrying its message shape."""
    return type(error).__module__ == "hf_xet" or isinstance(
        error, (ConnectionError, RuntimeError, TimeoutError, OSError)) and str(error).startswith(_XET_PREFIXES)


def _xet_errors(error: BaseException) -> Iterator[BaseException]:
    return (e for e in cause_chain(error) if is_xet_error(e))


def xet_status(error: BaseException) -> int | None:
    """The HTTP status an hf_xet exception reports in its message (None: no answer, or not from hf_xet)."""
    return next((int(match.group(1)) for e in _xet_errors(error) if (match := _STATUS.search(str(e)))), None)


def is_xet_auth_error(error: BaseException) -> bool:
    """hf_xet's own authentication failure (no HTTP status in it): the Hub token needs refreshing."""
    return any(type(e).__name__ == "XetAuthenticationError" for e in _xet_errors(error))


def is_xet_no_answer(error: BaseException) -> bool:
    """An hf_xet call whose request never got a (complete) answer: timeouts, drops, resets."""
    for e in _xet_errors(error):
        if xet_status(e) is not None:
            return False
        if isinstance(e, TimeoutError) or str(e).startswith("Timeout:") or any(
                marker in str(e).lower() for marker in _NO_ANSWER):
            return True
    return False


def xet_failure_reason(error: BaseException) -> str | None:
    """hf_xet's reason for a failure that carries no HTTP status and is not a lost answer (a shard the CAS
    refused inside its 200 progress stream, or hf_xet failing here), first line; None for anything else."""
    return next((str(e).splitlines()[0] for e in _xet_errors(error) if str(e).startswith(_NO_STATUS_FAILURES)
                 and xet_status(e) is None and not is_xet_no_answer(e)), None)


def bound_retries(connect_timeout: float, read_timeout: float, environ=os.environ) -> None:
    """``HF_XET_*`` settings for 2 more tries per call with short waits (about 1.5 s in all instead of minutes),
    except any the user set; hf_xet reads them at its first session."""
    for name, value in {"HF_XET_CLIENT_RETRY_MAX_ATTEMPTS": "2", "HF_XET_CLIENT_RETRY_BASE_DELAY": "500ms",
                        "HF_XET_CLIENT_RETRY_MAX_DURATION": "4000ms",
                        "HF_XET_CLIENT_CONNECT_TIMEOUT": f"{int(connect_timeout * 1000)}ms",
                        "HF_XET_CLIENT_READ_TIMEOUT": f"{int(read_timeout * 1000)}ms"}.items():
        environ.setdefault(name, value)
