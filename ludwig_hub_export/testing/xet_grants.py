"""Xorb upload grants, as the real CAS hands them out: hf_xet asks for a grant for each xorb, sends the bytes to the
grant's URL (on the real Hub, object storage; here, the local Hub), without its Xet token, then commits the grant.

- ``POST /cas/v1/xorb-grants/default/<hash>`` with ``{"length", "checksum": {"algo": "crc64nvme", "value"}}``:
  201 and the grant ``{"id", "method", "url", "headers"}``; 200 when the xorb is stored already.
- ``PUT <url>``: the xorb's bytes, exactly ``length`` of them; the URL is signed and expires, as a presigned one.
  403 for a bad or expired signature, 400 for a wrong length, 412 when this grant's bytes are stored already.
- ``POST /cas/v1/xorb-commits/default/<hash>/grant/<id>``: the xorb is checked chunk by chunk and stored, as on
  ``/v1/xorbs``; 404 when the grant has no bytes (hf_xet then asks for a new grant).

hf_xet falls back to ``/v1/xorbs`` when the grant URL cannot be reached or keeps refusing. The CRC64/NVME checksum is
recorded, not checked (the standard library has no CRC64): the chunk structure is checked at the commit, and each
file's sha256 when its shard registers it.
"""

from __future__ import annotations

import hmac
import json
import secrets
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .wire import HubError, Response, read_range
from .xet_store import MAX_XORB_BYTES

if TYPE_CHECKING:
    from .api_call import Call
    from .xet_cas import XetCas

GRANT_SECONDS = 900  # a presigned URL's lifetime
MAX_PENDING = 4096  # grants not committed yet; the oldest are forgotten past this


@dataclass
class Grant:
    xorb: str
    length: int
    expires: float
    received: Path | None = None


class XorbGrants:
    def __init__(self, cas: "XetCas") -> None:
        self.cas = cas
        self.root = cas.store.root / "grants"
        self.root.mkdir(parents=True, exist_ok=True)
        self._grants: dict[str, Grant] = {}
        self._lock = threading.Lock()

    def _sign(self, grant_id: str, expires: int) -> str:
        return self.cas.signature(f"grant:{grant_id}:{expires}")

    def grant(self, call: "Call") -> Response:
        self.cas._authorize(call, write=True)
        xorb = self.cas.check_prefix(call)
        if self.cas.store.has_xorb(xorb):
            return Response.json(200, {})
        try:
            request = json.loads(call.body.read() or b"null")
            length = int(request["length"])
            checksum = request["checksum"]
            if length <= 0 or checksum.get("algo") != "crc64nvme" or not str(checksum.get("value", "")).isdigit():
                raise ValueError
        except (ValueError, KeyError, TypeError, AttributeError):
            raise HubError(400, "a xorb grant needs {length > 0, checksum: {algo: crc64nvme, value}}") from None
        if length > MAX_XORB_BYTES:
            raise HubError(413, f"xorb {xorb} is larger than {MAX_XORB_BYTES} bytes")
        grant_id, expires = secrets.token_urlsafe(18), int(time.time() + GRANT_SECONDS)
        with self._lock:
            while len(self._grants) >= MAX_PENDING:
                self._forget(next(iter(self._grants)))
            self._grants[grant_id] = Grant(xorb, length, expires)
        url = f"{call.endpoint}/cas/grant-uploads/{grant_id}?expires={expires}&sig={self._sign(grant_id, expires)}"
        return Response.json(201, {"id": grant_id, "method": "PUT", "url": url,
                                   "headers": {"Content-Type": "application/octet-stream"}})

    def receive(self, call: "Call") -> Response:
        """The PUT to a grant's URL: no Xet token, the signature in the URL instead."""
        grant_id = call.params["grant"]
        expires = call.query.get("expires", ["0"])[0]
        signature = call.query.get("sig", [""])[0]
        grant = self._grants.get(grant_id)
        if (grant is None or not expires.isdigit() or int(expires) < time.time()
                or not hmac.compare_digest(signature, self._sign(grant_id, int(expires)))):
            raise HubError(403, "Request has expired or the signature does not match")
        if grant.received is not None:
            return Response(412, {"Content-Type": "application/xml"}, b"<Error><Code>PreconditionFailed</Code></Error>")
        if call.body.length is not None and call.body.length != grant.length:
            raise HubError(400, f"the grant is for {grant.length} bytes, not {call.body.length}")
        fd, tmp = tempfile.mkstemp(dir=self.root)
        size = 0
        with open(fd, "wb") as f:
            for part in call.body.iter_chunks():
                size += len(part)
                f.write(part)
        if size != grant.length:
            Path(tmp).unlink(missing_ok=True)
            raise HubError(400, f"the grant is for {grant.length} bytes, {size} arrived")
        with self._lock:
            if grant_id in self._grants and grant.received is None:
                grant.received = Path(tmp)
                tmp = None
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        return Response(200, {"Content-Length": "0"})

    def commit(self, call: "Call") -> Response:
        self.cas._authorize(call, write=True)
        xorb = self.cas.check_prefix(call)
        with self._lock:
            grant = self._grants.get(call.params["grant"])
            if grant is None or grant.xorb != xorb or grant.received is None:
                raise HubError(404, "no uploaded data for this grant")
            del self._grants[call.params["grant"]]
        try:
            if not self.cas.store.has_xorb(xorb):
                self.cas.store.put_xorb(xorb, read_range(grant.received, 0, grant.length))
        finally:
            grant.received.unlink(missing_ok=True)
        return Response.json(200, {"was_inserted": True})

    def _forget(self, grant_id: str) -> None:
        grant = self._grants.pop(grant_id)
        if grant.received is not None:
            grant.received.unlink(missing_ok=True)

    def clear(self) -> None:
        with self._lock:
            for grant_id in list(self._grants):
                self._forget(grant_id)
