"""The local Hub at a distance (`LocalHub(rtt=, bandwidth=)`, `hub serve --rtt --bandwidth`): round trips,
handshakes and a shared bandwidth, measured from a plain HTTP client."""

from __future__ import annotations

import base64
import http.client
import json
import os
import signal
import subprocess
import sys
import threading
import time
from urllib.parse import urlsplit

import pytest

from ludwig_hub_export.testing import LocalHub

RTT = 0.05  # seconds; the hubs below are started with rtt=50 (ms)
BURST = 64 * 1024  # a link's bucket starts full: this much goes at once


@pytest.fixture
def far_hub():
    with LocalHub(rtt=RTT * 1000, bandwidth=40) as hub:
        yield hub


def _connect(hub_url: str) -> http.client.HTTPConnection:
    split = urlsplit(hub_url)
    return http.client.HTTPConnection(split.hostname, split.port, timeout=30)


def _timed(conn: http.client.HTTPConnection, method: str, path: str, body: bytes | None = None,
           headers: dict | None = None) -> tuple[float, int, bytes]:
    started = time.monotonic()
    conn.request(method, path, body=body, headers=headers or {})
    response = conn.getresponse()
    data = response.read()
    return time.monotonic() - started, response.status, data


def _auth(hub: LocalHub) -> dict:
    return {"Authorization": f"Bearer {hub.token}"}


@pytest.mark.parametrize("path", ["/api/whoami-v2", f"/cas/v1/chunks/default/{'ab' * 32}"])
def test_a_new_connection_pays_the_handshakes_and_a_kept_one_one_round_trip(far_hub: LocalHub, path: str):
    conn = _connect(far_hub.url)
    first, status, _ = _timed(conn, "GET", path, headers=_auth(far_hub))
    again, status_again, _ = _timed(conn, "GET", path, headers=_auth(far_hub))
    conn.close()
    assert status == status_again  # the Hub API and the Xet CAS alike: every answer, errors included, is far
    assert first >= 3 * RTT
    assert RTT <= again < 2 * RTT
    assert far_hub.stats.connections == 1 and sum(far_hub.stats.requests.values()) == 2


def test_each_new_connection_pays_again(far_hub: LocalHub):
    for _ in range(2):
        conn = _connect(far_hub.url)
        seconds, status, _ = _timed(conn, "GET", "/api/whoami-v2", headers=_auth(far_hub))
        conn.close()
        assert status == 200 and seconds >= 3 * RTT
    assert far_hub.stats.connections == 2


def _commit_body(path: str, data: bytes) -> bytes:
    lines = [{"key": "header", "value": {"summary": "big"}},
             {"key": "file", "value": {"path": path, "content": base64.b64encode(data).decode(),
                                       "encoding": "base64"}}]
    return "".join(json.dumps(line) + "\n" for line in lines).encode()


def test_bytes_each_way_take_the_bandwidth(far_hub: LocalHub):
    conn = _connect(far_hub.url)
    _timed(conn, "POST", "/api/repos/create", json.dumps({"name": "far", "type": "model"}).encode(),
           {**_auth(far_hub), "Content-Type": "application/json"})
    data = os.urandom(1_500_000)
    body = _commit_body("big.bin", data)  # ~2 MB: 0.4 s at 40 Mbit/s
    up, status, _ = _timed(conn, "POST", "/api/models/tester/far/commit/main", body,
                           {**_auth(far_hub), "Content-Type": "application/x-ndjson"})
    assert status == 200
    assert up >= (len(body) - BURST) * 8 / 40e6 + RTT
    assert up < 4 * (len(body) * 8 / 40e6 + RTT)  # paced, not stalled
    down, status, got = _timed(conn, "GET", "/tester/far/resolve/main/big.bin", headers=_auth(far_hub))
    conn.close()
    assert status == 200 and got == data
    assert down >= (len(data) - BURST) * 8 / 40e6 + RTT


def test_connections_share_the_bandwidth(far_hub: LocalHub):
    body = b"x" * 1_000_000  # drained by the hub (an unknown endpoint): 0.2 s alone at 40 Mbit/s, 0.4 s for two
    times = []

    def upload() -> None:
        conn = _connect(far_hub.url)
        times.append(_timed(conn, "POST", "/api/nowhere", body)[0])
        conn.close()

    threads = [threading.Thread(target=upload) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert max(times) >= (2 * len(body) - BURST) * 8 / 40e6


def test_an_unshaped_hub_answers_at_once(local_hub: LocalHub):
    conn = _connect(local_hub.url)
    seconds, status, _ = _timed(conn, "GET", "/api/whoami-v2", headers=_auth(local_hub))
    conn.close()
    assert status == 200 and seconds < RTT


def test_hub_serve_rtt_and_bandwidth(tmp_path):
    process = subprocess.Popen([sys.executable, "-m", "ludwig_hub_export", "hub", "serve", "--data",
                                str(tmp_path / "hub"), "--rtt", "50", "--bandwidth", "40"],
                               stdout=subprocess.PIPE, text=True)
    try:
        endpoint = process.stdout.readline().strip().split("=", 1)[1]
        token = open(process.stdout.readline().strip().split("=", 1)[1]).read()
        assert "50 ms round trips, 40 Mbit/s" in process.stdout.readline()
        conn = _connect(endpoint)
        first, status, _ = _timed(conn, "GET", "/api/whoami-v2", headers={"Authorization": f"Bearer {token}"})
        again, _, _ = _timed(conn, "GET", "/api/whoami-v2", headers={"Authorization": f"Bearer {token}"})
        up, _, _ = _timed(conn, "POST", "/api/nowhere", b"x" * 1_000_000)
        conn.close()
        assert status == 200 and first >= 3 * RTT and RTT <= again < 2 * RTT
        assert up >= (1_000_000 - BURST) * 8 / 40e6 + RTT
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
