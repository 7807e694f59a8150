"""The limits of this machine, beside which upload numbers should be read: sha256 throughput, and a raw
loopback PUT of the same bytes to the local Hub (no hashing, no Hub API calls).

    .venv/bin/python benchmarks/machine_limits.py [--size-mib 1024]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import tempfile
import time
from pathlib import Path

from _hub import HubProcess


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size-mib", type=int, default=1024)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="limits-"))
    path = work / "blob.bin"
    with open(path, "wb") as f:
        for _ in range(args.size_mib):
            f.write(os.urandom(1 << 20))
    size = path.stat().st_size
    started = time.perf_counter()
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(8 << 20):
            digest.update(chunk)
    hash_s = time.perf_counter() - started
    oid = digest.hexdigest()

    hub = HubProcess(work / "hub")
    endpoint, token = hub.endpoint, hub.token
    try:
        import httpx2

        auth = {"Authorization": f"Bearer {token}"}
        httpx2.post(f"{endpoint}/api/repos/create", json={"name": "raw"}, headers=auth).raise_for_status()
        batch = httpx2.post(f"{endpoint}/tester/raw.git/info/lfs/objects/batch", headers=auth, json={
            "operation": "upload", "objects": [{"oid": oid, "size": size}]}).json()
        href = batch["objects"][0]["actions"]["upload"]["href"]
        started = time.perf_counter()
        with open(path, "rb") as f:
            response = httpx2.put(href, content=f, timeout=600)  # as huggingface_hub sends a file
        put_s = time.perf_counter() - started
        response.raise_for_status()
    finally:
        hub.stop()
    mib = size / (1 << 20)
    print(f"bytes                          {mib:10.0f} MiB")
    print(f"sha256 (hashlib, 8 MiB reads)  {hash_s:10.2f} s  {mib / hash_s:8.0f} MiB/s")
    print(f"raw loopback PUT to local Hub  {put_s:10.2f} s  {mib / put_s:8.0f} MiB/s  (server hashes as it stores)")
    print(f"hash + PUT (a floor for push)  {hash_s + put_s:10.2f} s")
    import shutil

    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
