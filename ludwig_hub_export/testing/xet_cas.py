"""The local Hub's Xet CAS server: xorbs, shards, the global dedup query, reconstructions, ranged xorb reads.

It speaks the routes of xet-core's ``RemoteClient`` under ``<hub>/cas``. Shards are taken in both forms: ``/v2/shards``
as the real CAS takes them, answering 200 and then a stream of NDJSON progress frames that ends in ``result`` or in
``error`` (a refusal after the stream began: the status is already 200), and ``/v1/shards``, which hf_xet falls
back to when v2 answers 404 (``shard_api=1`` serves only v1, as an older CAS). Xorbs go through upload grants as on
the real CAS (`xet_grants`), or to ``/v1/xorbs`` (``grants=False``, and hf_xet's fallback). v2 reconstructions
answer 404, and the client falls back to v1. Each call is authorized by a short-lived Xet token that the Hub API
issues (`XetCas.issue_token`) from a Hub token: revoking the Hub token invalidates its Xet tokens too.

What is stored, and how, is `xet_store`. A file is registered from an uploaded shard only after its bytes, rebuilt
from the xorbs, hash to the sha256 the shard claims: that mapping is what lets a commit name the file by its sha256.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from .accounts import Token
from .api import Call
from .wire import HubError, Response, read_range
from .xet_format import FormatError, ShardFile, Term, dedup_shard, parse_shard
from .xet_grants import XorbGrants
from .xet_store import FileRecord, XetStore

MAX_SHARD_BYTES = 64 * 1024 * 1024
PREFIX = "default"


@dataclass
class XetToken:
    parent: Token | None  # the Hub token it was issued from (None: anonymous read)
    write: bool
    expires: float


class XetCas:
    """The CAS API: one method per kind of call, as `HubApi` has for the Hub's."""

    def __init__(self, root: Path, secret: bytes, token_ttl: float = 3600.0, verify_sha256: bool = True,
                 shard_api: int = 2, grants: bool = True) -> None:
        self.store = XetStore(root)
        self.secret = secret
        self.shard_api = shard_api
        self.grants = XorbGrants(self) if grants else None
        self.token_ttl = token_ttl
        self.verify_sha256 = verify_sha256
        self._tokens: dict[str, XetToken] = {}
        self._lock = threading.Lock()

    def clear(self) -> None:
        self.store.clear()  # tokens stay valid, as the Hub's do when repos change
        if self.grants is not None:
            self.grants.clear()

    # --- tokens ---------------------------------------------------------------------------------------------
    def issue_token(self, parent: Token | None, write: bool) -> tuple[str, int]:
        value = "xet_local_" + secrets.token_urlsafe(24)
        expires = int(time.time() + self.token_ttl)
        with self._lock:
            now = time.time()
            for key in [k for k, t in self._tokens.items() if t.expires < now]:
                del self._tokens[key]
            self._tokens[value] = XetToken(parent, write, expires)
        return value, expires

    def _authorize(self, call: Call, write: bool) -> None:
        scheme, _, value = (call.headers.get("Authorization") or "").partition(" ")
        token = self._tokens.get(value.strip()) if scheme.lower() == "bearer" else None
        if token is None or token.expires < time.time() or (token.parent is not None and token.parent.revoked):
            raise HubError(401, "Xet token missing, unknown or expired: ask the Hub for a new one")
        if write and not token.write:
            raise HubError(403, "this Xet token only allows reading")

    def sign(self, xorb: str) -> str:
        return self.signature(f"xorb:{xorb}")

    def signature(self, text: str) -> str:
        """What signs a URL this CAS hands out (a xorb read, a grant's upload)."""
        return hmac.new(self.secret, text.encode(), hashlib.sha256).hexdigest()[:32]

    # --- upload ---------------------------------------------------------------------------------------------
    def check_prefix(self, call: Call) -> str:
        """The xorb hash a call names, once its prefix is known."""
        if call.params.get("prefix") != PREFIX:
            raise HubError(400, f"unknown xorb prefix {call.params.get('prefix')!r}")
        return call.params["hash"]

    def xorb(self, call: Call) -> Response:
        if call.method == "PUT":  # a grant's upload: the bytes of a xorb too, so its faults and counts are the same
            return self._granted().receive(call)
        self._authorize(call, write=True)
        xorb = self.check_prefix(call)
        if self.store.has_xorb(xorb):
            return Response.json(200, {"was_inserted": False})
        self.store.put_xorb(xorb, call.body.iter_chunks())
        return Response.json(200, {"was_inserted": True})

    def xorb_grant(self, call: Call) -> Response:
        return self._granted().grant(call)

    def xorb_commit(self, call: Call) -> Response:
        return self._granted().commit(call)

    def _granted(self) -> XorbGrants:
        if self.grants is None:
            raise HubError(404, "this CAS takes xorbs at /v1/xorbs")
        return self.grants

    def shard(self, call: Call) -> Response:
        v2 = call.path.endswith("/v2/shards")
        if v2 and self.shard_api < 2:
            raise HubError(404, "this CAS takes shards at /v1/shards")
        # Refusals known before the stream begins are HTTP answers on both forms.
        self._authorize(call, write=True)
        if call.body.length is not None and call.body.length > MAX_SHARD_BYTES:
            raise HubError(413, f"shard of {call.body.length} bytes exceeds {MAX_SHARD_BYTES}")
        data = call.body.read()
        if not v2:
            self._register_shard(data)
            return Response.json(200, {"result": 1})
        try:
            checked = self._register_shard(data)
        except HubError as e:
            if e.status != 400:
                raise
            return shard_progress([{"type": "validating", "verified": 0, "total": 1}],
                                  {"type": "error", "message": e.message, "retryable": False})
        return shard_progress([{"type": "validating", "verified": checked, "total": checked},
                               {"type": "committing", "stage": "uploading"},
                               {"type": "committing", "stage": "syncing"}], {"type": "result"})

    def _register_shard(self, data: bytes) -> int:
        """Check a shard against the stored xorbs and register its files; returns the number of checks made."""
        try:
            files, xorbs = parse_shard(data)
        except FormatError as e:
            raise HubError(400, f"shard is malformed: {e}") from None
        for x in xorbs:
            table = self.store.chunks(x.xorb_hash)
            if table is None:
                raise HubError(400, f"shard describes xorb {x.xorb_hash}, which was never uploaded")
            if [c.unpacked for c in table] != x.unpacked_sizes:
                raise HubError(400, f"shard's chunk list for xorb {x.xorb_hash} does not match the uploaded xorb")
        records = []
        for f in files:
            self._check_terms(f)
            known = self.store.file(f.file_hash)
            sha256 = f.sha256
            if known is None or sha256 is None or known.sha256 != sha256:
                actual = self._sha256(f.terms) if self.verify_sha256 or sha256 is None else sha256
                if sha256 is not None and actual != sha256:
                    raise HubError(400, f"file {f.file_hash}: rebuilt bytes have sha256 {actual}, the shard says "
                                        f"{sha256}")
                records.append((f, actual))
        for x in xorbs:
            self.store.put_records(x.xorb_hash, x.records)
        for f, sha256 in records:
            self.store.put_file(f.file_hash, FileRecord(sha256, f.size, f.terms))
        return len(xorbs) + len(files)

    def _check_terms(self, f: ShardFile) -> None:
        for term in f.terms:
            table = self.store.chunks(term.xorb)
            if table is None:
                raise HubError(400, f"file {f.file_hash} uses xorb {term.xorb}, which was never uploaded")
            if term.end > len(table) or sum(c.unpacked for c in table[term.start:term.end]) != term.unpacked:
                raise HubError(400, f"file {f.file_hash}: chunks {term.start}-{term.end} of xorb {term.xorb} do "
                                    f"not hold {term.unpacked} bytes")

    def _sha256(self, terms: list[Term]) -> str:
        h = hashlib.sha256()
        try:
            for part in self.store.iter_bytes(terms):
                h.update(part)
        except FormatError as e:
            raise HubError(400, f"a xorb does not decompress: {e}") from None
        return h.hexdigest()

    # --- dedup and download ---------------------------------------------------------------------------------
    def dedup(self, call: Call) -> Response:
        self._authorize(call, write=False)
        xorb = self.store.chunk_index.get(call.params["hash"])
        records = (self.store.root / "cas" / xorb).read_bytes() if xorb else None
        if records is None:
            raise HubError(404, "chunk not known")
        return Response(200, {"Content-Type": "application/octet-stream"}, dedup_shard([records]))

    def reconstruction(self, call: Call) -> Response:
        self._authorize(call, write=False)
        file_hash = call.params["hash"]
        record = self.store.file(file_hash)
        if record is None:
            raise HubError(404, f"file {file_hash} not found")
        start, end = _range(call.headers.get("Range"), record.size)
        terms: list[dict] = []
        fetch: dict[str, list[tuple[int, int]]] = {}
        offset = pos = 0
        for term in record.terms:
            term_start, pos = pos, pos + term.unpacked
            if pos <= start or term_start > end:
                continue
            table = self.store.chunks(term.xorb)
            if table is None:
                raise HubError(500, f"xorb {term.xorb} of file {file_hash} is missing from the store")
            first, last, lo, hi = term.start, term.end, term_start, pos
            while first < last - 1 and lo + table[first].unpacked <= start:
                lo += table[first].unpacked
                first += 1
            while last > first + 1 and hi - table[last - 1].unpacked > end:
                hi -= table[last - 1].unpacked
                last -= 1
            if not terms:
                offset = start - lo
            terms.append({"hash": term.xorb, "unpacked_length": hi - lo, "range": {"start": first, "end": last}})
            fetch.setdefault(term.xorb, []).append((first, last))
        # The client keys fetch entries by (xorb, first chunk): give it disjoint ranges, each covering its terms.
        fetch_info = {}
        for xorb, ranges in fetch.items():
            table = self.store.chunks(xorb) or []  # present: checked above
            merged: list[list[int]] = []
            for first, last in sorted(ranges):
                if merged and first <= merged[-1][1]:
                    merged[-1][1] = max(merged[-1][1], last)
                else:
                    merged.append([first, last])
            url = f"{call.endpoint}/cas/fetch/{xorb}?sig={self.sign(xorb)}"
            fetch_info[xorb] = [{"range": {"start": a, "end": b}, "url": url,
                                 "url_range": {"start": table[a].offset, "end": table[b - 1].end - 1}}
                                for a, b in merged]
        return Response.json(200, {"offset_into_first_range": offset, "terms": terms, "fetch_info": fetch_info})

    def xorb_get(self, call: Call) -> Response:
        xorb = call.params["hash"]
        if not hmac.compare_digest(call.query.get("sig", [""])[0], self.sign(xorb)):
            raise HubError(403, "xorb URL signature does not match")
        try:
            size = self.store.xorb_path(xorb).stat().st_size
        except FileNotFoundError:
            raise HubError(404, f"xorb {xorb} not found") from None
        if "," in (call.headers.get("Range") or ""):
            raise HubError(416, "multi-range reads are not supported here")
        start, end = _range(call.headers.get("Range"), size)
        headers = {"Content-Type": "application/octet-stream", "Content-Length": str(end - start + 1),
                   "Accept-Ranges": "bytes"}
        status = 200
        if call.headers.get("Range"):
            status, headers["Content-Range"] = 206, f"bytes {start}-{end}/{size}"
        return Response(status, headers, stream=read_range(self.store.xorb_path(xorb), start, end - start + 1))

    def xet_telemetry(self, call: Call) -> Response:
        call.body.discard()
        return Response.json(200, {})

    # --- for the Hub ----------------------------------------------------------------------------------------
    def file_for_sha256(self, sha256: str, size: int | None = None) -> str | None:
        file_hash = self.store.by_sha256.get(sha256)
        record = self.store.file(file_hash) if file_hash else None
        if record is None or (size is not None and record.size != size):
            return None
        return file_hash

    def iter_file(self, file_hash: str, start: int = 0, length: int | None = None) -> Iterator[bytes]:
        record = self.store.file(file_hash)
        if record is None:
            raise FileNotFoundError(f"Xet file {file_hash} is not stored")
        return self.store.iter_bytes(record.terms, start, length)


def shard_progress(frames: list[dict], last: dict) -> Response:
    """A ``/v2/shards`` answer: 200, then NDJSON progress frames ending in `last` (``result`` or ``error``)."""
    body = b"".join(json.dumps(frame).encode() + b"\n" for frame in [*frames, last])
    return Response(200, {"Content-Type": "application/x-ndjson"}, body)


def _range(header: str | None, size: int) -> tuple[int, int]:
    """Inclusive [start, end] of a single `bytes=` range (the whole object without one); 416 when outside."""
    if not header:
        return 0, size - 1
    unit, _, spec = header.partition("=")
    first, _, last = spec.strip().partition("-")
    try:
        if unit.strip() != "bytes":
            raise ValueError
        if first == "":
            start, end = max(0, size - int(last)), size - 1
        else:
            start, end = int(first), min(int(last), size - 1) if last else size - 1
    except ValueError:
        raise HubError(416, f"invalid Range header {header!r}") from None
    if start >= size or start > end:
        raise HubError(416, f"Range {header!r} is outside the object ({size} bytes)")
    return start, end
