"""What the local Hub records: one `RequestRecord` per request (`LocalHub.log`) and the counters (`Stats`)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field


@dataclass
class RequestRecord:
    kind: str
    method: str
    path: str
    status: int | None  # None: the connection was dropped or reset without an answer
    user: str | None
    bytes_in: int
    bytes_out: int
    seconds: float
    fault: str | None = None
    agent: str = ""  # the User-Agent header: which library made the request
    logged: bool = field(default=False, repr=False, compare=False)  # in `LocalHub.log` already


@dataclass
class Stats:
    requests: Counter = field(default_factory=Counter)  # by kind
    statuses: Counter = field(default_factory=Counter)  # by (kind, status)
    bytes_received: int = 0
    bytes_sent: int = 0
    faults_fired: int = 0
    connections: int = 0  # new connections that made a request (each paid the handshakes when shaped)

    def to_dict(self) -> dict:
        return {
            "requests": dict(self.requests),
            "statuses": {f"{k} {s}": n for (k, s), n in self.statuses.items()},
            "bytes_received": self.bytes_received,
            "bytes_sent": self.bytes_sent,
            "faults_fired": self.faults_fired,
            "connections": self.connections,
        }
