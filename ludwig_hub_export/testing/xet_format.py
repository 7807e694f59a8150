"""Xet's binary formats, as the local Hub's CAS server needs them: shards, xorb chunks, LZ4 frames.

Read from xet-core (``xet_core_structures``): a hash is 32 bytes that the client prints as four little-endian
u64 words in hex; a shard is a 48-byte header, a file section and a CAS (xorb) section, each entry 48 bytes
and each section closed by an all-ones "bookend", then an optional 200-byte footer; a xorb is a run of chunks,
each an 8-byte header (version, compressed size, scheme, uncompressed size; sizes 3 bytes little-endian) and
its bytes, optionally followed by a footer that starts with ``XETBLOB``.

Chunk, xorb and file hashes are keyed BLAKE3, which the standard library lacks: the server trusts them and
instead checks structure, sizes and, when it rebuilds a file, its sha256.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import re
import struct
import time
from dataclasses import dataclass, field
from typing import BinaryIO

ENTRY = 48  # every shard record (header, entry, bookend) is 48 bytes
SHARD_HEADER_TAG = bytes([
    72, 70, 82, 101, 112, 111, 77, 101, 116, 97, 68, 97, 116, 97, 0, 85, 105, 103, 69, 106, 123, 129, 87, 131,
    165, 189, 217, 92, 205, 209, 74, 169,
])  # "HFRepoMetaData\0" + magic
SHARD_VERSION = 2
FOOTER_SIZE = 200
BOOKEND = b"\xff" * 32
FLAG_VERIFICATION = 1 << 31
FLAG_METADATA_EXT = 1 << 30
CHUNK_HEADER = 8
MAX_CHUNK_SIZE = 128 * 1024  # xet-core's MAX_CHUNK_SIZE: a larger chunk header is corrupt
XORB_FOOTER_IDENT = b"XETBLOB"
SCHEMES = {0: "none", 1: "lz4", 2: "bg4-lz4"}
MAX_SHARD_ENTRIES = 10_000_000
_HEX64 = re.compile(r"[0-9a-f]{64}")


class FormatError(ValueError):
    """A shard or xorb that does not parse; the message says where."""


def hash_hex(raw: bytes) -> str:
    """The client's hex spelling of a 32-byte hash: each 8-byte little-endian word printed big-endian."""
    return b"".join(raw[i:i + 8][::-1] for i in (0, 8, 16, 24)).hex()


def hash_raw(hex_hash: str) -> bytes:
    data = bytes.fromhex(hex_hash)
    return b"".join(data[i:i + 8][::-1] for i in (0, 8, 16, 24))


def is_hash(value: str) -> bool:
    return bool(_HEX64.fullmatch(value or ""))


# --- shards -----------------------------------------------------------------------------------------------------
@dataclass
class Term:
    """A run of chunks [start, end) of one xorb, `unpacked` bytes once decompressed."""

    xorb: str
    start: int
    end: int
    unpacked: int


@dataclass
class ShardFile:
    file_hash: str
    terms: list[Term]
    sha256: str | None = None

    @property
    def size(self) -> int:
        return sum(t.unpacked for t in self.terms)


@dataclass
class ShardXorb:
    """One xorb's block of a shard's CAS section: its chunks' hashes and unpacked sizes, and the raw records."""

    xorb_hash: str
    chunk_hashes: list[str] = field(default_factory=list)
    unpacked_sizes: list[int] = field(default_factory=list)
    records: bytes = b""  # the header and chunk entries, as the client wrote them (reused in dedup answers)


