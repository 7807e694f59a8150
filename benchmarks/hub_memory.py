"""Does the local Hub stream large uploads? Push one big LFS file through it and watch the server's memory.

    .venv/bin/python benchmarks/hub_memory.py [--size-mib 1024]

The hub runs as `ludwig-hub-export hub serve` in its own process, so its resident memory (read through the
admin API every 0.1 s) is not mixed with the client's. Prints the server's RSS before, at peak and after,
the upload time and throughput, and checks the stored blob against the file's sha256.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=1024)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="hub-memory-"))
    big = work / "model.safetensors"
    digest = hashlib.sha256()
    with open(big, "wb") as f:
        block = os.urandom(1 << 20)
        for i in range(args.size_mib):
            chunk = block[:-8] + i.to_bytes(8, "little")  # distinct blocks, cheap to make
            digest.update(chunk)
            f.write(chunk)
    size = big.stat().st_size

    server = subprocess.Popen([sys.executable, "-m", "ludwig_hub_export", "hub", "serve", "--data", str(work / "hub")],
                              stdout=subprocess.PIPE, text=True)
    endpoint = server.stdout.readline().strip().split("=", 1)[1]
    token_path = server.stdout.readline().strip().split("=", 1)[1]
    os.environ.update(HF_ENDPOINT=endpoint, HF_TOKEN_PATH=token_path, HF_HUB_DISABLE_XET="1",
                      HF_HOME=str(work / "home"), HF_HUB_DISABLE_PROGRESS_BARS="1")
    from huggingface_hub import HfApi  # after the environment is set: the client reads it at import

    from ludwig_hub_export.testing import HubControl

    control = HubControl.from_data_dir(endpoint, work / "hub")
    samples: list[int] = []
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            samples.append(control.stats()["rss_bytes"])
            time.sleep(0.1)

    try:
        api = HfApi()
        api.create_repo("tester/big")
        before = control.stats()["rss_bytes"]
        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        started = time.monotonic()
        api.upload_file(path_or_fileobj=str(big), path_in_repo="model.safetensors", repo_id="tester/big")
        seconds = time.monotonic() - started
        done.set()
        sampler.join()
        after = control.stats()
        stored = next((work / "hub" / "blobs" / "lfs").iterdir())
        mib = 1 << 20
        print(f"file                 {size / mib:10.0f} MiB  sha256 {digest.hexdigest()[:16]}...")
        print(f"stored blob matches  {stored.name == digest.hexdigest()!s:>10}")
        print(f"upload               {seconds:10.1f} s    {size / mib / seconds:8.0f} MiB/s  (hash + PUT + commit)")
        print(f"bytes received       {after['bytes_received'] / mib:10.0f} MiB")
        print(f"server RSS before    {before / mib:10.1f} MiB")
        print(f"server RSS peak      {max(samples) / mib:10.1f} MiB  ({len(samples)} samples)")
        print(f"server RSS after     {after['rss_bytes'] / mib:10.1f} MiB")
        print(f"peak growth / file   {(max(samples) - before) / size:10.4f}")
    finally:
        server.terminate()
        server.wait(timeout=30)
        import shutil

        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
