"""A sweep's rate plan, made before anything is sent: the repo creations, commits, API calls and bytes it needs,
the account's quotas it plans against (`RateQuotas`, here as only a sweep needs them), and the time they impose."""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields, replace

from ..limits import human_size

# Source: the Hub's "Rate limits" page (2026) for API calls (fixed 5-minute window; free 1,000, PRO 2,500,
# Team 3,000, Enterprise 6,000). Commits and repo creations have separate, undocumented limits; the numbers
# below are what users were told in 429 answers (huggingface_hub and hub-docs issue threads): "128 commits per
# hour", creations "as low as 20 a day" with a ~21-hour Retry-After. Override them, e.g. `--quota commits=256/3600`.
RATE_SOURCE = ("https://huggingface.co/docs/hub/rate-limits (2026, API calls); commits and repo creations: "
               "limits reported in Hub 429 answers (huggingface_hub issues)")


@dataclass(frozen=True)
class Quota:
    """So many requests per fixed window of seconds."""

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


# Hub API calls of one trial's push, counted against the local Hub (benchmarks/sweep.py): whoami, repo info,
# validate-yaml, commit, 3 paths-info (remote state, verify) and 3 preupload (the client's); Xet adds its token.
# A branch adds its lookup and creation; a sweep of branches one look at the repo's first commit; a Collection
# its creation, one read and one call per item.
API_CALLS_PER_TRIAL = 10
API_CALLS_XET = 1
API_CALLS_PER_BRANCH = 2


@dataclass
class RatePlan:
    """What publishing a sweep takes from the account's quotas, and how long they make it last."""

    trials: int
    repo_creations: int
    commits: int
    api_calls: int
    bytes: int
    quotas: RateQuotas
    commit_interval: float  # seconds between trials, so the commits fit their quota
    duration: float  # seconds the quotas impose (upload time comes on top)
    notes: list[str] = field(default_factory=list)

    def format(self) -> str:
        q = self.quotas
        lines = [f"Rate plan: {self.trials} trial(s) to publish",
                 f"  repo creations {self.repo_creations:>5}   quota {q.repo_create}",
                 f"  commits        {self.commits:>5}   quota {q.commits}",
                 f"  API calls     ~{self.api_calls:>5}   quota {q.api}",
                 f"  bytes          {human_size(self.bytes):>9}",
                 f"  expected duration: {_duration(self.duration)} imposed by the quotas, plus upload time",
                 f"  quotas from: {RATE_SOURCE} (override with --quota NAME=LIMIT/SECONDS)"]
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)


def rate_plan(targets: list, quotas: RateQuotas, files_per_commit: int, repo_exists: bool | None = None,
              as_repos: bool = False, xet: bool = True) -> RatePlan:
    """Requests, commits and bytes the targets need, and the time the quotas impose on them."""
    from ..source.layout import find_layout

    n = len(targets)
    creations = n if as_repos else (0 if repo_exists or n == 0 else 1)
    commits = sum(max(1, math.ceil((len(find_layout(t.trial.run_dir).files) + 3) / files_per_commit))
                  for t in targets)  # + ludwig_config, README, manifest
    branches = sum(t.revision != "main" for t in targets)
    api = n * (API_CALLS_PER_TRIAL + (API_CALLS_XET if xet else 0)) + branches * API_CALLS_PER_BRANCH + creations
    api += (2 + n if as_repos else (1 if branches else 0)) if n else 0
    size = sum(t.trial.size for t in targets)
    plan = RatePlan(n, creations, commits, api, size, quotas, 0.0, 0.0)
    waits = []
    for name, need, quota in (("repo creations", creations, quotas.repo_create), ("commits", commits, quotas.commits),
                              ("API calls", api, quotas.api)):
        windows = math.ceil(need / quota.limit) - 1 if need else 0
        waits.append(windows * quota.window)
        if windows:
            plan.notes.append(f"{need} {name} exceed the quota of {quota}: the sweep spreads them over "
                              f"{windows + 1} windows" + (" and defers (exit 5) when the wait exceeds --budget"
                                                          if name == "repo creations" else ""))
    if commits > quotas.commits.limit:
        plan.commit_interval = quotas.commits.window / quotas.commits.limit
    plan.duration = max(waits + [plan.commit_interval * max(0, n - 1)])
    return plan


def _duration(seconds: float) -> str:
    seconds = int(seconds + 0.5)
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    return f"{seconds // 3600} h {seconds % 3600 // 60} min"
