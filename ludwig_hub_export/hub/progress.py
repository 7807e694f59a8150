"""What a push says while it runs: log lines on stderr (results go to stdout), and the client's own progress bars,
off when quiet.

The bars are huggingface_hub's, as `hf upload` shows them (hf_xet's and the LFS transfers'), on stderr;
``HF_HUB_DISABLE_PROGRESS_BARS=1`` turns them off, as in the `hf` CLI.
"""

from __future__ import annotations

import contextlib
import sys


class Console:
    """Progress and log lines go to stderr (results go to stdout); `quiet` silences them."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self._said: set[str] = set()

    def say(self, message: str) -> None:
        if not self.quiet:
            print(message, file=sys.stderr, flush=True)

    def once(self, message: str) -> None:
        """`say`, unless this export said it already (a sweep's trials share who the token is)."""
        if message not in self._said:
            self._said.add(message)
            self.say(message)


@contextlib.contextmanager
def client_bars(quiet: bool):
    """The client's progress bars off for the block when `quiet`; restored afterwards."""
    from huggingface_hub.utils import are_progress_bars_disabled, disable_progress_bars, enable_progress_bars

    if not quiet or are_progress_bars_disabled():
        yield
        return
    disable_progress_bars()
    try:
        yield
    finally:
        enable_progress_bars()
