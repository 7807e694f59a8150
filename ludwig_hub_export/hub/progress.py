"""What a push says while it runs: log lines on stderr (results go to stdout). The progress bars are the
client's own, as `hf upload` shows them (off when quiet: `session.client_settings`)."""

from __future__ import annotations

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

