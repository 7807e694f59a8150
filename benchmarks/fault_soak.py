"""Fault soak: 50 exports while the local Hub fails a random share of calls; prints the counts.

    .venv/bin/python benchmarks/fault_soak.py [--exports 50] [--probability 0.15] [--seed 0]

Faults (each with the given probability on every matching call): 429 + Retry-After on create and commit, 503
and lost (504-after / dropped) commit answers, 502 on LFS batch, connection resets mid-PUT, 5xx on paths-info,
repo info and whoami, and one revoked token with a fresh one in HF_TOKEN. Exit status 1 if any export ended
unverified, any commit was made twice, any incomplete repo claimed completion, or any source tree changed.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--exports", type=int, default=50)
    parser.add_argument("--probability", type=float, default=0.15)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from ludwig_hub_export.testing import LocalHub

    work = Path(tempfile.mkdtemp(prefix="soak-"))
    hub = LocalHub(data_dir=work / "hub", seed=args.seed).start()
    os.environ.update(hub.env(hf_home=work / "hf-home"))  # before huggingface_hub is imported
    os.environ["LUDWIG_HUB_EXPORT_CACHE"] = str(work / "cache")
    sys.path.insert(0, str(ROOT / "tests"))
    from helpers import copy_fixture
    from huggingface_hub import HfApi
    from huggingface_hub.utils import disable_progress_bars

    from ludwig_hub_export.testing.soak import run_soak

    disable_progress_bars()
    api = HfApi(token=hub.token)
    api.create_repo("tester/tiny-llama")
    api.upload_folder(repo_id="tester/tiny-llama", folder_path=ROOT / "fixtures" / "models" / "_base" / "tiny-llama")
    sources = [copy_fixture(name, work / "src") for name in ("ecd_saved", "lora_saved", "full_sharded", "merged_run")]
    started = time.monotonic()
    result = run_soak(hub, sources, args.exports, args.probability, args.seed, base_model="tester/tiny-llama")
    print(f"\nfault soak: {args.exports} exports, p={args.probability}, seed={args.seed}, "
          f"{time.monotonic() - started:.1f} s")
    for line in result.lines():
        print("  " + line)
    hub.stop()
    print("OK" if result.ok else "FAILED")
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
