"""The local Hub's Xet CAS server: xorbs, shards, the global dedup query, reconstructions, ranged xorb reads.

It speaks the routes of xet-core's ``RemoteClient`` under ``<hub>/cas``. Shards are taken in both forms: ``/v2/shards``
as the real CAS takes them, answering 200 and then a stream of NDJSON progress frames that ends in ``result`` or in
``error`` (a refusal after the stream began: the status is already 200), and ``/v1/shards``, which hf_xet falls
back to when v2 answers 404 (``api_version=1`` serves only the v1 forms, as an older CAS). Xorbs go through upload
grants as on the real CAS (`xet_grants`), or to ``/v1/xorbs`` (``grants=False``, and hf_xet's fallback).
Reconstructions too come in both forms: v2, which hf_xet asks first, with one URL per xorb signed for its ranges,
and v1, with one URL per range. Each call is authorized by a short-lived Xet token that the Hub API issues
(`XetCas.issue_token`) from a Hub token: revoking the Hub token invalidates its Xet tokens too.

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
from .api_call import Call
from .wire import HubError, Response, read_range
from .xet_format import FormatError, ShardFile, Term, dedup_shard, parse_shard
from .xet_grants import XorbGrants
from .xet_store import FileRecord, XetStore

MAX_SHARD_BYTES = 64 * 1024 * 1024
MAX_RANGES_PER_URL = 400  # the real CAS splits a xorb's ranges over several URLs past ~8 KiB of URL
PREFIX = "default"


@dataclass
class XetToken:
    parent: Token | None  # the Hub token it was issued from (None: anonymous read)
    write: bool
    expires: float


class XetCas:
    """The CAS API: one method per kind of call, as `HubApi` has for the Hub's."""

    def __init__(self, root: Path, secret: bytes, token_ttl: float = 3600.0, verify_sha256: bool = True,
                 api_version: int = 2, grants: bool = True) -> None:
        self.store = XetStore(root)
        self.secret = secret
        self.api_version = api_version  # 1: an older CAS, without the v2 forms of shards and reconstructions
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
        if v2 and self.api_version < 2:
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
        """How to rebuild a file (or a byte range of it): its terms, and where to read each xorb's chunks. v1 gives
        one signed URL per range of chunks; v2 (what hf_xet asks first) one per xorb, with every range of it
        signed into the URL, for one multi-range read or several ranged ones (`xorb_get`)."""
        v2 = "/v2/" in call.path
        if v2 and self.api_version < 2:
            raise HubError(404, "this CAS answers reconstructions at /v1 only")
        self._authorize(call, write=False)
        file_hash = call.params["hash"]
        record = self.store.file(file_hash)
        if record is None:
            raise HubError(404, f"file {file_hash} not found")
        start, end = _range(call.headers.get("Range"), record.size)
        offset, terms, fetch = self._terms(file_hash, record, start, end)
        if v2:
            xorbs = {xorb: [{"url": self._fetch_url(call.endpoint, xorb, part),
                             "ranges": [{"chunks": {"start": a, "end": b}, "bytes": {"start": lo, "end": hi}}
                                        for a, b, lo, hi in part]}
                            for part in _parts(ranges, MAX_RANGES_PER_URL)]
                     for xorb, ranges in fetch.items()}
            return Response.json(200, {"offset_into_first_range": offset, "terms": terms, "xorbs": xorbs})
        fetch_info = {xorb: [{"range": {"start": a, "end": b}, "url": self._fetch_url(call.endpoint, xorb),
                              "url_range": {"start": lo, "end": hi}} for a, b, lo, hi in ranges]
                      for xorb, ranges in fetch.items()}
        return Response.json(200, {"offset_into_first_range": offset, "terms": terms, "fetch_info": fetch_info})

    def _terms(self, file_hash: str, record: FileRecord, start: int,
               end: int) -> tuple[int, list[dict], dict[str, list[tuple[int, int, int, int]]]]:
        """The terms covering bytes [start, end] of a file, the offset of `start` into the first, and for each
        xorb its disjoint chunk ranges with their byte ranges (first, last chunk; first, last byte inclusive):
        the client keys what it fetches by (xorb, first chunk)."""
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
        merged_by_xorb = {}
        for xorb, ranges in fetch.items():
            table = self.store.chunks(xorb) or []  # present: checked above
            merged: list[list[int]] = []
            for first, last in sorted(ranges):
                if merged and first <= merged[-1][1]:
                    merged[-1][1] = max(merged[-1][1], last)
                else:
                    merged.append([first, last])
            merged_by_xorb[xorb] = [(a, b, table[a].offset, table[b - 1].end - 1) for a, b in merged]
        return offset, terms, merged_by_xorb

    def _fetch_url(self, endpoint: str, xorb: str, ranges: list[tuple[int, int, int, int]] | None = None) -> str:
        """A signed read of a xorb: any one byte range of it (v1), or `ranges` (v2: the signature covers them, and a
        read may ask for them all at once or for some of them, nothing else)."""
        if ranges is None:
            return f"{endpoint}/cas/fetch/{xorb}?sig={self.sign(xorb)}"
        spec = ",".join(f"{lo}-{hi}" for _, _, lo, hi in ranges)
        return f"{endpoint}/cas/fetch/{xorb}?ranges={spec}&sig={self.signature(f'xorb:{xorb}:{spec}')}"

    def xorb_get(self, call: Call) -> Response:
        xorb = call.params["hash"]
        signed = call.query.get("ranges", [None])[0]
        expected = self.sign(xorb) if signed is None else self.signature(f"xorb:{xorb}:{signed}")
        if not hmac.compare_digest(call.query.get("sig", [""])[0], expected):
            raise HubError(403, "xorb URL signature does not match")
        try:
            size = self.store.xorb_path(xorb).stat().st_size
        except FileNotFoundError:
            raise HubError(404, f"xorb {xorb} not found") from None
        header = call.headers.get("Range") or ""
        if signed is not None:
            # A v2 URL grants reading its ranges: all at once (one multipart answer) or some of them (hf_xet reads
            # them one by one as well); nothing else of the xorb.
            allowed = {_range(f"bytes={r}", size) for r in signed.split(",")}
            asked = [_range(f"bytes={r}", size) for r in header.partition("=")[2].replace(" ", "").split(",")] \
                if header.startswith("bytes=") else []
            if not asked or not set(asked) <= allowed:
                raise HubError(403, f"Range {header!r} is not among the ranges this URL was signed for")
            if len(asked) > 1:
                return _multipart(self.store.xorb_path(xorb), asked, size)
        elif "," in header:
            raise HubError(416, "a multi-range read needs a URL signed for its ranges (a v2 reconstruction's)")
        start, end = _range(header or None, size)
        headers = {"Content-Type": "application/octet-stream", "Content-Length": str(end - start + 1),
                   "Accept-Ranges": "bytes"}
        status = 200
        if header:
            status, headers["Content-Range"] = 206, f"bytes {start}-{end}/{size}"
        return Response(status, headers, stream=read_range(self.store.xorb_path(xorb), start, end - start + 1))

    def xet_telemetry(self, call: Call) -> Response:
        """hf_xet's transfer telemetry (when not disabled): taken and dropped, as a Hub that records none would."""
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


def _parts(items: list, size: int) -> list[list]:
    return [items[i:i + size] for i in range(0, len(items), size)]


def _multipart(path: Path, ranges: list[tuple[int, int]], size: int) -> Response:
    """206 with a ``multipart/byteranges`` body (RFC 9110 14.6): each range of the file after its own headers."""
    boundary = secrets.token_hex(12)
    heads = [f"--{boundary}\r\nContent-Type: application/octet-stream\r\nContent-Range: bytes {a}-{b}/{size}"
             f"\r\n\r\n".encode() for a, b in ranges]
    tail = f"\r\n--{boundary}--\r\n".encode()
    length = sum(len(h) for h in heads) + sum(b - a + 1 for a, b in ranges) + 2 * (len(ranges) - 1) + len(tail)

    def body() -> Iterator[bytes]:
        for n, ((a, b), head) in enumerate(zip(ranges, heads)):
            yield (b"\r\n" if n else b"") + head
            yield from read_range(path, a, b - a + 1)
        yield tail

    return Response(206, {"Content-Type": f"multipart/byteranges; boundary={boundary}", "Content-Length": str(length),
                          "Accept-Ranges": "bytes"}, stream=body())


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
