"""Requests to the Hub with the standard library, for what runs before the Hub client is loaded (`first_look`,
`head_start`): loading huggingface_hub's API and its HTTP client costs ~0.2 s. They never retry and never raise:
a failed request is no answer, and the caller leaves the work to the client, which retries and explains."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from urllib.parse import urlsplit

from . import __version__

MAX_BODY = 64 << 20  # a JSON answer larger than this is left to the client
PUT_BLOCK = 1 << 20  # what http.client reads and sends of a file at a time (its default, 8 KiB, costs CPU)


def user_agent() -> str:
    return f"ludwig_hub_export/{__version__}; python/{sys.version.split()[0]}"


def tls_context():
    """Server certificates checked against what the client trusts: `SSL_CERT_FILE` or `SSL_CERT_DIR` when set,
    else the system's default paths (httpcore2's `default_ssl_context` on Linux; not certifi's bundle). Where the
    client uses the OS store instead (macOS, Windows) and the two disagree, the handshake fails and the work goes
    on through the client."""
    import ssl

    return ssl.create_default_context()  # its default paths honour SSL_CERT_FILE and SSL_CERT_DIR


def connect(url: str, timeout: float, tls=None):
    """(connection, path with query) for `url`, or None for a scheme it does not speak (https without `tls`)."""
    import http.client

    parts = urlsplit(url)
    if parts.scheme == "https" and tls is not None:
        conn = http.client.HTTPSConnection(parts.hostname, parts.port, timeout=timeout, context=tls,
                                           blocksize=PUT_BLOCK)
    elif parts.scheme == "http":
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout, blocksize=PUT_BLOCK)
    else:
        return None
    return conn, f"{parts.path}?{parts.query}" if parts.query else parts.path


def request_json(method: str, url: str, token: str, timeout: float, tls=None, payload: dict | bytes | None = None,
                 media_type: str = "application/json") -> tuple[int, dict, object] | None:
    """(status, lower-cased headers, parsed JSON body or None), or None when the request itself failed.
    `payload` is sent as a body of `media_type`: a dict as JSON, bytes as they are."""
    import http.client

    try:
        target = connect(url, timeout, tls)
        if target is None:
            return None
        conn, path = target
        try:
            sent = {"authorization": f"Bearer {token}", "accept-encoding": "identity", "user-agent": user_agent()}
            if payload is not None:
                sent["content-type"] = media_type
                sent["accept"] = media_type if isinstance(payload, dict) else "application/json"
            body = payload if payload is None or isinstance(payload, bytes) else json.dumps(payload).encode()
            conn.request(method, path, headers=sent, body=body)
            response = conn.getresponse()
            length = int(response.headers.get("content-length") or 0)
            if length > MAX_BODY:
                return None
            body = response.read(MAX_BODY + 1)
            headers = {k.lower(): v for k, v in response.getheaders()}
        finally:
            conn.close()
    except (OSError, http.client.HTTPException, ValueError):
        return None
    try:
        parsed = json.loads(body) if body and len(body) <= MAX_BODY else None
    except ValueError:
        parsed = None
    return response.status, headers, parsed


def put_file(url: str, path: Path, size: int, timeout: float, tls=None, on_connect=None) -> int | None:
    """PUT the file's bytes at `url` (a storage address: no token is sent); its status, or None when it failed.
    `on_connect(conn)` gets the connection, so that another thread can close it."""
    import http.client

    try:
        target = connect(url, timeout, tls)
        if target is None:
            return None
        conn, where = target
        if on_connect is not None:
            on_connect(conn)
        try:
            with open(path, "rb") as body:
                conn.request("PUT", where, body=body, headers={"content-length": str(size),
                                                                "user-agent": user_agent()})
            response = conn.getresponse()
            response.read(MAX_BODY)
            return response.status
        finally:
            conn.close()
    except (OSError, http.client.HTTPException, ValueError):
        return None
