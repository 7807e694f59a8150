"""Command line: a thin layer over the Python API. Heavy libraries are imported inside the commands that need
them, so `--help` and the light commands start fast."""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path

from .errors import EXIT_OK, EXIT_USAGE, ExportError

PROG = "ludwig-hub-export"


def _serve(args: argparse.Namespace) -> int:
    from .testing import LocalHub
    from .testing.api import Limits

    if args.host not in ("127.0.0.1", "localhost", "::1"):
        print(f"warning: serving on {args.host}: tokens travel in clear text; this hub is meant for loopback",
              file=sys.stderr)
    limits = Limits(max_file_size=args.max_file_size) if args.max_file_size else None
    hub = LocalHub(data_dir=args.data, host=args.host, port=args.port, user=args.user, token=args.token,
                   tree_page_size=args.tree_page_size, limits=limits)
    if args.faults:
        hub.faults.load(args.faults)
    for spec in args.rate_limit:
        bucket, limit, window = _parse_rate_limit(spec)
        hub.set_rate_limit(bucket, limit, window)
    hub.start()
    token_file = hub.data_dir / "token"
    token_file.write_text(hub.token)
    token_file.chmod(0o600)
    print(f"HF_ENDPOINT={hub.url}", flush=True)
    print(f"HF_TOKEN_PATH={token_file}", flush=True)
    print(f"# local Hub serving user '{args.user}' from {hub.data_dir}; set both variables (and "
          "HF_HUB_DISABLE_XET=1) in the client's environment. Ctrl-C stops it.", flush=True)
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    try:
        hub.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        hub.stop()
    return EXIT_OK


def _parse_rate_limit(spec: str) -> tuple[str, int, float]:
    try:
        bucket, rest = spec.split("=", 1)
        limit, window = rest.split("/", 1)
        return bucket, int(limit), float(window)
    except ValueError:
        raise ExportError(f"--rate-limit {spec!r} is not BUCKET=LIMIT/SECONDS",
                          "for example: --rate-limit commits=10/60 (buckets: api, repo_create, commits)") from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Publish models saved by Ludwig to the Hugging Face Hub, and run a local Hub for testing.",
        epilog="Exit codes: 0 success, 1 invalid input, 2 usage error, 3 authentication or permission, "
               "4 Hub or network failure after retries.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    hub = commands.add_parser("hub", help="run a local Hub (loopback) that huggingface_hub can talk to")
    hub_commands = hub.add_subparsers(dest="hub_command", metavar="HUB_COMMAND")
    serve = hub_commands.add_parser(
        "serve", help="serve a local Hub until interrupted",
        description="Serve the Hub's HTTP API on loopback. Prints HF_ENDPOINT=... first, then HF_TOKEN_PATH=... "
                    "(a file holding the write token of --user).")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    serve.add_argument("--port", type=int, default=0, help="port (default: a free one)")
    serve.add_argument("--data", type=Path, help="keep repos and blobs in this directory across restarts")
    serve.add_argument("--user", default="tester", help="name of the default user (default: tester)")
    serve.add_argument("--token", help="write token for --user (default: a generated one, see HF_TOKEN_PATH)")
    serve.add_argument("--faults", type=Path, help="JSON file with a list of faults to inject")
    serve.add_argument("--rate-limit", action="append", default=[], metavar="BUCKET=LIMIT/SECONDS",
                       help="fixed-window quota per token, e.g. commits=10/60 (repeatable)")
    serve.add_argument("--tree-page-size", type=int, default=1000, help="entries per tree page (default: 1000)")
    serve.add_argument("--max-file-size", type=int, help="refuse files larger than this many bytes")
    serve.set_defaults(func=_serve)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        return func(args)
    except ExportError as e:
        print(f"error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
