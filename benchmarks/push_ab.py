"""A/B: the cold (or unchanged re-) `push` of two or more source trees and `upload_folder`, interleaved, in one run.

    git archive OLD | tar x -C /tmp/a; git archive NEW | tar x -C /tmp/b
    .venv/bin/python benchmarks/push_ab.py --model adapter --transfer xet --rounds 8 /tmp/a /tmp/b
    .venv/bin/python benchmarks/push_ab.py --model adapter --transfer lfs --phase rerun --rounds 15 /tmp/a /tmp/b

Each round runs every variant once (the order reversed every other round), each in a fresh process
(benchmarks/_child.py, with the tree on PYTHONPATH) against an emptied local Hub, with a fresh hash cache and
HF_HOME, after the same pause; with `--phase rerun`, the same upload is made once first, untimed, and its second
run (same caches) is timed. One uncounted warm-up round writes the bytecode. Prints each variant's median wall
time, its spread and its ratio to upload_folder's. Differences of a few percent need this: the machine drifts by
10-30 % over an hour, which separate runs of push_vs_upload_folder.py cannot tell from a change.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))
from _hub import HubProcess  # noqa: E402
from push_vs_upload_folder import build, child  # noqa: E402
from export_comparison import staged_folder  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("trees", nargs="+", type=Path, help="source trees (each holds ludwig_hub_export/)")
    parser.add_argument("--model", default="adapter", choices=["adapter", "single400", "shards1g"])
    parser.add_argument("--transfer", default="xet", choices=["xet", "lfs"])
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--pause", type=float, default=1.0, help="seconds before each measurement")
    parser.add_argument("--phase", default="cold", choices=["cold", "rerun"],
                        help="rerun: the same upload again, to a repo that holds it already (timed alone)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="push-ab-"))
    hub = HubProcess(work / "hub")
    control = hub.control()
    base = {k: v for k, v in os.environ.items() if not k.startswith("HF_") and k != "PYTHONDONTWRITEBYTECODE"}
    try:
        model = build(args.model, work / "src")
        folder = staged_folder(model, work / "folder")
        variants = [("push", str(t.resolve())) for t in args.trees] + [("upload_folder", str(ROOT))]

        def run(tool: str, tree: str) -> float:
            control.reset()
            os.sync()
            time.sleep(args.pause)
            home = work / "run"
            env = {**base, "HF_ENDPOINT": hub.endpoint, "HF_TOKEN": hub.token,
                   "HF_HUB_DISABLE_XET": "1" if args.transfer == "lfs" else "0", "HF_HUB_DISABLE_PROGRESS_BARS": "1",
                   "HF_HUB_DISABLE_TELEMETRY": "1", "HF_HOME": str(home / "hf-home"),
                   "LUDWIG_HUB_EXPORT_CACHE": str(home / "cache"), "PYTHONPATH": tree}
            try:
                if args.phase == "rerun":
                    child(tool, model, folder, f"tester/{tool}", env)  # untimed: the repo, and this run's caches
                return child(tool, model, folder, f"tester/{tool}", env)["wall"]
            finally:
                shutil.rmtree(home, ignore_errors=True)

        walls: dict[tuple[str, str], list[float]] = {v: [] for v in variants}
        for v in variants:
            run(*v)  # warm-up: bytecode
        for n in range(args.rounds):
            for v in variants if n % 2 == 0 else variants[::-1]:
                walls[v].append(run(*v))
        reference = statistics.median(walls[variants[-1]])
        print(f"{args.model}, {args.transfer}, {args.phase}: medians of {args.rounds} interleaved rounds")
        for (tool, tree), xs in walls.items():
            median = statistics.median(xs)
            print(f"  {tool:14} {tree if tool == 'push' else '':40} {median:7.3f} s  ({min(xs):.3f}-{max(xs):.3f})"
                  f"  ratio {median / reference:.3f}")
    finally:
        hub.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
