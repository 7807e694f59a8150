"""Pull speed: ludwig-hub-export `pull` (parallel, every sha256 verified, staged) versus `snapshot_download`
(parallel, nothing verified) of the same repo, against one local Hub in the same run.

    .venv/bin/python benchmarks/pull_speed.py [--models shards8,single] [--pairs 5] [--size-mib 384]
                                              [--transfers xet,lfs]

Models (pushed once with `push`, random weights): ``shards8`` a full-model save in 8 safetensors shards of
SIZE/8, ``single`` one safetensors file of SIZE/2. Each measurement runs in a fresh process
(benchmarks/_child.py) into a fresh directory with a fresh HF_HOME; pull and snapshot_download alternate, the
one that goes first alternating too, so drifts of the machine hit both. The hub runs in its own process and
speaks Xet and LFS; each protocol gets its own repos (HF_HUB_DISABLE_XET=1 for LFS). Prints medians of wall time, the ratio pull / snapshot_download,
the client's CPU seconds (all threads; steadier than wall on a shared machine) and peak RSS. Bytecode is written
and used (as after `pip install`), and one uncounted warm-up pair runs first.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT))
from _hub import HubProcess  # noqa: E402
from export_comparison import MIB, make_full  # noqa: E402

TOOLS = ("pull", "snapshot_download")


def measure(tool: str, repo_id: str, work: Path, env: dict, n: int) -> dict:
    dest = work / f"out-{tool}-{n}"
    run_env = {**env, "HF_HOME": str(work / f"hf-home-{tool}-{n}")}
    os.sync()
    time.sleep(3)  # the same start for every run: back-to-back transfers alternated fast and slow here
    out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "_child.py"), tool, str(dest), repo_id],
                         env=run_env, capture_output=True, text=True)
    line = (out.stdout.strip().splitlines() or ["{}"])[-1]
    result = json.loads(line) if line.startswith("{") else {"error": out.stderr[-400:]}
    shutil.rmtree(dest, ignore_errors=True)
    shutil.rmtree(run_env["HF_HOME"], ignore_errors=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--models", default="shards8,single")
    parser.add_argument("--pairs", type=int, default=5)
    parser.add_argument("--size-mib", type=int, default=384, help="total weights of the 8-shard model")
    parser.add_argument("--transfers", default="xet,lfs", help="the transfer protocols to measure, in order")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="pull-bench-"))
    hub = HubProcess(work / "hub")
    endpoint, token = hub.endpoint, hub.token
    # Bytecode is written and used, as after `pip install`: without it every fresh process compiles its imports
    # from source, a cost no installed user pays (and more for pull, which imports more of this package).
    base_env = {**{k: v for k, v in os.environ.items() if not k.startswith("HF_") and k != "PYTHONDONTWRITEBYTECODE"},
                "HF_ENDPOINT": endpoint,
                "HF_TOKEN": token, "HF_HUB_DISABLE_PROGRESS_BARS": "1",
                "LUDWIG_HUB_EXPORT_CACHE": str(work / "cache")}
    try:
        print(f"pull versus snapshot_download, {args.pairs} alternating pairs, medians (machine: {os.cpu_count()} "
              "CPUs, hub in its own process on loopback)")
        print(f"  {'model':24} {'path':5} {'tool':18} {'wall s':>8} {'x snapshot':>11} {'CPU s':>7} {'peak RSS MiB':>13}  walls")
        for transfer, name in ((t, m) for t in args.transfers.split(",") for m in args.models.split(",")):
            env = {**base_env, "HF_HUB_DISABLE_XET": "1" if transfer == "lfs" else "0"}
            total = args.size_mib * MIB if name == "shards8" else args.size_mib // 2 * MIB
            shard = total // 8 if name == "shards8" else total
            model = make_full(work / f"src-{name}", total, shard)
            repo_id = f"tester/{name}-{transfer}"
            pushed = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "_child.py"), "push", str(model),
                                     repo_id], env=env, capture_output=True, text=True)
            if '"ok": true' not in pushed.stdout:
                raise SystemExit(f"push of {name} failed: {pushed.stdout[-300:]} {pushed.stderr[-600:]}")
            shutil.rmtree(work / f"src-{name}")
            samples: dict[str, list[dict]] = {t: [] for t in TOOLS}
            for n in range(-1, args.pairs):  # pair -1: a warm-up (writes the bytecode), not counted
                for tool in (TOOLS if n % 2 == 0 else TOOLS[::-1]):
                    result = measure(tool, repo_id, work, env, n)
                    if "error" in result or not result.get("ok"):
                        raise SystemExit(f"{tool} of {name} failed: {result}")
                    if n >= 0:
                        samples[tool].append(result)
            base = statistics.median(s["wall"] for s in samples["snapshot_download"])
            label = f"{name} ({total / MIB:.0f} MiB)"
            for tool in TOOLS:
                walls = [s["wall"] for s in samples[tool]]
                wall = statistics.median(walls)
                rss = statistics.median(s["peak_rss"] for s in samples[tool]) / MIB
                cpu = statistics.median(s["cpu"] for s in samples[tool])
                print(f"  {label:24} {transfer:5} {tool:18} {wall:8.2f} {wall / base:11.2f} {cpu:7.2f} {rss:13.0f}  "
                      + " ".join(f"{w:.2f}" for w in walls), flush=True)
    finally:
        hub.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
