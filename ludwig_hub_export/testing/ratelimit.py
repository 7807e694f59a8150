"""Fixed-window quotas per token and kind of call, answered like the Hub (IETF RateLimit headers)."""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass

# Which quota a request kind draws from. Every /api call counts as "api"; creations and commits also
# have their own, stricter buckets on the real Hub.
QUOTA_OF_KIND = {"create_repo": "repo_create", "commit": "commits"}


@dataclass
class Quota:
    limit: int
    window: float  # seconds


class RateLimiter:
    def __init__(self, clock=time.monotonic) -> None:
        self.quotas: dict[str, Quota] = {}
        self._counts: dict[tuple[str, str, int], int] = {}
        self._lock = threading.Lock()
        self._clock = clock

    def set(self, bucket: str, limit: int, window: float) -> None:
        """Limit `bucket` ("api", "repo_create" or "commits") to `limit` calls per `window` seconds per token."""
        with self._lock:
            self.quotas[bucket] = Quota(limit, window)

    def clear(self) -> None:
        with self._lock:
            self.quotas.clear()
            self._counts.clear()

    def check(self, who: str, kind: str, is_api: bool) -> dict[str, str] | None:
        """Count one call; returns the 429 headers when a quota is exhausted, else None."""
        buckets = [b for b in (("api" if is_api else None), QUOTA_OF_KIND.get(kind)) if b in self.quotas]
        now = self._clock()
        with self._lock:
            for bucket in buckets:
                quota = self.quotas[bucket]
                window_index = int(now // quota.window)
                key = (who, bucket, window_index)
                used = self._counts.get(key, 0)
                if used >= quota.limit:
                    reset = max(1, math.ceil((window_index + 1) * quota.window - now))
                    return {
                        "RateLimit": f'"{bucket}";r=0;t={reset}',
                        "RateLimit-Policy": f'"fixed window";"{bucket}";q={quota.limit};w={int(quota.window)}',
                        "Retry-After": str(reset),
                    }
            for bucket in buckets:
                quota = self.quotas[bucket]
                key = (who, bucket, int(now // quota.window))
                self._counts[key] = self._counts.get(key, 0) + 1
        return None
