"""The one retry policy: which failures are worth another try, how long to wait, and when to give up.

Retried: 408, 429, 5xx, timeouts and dropped connections; not other 4xx (they fail the same way again). 401: the
caller refreshes the token, then retries. The wait, read as the Hub means its headers: ``Retry-After`` wins; else
the ``RateLimit`` reset, only when the quota is spent (``r=0``) or the answer is a 429 (a 503 carrying
``r=900;t=280`` is no reason to wait 280 s); else capped, jittered exponential backoff. A wait the server requires
is honoured in full, but past the time budget the export is `Deferred`. `RateLimitPacer` slows down *before* a
quota runs out. huggingface_hub and hf_xet retry inside each step too; this policy wraps each whole step, and
`xet_errors` reads hf_xet's statuses from its messages so Xet and LFS failures are classified alike.
"""

from __future__ import annotations

import email.utils
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from ..settings import RetryPolicy
from ..errors import cause_chain
from .xet_errors import is_xet_auth_error, is_xet_error, is_xet_no_answer, xet_status

RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})


@dataclass(frozen=True)
class Wait:
    seconds: float
    reason: str  # which rule chose it, for the wait line
    required: bool = False  # asked for by the server (not shortened; past the budget the export is deferred)


def bound_xet_retries(policy: RetryPolicy) -> None:
    """Call before the process's first Xet transfer: hf_xet reads its retry settings once."""
    from .xet_errors import bound_retries

    bound_retries(policy.connect_timeout, policy.read_timeout)


class Deadline:
    """A time budget, started when it is made."""

    def __init__(self, budget: float) -> None:
        self.budget, self.started = budget, time.monotonic()

    def remaining(self) -> float:
        return self.budget - (time.monotonic() - self.started)


def _response(error: BaseException, attribute: str):
    """`attribute` of the first response found along the exception's causes."""
    return next((v for e in cause_chain(error) if (v := getattr(getattr(e, "response", None), attribute, None))
                 is not None), None)


def status_of(error: BaseException) -> int | None:
    """The HTTP status behind an exception from huggingface_hub/httpx2/hf_xet, looking through wrapped causes."""
    status = _response(error, "status_code")
    return status if isinstance(status, int) else xet_status(error)


def is_connection_failure(error: BaseException) -> bool:
    """Timeouts, refused/dropped/reset connections: the answer never arrived."""
    import httpx2

    for e in cause_chain(error):
        if is_xet_error(e):  # hf_xet raises ConnectionError for HTTP errors too: read its message
            return is_xet_no_answer(e)
        if isinstance(e, (httpx2.TimeoutException, httpx2.NetworkError, httpx2.RemoteProtocolError,
                          ConnectionError, TimeoutError)):
            return True
    return False


def classify(error: BaseException) -> str:
    """'retry', 'auth' (401: refresh the token) or 'fatal'."""
    status = status_of(error)
    if status == 401 or status is None and is_xet_auth_error(error):
        return "auth"
    if status in RETRY_STATUSES or status is not None and 500 <= status < 600:
        return "retry"
    return "retry" if status is None and is_connection_failure(error) else "fatal"


