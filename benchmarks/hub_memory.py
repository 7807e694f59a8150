"""Does the local Hub stream large transfers? Push one big file through it, on Xet and on LFS, and watch its memory.

    .venv/bin/python benchmarks/hub_memory.py [--size-mib 1024] [--transfer xet|lfs|both]

The hub runs as `ludwig-hub-export hub serve` in its own process, so its resident memory (read through the
admin API every 0.1 s) is not mixed with the client's. For each protocol: the upload (Xet: xorbs streamed to
disk, then a shard whose files the server rebuilds to check their sha256; LFS: one streamed PUT), then a plain
GET of the file from /resolve, which on Xet is rebuilt from the xorbs chunk by chunk. Prints the server's RSS
before, at peak and after each, the times, and checks the bytes served against the file's sha256.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import tempfile
import threading
import time
from pathlib import Path

from _hub import HubProcess


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--transfer", choices=("xet", "lfs", "both"), default="both")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="hub-memory-"))
    big = work / "model.safetensors"
    digest = hashlib.sha256()
    with open(big, "wb") as f:
        for _ in range(args.size_mib):
            chunk = os.urandom(1 << 20)  # random throughout: Xet would dedup repeated blocks and send little
            digest.update(chunk)
            f.write(chunk)
    size = big.stat().st_size

    hub = HubProcess(work / "hub")
    endpoint, token_path = hub.endpoint, hub.token_path
    os.environ.update(HF_ENDPOINT=endpoint, HF_TOKEN_PATH=token_path, HF_HUB_DISABLE_XET="0",
                      HF_HOME=str(work / "home"), HF_HUB_DISABLE_PROGRESS_BARS="1")
    import httpx2
    from huggingface_hub import HfApi, constants  # after the environment is set: the client reads it at import

    control = hub.control()
    token = hub.token.strip()
    mib = 1 << 20

    def measured(action) -> tuple[float, int, int, object]:
        """Seconds, RSS before and peak RSS of the server while `action` runs, and its result."""
        samples: list[int] = []
        done = threading.Event()

        def sample() -> None:
            while not done.is_set():
                samples.append(control.stats()["rss_bytes"])
                time.sleep(0.1)

        before = control.stats()["rss_bytes"]
        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        started = time.monotonic()
        try:
            result = action()
        finally:
            done.set()
            sampler.join()
        return time.monotonic() - started, before, max(samples + [before]), result

    def download(repo: str) -> str:
        served = hashlib.sha256()
        with httpx2.stream("GET", f"{endpoint}/{repo}/resolve/main/model.safetensors",
                           headers={"Authorization": f"Bearer {token}"}, timeout=600) as answer:
            answer.raise_for_status()
            for part in answer.iter_bytes(1 << 20):
                served.update(part)
        return served.hexdigest()

    print(f"file {size / mib:.0f} MiB, sha256 {digest.hexdigest()[:16]}...")
    print(f"{'':18}{'seconds':>9}{'MiB/s':>8}{'RSS before':>12}{'RSS peak':>10}{'growth/file':>13}  bytes match")
    try:
        api = HfApi()
        for transfer in (("xet", "lfs") if args.transfer == "both" else (args.transfer,)):
            constants.HF_HUB_DISABLE_XET = transfer == "lfs"  # read on every call (is_xet_available)
            os.environ["HF_XET_CACHE"] = str(work / f"xet-cache-{transfer}")
            repo = f"tester/big-{transfer}"
            api.create_repo(repo)
            rows = [(f"{transfer} upload", measured(lambda: api.upload_file(
                path_or_fileobj=str(big), path_in_repo="model.safetensors", repo_id=repo)), None)]
            seconds, before, peak, served = measured(lambda: download(repo))
            rows.append((f"{transfer} GET", (seconds, before, peak, served), served == digest.hexdigest()))
            for label, (seconds, before, peak, _), match in rows:
                print(f"{label:18}{seconds:9.1f}{size / mib / seconds:8.0f}{before / mib:12.1f}{peak / mib:10.1f}"
                      f"{(peak - before) / size:13.4f}  {'' if match is None else match}")
        stats = control.stats()
        print(f"bytes received {stats['bytes_received'] / mib:.0f} MiB, sent {stats['bytes_sent'] / mib:.0f} MiB; "
              f"server RSS at the end {stats['rss_bytes'] / mib:.1f} MiB")
    finally:
        hub.stop()
        import shutil

        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
