"""The one retry policy: which failures are worth another try, how long to wait, and when to give up.

Retried: 408, 429, 5xx, timeouts and dropped or reset connections. Not retried: every other 4xx (a retry
would fail the same way). 401 is neither: the caller refreshes the token and then retries.

How long to wait, read the way the Hub means its headers (and huggingface_hub reads them):
- ``Retry-After`` (seconds or HTTP date) always wins;
- else the ``RateLimit`` reset (``t=``) is a required wait only when the quota is spent (``r=0``) or the answer
  is a 429: a transient 503 that happens to carry ``"api";r=900;t=280`` is not a reason to wait 280 s;
- else exponential backoff with jitter, capped.
A wait the server requires is honoured in full, but never past the export's time budget: then the export is
deferred (`Deferred`), to be rerun later. The same parsed headers drive `RateLimitPacer`, which slows down
*before* a quota runs out.

Note: inside preupload and LFS transfers ``huggingface_hub`` also retries by itself (up to 5 times, waits of
1-8 s), and hf_xet inside each Xet call (bounded by `xet_errors.bounded_retry_env`); this policy wraps each
whole step around that. hf_xet's failures carry their HTTP status only in their messages: `xet_errors` reads
them, so a Xet 403 is as fatal, and a Xet 401 as much a reason to refresh the token, as an LFS one.
"""

from __future__ import annotations

import email.utils
import random
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from ..settings import RetryPolicy
from .xet_errors import is_xet_auth_error, is_xet_error, is_xet_no_answer, xet_status

RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
_RATELIMIT = re.compile(r";\s*t\s*=\s*(\d+)")


@dataclass(frozen=True)
class Wait:
    """One pause before a retry: how long, which rule chose it, and whether the server asked for it."""

    seconds: float
    reason: str  # which rule chose it, for the wait line
    required: bool = False  # asked for by the server (not shortened; past the budget the export is deferred)


def bound_xet_retries(policy: RetryPolicy) -> None:
    """Keep hf_xet's own retries inside one call to seconds, so this policy decides and the budget holds. Call it
    before the process's first Xet transfer (push, pull): hf_xet reads its settings once."""
    from .xet_errors import apply_retry_bounds, bounded_retry_env

    apply_retry_bounds(bounded_retry_env(policy.connect_timeout, policy.read_timeout))


@dataclass
class Deadline:
    """A time budget, started when it is made."""

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


def _headers_of(error: BaseException):
    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        headers = getattr(getattr(error, "response", None), "headers", None)
        if headers is not None:
            return headers
        error = error.__cause__ or error.__context__
    return None


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds from a ``Retry-After`` value: delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError):
        return None
    return max(0.0, when - (now if now is not None else time.time()))


def parse_ratelimit(headers):
    """The Hub's ``RateLimit``/``RateLimit-Policy`` headers, parsed by huggingface_hub (None when absent)."""
    if not headers:
        return None
    from huggingface_hub.utils import parse_ratelimit_headers

    return parse_ratelimit_headers(headers)


def server_wait(error: BaseException, now: float | None = None) -> Wait | None:
    """The wait the server requires after `error`, by the rules in the module docstring, or None."""
    headers = _headers_of(error)
    if headers is None:
        return None
    retry_after = parse_retry_after(headers.get("Retry-After"), now)
    if retry_after is not None:
        return Wait(retry_after, f"the Hub asked to retry after {retry_after:.0f} s", required=True)
    info = parse_ratelimit(headers)
    if info is not None and (info.remaining == 0 or status_of(error) == 429):
        quota = f"'{info.resource_type}' quota" + (f" of {info.limit}" if info.limit else "")
        return Wait(float(info.reset_in_seconds), f"{quota} spent, resets in {info.reset_in_seconds} s",
                    required=True)
    return None


def next_wait(error: BaseException, attempt: int, policy: RetryPolicy, rng: random.Random | None = None) -> Wait:
    """The wait before try number `attempt + 1` (attempt counts from 1)."""
    asked = server_wait(error)
    if asked is not None:
        return asked
    exponential = policy.base_delay * 2 ** (attempt - 1)
    jittered = exponential * (1 + (rng or random).uniform(-policy.jitter, policy.jitter))
    return Wait(min(policy.max_delay, max(0.0, jittered)), "backoff")


def describe(error: BaseException) -> str:
    status = status_of(error)
    if status is not None:
        return f"HTTP {status}"
    return type(error).__name__


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
            if deadline.remaining() < wait.seconds:
                if wait.required:
                    raise Deferred(f"{step}: {describe(error)}; {wait.reason}, past the "
                                   f"{max(0.0, deadline.remaining()):.0f} s left of the budget", wait) from error
                raise OutOfTime(f"{step}: the {policy.budget:.0f} s budget runs out before the next try") from error
            on_wait(step, error, wait, tries)
            sleep(wait.seconds)
            if after_failure is not None and answer_was_lost(error):
                landed = after_failure(error)
                if landed is not None:
                    return landed


class RateLimitPacer:
    """Slows down before a quota runs out, so a run that fits its quota never gets a 429.

    Every response's ``RateLimit`` header says how many calls remain in the window and when it resets.
    Between two answers the pacer counts the requests it lets through (calls run in parallel), and when no
    more than `reserve` would remain it waits for the reset. Hooked into the HTTP client, it paces every
    call, the client's own internal ones included. A reset further away than the time budget allows is a
    `Deferred`, like a 429 would be.
    """

    def __init__(self, deadline: Deadline | None = None, reserve: int = 2,
                 on_wait: Callable[[Wait], None] | None = None, sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.deadline = deadline
        self.reserve = reserve
        self.on_wait = on_wait
        self.sleep = sleep
        self.clock = clock
        self.waited = 0.0
        self._lock = threading.Lock()
        self._remaining: int | None = None  # calls left in the window, counting ours since the last answer
        self._resets_at = 0.0
        self._paused_until = 0.0
        self._left_at_pause = 0
        self._info = None

    def observe(self, headers) -> None:
        """Take the server's word for what remains (call with every response's headers)."""
        info = parse_ratelimit(headers)
        if info is None:
            return
        with self._lock:
            self._info = info
            self._remaining = info.remaining
            self._resets_at = self.clock() + info.reset_in_seconds

    def before_request(self) -> None:
        """Count one request; first wait for the window's reset when the quota is (nearly) spent."""
        with self._lock:
            now = self.clock()
            if now >= self._paused_until:
                if self._remaining is None or now >= self._resets_at:
                    self._remaining = None  # a new window: nothing known until the next answer
                    return
                if self._remaining > self.reserve:
                    self._remaining -= 1
                    return
                # Spent: everyone waits for the reset; the count starts afresh with the next answer.
                self._paused_until, self._left_at_pause, self._remaining = self._resets_at, self._remaining, None
            seconds, info = self._paused_until - now, self._info
            of = f" of {info.limit}" if info.limit else ""
            wait = Wait(seconds, f"pacing: '{info.resource_type}' quota nearly spent ({self._left_at_pause}{of} "
                                 f"left), waiting {seconds:.0f} s for it to reset", required=True)
            if self.deadline is not None and self.deadline.remaining() < seconds:
                raise Deferred(f"{wait.reason}, past the {max(0.0, self.deadline.remaining()):.0f} s left of the "
                               "budget", wait)
        if self.on_wait is not None:
            self.on_wait(wait)
        self.waited += seconds
        self.sleep(seconds)

    # httpx event hooks
    def request_hook(self, request) -> None:
        self.before_request()

    def response_hook(self, response) -> None:
        self.observe(response.headers)
