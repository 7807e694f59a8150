"""Cold start: how long `ludwig-hub-export check` takes on an adapter, from process start to exit, beside the
imports it avoids.

    .venv/bin/python benchmarks/cold_start.py [--runs 7]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ADAPTER = ROOT / "fixtures" / "models" / "lora_saved"


def timed(command: list[str], runs: int) -> float:
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(command, capture_output=True, check=False)
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    exe = str(Path(sys.executable).parent / "ludwig-hub-export")
    rows = [
        ("python -c pass (interpreter)", [sys.executable, "-c", "pass"]),
        ("ludwig-hub-export --help", [exe, "--help"]),
        ("ludwig-hub-export check ADAPTER", [exe, "check", str(ADAPTER), "--base-model", "org/base"]),
        ("python -c 'import huggingface_hub'", [sys.executable, "-c", "import huggingface_hub"]),
        ("python -c 'import peft'", [sys.executable, "-c", "import peft"]),
        ("python -c 'import ludwig.api'", [sys.executable, "-c", "import ludwig.api"]),
    ]
    results = [(name, timed(cmd, args.runs if "ludwig.api" not in name else max(3, args.runs // 2)))
               for name, cmd in rows]
    check = dict(results)["ludwig-hub-export check ADAPTER"]
    print(f"{'command':40} {'median s':>9} {'x check':>8}")
    for name, seconds in results:
        print(f"{name:40} {seconds:9.3f} {seconds / check:8.1f}")


if __name__ == "__main__":
    main()