def answer_was_lost(error: BaseException) -> bool:
    """Might the request have been carried out although it failed? (gateway errors, timeouts, drops)"""
    status = status_of(error)
    return status in (500, 502, 503, 504) or (status is None and is_connection_failure(error))


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` value: delta-seconds or an HTTP date (the client reads no dates)."""
    value = (value or "").strip()
    if value.isdigit():
        return float(value)
    try:
        return max(0.0, email.utils.parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


def next_wait(error: BaseException, attempt: int, policy: RetryPolicy) -> Wait:
    """The wait before try number `attempt + 1` (from 1), by the rules in the module docstring."""
    headers = _response(error, "headers") or {}
    retry_after = parse_retry_after(headers.get("Retry-After"))
    if retry_after is not None:
        return Wait(retry_after, f"the Hub asked to retry after {retry_after:.0f} s", required=True)
    from huggingface_hub.utils import parse_ratelimit_headers

    info = parse_ratelimit_headers(headers)
    if info is not None and (info.remaining == 0 or status_of(error) == 429):
        quota = f"'{info.resource_type}' quota" + (f" of {info.limit}" if info.limit else "")
        return Wait(float(info.reset_in_seconds), f"{quota} spent, resets in {info.reset_in_seconds} s",
                    required=True)
    jittered = policy.base_delay * 2 ** (attempt - 1) * (1 + random.uniform(-policy.jitter, policy.jitter))
    return Wait(min(policy.max_delay, max(0.0, jittered)), "backoff")


def describe(error: BaseException) -> str:
    status = status_of(error)
    return f"HTTP {status}" if status is not None else type(error).__name__


class OutOfTime(Exception):
    """The export's time budget would run out before the next try."""


class Deferred(OutOfTime):
    """The server requires a wait longer than the time budget has left (a quota spent for hours)."""

    def __init__(self, message: str, wait: Wait) -> None:
        super().__init__(message)
        self.wait = wait
        self.retry_at = time.time() + wait.seconds


def run_with_retries(step: str, attempt: Callable[[], object], *, policy: RetryPolicy, deadline: Deadline,
                     on_wait: Callable[[str, BaseException, Wait, int], None],
                     refresh_auth: Callable[[BaseException], bool],
                     after_failure: Callable[[BaseException], object] | None = None):
    """Run `attempt` until it succeeds, under the policy. `refresh_auth(error)`, asked on a 401, is True when a
    fresher token is in place. `after_failure(error)` runs after the wait of a failure whose answer may have been
    lost; a result other than None is taken as the attempt's (the commit had landed after all)."""
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
            if deadline.remaining() < wait.seconds:
                if wait.required:
                    raise Deferred(f"{step}: {describe(error)}; {wait.reason}, past the "
                                   f"{max(0.0, deadline.remaining()):.0f} s left of the budget", wait) from error
                raise OutOfTime(f"{step}: the {policy.budget:.0f} s budget runs out before the next try") from error
            on_wait(step, error, wait, tries)
            time.sleep(wait.seconds)
            if after_failure is not None and answer_was_lost(error):
                landed = after_failure(error)
                if landed is not None:
                    return landed


class RateLimitPacer:
    """Slows down before a quota runs out, so a run that fits its quota never gets a 429: as httpx hooks on the
    client, it counts the requests let through since the last ``RateLimit`` header (calls run in parallel) and,
    when no more than `RESERVE` would remain, everyone waits for the reset (`Deferred` past the budget)."""

    RESERVE = 2

    def __init__(self, deadline: Deadline) -> None:
        self.deadline = deadline
        self.on_wait: Callable[[Wait], None] | None = None
        self._lock = threading.Lock()
        self._remaining: int | None = None  # calls left in the window, counting ours since the last answer
        self._resets_at = self._paused_until = 0.0
        self._left_at_pause = 0
        self._info = None

    def response_hook(self, response) -> None:
        """Take the server's word for what remains."""
        from huggingface_hub.utils import parse_ratelimit_headers

        info = parse_ratelimit_headers(response.headers)
        if info is not None:
            with self._lock:
                self._info, self._remaining = info, info.remaining
                self._resets_at = time.monotonic() + info.reset_in_seconds

    def request_hook(self, request) -> None:
        """Count one request; first wait for the window's reset when the quota is (nearly) spent."""
        with self._lock:
            now = time.monotonic()
            if now >= self._paused_until:
                if self._remaining is None or now >= self._resets_at:
                    self._remaining = None  # a new window: nothing known until the next answer
                    return
                if self._remaining > self.RESERVE:
                    self._remaining -= 1
                    return
                # Spent: everyone waits for the reset; the count starts afresh with the next answer.
                self._paused_until, self._left_at_pause, self._remaining = self._resets_at, self._remaining, None
            seconds, info = self._paused_until - now, self._info
            of = f" of {info.limit}" if info.limit else ""
            wait = Wait(seconds, f"pacing: '{info.resource_type}' quota nearly spent ({self._left_at_pause}{of} "
                                 f"left), waiting {seconds:.0f} s for it to reset", required=True)
            if self.deadline.remaining() < seconds:
                raise Deferred(f"{wait.reason}, past the {max(0.0, self.deadline.remaining()):.0f} s left of the "
                               "budget", wait)
        if self.on_wait is not None:
            self.on_wait(wait)
        time.sleep(seconds)
