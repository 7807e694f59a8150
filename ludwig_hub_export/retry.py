"""The one retry policy: which failures are worth another try, how long to wait, and when to give up.

Retried: 408, 429, 5xx, timeouts and dropped or reset connections. Not retried: every other 4xx (a retry
would fail the same way). 401 is neither: the caller refreshes the token and then retries. Waits grow
exponentially with jitter, honour ``Retry-After`` (seconds or HTTP date) and the ``RateLimit`` reset, are
capped, and the whole export has a time budget.

Note: inside preupload and LFS transfers ``huggingface_hub`` also retries by itself (up to 5 times, waits of
1-8 s), and hf_xet inside each Xet call (bounded by `xet_errors.bounded_retry_env`); this policy wraps each
whole step around that. hf_xet's failures carry their HTTP status only in their messages: `xet_errors` reads
them, so a Xet 403 is as fatal, and a Xet 401 as much a reason to refresh the token, as an LFS one.
"""

from __future__ import annotations

import email.utils
import random
import re
import time
from dataclasses import dataclass, field
from typing import Callable

from .xet_errors import is_xet_auth_error, is_xet_error, is_xet_no_answer, xet_status

RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
_RATELIMIT = re.compile(r";\s*t\s*=\s*(\d+)")


@dataclass
class RetryPolicy:
    max_attempts: int = 6  # per step, the first try included
    base_delay: float = 1.0
    max_delay: float = 60.0  # no single wait is longer
    budget: float = 3600.0  # seconds for the whole export
    jitter: float = 0.25  # +/- this share of each exponential wait
    connect_timeout: float = 15.0
    read_timeout: float = 120.0  # a commit of many files can take the Hub a while


def bound_xet_retries(policy: RetryPolicy) -> bool:
    """Keep hf_xet's own retries inside one call to seconds, so this policy decides and the budget holds.

    Call it before the process's first Xet transfer (push, pull): hf_xet reads its settings once. Returns
    False when hf_xet had already started here; then only the budget checks between tries bound the time.
    """
    from .xet_errors import apply_retry_bounds, bounded_retry_env

    return apply_retry_bounds(bounded_retry_env(policy.connect_timeout, policy.read_timeout))


@dataclass
class Deadline:
    budget: float
    clock: Callable[[], float] = time.monotonic
    started: float = field(default=0.0)

    def __post_init__(self) -> None:
        self.started = self.clock()

    def remaining(self) -> float:
        return self.budget - (self.clock() - self.started)


def status_of(error: BaseException) -> int | None:
    """The HTTP status behind an exception from huggingface_hub/httpx2/hf_xet, looking through wrapped causes."""
    first, seen = error, set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        response = getattr(error, "response", None)
        status = getattr(response, "status_code", None)
        if isinstance(status, int):
            return status
        error = error.__cause__ or error.__context__
    return xet_status(first)


def is_connection_failure(error: BaseException) -> bool:
    """Timeouts, refused/dropped/reset connections: the answer never arrived."""
    import httpx2

    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if is_xet_error(error):  # hf_xet raises ConnectionError for HTTP errors too: read its message
            return is_xet_no_answer(error)
        if isinstance(error, (httpx2.TimeoutException, httpx2.NetworkError, httpx2.RemoteProtocolError,
                              ConnectionError, TimeoutError)):
            return True
        error = error.__cause__ or error.__context__
    return False


def classify(error: BaseException) -> str:
    """'retry', 'auth' (401: refresh the token) or 'fatal'."""
    status = status_of(error)
    if status == 401 or status is None and is_xet_auth_error(error):
        return "auth"
    if status in RETRY_STATUSES or status is not None and 500 <= status < 600:
        return "retry"
    if status is None and is_connection_failure(error):
        return "retry"
    return "fatal"


def answer_was_lost(error: BaseException) -> bool:
    """Might the request have been carried out although it failed? (gateway errors, timeouts, drops)"""
    status = status_of(error)
    return status in (500, 502, 503, 504) or (status is None and is_connection_failure(error))


def server_wait(error: BaseException, now: float | None = None) -> float | None:
    """What the server asked for: Retry-After (seconds or HTTP date), else the RateLimit reset (t=...)."""
    headers = None
    seen = set()
    while error is not None and id(error) not in seen and headers is None:
        seen.add(id(error))
        headers = getattr(getattr(error, "response", None), "headers", None)
        error = error.__cause__ or error.__context__
    if headers is None:
        return None
    retry_after = headers.get("Retry-After")
    if retry_after:
        value = retry_after.strip()
        if value.isdigit():
            return float(value)
        try:
            when = email.utils.parsedate_to_datetime(value).timestamp()
            return max(0.0, when - (now if now is not None else time.time()))
        except (TypeError, ValueError):
            pass
    match = _RATELIMIT.search(headers.get("RateLimit", ""))
    return float(match.group(1)) if match else None


def next_wait(error: BaseException, attempt: int, policy: RetryPolicy, rng: random.Random | None = None) -> float:
    """Seconds to wait before try number `attempt + 1` (attempt counts from 1)."""
    asked = server_wait(error)
    if asked is not None:
        return min(policy.max_delay, asked)
    exponential = policy.base_delay * 2 ** (attempt - 1)
    jittered = exponential * (1 + (rng or random).uniform(-policy.jitter, policy.jitter))
    return min(policy.max_delay, max(0.0, jittered))


def describe(error: BaseException) -> str:
    status = status_of(error)
    if status is not None:
        return f"HTTP {status}"
    return type(error).__name__


class OutOfTime(Exception):
    """The export's time budget would run out before the next try."""


def run_with_retries(step: str, attempt: Callable[[], object], *, policy: RetryPolicy, deadline: Deadline,
                     on_wait: Callable[[str, BaseException, float, int], None],
                     refresh_auth: Callable[[BaseException], bool],
                     after_failure: Callable[[BaseException], object] | None = None,
                     sleep: Callable[[float], None] = time.sleep):
    """Run `attempt` until it succeeds, under the policy.

    `refresh_auth(error)` is asked on a 401 and returns True when a fresher token is in place.
    `after_failure(error)` runs after the wait of a retryable failure and may return a result that makes the
    retry unnecessary (the lost-response check: the commit had landed after all).
    """
    tries = refreshes = 0
    while True:
        tries += 1
        try:
            return attempt()
        except Exception as error:  # noqa: BLE001 - classified below, re-raised unless retryable
            kind = classify(error)
            if kind == "auth":
                refreshes += 1
                if refreshes <= 2 and refresh_auth(error):
                    continue
                raise
            if kind == "fatal" or tries >= policy.max_attempts:
                raise
            wait = next_wait(error, tries, policy)
            if deadline.remaining() < wait:
                raise OutOfTime(f"{step}: the {policy.budget:.0f} s budget runs out before the next try") from error
            on_wait(step, error, wait, tries)
            sleep(wait)
            if after_failure is not None and answer_was_lost(error):
                landed = after_failure(error)
                if landed is not None:
                    return landed
