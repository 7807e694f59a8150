"""Resume: interrupt a push at about half its bytes, rerun it, and compare what the rerun sends with what was
missing.

    .venv/bin/python benchmarks/resume.py [--shards 8] [--shard-mib 64]

The push runs as `ludwig-hub-export push` in its own process and is killed (SIGKILL: no cleanup) once the hub
has received half of the weight bytes. "Missing" is what the hub had not stored completely at that moment.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--shards", type=int, default=8)
    parser.add_argument("--shard-mib", type=int, default=64)
    args = parser.parse_args()
    from _hub import HubProcess
    from export_comparison import make_full

    work = Path(tempfile.mkdtemp(prefix="resume-bench-"))
    total = args.shards * args.shard_mib << 20
    model = make_full(work / "src", total, args.shard_mib << 20)
    hub = HubProcess(work / "hub")
    endpoint, token_path = hub.endpoint, hub.token_path
    control = hub.control()
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("HF_")}, "HF_ENDPOINT": endpoint,
           "HF_TOKEN_PATH": token_path, "HF_HUB_DISABLE_XET": "1", "HF_HOME": str(work / "hf-home"),
           "LUDWIG_HUB_EXPORT_CACHE": str(work / "cache")}
    command = [sys.executable, "-m", "ludwig_hub_export", "push", str(model), "--repo-id", "tester/resume",
               "--base-model", "tester/base", "--quiet"]
    try:
        first = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        while control.stats()["bytes_received"] < total // 2 and first.poll() is None:
            time.sleep(0.02)
        first.kill()
        first.wait()
        time.sleep(0.5)  # let the server notice the cut connections
        lfs = work / "hub" / "blobs" / "lfs"
        stored = sum(p.stat().st_size for p in lfs.iterdir())
        received_first = control.stats()["bytes_received"]
        started = time.perf_counter()
        rerun = subprocess.run(command + ["--json"], env=env, capture_output=True, text=True)
        rerun_s = time.perf_counter() - started
        report = json.loads(rerun.stdout)
        sent = control.stats()["bytes_received"] - received_first
        missing = total - stored
        mib = 1 << 20
        print(f"model weights                  {total / mib:10.1f} MiB in {args.shards} shards")
        print(f"received before the kill       {received_first / mib:10.1f} MiB")
        print(f"stored completely at the kill  {stored / mib:10.1f} MiB")
        print(f"missing                        {missing / mib:10.1f} MiB")
        print(f"sent by the rerun              {sent / mib:10.1f} MiB  (all requests, JSON included)")
        print(f"rerun sent / missing           {sent / missing:10.3f}")
        print(f"rerun wall time                {rerun_s:10.2f} s  verified={report['verified']}")
    finally:
        hub.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
