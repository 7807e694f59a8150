"""Scripted failures for the local Hub: the ways the real Hub and its gateways fail an upload.

A fault matches a kind of call (``commit``, ``preupload``, ``lfs_upload``, ... or ``*``) and fires a number of
times (or with a probability). The Xet kinds: ``xet_token`` (the Hub's xet-read/write-token endpoints), and on
the CAS ``xorb_grant`` (asking to upload a xorb), ``xorb`` (a xorb's bytes: the PUT to a grant's URL, or the
direct upload), ``xorb_commit`` (committing a grant's upload), ``shard`` (upload), ``dedup`` (global dedup
query), ``reconstruction`` and ``xorb_get`` (the ranged read of xorb bytes). What it does:

- ``action="respond"``: answer ``status`` with ``headers`` (e.g. 429 + Retry-After, 503).
- ``action="drop"``: close the connection without an answer.
- ``action="reset"``: read about half of the request body, then reset the connection (RST).
- ``action="error_frame"`` (``shard`` only): answer 200 and end the ``/v2/shards`` progress stream with an error
  frame (``retryable`` says whether the client should try again; ``body={"message": ...}`` its text): how the real
  CAS refuses a shard once its stream has begun. ``when="after"``: the shard was registered all the same.
- ``delay``: wait this many seconds first (to trip client timeouts); alone it only slows the answer.
- ``when="after"``: carry out the operation first, then fail the answer: the "lost response" case, e.g. a
  commit that landed although the client saw a 504 or a dropped connection.
"""

from __future__ import annotations

import json
import random
import threading
from dataclasses import asdict, dataclass, field
from pathlib import Path

ACTIONS = ("respond", "drop", "reset", "error_frame")


@dataclass
class Fault:
    kind: str
    status: int | None = None
    times: int | None = 1  # None: every matching call
    headers: dict[str, str] = field(default_factory=dict)
    body: dict | None = None
    delay: float = 0.0
    when: str = "before"  # or "after"
    action: str = "respond"
    probability: float = 1.0
    path_contains: str | None = None
    retryable: bool = False  # error_frame: whether the frame asks the client to try again
    fired: int = 0

    def __post_init__(self) -> None:
        if self.action not in ACTIONS:
            raise ValueError(f"fault action must be one of {ACTIONS}, not {self.action!r}")
        if self.when not in ("before", "after"):
            raise ValueError(f"fault 'when' must be 'before' or 'after', not {self.when!r}")
        if self.action == "respond" and self.status is None and not self.delay:
            raise ValueError("a 'respond' fault needs a status (or a delay)")
        if self.action == "error_frame" and self.kind != "shard":
            raise ValueError("an 'error_frame' fault ends a /v2/shards stream: its kind must be 'shard'")
        if self.action == "reset" and self.when == "after":
            raise ValueError("a 'reset' fault cuts the request body, so it can only happen before the operation")

    def matches(self, kind: str, path: str) -> bool:
        return (
            (self.kind == "*" or self.kind == kind)
            and (self.path_contains is None or self.path_contains in path)
            and (self.times is None or self.fired < self.times)
        )


class FaultInjector:
    def __init__(self, seed: int | None = None) -> None:
        self._faults: list[Fault] = []
        self._lock = threading.Lock()
        self._random = random.Random(seed)

    def add(self, kind: str, status: int | None = None, **options) -> Fault:
        fault = Fault(kind=kind, status=status, **options)
        with self._lock:
            self._faults.append(fault)
        return fault

    def load(self, path: str | Path) -> list[Fault]:
        """Add the faults of a JSON file: a list of objects with the fields of `Fault`."""
        specs = json.loads(Path(path).read_text())
        if not isinstance(specs, list):
            raise ValueError(f"{path}: expected a JSON list of fault objects")
        return [self.add(**spec) for spec in specs]

    def reseed(self, seed: int | None) -> None:
        """Make probabilistic faults repeatable (a soak with the same seed meets the same failures)."""
        with self._lock:
            self._random.seed(seed)

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def take(self, kind: str, path: str) -> Fault | None:
        """The first armed fault for this call, counted as fired."""
        with self._lock:
            for fault in self._faults:
                if fault.matches(kind, path):
                    if fault.probability < 1.0 and self._random.random() >= fault.probability:
                        continue
                    fault.fired += 1
                    return fault
        return None

    def describe(self) -> list[dict]:
        with self._lock:
            return [asdict(f) for f in self._faults]
