"""Trusted publishing on the local Hub: a CI provider's OIDC issuer and the token exchange the client calls.

When ``HF_OIDC_RESOURCE`` is set, huggingface_hub (``_oidc.exchange_oidc_token``) POSTs JSON to
``{HF_ENDPOINT}/oauth/token`` (RFC 8693): ``grant_type`` token-exchange, ``subject_token_type`` id_token, the CI's
id token (a JWT) as ``subject_token`` and the repo id as ``resource``; it expects ``{"access_token",
"token_type", "expires_in"}`` back. The local Hub checks what the Hub checks: the JWT's signature by a known
issuer, its audience (the Hub URL), its lifetime, and that a trusted publisher is configured for the resource
whose subject matches; then it mints a short-lived write token limited to that repo.

The issuer signs with HS256 (a shared key) instead of a CI provider's RS256 + JWKS: the same checks, no crypto
dependency. Tests play the CI provider with `OidcIssuer.id_token`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import threading
import time
from dataclasses import dataclass, field

TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
ID_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:id_token"
ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"
GITHUB_ISSUER = "https://token.actions.githubusercontent.com"


class OidcRefused(Exception):
    """The exchange is refused; the message says why (never with a token in it)."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class OidcIssuer:
    """A CI provider's id-token issuer (GitHub Actions' by default)."""

    name: str = GITHUB_ISSUER
    key: bytes = field(default_factory=lambda: secrets.token_bytes(32), repr=False)

    def id_token(self, *, audience: str, subject: str, ttl: float = 300, **claims) -> str:
        now = int(time.time())
        payload = {"iss": self.name, "aud": audience, "sub": subject, "iat": now, "nbf": now,
                   "exp": now + int(ttl), **claims}
        head = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
        body = _b64(json.dumps(payload).encode())
        return f"{head}.{body}.{_b64(self._sign(f'{head}.{body}'))}"

    def _sign(self, text: str) -> bytes:
        return hmac.new(self.key, text.encode(), hashlib.sha256).digest()

    def verify(self, token: str) -> dict:
        try:
            head, body, signature = token.split(".")
            header = json.loads(_unb64(head))
            claims = json.loads(_unb64(body))
        except ValueError:
            raise OidcRefused("subject_token is not a JWT") from None
        if header.get("alg") != "HS256" or not hmac.compare_digest(_unb64(signature),
                                                                   self._sign(f"{head}.{body}")):
            raise OidcRefused(f"subject_token signature does not verify for issuer {self.name}")
        return claims


@dataclass
class TrustedPublisher:
    """Who may publish to `repo_id` without a stored secret: id tokens of `issuer` whose `sub` is `subject`."""

    repo_id: str
    user: str  # the account the minted token acts as
    subject: str  # e.g. "repo:acme/train:ref:refs/heads/main"
    issuer: str = GITHUB_ISSUER


class TrustedPublishing:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.issuers: dict[str, OidcIssuer] = {}
        self.publishers: dict[str, TrustedPublisher] = {}
        self.token_ttl = 3600

    def clear(self) -> None:
        with self._lock:
            self.issuers.clear()
            self.publishers.clear()
            self.token_ttl = 3600

    def add_issuer(self, issuer: OidcIssuer) -> OidcIssuer:
        with self._lock:
            self.issuers[issuer.name] = issuer
        return issuer

    def add_publisher(self, publisher: TrustedPublisher) -> None:
        with self._lock:
            self.publishers[publisher.repo_id] = publisher

    def check(self, payload: dict, audience: str) -> TrustedPublisher:
        """The publisher the request proves to be, or `OidcRefused` saying which check failed."""
        if payload.get("grant_type") != TOKEN_EXCHANGE:
            raise OidcRefused(f"grant_type must be {TOKEN_EXCHANGE}")
        if payload.get("subject_token_type") != ID_TOKEN_TYPE:
            raise OidcRefused(f"subject_token_type must be {ID_TOKEN_TYPE}")
        token, resource = payload.get("subject_token"), payload.get("resource")
        if not isinstance(token, str) or not isinstance(resource, str) or not resource:
            raise OidcRefused("subject_token and resource are required")
        try:
            unverified = json.loads(_unb64(token.split(".")[1]))
        except (ValueError, IndexError):
            raise OidcRefused("subject_token is not a JWT") from None
        issuer = self.issuers.get(str(unverified.get("iss")))
        if issuer is None:
            raise OidcRefused(f"issuer {unverified.get('iss')!r} is not trusted")
        claims = issuer.verify(token)
        now = time.time()
        if claims.get("aud") != audience:
            raise OidcRefused(f"audience {claims.get('aud')!r} is not this Hub ({audience})")
        if not isinstance(claims.get("exp"), (int, float)) or claims["exp"] <= now:
            raise OidcRefused("subject_token has expired")
        if isinstance(claims.get("nbf"), (int, float)) and claims["nbf"] > now + 60:
            raise OidcRefused("subject_token is not valid yet")
        publisher = self.publishers.get(resource)
        if publisher is None or publisher.issuer != issuer.name:
            raise OidcRefused(f"no trusted publisher is configured for {resource}")
        if claims.get("sub") != publisher.subject:
            raise OidcRefused(f"subject {claims.get('sub')!r} is not the trusted publisher of {resource}")
        return publisher
