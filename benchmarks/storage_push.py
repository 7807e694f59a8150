"""Publishing from object storage: `check` and `push` on an s3:// URL versus "download the folder with s3fs, then
push the local copy", against a loopback S3 (moto's server mode, `testing.s3`) and the local Hub, in one run.

    .venv/bin/python benchmarks/storage_push.py [--size-mib 1024] [--shard-mib 256] [--runs 1] [--transfer lfs|xet]
                                                [--s3-mib-per-s N]

`--s3-mib-per-s` paces the S3 server's response bodies through one link of N MiB/s (all downloads together), as a
bucket across a network: on loopback the server's CPU, shared with the client and the Hub, sets the pace instead.

The model: a full-model save sharded into safetensors files (random weights, real headers, index, Ludwig config).
Each measurement runs in a fresh process against a freshly emptied Hub, with an empty digest cache, so every byte
is really downloaded and uploaded; with compiled bytecode, as after `pip install` (one warm-up run of each way
first). Printed: bytes `check` fetched per weight file (from the S3 server's request
log), wall time of both ways and their ratio, peak local disk (files under the process's TMPDIR, polled) and peak
RSS (VmHWM) of the process.
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
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))
MIB = 1 << 20
BUCKET = "bench"


def child(mode: str, url: str, repo_id: str) -> None:
    """One measured operation in this (fresh) process; prints one JSON line."""
    started = time.perf_counter()
    out: dict = {"mode": mode}
    if mode == "check":
        from ludwig_hub_export.source.checks import check

        report = check(url, base_model="tester/base")
        out.update(ok=report.passed(), bytes_read=report.bytes_read,
                   weight_files=sum(1 for k in report.files if k.endswith(".safetensors")))
    elif mode == "push_url":
        from ludwig_hub_export.workflows.push import ExportSettings, push

        report = push(url, ExportSettings(repo_id=repo_id, quiet=True, interactive=False, base_model="tester/base"))
        out.update(ok=report.verified)
    elif mode == "download_then_push":
        import s3fs

        from ludwig_hub_export.workflows.push import ExportSettings, push

        copy = Path(tempfile.mkdtemp(prefix="s3-copy-"))
        s3fs.S3FileSystem().get(url.removeprefix("s3://") + "/", str(copy) + "/", recursive=True)
        out["download"] = time.perf_counter() - started
        report = push(copy, ExportSettings(repo_id=repo_id, quiet=True, interactive=False, base_model="tester/base"))
        out.update(ok=report.verified)
        shutil.rmtree(copy)
    else:
        raise SystemExit(f"unknown mode {mode}")
    out["wall"] = time.perf_counter() - started
    with open("/proc/self/status") as f:
        out["peak_rss"] = int(next(line for line in f if line.startswith("VmHWM:")).split()[1]) * 1024
    print(json.dumps(out))


def du(root: Path) -> int:
    total = 0
    for dirpath, _, names in os.walk(root):
        for name in names:
            try:
                total += os.lstat(os.path.join(dirpath, name)).st_size
            except OSError:
                pass
    return total


def measure(mode: str, url: str, repo_id: str, env: dict, work: Path, label: str | None = None) -> dict:
    """Run `mode` in a child whose TMPDIR is a fresh directory; poll that directory's size meanwhile."""
    tmp = work / f"tmp-{label or mode}"
    tmp.mkdir()
    run_env = {**env, "TMPDIR": str(tmp), "LUDWIG_HUB_EXPORT_CACHE": str(work / f"cache-{label or mode}")}
    peak, stop = [0], threading.Event()

    def poll() -> None:
        while not stop.is_set():
            peak[0] = max(peak[0], du(tmp))
            time.sleep(0.02)

    watcher = threading.Thread(target=poll, daemon=True)
    watcher.start()
    done = subprocess.run([sys.executable, __file__, "--child", mode, url, repo_id], env=run_env,
                          capture_output=True, text=True)
    stop.set()
    watcher.join()
    line = (done.stdout.strip().splitlines() or ["{}"])[-1]
    result = json.loads(line) if line.startswith("{") else {"error": done.stderr[-800:]}
    result["peak_disk"] = peak[0]
    shutil.rmtree(tmp, ignore_errors=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--shard-mib", type=int, default=256)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--transfer", choices=("lfs", "xet"), default="lfs", help="the Hub's transfer protocol")
    parser.add_argument("--s3-mib-per-s", type=float, help="the bucket's link, MiB/s (default: loopback, unpaced)")
    parser.add_argument("--child", nargs=3, metavar=("MODE", "URL", "REPO"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return

    sys.path.insert(0, str(ROOT / "benchmarks"))
    from _hub import HubProcess
    from export_comparison import make_full

    from ludwig_hub_export.testing.s3 import LocalS3

    work = Path(tempfile.mkdtemp(prefix="storage-bench-"))
    hub = HubProcess(work / "hub")
    s3 = LocalS3(bandwidth=args.s3_mib_per_s * MIB if args.s3_mib_per_s else None).start()
    try:
        endpoint, token = hub.endpoint, hub.token
        control = hub.control()
        # Bytecode is written and used, as after `pip install` (which compiles it); a warm-up run below writes it.
        # Without it every fresh process compiles botocore, huggingface_hub and the rest from source (~1.5 s on
        # both sides), a cost no installed user pays.
        env = {**{k: v for k, v in os.environ.items()
                  if not k.startswith(("HF_", "AWS_")) and k != "PYTHONDONTWRITEBYTECODE"}, **s3.env(),
               "HF_ENDPOINT": endpoint, "HF_TOKEN": token,
               "HF_HUB_DISABLE_XET": "1" if args.transfer == "lfs" else "0",
               "HF_HUB_DISABLE_PROGRESS_BARS": "1", "HF_HOME": str(work / "hf-home"),
               "PYTHONPATH": str(ROOT)}
        os.environ.update(s3.env())
        import s3fs

        model = make_full(work / "src", args.size_mib * MIB, args.shard_mib * MIB)
        sizes = sorted((f.stat().st_size for f in model.rglob("*") if f.is_file()), reverse=True)
        fs = s3fs.S3FileSystem(skip_instance_cache=True)
        fs.mkdir(BUCKET)
        fs.put(str(model), f"{BUCKET}/model", recursive=True)
        shutil.rmtree(work / "src")
        url = f"s3://{BUCKET}/model"
        link = f", S3 link {args.s3_mib_per_s:g} MiB/s" if args.s3_mib_per_s else ", S3 on loopback, unpaced"
        print(f"model: {len(sizes)} files, {sum(sizes) / MIB:.0f} MiB, largest {sizes[0] / MIB:.0f} MiB{link} "
              f"(S3 at {s3.url}, Hub at {endpoint})")

        for mode in ("push_url", "download_then_push"):  # the warm-up: not counted
            control.reset()
            measure(mode, url, f"tester/warm-up-{mode.replace('_', '-')}", {**env, "HF_HOME": str(work / "hf-warm")},
                    work, f"warm-up-{mode}")
        s3.log.clear()
        checked = measure("check", url, "-", env, work)
        weight_gets = [r for r in s3.requests("GET", f"{BUCKET}/model/") if r.path.endswith(".safetensors")]
        per_file: dict[str, int] = {}
        for r in weight_gets:
            per_file[r.path] = per_file.get(r.path, 0) + r.bytes_sent
        ranged = all(r.range for r in weight_gets)
        print(f"check: {checked.get('wall', 0):.2f} s, {checked.get('bytes_read')} bytes read by check; S3 sent "
              f"{sum(per_file.values())} bytes for {len(per_file)} weight files (max {max(per_file.values())} per "
              f"file), all ranged: {ranged}, peak RSS {checked.get('peak_rss', 0) / MIB:.0f} MiB")

        # push_url: the default (one large file staged at a time); push_url_2: room for two (overlap)
        modes = {"push_url": ("push_url", env),
                 "push_url_2": ("push_url", {**env, "LUDWIG_HUB_EXPORT_STAGING_BYTES": str(2 * sizes[0])}),
                 "download_then_push": ("download_then_push", env)}
        results: dict[str, list[dict]] = {label: [] for label in modes}
        for run in range(args.runs):
            order = list(modes) if run % 2 == 0 else list(reversed(modes))
            for label in order:
                mode, mode_env = modes[label]
                control.reset()
                s3.log.clear()
                os.sync()
                time.sleep(3)  # the same start for every run: back-to-back uploads alternate fast and slow
                mode_env = {**mode_env, "HF_HOME": str(work / f"hf-home-{label}-{run}")}  # no Xet cache shared
                result = measure(mode, url, f"tester/{label.replace('_', '-')}-{run}", mode_env, work, label)
                result["s3_sent"] = s3.bytes_sent(f"{BUCKET}/model/")
                result["s3_gets"] = [(r.path.rsplit("/", 1)[1], r.range, r.status, r.bytes_sent)
                                     for r in s3.requests("GET", f"{BUCKET}/model/") if r.bytes_sent > MIB]
                results[label].append(result)
                if "error" in result:
                    print(f"{label}: FAILED {result['error']}")
                    return
                extra = f" (download {result['download']:.1f} s)" if "download" in result else ""
                print(f"{label:20} run {run + 1}: {result['wall']:6.1f} s{extra}, peak disk "
                      f"{result['peak_disk'] / MIB:6.0f} MiB, peak RSS {result['peak_rss'] / MIB:5.0f} MiB, "
                      f"S3 sent {result['s3_sent'] / MIB:6.0f} MiB")

        def median(mode: str, key: str) -> float:
            return statistics.median(r[key] for r in results[mode])

        ratio = median("push_url", "wall") / median("download_then_push", "wall")
        ratio2 = median("push_url_2", "wall") / median("download_then_push", "wall")
        print(f"push from the URL / download-then-push wall time: {ratio:.2f}x (goal <= 0.8x); with room for two "
              f"staged files: {ratio2:.2f}x")
        for label in modes:
            print(f"{label:20} peak disk {median(label, 'peak_disk') / sizes[0]:.2f}x the largest file, peak RSS "
                  f"{median(label, 'peak_rss') / MIB:.0f} MiB (goal for push_url: disk <= 1.1x)")
        for rows in results.values():
            for r in rows:
                r["s3_gets"] = len(r["s3_gets"])  # GETs of more than 1 MiB
        print(json.dumps({"check_bytes_per_weight_file_max": max(per_file.values()), "ratio": round(ratio, 3),
                          "results": results}))
    finally:
        s3.stop()
        hub.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
