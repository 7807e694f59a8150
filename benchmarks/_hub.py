"""The local Hub in its own process, for benchmarks: its CPU and memory are then not the measured client's."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


class HubProcess:
    """`ludwig-hub-export hub serve --data DATA`, started at once. It prints ``HF_ENDPOINT=...`` first and
    ``HF_TOKEN_PATH=...`` second (a 0600 file: the token is never on its output). `extra`: more options of
    `hub serve` (``--rtt 80 --bandwidth 100``). The hub is this tree's, whichever tree a benchmark measures."""

    def __init__(self, data: Path, extra: list[str] | tuple[str, ...] = ()) -> None:
        self.data = data
        self.process = subprocess.Popen([sys.executable, "-m", "ludwig_hub_export", "hub", "serve", "--data",
                                         str(data), *extra], stdout=subprocess.PIPE, text=True, cwd=ROOT,
                                        env={**os.environ, "PYTHONPATH": str(ROOT)})
        self.endpoint = self._value("HF_ENDPOINT")
        self.token_path = self._value("HF_TOKEN_PATH")
        self.token = Path(self.token_path).read_text()

    def _value(self, name: str) -> str:
        line = self.process.stdout.readline().strip()
        if not line.startswith(f"{name}="):
            self.stop()
            raise SystemExit(f"hub serve did not start: expected {name}=..., got {line!r}")
        return line.split("=", 1)[1]

    def control(self):
        """The admin API of this hub (stats, resets, faults)."""
        from ludwig_hub_export.testing import HubControl

        return HubControl.from_data_dir(self.endpoint, self.data)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)
