"""The Hub's limits, in one table, with where each number comes from. Override any of them per run."""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

GB = 1000**3

# Source: Hugging Face Hub documentation, "Storage limits" (hub-docs, repositories-recommendations), as read in
# 2026. The numbers have changed before (2025: 20 GB recommended / 50 GB hard per file): override them when
# the page changes, e.g. `--limit max_file_size=50GB`.
SOURCE = "https://huggingface.co/docs/hub/storage-limits (2026)"


@dataclass(frozen=True)
class HubLimits:
    recommended_file_size: int = 200 * GB  # larger files upload and download badly
    max_file_size: int = 500 * GB  # refused by the Hub
    max_entries_per_folder: int = 10_000
    max_files_per_repo: int = 100_000
    files_per_commit: int = 100  # advised; larger commits time out
    recommended_repo_size: int = 300 * GB  # above this, ask the Hub team

    def with_overrides(self, overrides: dict[str, str | int]) -> "HubLimits":
        known = {f.name for f in fields(self)}
        parsed = {}
        for key, value in overrides.items():
            if key not in known:
                raise ValueError(f"unknown limit {key!r}; known: {', '.join(sorted(known))}")
            parsed[key] = parse_size(value) if isinstance(value, str) else int(value)
        return replace(self, **parsed)


def parse_size(text: str) -> int:
    """'50GB', '1.5 GiB', '1000' -> bytes."""
    units = {"": 1, "B": 1, "KB": 1000, "MB": 1000**2, "GB": 1000**3, "TB": 1000**4,
             "KIB": 1024, "MIB": 1024**2, "GIB": 1024**3, "TIB": 1024**4}
    s = text.strip().upper().replace(" ", "")
    number = s.rstrip("KMGTIB")
    unit = s[len(number):]
    if unit not in units or not number:
        raise ValueError(f"not a size: {text!r} (use e.g. 50GB, 2GiB or a number of bytes)")
    return int(float(number) * units[unit])


def human_size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n} B"


# Source: the Hub's "Rate limits" page (2026) for API calls (fixed 5-minute window; free 1,000, PRO 2,500,
# Team 3,000, Enterprise 6,000). Commits and repo creations have separate, undocumented limits; the numbers
# below are what users were told in 429 answers (huggingface_hub and hub-docs issue threads): "128 commits per
# hour", creations "as low as 20 a day" with a ~21-hour Retry-After. Override them, e.g. `--quota commits=256/3600`.
RATE_SOURCE = ("https://huggingface.co/docs/hub/rate-limits (2026, API calls); commits and repo creations: "
               "limits reported in Hub 429 answers (huggingface_hub issues)")


@dataclass(frozen=True)
class Quota:
    limit: int
    window: float  # seconds (fixed window)

    def __str__(self) -> str:
        return f"{self.limit} per {_window_text(self.window)}"


@dataclass(frozen=True)
class RateQuotas:
    """What a sweep plans against, per account (quotas are per account: no token rotation)."""

    api: Quota = Quota(1000, 300)
    commits: Quota = Quota(128, 3600)
    repo_create: Quota = Quota(20, 86400)

    def with_overrides(self, overrides: dict[str, str]) -> "RateQuotas":
        """{"commits": "256/3600"} -> a copy with that quota."""
        known = {f.name for f in fields(self)}
        parsed = {}
        for key, value in overrides.items():
            if key not in known:
                raise ValueError(f"unknown quota {key!r}; known: {', '.join(sorted(known))}")
            limit, sep, window = str(value).partition("/")
            try:
                quota = Quota(int(limit), float(window) if sep else 3600.0)
            except ValueError:
                raise ValueError(f"quota {key}={value!r} is not LIMIT/SECONDS (e.g. 128/3600)") from None
            if quota.limit < 1 or quota.window <= 0:
                raise ValueError(f"quota {key}={value!r}: the limit and the window must be positive")
            parsed[key] = quota
        return replace(self, **parsed)


def _window_text(seconds: float) -> str:
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size and seconds % size == 0:
            n = int(seconds // size)
            return unit if n == 1 else f"{n} {unit}s"
    return f"{seconds:g} s"
