"""Fixed-window quotas per token and kind of call, answered like the Hub (IETF RateLimit headers).

Like the real Hub, every /api answer carries the caller's "api" quota state (``RateLimit: "api";r=..;t=..`` and
``RateLimit-Policy``), errors and injected faults included, and there always is an "api" quota: by default the
free account's 1,000 calls per 5 minutes (the Hub's rate-limits page, 2026).
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass

# Which quota a request kind draws from. Every /api call counts as "api"; creations and commits also
# have their own, stricter buckets on the real Hub.
QUOTA_OF_KIND = {"create_repo": "repo_create", "commit": "commits"}
DEFAULT_API_QUOTA = (1000, 300.0)  # free account: calls per fixed 5-minute window


@dataclass
class Quota:
    limit: int
    window: float  # seconds


class RateLimiter:
    def __init__(self, clock=time.monotonic, api_quota: tuple[int, float] | None = DEFAULT_API_QUOTA) -> None:
        self.default_quotas = {"api": Quota(*api_quota)} if api_quota else {}
        self.quotas: dict[str, Quota] = dict(self.default_quotas)
        self._counts: dict[tuple[str, str, int], int] = {}
        self._lock = threading.Lock()
        self._clock = clock

    def set(self, bucket: str, limit: int, window: float) -> None:
        """Limit `bucket` ("api", "repo_create" or "commits") to `limit` calls per `window` seconds per token."""
        with self._lock:
            self.quotas[bucket] = Quota(limit, window)

    def clear(self) -> None:
        """Back to the default quotas, nothing counted."""
        with self._lock:
            self.quotas = dict(self.default_quotas)
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
                    return {**self._headers(bucket, quota, 0, now), "Retry-After": str(_reset(quota, now))}
            for bucket in buckets:
                quota = self.quotas[bucket]
                key = (who, bucket, int(now // quota.window))
                self._counts[key] = self._counts.get(key, 0) + 1
        return None

    def state(self, who: str, is_api: bool) -> dict[str, str]:
        """The caller's "api" quota as headers (nothing is counted); empty for non-API paths or no quota."""
        quota = self.quotas.get("api")
        if not is_api or quota is None:
            return {}
        now = self._clock()
        with self._lock:
            used = self._counts.get((who, "api", int(now // quota.window)), 0)
        return self._headers("api", quota, max(0, quota.limit - used), now)

    @staticmethod
    def _headers(bucket: str, quota: Quota, remaining: int, now: float) -> dict[str, str]:
        return {"RateLimit": f'"{bucket}";r={remaining};t={_reset(quota, now)}',
                "RateLimit-Policy": f'"fixed window";"{bucket}";q={quota.limit};w={int(quota.window)}'}


def _reset(quota: Quota, now: float) -> int:
    """Whole seconds until the current fixed window ends (at least 1)."""
    return max(1, math.ceil((int(now // quota.window) + 1) * quota.window - now))
