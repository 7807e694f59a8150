"""How much does `check` read, and how long does it take, on a big model?

    .venv/bin/python benchmarks/check_speed.py [--size-gib 2] [--repeat 5]

Builds a full-model save (model_hyperparameters.json, training_set_metadata.json, model_weights/ with
config.json and one safetensors weights file of the given size, real headers, data written as sparse files so
the machine's disk is not the subject), runs `check` and `normalize` on it, and prints bytes read and time,
beside the time to sha256 the same bytes (what any tool that hashes the weights pays).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import struct
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from ludwig_hub_export.source.checks import check  # noqa: E402
from ludwig_hub_export.source.normalization import normalize  # noqa: E402

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "models" / "full_saved"


def write_safetensors(path: Path, n_bytes: int, n_tensors: int = 64) -> None:
    per = n_bytes // n_tensors // 4 * 4
    header, offset = {}, 0
    for i in range(n_tensors):
        header[f"model.layers.{i}.weight"] = {"dtype": "F32", "shape": [per // 4], "data_offsets": [offset, offset + per]}
        offset += per
    raw = json.dumps(header).encode()
    raw += b" " * (-len(raw) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(raw)) + raw)
        f.truncate(8 + len(raw) + offset)  # sparse data region


def build(root: Path, size: int) -> Path:
    model = root / "big"
    shutil.copytree(FIXTURE, model)
    write_safetensors(model / "model_weights" / "model.safetensors", size)  # replaces the tiny one
    return model


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size-gib", type=float, default=2.0)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    size = int(args.size_gib * (1 << 30))
    work = Path(tempfile.mkdtemp(prefix="check-bench-"))
    try:
        model = build(work, size)
        times = []
        for _ in range(args.repeat):
            started = time.perf_counter()
            report = check(model, base_model="org/base")
            times.append(time.perf_counter() - started)
        assert report.passed(), report.format()
        total = sum(report.files.values())
        times.sort()
        started = time.perf_counter()
        result = normalize(model, work / "normalized")
        normalize_s = time.perf_counter() - started
        digest = hashlib.sha256()
        started = time.perf_counter()
        with open(model / "model_weights" / "model.safetensors", "rb") as f:
            while chunk := f.read(8 << 20):
                digest.update(chunk)
        hash_s = time.perf_counter() - started
        print(f"model size                 {total / (1 << 30):10.2f} GiB")
        print(f"check: bytes read          {report.bytes_read:10d}  ({report.bytes_read / total:.2e} of the model)")
        print(f"check: median time         {times[len(times) // 2] * 1000:10.1f} ms  (of {args.repeat} runs)")
        print(f"normalize: time            {normalize_s * 1000:10.1f} ms  ({len(result.linked)} hard links, "
              f"{len(result.copied)} copies)")
        print(f"baseline: sha256 of weights{hash_s * 1000:10.1f} ms  (sparse file: no disk reads)")
        print(f"ratio check / sha256       {times[len(times) // 2] / hash_s:10.4f}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
