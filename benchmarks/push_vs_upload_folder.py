"""`push` versus `HfApi.upload_folder` of the same files, on the Xet path and on the LFS path, in one run.

    .venv/bin/python benchmarks/push_vs_upload_folder.py [--models single400,shards1g,adapter] [--pairs 5]
                                                         [--transfers xet,lfs] [--json-out FILE]

`--json-out` also writes every measurement, for the chart (`benchmarks/plot.py FILE docs/push_vs_upload_folder.png`).

For each model and protocol, `--pairs` alternating pairs (push first, then upload_folder first, ...):
- cold: an emptied hub, a fresh hash cache and a fresh HF_HOME (hf_xet's caches), so every byte is hashed and
  sent;
- unchanged re-run: the same command again at once, caches warm, nothing to send.
Each measurement is a fresh process (benchmarks/_child.py), with compiled bytecode as after `pip install` (one
warm-up pair first): wall time, bytes read, peak RSS (VmHWM). The hub runs
in its own process. Prints medians, min-max and the ratios push / upload_folder.
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
SETTLE_SECONDS = 3.0
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))
from _hub import HubProcess  # noqa: E402
from export_comparison import MIB, make_adapter, make_full, staged_folder  # noqa: E402


def build(name: str, root: Path) -> Path:
    if name == "adapter":
        return make_adapter(root)
    if name == "single400":
        return make_full(root, 400 * MIB, 400 * MIB)
    if name == "shards1g":
        return make_full(root, 1024 * MIB, 128 * MIB)
    raise SystemExit(f"unknown model {name}")


def child(tool: str, model: Path, folder: Path, repo: str, env: dict) -> dict:
    out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "_child.py"), tool, str(model), repo,
                          str(folder)], env=env, capture_output=True, text=True)
    line = (out.stdout.strip().splitlines() or ["{}"])[-1]
    if not line.startswith("{") or not json.loads(line).get("ok"):
        raise SystemExit(f"{tool} failed: {out.stderr[-2000:]}")
    return json.loads(line)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--models", default="single400,shards1g,adapter")
    parser.add_argument("--transfers", default="xet,lfs")
    parser.add_argument("--pairs", type=int, default=5)
    parser.add_argument("--json-out", type=Path, help="also write every measurement here (for benchmarks/plot.py)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="push-bench-"))
    hub = HubProcess(work / "hub")
    endpoint, token = hub.endpoint, hub.token
    control = hub.control()
    # Bytecode is written and used, as after `pip install` (which compiles it): without it every fresh process
    # compiles ~200 modules from source, a cost no installed user pays.
    base = {k: v for k, v in os.environ.items() if not k.startswith("HF_") and k != "PYTHONDONTWRITEBYTECODE"}
    results: dict = {}
    try:
        for name in args.models.split(","):
            model = build(name, work / f"src-{name}")
            folder = staged_folder(model, work / f"folder-{name}")
            size = sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())
            for transfer in args.transfers.split(","):
                samples = {(tool, phase): [] for tool in ("push", "upload_folder") for phase in ("cold", "rerun")}
                for pair in range(-1, args.pairs):  # pair -1: a warm-up (writes the bytecode), not counted
                    order = ("push", "upload_folder") if pair % 2 == 0 else ("upload_folder", "push")
                    for tool in order:
                        control.reset()
                        # The same start for every measurement: a run right after another one was ~0.7 s faster
                        # (8 shards, LFS; either tool), so back-to-back runs alternated fast and slow.
                        os.sync()
                        time.sleep(SETTLE_SECONDS)
                        run = work / f"run-{name}-{transfer}-{pair}-{tool}"
                        env = {**base, "HF_ENDPOINT": endpoint, "HF_TOKEN": token,
                               "HF_HUB_DISABLE_XET": "1" if transfer == "lfs" else "0",
                               "HF_HUB_DISABLE_PROGRESS_BARS": "1", "HF_HUB_DISABLE_TELEMETRY": "1",
                               "HF_HOME": str(run / "hf-home"), "LUDWIG_HUB_EXPORT_CACHE": str(run / "cache"),
                               "PYTHONPATH": str(ROOT)}  # this tree's code, wherever the package is installed from
                        repo = f"tester/{name}-{tool}"
                        cold, rerun = child(tool, model, folder, repo, env), child(tool, model, folder, repo, env)
                        if pair >= 0:
                            samples[(tool, "cold")].append(cold)
                            samples[(tool, "rerun")].append(rerun)
                        shutil.rmtree(run, ignore_errors=True)
                results[(name, transfer)] = (size, samples)
                report(name, transfer, size, samples)
                if args.json_out:
                    rows = [{"model": m, "transfer": t, "size": sz, "tool": tool, "phase": phase, "samples": runs}
                            for (m, t), (sz, by) in results.items() for (tool, phase), runs in by.items()]
                    args.json_out.write_text(json.dumps(rows, indent=1))
    finally:
        hub.stop()
        shutil.rmtree(work, ignore_errors=True)


def report(name: str, transfer: str, size: int, samples: dict) -> None:
    def med(tool, phase, key):
        return statistics.median(s[key] for s in samples[(tool, phase)])

    def spread(tool, phase):
        walls = [s["wall"] for s in samples[(tool, phase)]]
        return f"{min(walls):.2f}-{max(walls):.2f}"

    print(f"\n{name} ({size / MIB:.0f} MiB), {transfer}: medians of {len(samples[('push', 'cold')])} alternating pairs")
    print(f"  {'':22} {'push s':>8} {'(min-max)':>12} {'upload_folder s':>16} {'(min-max)':>12} {'ratio':>6}")
    for phase in ("cold", "rerun"):
        p, u = med("push", phase, "wall"), med("upload_folder", phase, "wall")
        print(f"  {phase:22} {p:8.2f} {spread('push', phase):>12} {u:16.2f} {spread('upload_folder', phase):>12} "
              f"{p / u:6.2f}")
    ratio_unchanged = med("push", "rerun", "wall") / med("upload_folder", "rerun", "wall")
    print(f"  {'peak RSS MiB (cold)':22} {med('push', 'cold', 'peak_rss') / MIB:8.0f} {'':>12} "
          f"{med('upload_folder', 'cold', 'peak_rss') / MIB:16.0f} {'':>12} "
          f"{med('push', 'cold', 'peak_rss') / med('upload_folder', 'cold', 'peak_rss'):6.2f}")
    print(f"  {'bytes read MiB (cold)':22} {med('push', 'cold', 'read') / MIB:8.0f} {'':>12} "
          f"{med('upload_folder', 'cold', 'read') / MIB:16.0f}")
    print(f"  unchanged re-push / upload_folder's unchanged re-run: {ratio_unchanged:.2f}", flush=True)


if __name__ == "__main__":
    main()
