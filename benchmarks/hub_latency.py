"""Per-request latency of the local Hub through the real client, with and without Nagle's algorithm on the
server's connections (the handler answers with two writes, headers then body; with Nagle the body waited for the
client's delayed ACK). In one run, on loopback:

    .venv/bin/python benchmarks/hub_latency.py [--calls 20]

Prints the median and max milliseconds per call of whoami, repo_info(files_metadata=True) and get_paths_info.
The hub runs in this process (on its own threads), so both settings pay the same GIL sharing.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=20)
    args = parser.parse_args()
    from ludwig_hub_export.testing import server
    from ludwig_hub_export.testing.server import LocalHub

    work = Path(tempfile.mkdtemp(prefix="hub-latency-"))
    hub = LocalHub(work / "hub").start()
    os.environ.update(hub.env(token=hub.add_user("tester"), hf_home=work / "hf-home"))
    from huggingface_hub import HfApi

    api = HfApi()
    api.create_repo("tester/latency")
    calls = {"whoami": api.whoami, "repo_info": lambda: api.repo_info("tester/latency", files_metadata=True),
             "paths_info": lambda: api.get_paths_info("tester/latency", [".gitattributes"])}
    try:
        for nodelay in (False, True):
            server._Handler.disable_nagle_algorithm = nodelay
            from huggingface_hub.utils import close_session

            close_session()  # new connections, accepted with this setting
            for name, call in calls.items():
                call()  # the connection is open before timing
                ms = []
                for _ in range(args.calls):
                    started = time.perf_counter()
                    call()
                    ms.append((time.perf_counter() - started) * 1000)
                print(f"TCP_NODELAY {'on ' if nodelay else 'off'}  {name:11} median {statistics.median(ms):6.1f} ms"
                      f"  max {max(ms):6.1f} ms", flush=True)
    finally:
        server._Handler.disable_nagle_algorithm = True
        hub.stop()


if __name__ == "__main__":
    main()
