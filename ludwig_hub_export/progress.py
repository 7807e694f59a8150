"""One overall progress bar for an upload: bytes across all files, with rate and ETA, like the `hf` CLI's.

    progress.start(total_bytes)   # before the first byte is sent
    progress.advance(nbytes)      # whenever bytes have landed (thread-safe)
    progress.close()              # at the end, on success or failure

It is a `huggingface_hub.utils.tqdm` in its own group (`GROUP`), written to stderr, and shown only on a terminal
(tqdm's ``disable=None``), never with ``--format quiet|json`` (`enabled=False`), and never when
``HF_HUB_DISABLE_PROGRESS_BARS=1``. While it runs, the client's own per-file bars are off (`client_bars_off`):
one bar, not one per file.
"""

from __future__ import annotations

import contextlib
import sys
import threading

GROUP = "ludwig_hub_export"
_lock = threading.Lock()
_bar = None


class Console:
    """Progress and log lines go to stderr (results go to stdout); `quiet` silences them."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self._said: set[str] = set()

    def say(self, message: str) -> None:
        if not self.quiet:
            say(message)

    def once(self, message: str) -> None:
        """`say`, unless this export said it already (who it is, the repo made: the client path may take over
        after the head start's commit said them)."""
        if message not in self._said:
            self._said.add(message)
            self.say(message)


def start(total_bytes: int, enabled: bool = True, description: str = "Uploading") -> None:
    global _bar
    close()
    if not enabled or not _is_terminal(sys.stderr):
        return  # what tqdm's disable=None decides, without loading it (and the client's utils) for nothing
    from huggingface_hub.utils import tqdm

    with _lock:
        # disable=None: tqdm shows the bar only when stderr is a terminal.
        _bar = tqdm(total=total_bytes, unit="B", unit_scale=True, unit_divisor=1000, desc=description,
                    file=sys.stderr, disable=None, dynamic_ncols=True, name=f"{GROUP}.upload")


def _is_terminal(stream) -> bool:
    if not hasattr(stream, "isatty"):
        return True  # as tqdm reads it
    try:
        return stream.isatty()
    except ValueError:  # closed
        return False


def extend(nbytes: int) -> None:
    """More bytes to send than announced at `start` (the manifest, built once every file is hashed)."""
    with _lock:
        if _bar is not None and nbytes:
            _bar.total += nbytes
            _bar.refresh()


def advance(nbytes: int) -> None:
    with _lock:
        if _bar is not None and nbytes:
            _bar.update(nbytes)


def close() -> None:
    global _bar
    with _lock:
        if _bar is not None:
            _bar.close()
            _bar = None


def say(message: str) -> None:
    """A log line on stderr that does not tear the bar apart."""
    with _lock:
        bar = _bar if _bar is not None and not _bar.disable else None
    if bar is not None:
        bar.write(message, file=sys.stderr)
    else:
        print(message, file=sys.stderr, flush=True)


def shown() -> bool:
    """Whether a bar is on screen now (for tests and for callers that print around it)."""
    with _lock:
        return _bar is not None and not _bar.disable


@contextlib.contextmanager
def client_bars_off(ours: bool):
    """The client's per-file bars off for the block; ours (`GROUP`) on when `ours`. Restored afterwards.
    ``HF_HUB_DISABLE_PROGRESS_BARS`` has the last word, as in the `hf` CLI."""
    from huggingface_hub import constants
    from huggingface_hub.utils import are_progress_bars_disabled, disable_progress_bars, enable_progress_bars

    if constants.HF_HUB_DISABLE_PROGRESS_BARS is not None:  # the environment decides
        yield
        return
    were_off = are_progress_bars_disabled()
    disable_progress_bars()
    if ours:
        enable_progress_bars(GROUP)
    try:
        yield
    finally:
        close()
        if were_off:
            disable_progress_bars()
        else:
            enable_progress_bars()
