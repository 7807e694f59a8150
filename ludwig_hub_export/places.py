"""How many files are read and sent at once, for both the client path (`transfer`) and the head start.

Reading a file (hashing it for LFS; chunking, hashing and compressing it in hf_xet) is what uses this machine, so
that is what is bounded: a file takes a place before it is read and, on LFS, keeps it until it is sent. On Xet a
file gives its place up once hf_xet has read it (`xet_upload.run_commit`): its commit then ends with its last
xorbs, the shard that registers it and the Hub's check of it, which take little here, while the next file is read.
At most `XET_OPEN_FILES` commits are open at once, so the xorbs held for them stay few.

Fewer files read at once on Xet than on LFS: hf_xet spreads one file's compression and hashing over its own
threads, so one file keeps the cores busy; reading them one after another sends the first xorb after 64 MiB, not
after 64 MiB of each file, and lands the files one by one, so a killed push keeps all but the file in progress.
On LFS each file is hashed by one thread (hashlib), so several at once use the cores.
"""

from __future__ import annotations

import threading

PARALLEL_FILES = 4  # LFS: files hashed and sent at once; each transfer is itself parallel inside the client
XET_READ_AT_ONCE = 1  # Xet: files hf_xet reads at once
XET_OPEN_FILES = 16  # Xet: files sent at once, counting those whose commit is ending


class Stopped(BaseException):
    """The push was interrupted while this file waited for a place: it is not started. A BaseException, so that
    no retry policy takes it for a failure to try again."""


class Places:
    """The places for files being read at once. `stop()` ends the waiting: an interrupted push starts nothing more
    (the reads in progress are cancelled by whoever stops, and their places come back)."""

    def __init__(self, count: int) -> None:
        self._free = threading.Semaphore(count)
        self.stopped = False

    def place(self) -> "Place":
        return Place(self)

    def stop(self) -> None:
        self.stopped = True


class Place:
    """One file's place: `take` waits for one (taking it again is a no-op), `release` gives it back (once)."""

    def __init__(self, places: Places) -> None:
        self._places, self._held, self._lock = places, False, threading.Lock()

    def take(self) -> None:
        if not self._held:
            self._places._free.acquire()
            with self._lock:
                self._held = True
        if self._places.stopped:  # checked even when held: a retry after the interrupt starts nothing either
            self.release()
            raise Stopped

    def release(self) -> None:
        with self._lock:
            held, self._held = self._held, False
        if held:
            self._places._free.release()
