"""The local Hub's Xet storage: xorbs and file reconstructions on disk, streamed, with in-memory indexes.

``xorbs/<hash>`` the xorb as uploaded, ``xorbs/<hash>.chunks`` its chunk table (JSON), ``cas/<hash>`` the shard
records describing its chunks (answers to dedup queries), ``files/<hash>.json`` a file's reconstruction terms and
sha256. The CAS API over it is `xet_cas`.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from .wire import HubError
from .xet_format import ENTRY, Chunk, FormatError, Term, decompress, hash_hex, is_hash, scan_xorb

MAX_XORB_BYTES = 128 * 1024 * 1024  # the client caps xorbs at 64 MiB of chunk data


@dataclass
class FileRecord:
    sha256: str
    size: int
    terms: list[Term]


class XetStore:
    """Xorbs and file reconstructions on disk, with in-memory indexes rebuilt on start."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        for sub in ("xorbs", "cas", "files", "tmp"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        self.lock = threading.RLock()
        self.by_sha256: dict[str, str] = {}  # sha256 -> file hash
        self.chunk_index: dict[str, str] = {}  # chunk hash -> xorb hash
        self._tables: dict[str, list[Chunk]] = {}
        self._load()

    def _load(self) -> None:
        for path in (self.root / "files").glob("*.json"):
            self.by_sha256[json.loads(path.read_text())["sha256"]] = path.stem
        for path in (self.root / "cas").iterdir():
            self._index_records(path.name, path.read_bytes())

    def _index_records(self, xorb: str, records: bytes) -> None:
        for at in range(ENTRY, len(records), ENTRY):
            self.chunk_index[hash_hex(records[at:at + 32])] = xorb

    def clear(self) -> None:
        with self.lock:
            for sub in ("xorbs", "cas", "files"):
                for path in (self.root / sub).iterdir():
                    path.unlink(missing_ok=True)
            self.by_sha256.clear()
            self.chunk_index.clear()
            self._tables.clear()

    # --- xorbs ----------------------------------------------------------------------------------------------
    def xorb_path(self, xorb: str) -> Path:
        if not is_hash(xorb):
            raise ValueError(f"invalid xorb hash {xorb!r}")
        return self.root / "xorbs" / xorb

    def has_xorb(self, xorb: str) -> bool:
        return self.xorb_path(xorb).exists()

    def put_xorb(self, xorb: str, chunks: Iterator[bytes]) -> None:
        """Stream a xorb to disk and check its chunk structure; nothing is kept when it does not parse."""
        fd, tmp = tempfile.mkstemp(dir=self.root / "tmp")
        try:
            size = 0
            with os.fdopen(fd, "w+b") as f:
                for part in chunks:
                    size += len(part)
                    if size > MAX_XORB_BYTES:
                        raise HubError(413, f"xorb {xorb} is larger than {MAX_XORB_BYTES} bytes")
                    f.write(part)
                f.flush()
                table = scan_xorb(f, size)
            (self.root / "xorbs" / f"{xorb}.chunks").write_text(
                json.dumps([[c.offset, c.compressed, c.scheme, c.unpacked] for c in table]))
            os.replace(tmp, self.xorb_path(xorb))
        except FormatError as e:
            raise HubError(400, f"xorb {xorb} is malformed: {e}") from None
        finally:
            Path(tmp).unlink(missing_ok=True)

    def chunks(self, xorb: str) -> list[Chunk] | None:
        table = self._tables.get(xorb)
        if table is None:
            try:
                raw = json.loads((self.root / "xorbs" / f"{xorb}.chunks").read_text())
            except (FileNotFoundError, ValueError):
                return None
            table = self._tables[xorb] = [Chunk(*row) for row in raw]
        return table

    # --- files ----------------------------------------------------------------------------------------------
    def file(self, file_hash: str) -> FileRecord | None:
        if not is_hash(file_hash):
            return None
        try:
            raw = json.loads((self.root / "files" / f"{file_hash}.json").read_text())
        except FileNotFoundError:
            return None
        return FileRecord(raw["sha256"], raw["size"], [Term(*t) for t in raw["terms"]])

    def put_file(self, file_hash: str, record: FileRecord) -> None:
        data = {"sha256": record.sha256, "size": record.size,
                "terms": [[t.xorb, t.start, t.end, t.unpacked] for t in record.terms]}
        (self.root / "files" / f"{file_hash}.json").write_text(json.dumps(data))
        with self.lock:
            self.by_sha256[record.sha256] = file_hash

    def put_records(self, xorb: str, records: bytes) -> None:
        (self.root / "cas" / xorb).write_bytes(records)
        with self.lock:
            self._index_records(xorb, records)

    def iter_bytes(self, terms: list[Term], start: int = 0, length: int | None = None) -> Iterator[bytes]:
        """A file's bytes [start, start+length), rebuilt chunk by chunk from its xorbs."""
        end = sum(t.unpacked for t in terms) if length is None else start + length
        pos = 0
        for term in terms:
            if pos >= end:
                return
            if pos + term.unpacked <= start:
                pos += term.unpacked
                continue
            table = self.chunks(term.xorb)
            if table is None:
                raise FileNotFoundError(f"xorb {term.xorb} is missing")
            with open(self.xorb_path(term.xorb), "rb") as f:
                for chunk in table[term.start:term.end]:
                    if pos >= end:
                        return
                    if pos + chunk.unpacked > start:
                        f.seek(chunk.offset + 8)
                        data = decompress(chunk.scheme, f.read(chunk.compressed), chunk.unpacked)
                        yield data[max(0, start - pos):end - pos]
                    pos += chunk.unpacked
