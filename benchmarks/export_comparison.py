"""Export comparison: ludwig-hub-export `push` versus plain `HfApi.upload_folder`, Ludwig's
`upload_to_hf_hub` and the `hf upload` command, all against one local Hub in the same run.

    .venv/bin/python benchmarks/export_comparison.py [--models adapter,1g] [--tools push,upload_folder] [--runs 3]

Models (generated, real safetensors headers, random weights):
  adapter  a LoRA save with ~10 MB of weights          1g / 4g  a full-model save sharded in 512 MiB files
  files2000  a full-model save split into 2,000 small shards
Each measurement runs in a fresh process (benchmarks/_child.py) against a freshly emptied hub, so every byte is
really uploaded; the hub runs in its own process. Prints medians and the ratio to upload_folder.
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
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))
from _hub import HubProcess  # noqa: E402 - benchmarks/ is the script's directory

MIB = 1 << 20


def make_full(root: Path, total: int, shard_size: int) -> Path:
    import numpy as np
    from helpers import copy_fixture
    from safetensors.numpy import save_file

    model = copy_fixture("full_saved", root)
    weights = model / "model_weights"
    (weights / "model.safetensors").unlink()
    n = max(1, -(-total // shard_size))
    rng = np.random.default_rng(0)
    weight_map = {}
    for i in range(n):
        name = f"model-{i + 1:05d}-of-{n:05d}.safetensors"
        count = min(shard_size, total - i * shard_size) // 4
        tensor = f"model.layers.{i}.weight"
        save_file({tensor: rng.standard_normal(count, dtype=np.float32)}, str(weights / name))
        weight_map[tensor] = name
    (weights / "model.safetensors.index.json").write_text(json.dumps({"metadata": {"total_size": total},
                                                                      "weight_map": weight_map}))
    return model


def make_adapter(root: Path, extra: int = 10 * MIB) -> Path:
    import numpy as np
    from helpers import copy_fixture
    from safetensors.numpy import load_file, save_file

    model = copy_fixture("lora_saved", root)
    path = model / "model_weights" / "adapter_model.safetensors"
    tensors = load_file(str(path))
    tensors["base_model.model.lm_head.modules_to_save.default.weight"] = \
        np.random.default_rng(0).standard_normal(extra // 4, dtype=np.float32)
    save_file(tensors, str(path), metadata={"format": "pt"})
    return model


def staged_folder(model: Path, dest: Path) -> Path:
    """Exactly the files `push` uploads (manifest included), as a plain folder: what a careful user would hand
    to upload_folder."""
    from ludwig_hub_export.source.checks import check
    from ludwig_hub_export.artifact.plan import add_manifest, build_plan

    plan = build_plan(check(model, base_model="tester/base"), "tester/x", base_model="tester/base")
    for f in plan.files:
        if f.digest is None:
            f.digest = plan.cache.digest(f.source)
    add_manifest(plan)
    for f in plan.files:
        target = dest / f.path
        target.parent.mkdir(parents=True, exist_ok=True)
        if f.data is not None:
            target.write_bytes(f.data)
        else:
            os.link(f.source, target)
    return dest


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--models", default="adapter,1g")
    parser.add_argument("--tools", default="push,upload_folder,ludwig,hf_cli")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--json-out", type=Path, help="also write the measurements here (for benchmarks/plot.py)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="export-bench-"))
    hub = HubProcess(work / "hub")
    endpoint, token_path, token = hub.endpoint, hub.token_path, hub.token
    home = work / "home"  # Ludwig's uploader reads ~/.cache/huggingface/token: give it a private HOME
    (home / ".cache" / "huggingface").mkdir(parents=True)
    (home / ".cache" / "huggingface" / "token").write_text(token)
    control = hub.control()
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("HF_")}, "HF_ENDPOINT": endpoint,
           "HF_TOKEN": token, "HF_HUB_DISABLE_XET": "1", "HF_HUB_DISABLE_PROGRESS_BARS": "1", "HOME": str(home),
           "HF_HOME": str(work / "hf-home")}
    rows = []
    try:
        for model_name in args.models.split(","):
            src_root = work / f"src-{model_name}"
            src_root.mkdir()
            if model_name == "adapter":
                model = make_adapter(src_root)
            elif model_name == "files2000":
                model = make_full(src_root, 2000 * 16 * 1024, 16 * 1024)
            else:
                model = make_full(src_root, int(float(model_name.rstrip("g")) * 1024) * MIB, 512 * MIB)
            folder = staged_folder(model, work / f"folder-{model_name}")
            # Ludwig's uploader accepts only <dir>/model/model_weights/: give it the normalized layout.
            from ludwig_hub_export.source.normalization import normalize

            normalized = normalize(model, work / f"normalized-{model_name}").dest
            size = sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())
            for tool in args.tools.split(","):
                samples = []
                for run in range(args.runs):
                    control.reset()
                    stats0 = control.stats()
                    run_env = {**env, "LUDWIG_HUB_EXPORT_CACHE": str(work / f"cache-{tool}-{run}")}
                    source = normalized if tool == "ludwig" else model
                    out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "_child.py"), tool, str(source),
                                          f"tester/{model_name}-{tool}-{run}", str(folder)], env=run_env,
                                         capture_output=True, text=True)
                    line = (out.stdout.strip().splitlines() or ["{}"])[-1]
                    result = json.loads(line) if line.startswith("{") else {"error": out.stderr[-300:]}
                    stats1 = control.stats()
                    result["requests"] = sum(stats1["requests"].values()) - sum(stats0["requests"].values()) - 1
                    result["sent"] = stats1["bytes_received"] - stats0["bytes_received"]
                    samples.append(result)
                    if "error" in result:
                        break
                rows.append((model_name, size, tool, samples))
            for row in [r for r in rows if r[0] == model_name]:
                print_row(row, rows)
            if args.json_out:
                args.json_out.write_text(json.dumps([{"model": m, "size": sz, "tool": t, "samples": smp}
                                                     for m, sz, t, smp in rows], indent=1))
    finally:
        hub.stop()
        shutil.rmtree(work, ignore_errors=True)


def print_row(row, rows) -> None:
    model_name, size, tool, samples = row
    if next(r for r in rows if r[0] == model_name) is row:
        print(f"\n{model_name}: {size / MIB:.1f} MiB in the upload")
        print(f"  {'tool':14} {'wall s':>8} {'x upload_folder':>16} {'read MiB':>9} {'sent MiB':>9} "
              f"{'requests':>9} {'peak RSS MiB':>13}")
    if "error" in samples[-1]:
        print(f"  {tool:14} failed: {samples[-1]['error']}")
        return
    wall = statistics.median(s["wall"] for s in samples)
    baseline = next((r for r in rows if r[0] == model_name and r[2] == "upload_folder" and "error" not in r[3][-1]),
                    None)
    ratio = f"{wall / statistics.median(s['wall'] for s in baseline[3]):.2f}" if baseline else "-"
    print(f"  {tool:14} {wall:8.2f} {ratio:>16} {statistics.median(s['read'] for s in samples) / MIB:9.1f} "
          f"{statistics.median(s['sent'] for s in samples) / MIB:9.1f} "
          f"{statistics.median(s['requests'] for s in samples):9.0f} "
          f"{statistics.median(s['peak_rss'] for s in samples) / MIB:13.0f}", flush=True)


if __name__ == "__main__":
    main()
