"""One export's connection to the Hub: the client, the token, the retry policy around every call, and how a
failure that outlived the retries is explained to the user."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable

from . import auth
from ..errors import AuthError, DeferredError, ExportError, HubError
from ..artifact.plan import ExportPlan
from .progress import Console
from ..report import new_report
from .retry import Deadline, Deferred, OutOfTime, RateLimitPacer, RetryPolicy, Wait, describe, run_with_retries, status_of
from ..settings import ExportSettings
from .xet_errors import xet_failure_reason


class PutBytes:
    """The bytes the client PUTs: on LFS, what was really sent (hf_xet's traffic does not pass through it)."""

    def __init__(self) -> None:
        self.total = 0
        self._lock = threading.Lock()

    def request_hook(self, request) -> None:
        if request.method == "PUT":
            with self._lock:
                self.total += int(request.headers.get("content-length") or 0)


@contextlib.contextmanager
def client_settings(policy: RetryPolicy, quiet: bool, pacer: RateLimitPacer, put_bytes: PutBytes):
    """For this export only, on the client's shared HTTP client: timeouts (it has none), the pacer's and
    `PutBytes`' hooks, its progress bars off when quiet. Configured in place, not replaced (`set_client_factory`
    closes it): its warm connections save a TCP and TLS handshake each."""
    import httpx2
    from huggingface_hub.utils import are_progress_bars_disabled, disable_progress_bars, enable_progress_bars
    from huggingface_hub.utils import get_session

    bars_off = quiet and not are_progress_bars_disabled()  # else left as the user set them
    client = get_session()
    timeout = client.timeout
    hooks = [("request", pacer.request_hook), ("response", pacer.response_hook), ("request", put_bytes.request_hook)]
    client.timeout = httpx2.Timeout(policy.read_timeout, connect=policy.connect_timeout)
    for event, hook in hooks:
        client.event_hooks[event].append(hook)
    if bars_off:
        disable_progress_bars()
    try:
        yield
    finally:
        if bars_off:
            enable_progress_bars()
        client.timeout = timeout
        for event, hook in hooks:
            with contextlib.suppress(ValueError):
                client.event_hooks[event].remove(hook)


class HubSession:
    def __init__(self, settings: ExportSettings, plan: ExportPlan, console: Console, deadline: Deadline) -> None:
        self.settings = settings
        self.plan = plan
        self.console = console
        self.token = auth.resolve_token(settings.token)
        self.deadline = deadline
        self.revision = settings.revision or "main"
        self.report = new_report(settings, plan.kind, plan.notes, self.token, plan.bytes_hashed)
        self.last_commit = 0.0  # when the last commit landed (monotonic): --min-interval paces from it
        self._make_api()

    def _make_api(self) -> None:
        from huggingface_hub import HfApi

        self.api = HfApi(endpoint=self.settings.endpoint, token=self.token.value)

    def _on_wait(self, step: str, error: BaseException, wait: Wait, attempt: int) -> None:
        self.report.retries += 1
        self.note_wait(f"{step}: {describe(error)}; {wait.reason}: waiting {wait.seconds:.1f} s before try "
                       f"{attempt + 1}/{self.settings.retry.max_attempts}")

    def note_wait(self, line: str) -> None:
        self.report.waits.append(line)
        self.console.say(line)

    def _refresh(self, error: BaseException) -> bool:
        fresh = auth.fresher_token(self.token, self.settings.token_command, self.settings.interactive,
                                   explicit=self.token.origin == "argument" or self.settings.token is not None)
        if fresh is None:
            return False
        self.console.say(f"the Hub refused the {self.token} (401); retrying with the {fresh}")
        self.token = fresh
        self.report.token_origin = fresh.origin
        self._make_api()
        return True

    def call(self, step: str, fn: Callable[[], object], after_failure=None):
        """`fn()` under the retry policy; failures become our errors, each with its remedy."""
        try:
            return run_with_retries(step, fn, policy=self.settings.retry, deadline=self.deadline,
                                    on_wait=self._on_wait, refresh_auth=self._refresh, after_failure=after_failure)
        except Deferred as e:
            raise deferred_error(e) from e
        except OutOfTime as e:
            raise HubError(str(e), "try again later; --budget gives the export more time") from e
        except ExportError:
            raise
        except Exception as e:  # noqa: BLE001 - turned into our errors with a remedy
            raise self._explain(step, e) from e

    def _explain(self, step: str, error: BaseException) -> ExportError:
        status = status_of(error)
        where = f"{step} ({self.settings.repo_id})"
        if status == 401:
            if self.settings.token is not None:  # named by the user: never replaced by another source
                return AuthError(f"{where}: the Hub refused the {self.token} (401 Invalid credentials)",
                                 "pass a valid write token (--token, token=), or --token-command to fetch a fresh "
                                 "one; another source (HF_TOKEN, the token file) is not tried in place of a token "
                                 "you named")
            return AuthError(f"{where}: the Hub refused the {self.token} (401 Invalid credentials) and no fresher "
                             "token was found", "log in again (`hf auth login`), set HF_TOKEN to a valid write "
                             "token, or pass --token-command to fetch one")
        if status == 403:  # whoami, asked only now, may say more of the token than the Hub's refusal
            try:
                auth.check_can_write(self.api.whoami(cache=False), self.token, self.settings.repo_id,
                                     create_pr=self.settings.create_pr)
            except AuthError as refused:
                return AuthError(f"{where}: {refused.message}", refused.remedy)
            except Exception:  # noqa: BLE001 - no better answer: the Hub's refusal is explained as it is
                pass
            return AuthError(f"{where}: permission denied (403): {server_message(error)}",
                             "use a write token of the repo's owner or of a member of its organisation")
        if status is not None and 400 <= status < 500 and status not in (408, 429):
            return HubError(f"{where}: the Hub answered {status}: {server_message(error)}",
                            "this will fail the same way again; check the repo id, revision and files")
        reason = xet_failure_reason(error)
        if reason is not None:  # not retried: no status says a retry would help (hf_xet retried what it could)
            return HubError(f"{where}: hf_xet stopped: {reason}",
                            "the Hub's Xet storage refused the upload without an HTTP status, or hf_xet failed "
                            "here; a refusal that the Hub marked as worth retrying was tried again already. Run "
                            "the same command again later: it resumes and sends only what is missing. If it "
                            "fails the same way, report the message to the Hub")
        return HubError(f"{where}: still failing after {self.settings.retry.max_attempts} tries: "
                        f"{describe(error)} {server_message(error)}".rstrip(),
                        "the Hub or the network is having trouble; run the same command again later: it resumes "
                        "and uploads only what is missing")


def server_message(error: BaseException) -> str:
    message = getattr(error, "server_message", None)
    if message:
        return str(message).splitlines()[0]
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__


def deferred_error(e: Deferred) -> DeferredError:
    when = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(e.retry_at))
    return DeferredError(f"deferred: {e}", f"run the same command again after {when}: it resumes where it stopped "
                         "(or give it a longer --budget)", retry_at=e.retry_at)
