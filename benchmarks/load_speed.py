"""`load(repo)` versus what it replaces: ``snapshot_download`` of the same files, laid out as Ludwig's model
directory by hand (symlinks, nothing verified), then ``LudwigModel.load``; and a warm `load` (the same commit
again): requests made, bytes read for verification.

    .venv/bin/python benchmarks/load_speed.py [--pairs 5] [--size-mib 64] [--transfers xet,lfs] \
        [--shapes 0:0,20:1000,80:100]

The model: a LLaMA full fine-tune (random weights, the fixtures' tokenizer) saved in 8 safetensors shards of
SIZE/8, pushed once with `push`. Each measurement runs in a fresh process with a fresh HF_HOME (cold), the two
ways alternating and which goes first alternating too; the clock starts after the imports both share
(ludwig.api, huggingface_hub, this package), so it measures download, verification, layout and the load.
The warm runs are two more processes on the HF_HOME a cold `load` just filled, online and with
HF_HUB_OFFLINE=1, each building the model directory only (what LudwigModel.load then reads and asks is Ludwig's).
Prints medians and each sample.
The hub runs in its own process, at each network shape RTT_MS:MBIT (`hub serve --rtt --bandwidth`; 0:0 is
loopback).
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
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))
MIB = 1 << 20
BASE = "tester/tiny-llama"
WAYS = ("load", "snapshot+load")


def make_model(root: Path, total: int) -> Path:
    """full_saved with its weights replaced by a bigger LLaMA of the same vocabulary, in 8 shards."""
    from helpers import copy_fixture
    from transformers import AutoConfig, AutoModelForCausalLM

    model = copy_fixture("full_saved", root)
    weights = model / "model_weights"
    config = AutoConfig.from_pretrained(weights)
    hidden = max(16, int((total / 4 / 8 / 10) ** 0.5) // 16 * 16)  # 8 layers of ~10 hidden^2 parameters
    config.update({"hidden_size": hidden, "intermediate_size": 2 * hidden, "num_hidden_layers": 8,
                   "num_attention_heads": 2, "num_key_value_heads": 2, "head_dim": hidden // 2})
    shutil.rmtree(weights)
    llm = AutoModelForCausalLM.from_config(config)
    size = sum(p.numel() * p.element_size() for p in llm.parameters())
    for step in range(40):  # transformers packs tensors by size, not by layer: find a limit that gives 8 shards
        shutil.rmtree(weights, ignore_errors=True)
        llm.save_pretrained(weights, max_shard_size=int(size / 8 * (1 + step / 100)))
        if len(list(weights.glob("*.safetensors"))) == 8:
            break
    else:
        raise SystemExit("no shard size gives 8 shards: pick another --size-mib")
    return model


def child(way: str, repo_id: str) -> None:
    """One measurement, in this (fresh) process; prints one JSON line."""
    import ludwig.api  # noqa: F401 - imported before the clock by both ways
    from huggingface_hub import snapshot_download
    from huggingface_hub.utils import disable_progress_bars

    from ludwig_hub_export.workflows import load as loading
    from ludwig_hub_export.source.ludwig_compat import load_model
    from ludwig_hub_export.artifact.manifest import parse_manifest

    disable_progress_bars()
    started, read0 = time.perf_counter(), _rchar()
    if way == "warm":  # the model directory only: the requests and reads of LudwigModel.load are Ludwig's
        loading.model_dir(repo_id)
        verify_read = _rchar() - read0
    elif way == "load":
        model_dir = loading.model_dir(repo_id)
        verify_read = _rchar() - read0
        load_model(model_dir)
    else:  # what a user would do by hand: the same files from the cache, linked where Ludwig looks
        from huggingface_hub import hf_hub_download

        manifest = parse_manifest(Path(hf_hub_download(repo_id, "ludwig_export.json")).read_bytes(), repo_id)
        snapshot = Path(snapshot_download(repo_id, allow_patterns=[e.path for e in manifest.files]))
        tree = Path(tempfile.mkdtemp(prefix="by-hand-"))
        for entry in manifest.files:
            (tree / entry.target).parent.mkdir(parents=True, exist_ok=True)
            os.symlink(snapshot / entry.path, tree / entry.target)
        verify_read = 0
        load_model(tree / "model")
    print(json.dumps({"way": way, "wall": time.perf_counter() - started, "verify_read": verify_read}))


def _rchar() -> int:
    with open("/proc/self/io") as f:
        return int(next(line for line in f if line.startswith("rchar:")).split()[1])


def run(way: str, repo_id: str, env: dict) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", way, repo_id], env=env, capture_output=True,
                         text=True)
    line = (out.stdout.strip().splitlines() or ["{}"])[-1]
    if not line.startswith("{"):
        raise SystemExit(f"{way} failed: {out.stderr[-1500:]}")
    return json.loads(line)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pairs", type=int, default=5)
    parser.add_argument("--size-mib", type=int, default=64, help="total weights of the 8-shard model")
    parser.add_argument("--transfers", default="xet,lfs")
    parser.add_argument("--shapes", default="0:0,20:1000,80:100", help="RTT_MS:MBIT,... (0:0: loopback)")
    parser.add_argument("--child", nargs=2, metavar=("WAY", "REPO"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(*args.child)
    from _hub import HubProcess

    work = Path(tempfile.mkdtemp(prefix="load-bench-"))
    try:
        model = make_model(work / "src", args.size_mib * MIB)
        for shape in args.shapes.split(","):
            rtt, _, mbit = shape.partition(":")
            mbit = mbit or "0"
            where = "loopback" if float(rtt) == 0 and float(mbit) == 0 else f"{rtt} ms, {mbit} Mbit/s"
            hub = HubProcess(work / f"hub-{rtt}-{mbit}", ["--rtt", rtt, "--bandwidth", mbit])
            try:
                measure(hub, work, model, args, where)
            finally:
                hub.stop()
    finally:
        shutil.rmtree(work, ignore_errors=True)


def measure(hub, work: Path, model: Path, args, where: str) -> None:
    """Push the model once per transfer, then the alternating pairs and the warm runs; prints the results."""
    from huggingface_hub import HfApi

    # Compiled bytecode, as after `pip install`: some machines set PYTHONDONTWRITEBYTECODE.
    base_env = {**{k: v for k, v in os.environ.items() if not k.startswith("HF_") and k != "PYTHONDONTWRITEBYTECODE"},
                "HF_ENDPOINT": hub.endpoint, "HF_TOKEN": hub.token, "HF_HUB_DISABLE_PROGRESS_BARS": "1",
                "HF_HUB_DISABLE_TELEMETRY": "1", "LUDWIG_HUB_EXPORT_CACHE": str(work / "cache"),
                "PYTHONPATH": str(ROOT)}
    api = HfApi(endpoint=hub.endpoint, token=hub.token)
    api.create_repo(BASE, exist_ok=True)
    api.upload_folder(repo_id=BASE, folder_path=ROOT / "fixtures" / "models" / "_base" / "tiny-llama")
    control = hub.control()
    print(f"cold load vs snapshot_download + LudwigModel.load, 8 shards of {args.size_mib / 8:.0f} MiB, "
          f"{args.pairs} alternating pairs, medians after imports ({os.cpu_count()} CPUs, {where})")
    for transfer in args.transfers.split(","):
        env = {**base_env, "HF_HUB_DISABLE_XET": "1" if transfer == "lfs" else "0"}
        repo_id = f"tester/shards8-{transfer}"
        pushed = subprocess.run([sys.executable, "-c", "import sys; from ludwig_hub_export import export; "
                                 "export(sys.argv[1], sys.argv[2], base_model=sys.argv[3], quiet=True, "
                                 "interactive=False)", str(model), repo_id, BASE],
                                env={**env, "HF_HOME": str(work / "push-home")}, capture_output=True, text=True)
        if pushed.returncode != 0:
            raise SystemExit(f"push failed: {pushed.stderr[-1500:]}")
        samples: dict[str, list[float]] = {w: [] for w in WAYS}
        cold_requests: dict[str, dict] = {}
        warm = []
        for n in range(-1, args.pairs):  # pair -1 warms the bytecode, not counted
            for way in (WAYS if n % 2 == 0 else WAYS[::-1]):
                home = work / f"home-{transfer}-{way[:4]}-{n}"
                before = control.stats()["requests"]
                result = run(way, repo_id, {**env, "HF_HOME": str(home)})
                if n >= 0:
                    samples[way].append(result["wall"])
                    cold_requests[way] = _delta(before, control.stats()["requests"])
                if way == "load" and n >= 0:
                    for offline in ("0", "1"):
                        before = control.stats()["requests"]
                        again = run("warm", repo_id, {**env, "HF_HOME": str(home), "HF_HUB_OFFLINE": offline})
                        warm.append((offline, again["wall"], again["verify_read"],
                                     _delta(before, control.stats()["requests"])))
                shutil.rmtree(home, ignore_errors=True)
        ours, theirs = (statistics.median(samples[w]) for w in WAYS)
        print(f"  {transfer}: load {ours:.2f} s, snapshot_download + LudwigModel.load {theirs:.2f} s, ratio "
              f"{ours / theirs:.2f}  (load: {' '.join(f'{w:.2f}' for w in samples['load'])}; by hand: "
              f"{' '.join(f'{w:.2f}' for w in samples['snapshot+load'])})")
        for way in WAYS:
            print(f"  {transfer}: cold {way} requests {cold_requests[way]}")
        for offline in ("0", "1"):
            runs = [w for w in warm if w[0] == offline]
            print(f"  {transfer}: warm model_dir{' offline' if offline == '1' else ''}: "
                  f"{statistics.median(w[1] for w in runs):.3f} s, bytes read (any file, modules included) "
                  f"{max(w[2] for w in runs)} at most, requests {runs[-1][3] or 'none'}", flush=True)


def _delta(before: dict, after: dict) -> dict:
    """Requests by endpoint between two stats, the admin API's own left out."""
    return {k: v - before.get(k, 0) for k, v in sorted(after.items()) if v != before.get(k, 0) and k != "admin"}


if __name__ == "__main__":
    main()
