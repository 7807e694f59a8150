"""A network shape for the local Hub: the distance to the real Hub, emulated on loopback.

    LocalHub(rtt=80, bandwidth=100)  # or: ludwig-hub-export hub serve --rtt 80 --bandwidth 100

- every request pays one round trip: half before the server reads it, half before its answer starts;
- a new connection pays two more (the TCP and TLS handshakes) before its first request is read;
- bytes share the bandwidth, one token bucket per direction for all connections together: request bodies
  (uploads) and answers (downloads) are read and written no faster than the link carries them.

Everything the client talks to is on this one server (the Hub API, LFS, the Xet CAS under ``/cas`` and its
signed xorb URLs), so everything is shaped. The admin endpoints (``/_local/``) pay no round trips.
Not emulated: loss, jitter, TCP slow start, TLS itself, HTTP/2 multiplexing.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

SLICE = 64 * 1024  # the pacing step: concurrent connections interleave at this granularity


class TokenBucket:
    """`rate` bytes per second with a burst of `burst` bytes, shared by every caller (FIFO by reservation)."""

    def __init__(self, rate: float, burst: int = SLICE) -> None:
        self.rate = rate
        self.burst = burst
        self._full_at = 0.0  # when the bucket is full again, given what was reserved so far
        self._lock = threading.Lock()

    def take(self, n: int) -> None:
        if n <= 0:
            return
        with self._lock:
            now = time.monotonic()
            self._full_at = max(self._full_at, now) + n / self.rate
            wait = self._full_at - self.burst / self.rate - now
        if wait > 0:
            time.sleep(wait)


@dataclass(frozen=True)
class NetworkShape:
    rtt: float = 0.0  # milliseconds of one round trip
    bandwidth: float = 0.0  # Mbit/s each way; 0: unlimited

    def __post_init__(self) -> None:
        if self.rtt < 0 or self.bandwidth < 0:
            raise ValueError(f"rtt and bandwidth must be >= 0, not rtt={self.rtt} ms, "
                             f"bandwidth={self.bandwidth} Mbit/s")

    @property
    def active(self) -> bool:
        return self.rtt > 0 or self.bandwidth > 0

    @property
    def rtt_seconds(self) -> float:
        return self.rtt / 1000

    def __str__(self) -> str:
        if not self.active:
            return "loopback"
        link = f"{self.bandwidth:g} Mbit/s" if self.bandwidth else "unlimited bandwidth"
        return f"{self.rtt:g} ms round trips, {link}"


class Link:
    """One shape's state in a running hub: the two buckets, shared by every connection."""

    def __init__(self, shape: NetworkShape) -> None:
        self.shape = shape
        rate = shape.bandwidth * 1e6 / 8
        self.up = TokenBucket(rate) if rate else None
        self.down = TokenBucket(rate) if rate else None

    def wrap(self, rfile, wfile):
        """The connection's files, paced by the buckets (unchanged without a bandwidth)."""
        if self.up is None:
            return rfile, wfile
        return _PacedReader(rfile, self.up), _PacedWriter(wfile, self.down)

    def request_arrives(self, new_connection: bool) -> None:
        """Before a request is read: half a round trip, plus the handshakes on a new connection."""
        rtt = self.shape.rtt_seconds
        if rtt:
            time.sleep(rtt / 2 + (2 * rtt if new_connection else 0))

    def answer_departs(self) -> None:
        """Before an answer starts: the other half of the round trip."""
        if self.shape.rtt:
            time.sleep(self.shape.rtt_seconds / 2)


class _PacedReader:
    def __init__(self, raw, bucket: TokenBucket) -> None:
        self._raw, self._bucket = raw, bucket

    def read(self, n: int = -1) -> bytes:
        if n is None or n < 0:
            data = self._raw.read()
            self._bucket.take(len(data))
            return data
        parts = []
        while n > 0:
            data = self._raw.read(min(SLICE, n))
            if not data:
                break
            self._bucket.take(len(data))
            parts.append(data)
            n -= len(data)
        return b"".join(parts)

    def readline(self, limit: int = -1) -> bytes:
        data = self._raw.readline(limit)
        self._bucket.take(len(data))
        return data

    def __getattr__(self, name):
        return getattr(self._raw, name)


class _PacedWriter:
    def __init__(self, raw, bucket: TokenBucket) -> None:
        self._raw, self._bucket = raw, bucket

    def write(self, data) -> int:
        view = memoryview(data)
        for start in range(0, len(view), SLICE):
            piece = view[start:start + SLICE]
            self._bucket.take(len(piece))
            self._raw.write(piece)
        return len(view)

    def __getattr__(self, name):
        return getattr(self._raw, name)
