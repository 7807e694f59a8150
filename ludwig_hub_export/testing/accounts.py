"""Users, organisations and tokens of the local Hub, with the Hub's access rules."""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass, field

INVALID_CREDENTIALS = "Invalid credentials in Authorization header"


@dataclass
class Token:
    value: str = field(repr=False)  # never shown in reprs, logs or errors
    user: str
    role: str = "write"  # "write" or "read"
    name: str = "local"
    revoked: bool = False
    expires_at: float | None = None  # short-lived tokens (trusted publishing)
    scope: str | None = None  # a repo id: the only repo this token may write to


@dataclass
class User:
    name: str
    orgs: dict[str, str] = field(default_factory=dict)  # org -> roleInOrg ("admin", "write", "contributor", "read")


class Accounts:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.users: dict[str, User] = {}
        self.tokens: dict[str, Token] = {}

    def add_user(self, name: str, orgs: dict[str, str] | list[str] | None = None) -> User:
        if isinstance(orgs, list):
            orgs = {org: "admin" for org in orgs}
        with self._lock:
            user = self.users.setdefault(name, User(name))
            user.orgs.update(orgs or {})
            return user

    def add_token(self, user: str, role: str = "write", value: str | None = None, name: str = "local",
                  expires_at: float | None = None, scope: str | None = None) -> str:
        if role not in ("write", "read"):
            raise ValueError(f"token role must be 'write' or 'read', not {role!r}")
        self.add_user(user)
        value = value or "hf_local_" + secrets.token_urlsafe(24)
        with self._lock:
            self.tokens[value] = Token(value, user, role, name, expires_at=expires_at, scope=scope)
        return value

    def revoke(self, value: str) -> None:
        with self._lock:
            self.tokens[value].revoked = True

    def lookup(self, authorization: str | None) -> Token | None | str:
        """The token behind an Authorization header; None for anonymous; INVALID_CREDENTIALS for a bad one."""
        if not authorization:
            return None
        scheme, _, value = authorization.partition(" ")
        token = self.tokens.get(value.strip()) if scheme.lower() == "bearer" else None
        if token is None or token.revoked or (token.expires_at is not None and time.time() >= token.expires_at):
            return INVALID_CREDENTIALS
        return token

    def namespaces(self, token: Token, for_write: bool) -> set[str]:
        user = self.users[token.user]
        orgs = {o for o, role in user.orgs.items() if not for_write or role in ("admin", "write")}
        return {user.name} | orgs

    def can_read(self, token: Token | None, namespace: str, private: bool) -> bool:
        if not private:
            return True
        return token is not None and namespace in self.namespaces(token, for_write=False)

    def can_write(self, token: Token | None, namespace: str) -> bool:
        return token is not None and token.role == "write" and namespace in self.namespaces(token, for_write=True)

    def whoami(self, token: Token) -> dict:
        user = self.users[token.user]
        return {
            "type": "user",
            "id": user.name,
            "name": user.name,
            "fullname": user.name,
            "email": None,
            "emailVerified": False,
            "isPro": False,
            "orgs": [{"type": "org", "name": o, "fullname": o, "roleInOrg": r} for o, r in user.orgs.items()],
            "auth": {"type": "access_token", "accessToken": {"displayName": token.name, "role": token.role}},
        }
