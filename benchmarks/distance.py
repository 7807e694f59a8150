"""`ludwig-hub-export push` against `HfApi.upload_folder` and `hf upload`, at a distance from the Hub.

    .venv/bin/python benchmarks/distance.py [--code DIR] [--shapes 0:0,20:1000,80:100] [--models adapter,400mb]
        [--transfer xet,lfs] [--tools push,upload_folder,hf] [--pairs 5] [--json-out FILE]

The local Hub runs in its own process with a network shape (`hub serve --rtt MS --bandwidth MBIT`, see
docs/local-hub.md): `--shapes` lists RTT:MBIT pairs, 0:0 being loopback. Models (generated, random weights):
adapter (a LoRA save with ~10 MB of weights), 400mb (one 400 MiB safetensors file), 1g8 (1 GiB in 8 shards),
files2000 (2,000 files of 16 KiB). Each tool runs as users run it, in a fresh process:
- push: ``python -m ludwig_hub_export push MODEL --repo-id ...`` with the code of `--code DIR` (a git worktree,
  so the push under test can be any tree: ``git worktree add /tmp/bench-base HEAD``);
- upload_folder: ``python -c`` create_repo + `HfApi.upload_folder` of the files push uploads (manifest
  included), staged in a plain folder;
- hf: ``hf upload REPO FOLDER . --private --quiet`` of the same folder.
For each model and protocol, `--pairs` rounds, the tools' order rotating: cold (an emptied hub, a fresh HF_HOME
and hash cache, as a user on a new machine), then the unchanged re-run at once with the caches the cold run made.
Prints wall-time medians (min-max), the ratios to upload_folder, and the requests the Hub saw by endpoint kind
(medians), with the new connections.
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
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))
from _hub import HubProcess  # noqa: E402
from export_comparison import MIB, make_adapter, make_full, staged_folder  # noqa: E402

SETTLE_SECONDS = 1.0
TOOLS = ("push", "upload_folder", "hf")
MODELS = {  # name -> (builder, files)
    "adapter": lambda root: make_adapter(root),
    "400mb": lambda root: make_full(root, 400 * MIB, 400 * MIB),
    "1g8": lambda root: make_full(root, 1024 * MIB, 128 * MIB),
    "files2000": lambda root: make_full(root, 2000 * 16 * 1024, 16 * 1024),
}
UPLOAD_FOLDER = """
import sys
from huggingface_hub import HfApi
api = HfApi()
api.create_repo(sys.argv[1], private=True, exist_ok=True)
api.upload_folder(repo_id=sys.argv[1], folder_path=sys.argv[2])
"""


def parse_shapes(text: str) -> list[tuple[float, float]]:
    shapes = []
    for item in text.split(","):
        rtt, _, mbit = item.partition(":")
        shapes.append((float(rtt), float(mbit or 0)))
    return shapes


def shape_name(shape: tuple[float, float]) -> str:
    rtt, mbit = shape
    return "loopback" if not rtt and not mbit else f"{rtt:g}ms/{mbit:g}Mbit"


def command(tool: str, model: Path, folder: Path, repo: str, code: Path) -> list[str]:
    if tool == "push":
        return [sys.executable, "-m", "ludwig_hub_export", "push", str(model), "--repo-id", repo,
                "--base-model", "tester/base", "--format", "quiet"]
    if tool == "upload_folder":
        return [sys.executable, "-c", UPLOAD_FOLDER, repo, str(folder)]
    if tool == "hf":
        return [str(Path(sys.executable).parent / "hf"), "upload", repo, str(folder), ".", "--private", "--quiet"]
    raise SystemExit(f"unknown tool {tool}")


def requests_of(before: dict, after: dict) -> Counter:
    counts = Counter(after["requests"])
    counts.subtract(before.get("requests", {}))
    return Counter({k: n for k, n in counts.items() if n > 0 and k != "admin"})


TIMEOUT = 1800.0  # seconds a measured process may take (--timeout)


def measure(tool: str, model: Path, folder: Path, repo: str, env: dict, code: Path, control, before: dict) -> dict:
    started = time.perf_counter()
    try:
        out = subprocess.run(command(tool, model, folder, repo, code), env=env, cwd=code, capture_output=True,
                             text=True, timeout=TIMEOUT)
    except subprocess.TimeoutExpired as e:  # killed: recorded as a failure, the run goes on
        out = subprocess.CompletedProcess(e.cmd, -9, _text(e.stdout),
                                          _text(e.stderr) + f"\ntimed out after {TIMEOUT:g} s")
    wall = time.perf_counter() - started
    after = control.stats()
    sample = {"wall": wall, "ok": out.returncode == 0, "requests": dict(requests_of(before, after)),
              "connections": after.get("connections", 0) - before.get("connections", 0),
              "bytes_up": after["bytes_received"] - before.get("bytes_received", 0),
              "bytes_down": after["bytes_sent"] - before.get("bytes_sent", 0), "stats": after}
    if out.returncode != 0:
        sample["error"] = (out.stderr or out.stdout)[-1500:]
        print(f"    {tool} failed (exit {out.returncode}): {sample['error'][-400:]}", flush=True)
    return sample


def _text(data) -> str:
    return data.decode(errors="replace") if isinstance(data, bytes) else (data or "")


def run_round(tools, model: Path, folder: Path, name: str, transfer: str, base_env: dict, code: Path, control,
              work: Path) -> dict:
    samples = {}
    for tool in tools:
        control.reset()
        os.sync()  # the same start for every measurement: no write-back of the previous one's files running
        time.sleep(SETTLE_SECONDS)
        run = work / f"run-{tool}"
        shutil.rmtree(run, ignore_errors=True)
        env = {**base_env, "HF_HUB_DISABLE_XET": "1" if transfer == "lfs" else "0", "HF_HOME": str(run / "hf-home"),
               "LUDWIG_HUB_EXPORT_CACHE": str(run / "cache")}
        repo = f"tester/{name}-{tool}"
        cold = measure(tool, model, folder, repo, env, code, control, {})
        rerun = measure(tool, model, folder, repo, env, code, control, cold.pop("stats"))
        rerun.pop("stats")
        samples[tool] = {"cold": cold, "rerun": rerun}
        shutil.rmtree(run, ignore_errors=True)
    return samples


def median_requests(samples: list[dict]) -> dict:
    kinds = sorted({k for s in samples for k in s["requests"]})
    return {k: statistics.median(s["requests"].get(k, 0) for s in samples) for k in kinds}


def summarize(rows: list[dict], tools) -> dict:
    """Medians per tool and phase of one (shape, model, transfer)."""
    out = {}
    for tool in tools:
        for phase in ("cold", "rerun"):
            ok = [r[tool][phase] for r in rows if r[tool][phase]["ok"]]
            if not ok:
                out[(tool, phase)] = None
                continue
            walls = [s["wall"] for s in ok]
            out[(tool, phase)] = {
                "wall": statistics.median(walls), "min": min(walls), "max": max(walls), "n": len(ok),
                "failed": len(rows) - len(ok), "requests": median_requests(ok),
                "total_requests": statistics.median(sum(s["requests"].values()) for s in ok),
                "connections": statistics.median(s["connections"] for s in ok),
                "mib_up": statistics.median(s["bytes_up"] for s in ok) / MIB}
    return out


def report(shape: str, name: str, transfer: str, size: int, summary: dict, tools) -> None:
    pairs = max((v["n"] + v["failed"] for v in summary.values() if v), default=0)
    print(f"\n{shape}, {name} ({size / MIB:.0f} MiB), {transfer}: medians of {pairs} rounds")
    print(f"  {'':14} {'cold s':>7} {'(min-max)':>11} {'req':>5} {'conn':>5} {'MiB up':>7}   "
          f"{'rerun s':>7} {'(min-max)':>11} {'req':>5} {'conn':>5}")
    for tool in tools:
        cells = []
        for phase in ("cold", "rerun"):
            s = summary[(tool, phase)]
            if s is None:
                cells.append(f"{'failed':>7} {'':>11} {'':>5} {'':>5}" + (f" {'':>7}" if phase == "cold" else ""))
                continue
            cell = f"{s['wall']:7.2f} {s['min']:5.2f}-{s['max']:<5.2f} {s['total_requests']:5g} {s['connections']:5g}"
            cells.append(cell + (f" {s['mib_up']:7.1f}" if phase == "cold" else ""))
        print(f"  {tool:14} {cells[0]}   {cells[1]}")
    base = {p: summary.get(("upload_folder", p)) for p in ("cold", "rerun")}
    for tool in tools:
        if tool == "upload_folder" or not all(base.values()):
            continue
        mine = {p: summary.get((tool, p)) for p in ("cold", "rerun")}
        if not all(mine.values()):
            continue
        print(f"  {tool} / upload_folder: cold {mine['cold']['wall'] / base['cold']['wall']:.2f} "
              f"({mine['cold']['total_requests'] - base['cold']['total_requests']:+g} requests), unchanged re-run "
              f"{mine['rerun']['wall'] / base['rerun']['wall']:.2f} "
              f"({mine['rerun']['total_requests'] - base['rerun']['total_requests']:+g} requests)")
    for phase in ("cold", "rerun"):
        for tool in tools:
            s = summary[(tool, phase)]
            if s:
                kinds = ", ".join(f"{k} {v:g}" for k, v in s["requests"].items())
                print(f"    {phase:5} {tool:14} {kinds}")
    sys.stdout.flush()


def main() -> None:
    global TIMEOUT  # --timeout sets it; declared before the default below reads it
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--code", type=Path, default=ROOT, help="the tree whose push is measured (default: this one)")
    parser.add_argument("--shapes", default="0:0,20:1000,80:100", help="RTT_MS:MBIT,... (0:0 is loopback)")
    parser.add_argument("--models", default="adapter,400mb,1g8,files2000", help=",".join(MODELS))
    parser.add_argument("--transfer", default="xet,lfs")
    parser.add_argument("--tools", default=",".join(TOOLS))
    parser.add_argument("--pairs", type=int, default=5, help="rounds per case, the tools' order rotating")
    parser.add_argument("--json-out", type=Path, help="write every measurement and the medians here")
    parser.add_argument("--timeout", type=float, default=TIMEOUT, help="seconds a measured process may take "
                                                                       "before it is killed and counted as failed")
    parser.add_argument("--no-warmup", dest="warmup", action="store_false",
                        help="skip the first, uncounted run of each tool (it compiles the bytecode)")
    args = parser.parse_args()
    TIMEOUT = args.timeout
    code = args.code.resolve()
    tools = args.tools.split(",")
    models = args.models.split(",")
    for name in models:
        if name not in MODELS:
            raise SystemExit(f"unknown model {name}: choose among {', '.join(MODELS)}")
    work = Path(tempfile.mkdtemp(prefix="distance-bench-"))
    # Bytecode is written and used, as after `pip install`, but under a prefix of its own (the venv is left as is).
    base_env = {k: v for k, v in os.environ.items()
                if not k.startswith("HF_") and k not in ("PYTHONDONTWRITEBYTECODE", "LUDWIG_HUB_EXPORT_CACHE")}
    base_env.update({"PYTHONPATH": str(code), "PYTHONPYCACHEPREFIX": str(work / "pycache"),
                     "HF_HUB_DISABLE_PROGRESS_BARS": "1", "HF_HUB_DISABLE_TELEMETRY": "1",
                     "HF_HUB_DISABLE_UPDATE_CHECK": "1"})
    built = {}
    for name in models:
        model = MODELS[name](work / f"src-{name}")
        folder = staged_folder(model, work / f"folder-{name}")
        built[name] = (model, folder, sum(f.stat().st_size for f in folder.rglob("*") if f.is_file()))
    results = []
    meta = {"code": str(code), "commit": _commit(code), "pairs": args.pairs, "tools": tools,
            "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    try:
        for shape in parse_shapes(args.shapes):
            hub = HubProcess(work / f"hub-{shape_name(shape).replace('/', '-')}",
                             ["--rtt", f"{shape[0]:g}", "--bandwidth", f"{shape[1]:g}"])
            try:
                control = hub.control()
                env = {**base_env, "HF_ENDPOINT": hub.endpoint, "HF_TOKEN": hub.token}
                if args.warmup:  # one uncounted run of each tool: the bytecode is compiled here
                    model, folder, _ = built.get("adapter") or build_warmup(work)
                    run_round(tools, model, folder, "warmup", args.transfer.split(",")[0], env, code, control, work)
                    args.warmup = False
                for name in models:
                    model, folder, size = built[name]
                    for transfer in args.transfer.split(","):
                        rows = []
                        for i in range(args.pairs):
                            order = tools[i % len(tools):] + tools[:i % len(tools)]
                            rows.append(run_round(order, model, folder, name, transfer, env, code, control, work))
                        summary = summarize(rows, tools)
                        report(shape_name(shape), name, transfer, size, summary, tools)
                        results.append({"shape": shape_name(shape), "rtt_ms": shape[0], "mbit": shape[1],
                                        "model": name, "transfer": transfer, "size": size, "rounds": rows,
                                        "medians": {f"{t} {p}": v for (t, p), v in summary.items()}})
                        if args.json_out:
                            args.json_out.write_text(json.dumps({**meta, "results": results}, indent=1))
            finally:
                hub.stop()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print_table(results, tools)


def build_warmup(work: Path):
    model = make_adapter(work / "src-warmup")
    return model, staged_folder(model, work / "folder-warmup"), 0


def _commit(code: Path) -> str:
    out = subprocess.run(["git", "-C", str(code), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    dirty = subprocess.run(["git", "-C", str(code), "status", "--porcelain", "--untracked-files=no"],
                           capture_output=True, text=True).stdout.strip()
    return out.stdout.strip() + ("+dirty" if dirty else "")


def print_table(results: list[dict], tools) -> None:
    """One markdown table of every case: medians and the ratios to upload_folder."""
    print("\n| shape | model | transfer | push cold s | upload_folder cold s | hf cold s | push/uf cold | "
          "push req (uf req) | push rerun s | uf rerun s | push/uf rerun |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        m = r["medians"]

        def wall(key):
            return m.get(key)["wall"] if m.get(key) else None

        def fmt(x, pattern="{:.2f}"):
            return pattern.format(x) if x is not None else "-"

        def ratio(a, b):
            return fmt(a / b) if a is not None and b else "-"

        pc, uc, hc = wall("push cold"), wall("upload_folder cold"), wall("hf cold")
        pr, ur = wall("push rerun"), wall("upload_folder rerun")
        req = (f"{m['push cold']['total_requests']:g} ({m['upload_folder cold']['total_requests']:g})"
               if m.get("push cold") and m.get("upload_folder cold") else "-")
        print(f"| {r['shape']} | {r['model']} | {r['transfer']} | {fmt(pc)} | {fmt(uc)} | {fmt(hc)} | {ratio(pc, uc)} "
              f"| {req} | {fmt(pr)} | {fmt(ur)} | {ratio(pr, ur)} |")


if __name__ == "__main__":
    main()
