"""The local Hub in its own process, for benchmarks: its CPU and memory are then not the measured client's."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


class HubProcess:
    """`ludwig-hub-export hub serve --data DATA`, started at once. It prints ``HF_ENDPOINT=...`` first and
    ``HF_TOKEN_PATH=...`` second (a 0600 file: the token is never on its output)."""

    def __init__(self, data: Path) -> None:
        self.data = data
        self.process = subprocess.Popen([sys.executable, "-m", "ludwig_hub_export", "hub", "serve", "--data",
                                         str(data)], stdout=subprocess.PIPE, text=True)
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
