"""Drive a local Hub that runs in another process (``ludwig-hub-export hub serve``) through its admin API."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

from .http_handler import ADMIN_HEADER


class HubControl:
    def __init__(self, url: str, admin_key: str) -> None:
        self.url = url.rstrip("/")
        self.admin_key = admin_key

    @classmethod
    def from_data_dir(cls, url: str, data_dir: str | Path) -> "HubControl":
        return cls(url, (Path(data_dir) / "admin-key").read_text().strip())

    def _call(self, method: str, action: str, payload=None):
        data = json.dumps(payload).encode() if payload is not None else None
        request = urllib.request.Request(f"{self.url}/_local/{action}", data=data, method=method,
                                         headers={ADMIN_HEADER: self.admin_key, "Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read() or b"null")

    def stats(self) -> dict:
        return self._call("GET", "stats")

    def add_faults(self, *faults: dict) -> list[dict]:
        return self._call("POST", "faults", list(faults))

    def clear_faults(self) -> None:
        self._call("DELETE", "faults")

    def set_rate_limit(self, bucket: str, limit: int, window: float) -> None:
        self._call("POST", "ratelimit", {"bucket": bucket, "limit": limit, "window": window})

    def add_user(self, name: str, orgs=None, role: str = "write") -> str:
        return self._call("POST", "users", {"name": name, "orgs": orgs, "role": role})["token"]

    def revoke(self, token: str) -> None:
        self._call("POST", "revoke", {"token": token})

    def trust_publisher(self, repo_id: str, subject: str, user: str | None = None):
        """Trusted publishing for `repo_id`; returns the `OidcIssuer` that mints id tokens the hub accepts."""
        from .oidc import OidcIssuer

        answer = self._call("POST", "trusted-publishers", {"repo_id": repo_id, "subject": subject, "user": user})
        return OidcIssuer(answer["issuer"], bytes.fromhex(answer["key"]))

    def reset(self) -> None:
        self._call("POST", "reset")