def parse_shard(data: bytes) -> tuple[list[ShardFile], list[ShardXorb]]:
    """Files and xorbs of an uploaded shard. Raises FormatError on anything malformed or truncated."""
    if len(data) < 48 or data[:32] != SHARD_HEADER_TAG:
        raise FormatError("not a Xet shard (wrong magic number)")
    version, footer_size = struct.unpack_from("<QQ", data, 32)
    if version != SHARD_VERSION:
        raise FormatError(f"shard header version {version}, expected {SHARD_VERSION}")
    if footer_size not in (0, FOOTER_SIZE):
        raise FormatError(f"shard footer size {footer_size}, expected 0 or {FOOTER_SIZE}")
    end = len(data) - footer_size
    pos = 48

    def record(at: int) -> bytes:
        if at + ENTRY > end:
            raise FormatError(f"shard truncated at byte {at} of {end}")
        return data[at:at + ENTRY]

    files: list[ShardFile] = []
    while True:
        head = record(pos)
        pos += ENTRY
        if head[:32] == BOOKEND:
            break
        flags, n = struct.unpack_from("<II", head, 32)
        if n > MAX_SHARD_ENTRIES:
            raise FormatError(f"file {hash_hex(head[:32])} claims {n} entries")
        terms = []
        for _ in range(n):
            entry = record(pos)
            pos += ENTRY
            _xorb_flags, unpacked, start, stop = struct.unpack_from("<IIII", entry, 32)
            if stop <= start:
                raise FormatError(f"file {hash_hex(head[:32])}: empty or reversed chunk range {start}-{stop}")
            terms.append(Term(hash_hex(entry[:32]), start, stop, unpacked))
        if flags & FLAG_VERIFICATION:
            pos += n * ENTRY  # verification hashes: keyed BLAKE3, not checked here
        sha256 = None
        if flags & FLAG_METADATA_EXT:
            sha256 = hash_hex(record(pos)[:32])
            pos += ENTRY
        files.append(ShardFile(hash_hex(head[:32]), terms, sha256))

    xorbs: list[ShardXorb] = []
    while True:
        head = record(pos)
        if head[:32] == BOOKEND:
            pos += ENTRY
            break
        _flags, n, _in_xorb, _on_disk = struct.unpack_from("<IIII", head, 32)
        if n > MAX_SHARD_ENTRIES or pos + (n + 1) * ENTRY > end:
            raise FormatError(f"xorb {hash_hex(head[:32])} claims {n} chunks beyond the end of the shard")
        xorb = ShardXorb(hash_hex(head[:32]), records=data[pos:pos + (n + 1) * ENTRY])
        for i in range(n):
            at = pos + (i + 1) * ENTRY
            _offset, unpacked = struct.unpack_from("<II", data, at + 32)
            xorb.chunk_hashes.append(hash_hex(data[at:at + 32]))
            xorb.unpacked_sizes.append(unpacked)
        pos += (n + 1) * ENTRY
        xorbs.append(xorb)
    return files, xorbs


def dedup_shard(xorb_records: list[bytes]) -> bytes:
    """A shard (with footer, no lookup tables) that tells a client which chunks these xorbs hold.

    The client reads chunk hashes from the CAS section when the lookup tables are empty.
    """
    body = bytearray(SHARD_HEADER_TAG + struct.pack("<QQ", SHARD_VERSION, FOOTER_SIZE))
    file_info_offset = len(body)
    body += BOOKEND + bytes(16)
    xorb_info_offset = len(body)
    for records in xorb_records:
        body += records
    body += BOOKEND + bytes(16)
    tables = len(body)
    footer = struct.pack("<9Q", 1, file_info_offset, xorb_info_offset, tables, 0, tables, 0, tables, 0)
    footer += bytes(32)  # no HMAC key: chunk hashes are plain
    footer += struct.pack("<QQ", int(time.time()), 2**64 - 1) + bytes(48)
    footer += struct.pack("<QQQQ", 0, 0, 0, tables)
    assert len(footer) == FOOTER_SIZE
    return bytes(body + footer)


# --- xorbs ------------------------------------------------------------------------------------------------------
@dataclass
class Chunk:
    offset: int  # of its header in the xorb
    compressed: int
    scheme: int
    unpacked: int

    @property
    def end(self) -> int:
        return self.offset + CHUNK_HEADER + self.compressed


def scan_xorb(f: BinaryIO, size: int) -> list[Chunk]:
    """The chunks of a serialized xorb, from their headers alone (the payloads are skipped)."""
    chunks: list[Chunk] = []
    pos = 0
    while pos < size:
        f.seek(pos)
        header = f.read(CHUNK_HEADER)
        if header.startswith(XORB_FOOTER_IDENT):
            break  # the optional xorb footer: chunk hashes and offsets, which the shard also carries
        if len(header) < CHUNK_HEADER:
            raise FormatError(f"xorb truncated in the chunk header at byte {pos}")
        version, scheme = header[0], header[4]
        compressed = int.from_bytes(header[1:4], "little")
        unpacked = int.from_bytes(header[5:8], "little")
        if version != 0 or scheme not in SCHEMES:
            raise FormatError(f"chunk {len(chunks)} at byte {pos}: version {version}, scheme {scheme}")
        if unpacked > MAX_CHUNK_SIZE or compressed > 2 * MAX_CHUNK_SIZE or (scheme == 0 and compressed != unpacked):
            raise FormatError(f"chunk {len(chunks)} at byte {pos}: sizes {compressed}/{unpacked} are invalid")
        chunk = Chunk(pos, compressed, scheme, unpacked)
        if chunk.end > size:
            raise FormatError(f"chunk {len(chunks)} at byte {pos} runs past the end of the xorb ({size} bytes)")
        chunks.append(chunk)
        pos = chunk.end
    if not chunks:
        raise FormatError("xorb has no chunks")
    return chunks


