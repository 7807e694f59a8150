"""The Hub's storage limits, in one table, with where each number comes from. Override any of them per run. (The
rate quotas a sweep plans against are in `rate_plan`.)"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

GB = 1000**3

# Source: Hugging Face Hub documentation, "Storage limits" (hub-docs, repositories-recommendations), as read in
# 2026. The numbers have changed before (2025: 20 GB recommended / 50 GB hard per file): override them when
# the page changes, e.g. `--limit max_file_size=50GB`.
SOURCE = "https://huggingface.co/docs/hub/storage-limits (2026)"


@dataclass(frozen=True)
class HubLimits:
    """The Hub's storage limits a push checks against, before any request (see SOURCE)."""

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
