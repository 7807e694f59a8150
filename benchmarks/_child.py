"""One measured upload in a fresh process (so peak memory and bytes read are its own). Prints one JSON line.

    python benchmarks/_child.py push|upload_folder|ludwig|hf_cli SOURCE REPO_ID [FOLDER]
    python benchmarks/_child.py pull|snapshot_download DEST REPO_ID
"""

from __future__ import annotations

import json
import sys
import time


def io_read() -> int:
    with open("/proc/self/io") as f:
        return int(next(line for line in f if line.startswith("rchar:")).split()[1])


def peak_rss() -> int:
    # VmHWM, not ru_maxrss: after fork + exec, ru_maxrss still holds the parent's peak.
    with open("/proc/self/status") as f:
        return int(next(line for line in f if line.startswith("VmHWM:")).split()[1]) * 1024


def main() -> None:
    mode, source, repo_id = sys.argv[1:4]
    folder = sys.argv[4] if len(sys.argv) > 4 else None
    started, read0 = time.perf_counter(), io_read()
    if mode == "push":
        from ludwig_hub_export.workflows.push import ExportSettings, push

        report = push(source, ExportSettings(repo_id=repo_id, quiet=True, interactive=False, base_model="tester/base"))
        ok = report.verified
    elif mode == "upload_folder":
        from huggingface_hub import HfApi
        from huggingface_hub.utils import disable_progress_bars

        disable_progress_bars()
        api = HfApi()
        api.create_repo(repo_id, private=True, exist_ok=True)
        api.upload_folder(repo_id=repo_id, folder_path=folder)
        ok = True
    elif mode == "ludwig":
        from ludwig.api import LudwigModel

        try:
            ok = bool(LudwigModel.upload_to_hf_hub(repo_id, source, private=True))
        except Exception as e:  # noqa: BLE001 - reported as a failure of the baseline
            print(json.dumps({"mode": mode, "error": f"{type(e).__name__}: {str(e).splitlines()[0][:200]}"}))
            return
    elif mode == "hf_cli":
        from huggingface_hub.cli.hf import main as hf_main  # in this process, so its reads are counted

        sys.argv = ["hf", "upload", repo_id, folder, ".", "--private", "--quiet"]
        try:
            hf_main()
            ok = True
        except SystemExit as e:
            ok = e.code in (0, None)
        if not ok:
            print(json.dumps({"mode": mode, "error": "hf upload failed"}))
            return
    elif mode == "pull":  # `source` is the destination here
        from ludwig_hub_export.workflows.pull import pull

        ok = bool(pull(repo_id, source, progress=False).files)
    elif mode == "snapshot_download":
        from huggingface_hub import snapshot_download
        from huggingface_hub.utils import disable_progress_bars

        disable_progress_bars()
        ok = bool(snapshot_download(repo_id, local_dir=source))
    else:
        raise SystemExit(f"unknown mode {mode}")
    wall = time.perf_counter() - started
    rss = peak_rss()
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF)  # all threads, imports included
    print(json.dumps({"mode": mode, "ok": ok, "wall": wall, "read": io_read() - read0, "peak_rss": rss,
                      "cpu": usage.ru_utime + usage.ru_stime}))


if __name__ == "__main__":
    main()
