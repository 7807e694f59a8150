"""Check a safetensors file from its header alone (tensor bytes are never read): every tensor's byte range sized for
its dtype and shape, the ranges tiling the data buffer exactly and the file ending with it, so that truncation,
appended garbage and corrupt headers all show."""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass, field
from pathlib import Path

from .user_files import parse_json

# Same cap as the safetensors library (MAX_HEADER_SIZE = 100_000_000).
MAX_HEADER_SIZE = 100_000_000
DTYPE_BITS = {
    "BOOL": 8, "U8": 8, "I8": 8, "F8_E5M2": 8, "F8_E4M3": 8, "F8_E8M0": 8, "F4": 4, "F6_E2M3": 6, "F6_E3M2": 6,
    "I16": 16, "U16": 16, "F16": 16, "BF16": 16, "I32": 32, "U32": 32, "F32": 32, "C64": 64, "F64": 64,
    "I64": 64, "U64": 64,
}


class SafetensorsError(ValueError):
    """The file is not a sound safetensors file; the message says how."""


@dataclass
class TensorInfo:
    dtype: str
    shape: tuple[int, ...]
    start: int
    end: int


@dataclass
class SafetensorsHeader:
    tensors: dict[str, TensorInfo]
    metadata: dict[str, str] = field(default_factory=dict)
    header_size: int = 0
    bytes_read: int = 0


def read_header(path) -> SafetensorsHeader:
    """The header of a local file (a str or Path) or of anything with pathlib's ``stat()`` and ``open("rb")``
    (a `storage.tree.StoragePath`: ranged reads)."""
    path = Path(path) if isinstance(path, str) else path
    size = path.stat().st_size
    if size < 8:
        raise SafetensorsError(f"file is {size} bytes: too short to hold the 8-byte header length (truncated?)")
    with path.open("rb") as f:
        first = f.read(8)
        if len(first) != 8:
            raise SafetensorsError(f"only {len(first)} of the 8 header-length bytes could be read (truncated?)")
        (n,) = struct.unpack("<Q", first)
        if n > MAX_HEADER_SIZE:
            raise SafetensorsError(f"header length {n} is absurd (the format allows at most {MAX_HEADER_SIZE})")
        if 8 + n > size:
            raise SafetensorsError(f"header length {n} runs past the end of the {size}-byte file (truncated?)")
        raw = f.read(n)
    if len(raw) != n:
        raise SafetensorsError(f"only {len(raw)} of the {n} header bytes could be read (truncated?)")
    if not raw.startswith(b"{"):
        raise SafetensorsError("header does not start with '{': not a safetensors file, or garbage")
    try:
        header = parse_json(raw.decode("utf-8"))  # bounded depth: the header is the file author's
    except (UnicodeDecodeError, ValueError) as e:
        raise SafetensorsError(f"header is not valid JSON ({e})") from None
    if not isinstance(header, dict):
        raise SafetensorsError("header JSON is not an object")
    metadata = header.pop("__metadata__", None) or {}
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise SafetensorsError("__metadata__ must map strings to strings")
    tensors = {name: _tensor(name, spec) for name, spec in header.items()}
    _check_layout(tensors, data_size=size - 8 - n)
    return SafetensorsHeader(tensors, metadata, n, 8 + n)


def _tensor(name: str, spec: object) -> TensorInfo:
    if not isinstance(spec, dict):
        raise SafetensorsError(f"tensor {name!r}: entry is not an object")
    dtype, shape, offsets = spec.get("dtype"), spec.get("shape"), spec.get("data_offsets")
    if dtype not in DTYPE_BITS:
        raise SafetensorsError(f"tensor {name!r}: unknown dtype {dtype!r}")
    if not isinstance(shape, list) or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0
                                              for d in shape):
        raise SafetensorsError(f"tensor {name!r}: shape {shape!r} is not a list of non-negative integers")
    if (not isinstance(offsets, list) or len(offsets) != 2
            or not all(isinstance(o, int) and not isinstance(o, bool) and o >= 0 for o in offsets)
            or offsets[0] > offsets[1]):
        raise SafetensorsError(f"tensor {name!r}: data_offsets {offsets!r} is not [begin, end] with begin <= end")
    bits = math.prod(shape) * DTYPE_BITS[dtype]
    if bits % 8 or bits // 8 != offsets[1] - offsets[0]:
        raise SafetensorsError(f"tensor {name!r}: {dtype} {shape} needs {bits / 8:g} bytes but its offsets span "
                               f"{offsets[1] - offsets[0]}")
    return TensorInfo(dtype, tuple(shape), offsets[0], offsets[1])


def _check_layout(tensors: dict[str, TensorInfo], data_size: int) -> None:
    end = 0
    for name, t in sorted(tensors.items(), key=lambda item: (item[1].start, item[1].end)):
        if t.start != end:
            what = "overlaps the previous tensor" if t.start < end else f"leaves a gap of {t.start - end} bytes"
            raise SafetensorsError(f"tensor {name!r} {what} (offsets must tile the data buffer)")
        end = t.end
    if end > data_size:
        raise SafetensorsError(f"tensors need {end} bytes of data but the file holds {data_size} (truncated)")
    if end < data_size:
        raise SafetensorsError(f"file has {data_size - end} bytes after the last tensor (garbage appended?)")