def decompress(scheme: int, data: bytes, unpacked: int) -> bytes:
    try:
        if scheme == 0:
            out = data
        elif scheme == 1:
            out = lz4_frame_decode(data, unpacked)
        elif scheme == 2:
            out = bg4_regroup(lz4_frame_decode(data, unpacked))
        else:
            raise FormatError(f"unknown compression scheme {scheme}")
    except IndexError:  # the pure-Python decoder ran off the end of a corrupt block
        raise FormatError("corrupt LZ4 block (truncated)") from None
    if len(out) != unpacked:
        raise FormatError(f"chunk decompressed to {len(out)} bytes, its header says {unpacked}")
    return out


def bg4_regroup(grouped: bytes) -> bytes:
    """Undo byte grouping: the four groups hold bytes 0, 1, 2 and 3 (mod 4) of the original."""
    n = len(grouped)
    split, rem = divmod(n, 4)
    sizes = [split + (rem > 0), split + (rem > 1), split + (rem > 2), split]
    out = bytearray(n)
    pos = 0
    for i, size in enumerate(sizes):
        out[i::4] = grouped[pos:pos + size]
        pos += size
    return bytes(out)


# --- LZ4 frames (the stdlib has no LZ4: liblz4 through ctypes when the system has it, else pure Python) --------
def _load_liblz4():
    name = ctypes.util.find_library("lz4") or "liblz4.so.1"
    try:
        lib = ctypes.CDLL(name)
        fn = lib.LZ4_decompress_safe_usingDict
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
    fn.restype = ctypes.c_int
    return fn


_LIBLZ4 = _load_liblz4()


def lz4_frame_decode(frame: bytes, size_hint: int = 0) -> bytes:
    if len(frame) < 7 or frame[:4] != b"\x04\x22\x4d\x18":
        raise FormatError("not an LZ4 frame")
    flg = frame[4]
    pos = 6 + (8 if flg & 0x08 else 0) + (4 if flg & 0x01 else 0) + 1  # FLG, BD, content size, dict id, HC
    block_checksum = bool(flg & 0x10)
    out = bytearray()
    while True:
        if pos + 4 > len(frame):
            raise FormatError("LZ4 frame truncated")
        (word,) = struct.unpack_from("<I", frame, pos)
        pos += 4
        if word == 0:
            break
        size, raw = word & 0x7FFFFFFF, bool(word & 0x80000000)
        block = frame[pos:pos + size]
        if len(block) != size:
            raise FormatError("LZ4 block truncated")
        pos += size + (4 if block_checksum else 0)
        if raw:
            out += block
        else:
            # A chunk's unpacked size is known; blocks hold at most 4 MiB (the frame's maximum).
            _decode_block(block, out, size_hint - len(out) if size_hint > len(out) else 4 * 1024 * 1024)
    return bytes(out)


def _lz4_length(src, i: int, length: int) -> tuple[int, int]:
    """An LZ4 sequence length: 15 in the token means more bytes follow, each added until one is not 255."""
    if length == 15:
        while True:
            b = src[i]
            i += 1
            length += b
            if b != 255:
                break
    return length, i


def _decode_block(src: bytes, out: bytearray, capacity: int) -> None:
    """Decode one LZ4 block onto `out`; earlier output serves as the dictionary (linked blocks)."""
    if _LIBLZ4 is not None:
        history = bytes(out[-65536:])
        dst = ctypes.create_string_buffer(capacity)
        n = _LIBLZ4(src, dst, len(src), capacity, history, len(history))
        if n < 0:
            raise FormatError("corrupt LZ4 block")
        out += memoryview(dst)[:n]  # not dst.raw: that copies the whole buffer
        return
    i, n = 0, len(src)
    while i < n:
        token = src[i]
        i += 1
        length, i = _lz4_length(src, i, token >> 4)
        out += src[i:i + length]
        i += length
        if i >= n:
            break
        offset = src[i] | (src[i + 1] << 8)
        i += 2
        length, i = _lz4_length(src, i, token & 15)
        length += 4
        start = len(out) - offset
        if offset == 0 or start < 0:
            raise FormatError("corrupt LZ4 block (bad match offset)")
        if offset >= length:
            out += out[start:start + length]
        else:
            pattern = bytes(out[start:])
            out += (pattern * (length // offset + 1))[:length]
