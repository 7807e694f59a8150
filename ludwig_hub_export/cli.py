"""Command line: a thin layer over the Python API. Heavy libraries are imported inside the commands that need
them, so `--help` and the light commands start fast."""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path

from .errors import EXIT_INVALID_INPUT, EXIT_OK, EXIT_USAGE, ExportError, UsageError

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


def _limits(args: argparse.Namespace):
    from .limits import HubLimits

    overrides = {}
    for spec in getattr(args, "limit", None) or []:
        key, sep, value = spec.partition("=")
        if not sep:
            raise UsageError(f"--limit {spec!r} is not NAME=VALUE", "for example: --limit max_file_size=50GB")
        overrides[key.strip()] = value.strip()
    try:
        return HubLimits().with_overrides(overrides)
    except ValueError as e:
        raise UsageError(f"--limit: {e}", "see the limits listed in `ludwig-hub-export check --help`") from None


def _check(args: argparse.Namespace) -> int:
    import json

    from .checks import check

    report = check(args.path, base_model=args.base_model, latest=args.latest, prefer_adapter=args.adapter,
                   limits=_limits(args), convert_pickle=args.convert_pickle)
    if args.json:
        print(json.dumps(report.to_dict(strict=args.strict), indent=2))
    else:
        print(report.format(strict=args.strict))
    return EXIT_OK if report.passed(strict=args.strict) else EXIT_INVALID_INPUT


def _normalize(args: argparse.Namespace) -> int:
    from .checks import check
    from .normalize import normalize

    # On disk a local base model path is fine: only an upload needs a Hub id.
    report = check(args.src, latest=args.latest, prefer_adapter=args.adapter, convert_pickle=args.convert_pickle,
                   for_upload=False)
    if not report.passed():
        print(report.format())
        return EXIT_INVALID_INPUT
    result = normalize(args.src, args.dest, layout=report.layout, convert_pickle=args.convert_pickle)
    print(f"{result.layout.description} ({result.layout.kind}): {result.layout.reason}")
    for path, why in result.layout.left_out.items():
        print(f"  left out {path}: {why}")
    print(f"  {len(result.linked)} files hard-linked (no weight bytes copied)")
    for path, why in result.copied.items():
        print(f"  copied {path}: {why}")
    for new, old in result.converted.items():
        print(f"  converted {old} -> {new} (loaded with weights_only)")
    print(f"normalized into {result.model_dir}  (LudwigModel.load('{result.model_dir}'))")
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

    def model_source(p: argparse.ArgumentParser, name: str = "path") -> None:
        p.add_argument(name, type=Path, help="a model.save() directory, a run's model/ directory, a run directory, "
                                             "or a results/ directory")
        p.add_argument("--latest", action="store_true", help="with several runs in results/, take the newest")
        p.add_argument("--adapter", action="store_true",
                       help="for a merged run, export the adapter instead of the merged full model")
        p.add_argument("--convert-pickle", action="store_true",
                       help="convert pickle weights (.bin, legacy model_weights) to safetensors, loading them "
                            "safely (weights_only); the source files are not changed")

    check_cmd = commands.add_parser(
        "check", help="inspect a saved model before publishing (no network)",
        description="Validate a saved Ludwig model: layout, JSON, safetensors headers, adapter config and shapes, "
                    "shards, Hub limits, symlinks and secrets. Weight bytes are not read past the headers.",
        epilog="Limits (override with --limit NAME=VALUE): recommended_file_size, max_file_size, "
               "max_entries_per_folder, max_files_per_repo, files_per_commit, recommended_repo_size.")
    model_source(check_cmd)
    check_cmd.add_argument("--base-model", metavar="ORG/NAME",
                           help="Hub id of the base model, written into the uploaded adapter config")
    check_cmd.add_argument("--strict", action="store_true", help="treat warnings as failures")
    check_cmd.add_argument("--json", action="store_true", help="print the report as JSON")
    check_cmd.add_argument("--limit", action="append", metavar="NAME=VALUE", help="override a Hub limit")
    check_cmd.set_defaults(func=_check)

    norm = commands.add_parser(
        "normalize", help="lay a saved model out as DEST/model/model_weights (hard links, no copies)",
        description="Write DEST/model/... in the layout LudwigModel.load and Ludwig's uploader expect. Files are "
                    "hard links to the source (copied only across devices); the source is never modified.")
    model_source(norm, "src")
    norm.add_argument("dest", type=Path, help="new or empty destination directory")
    norm.set_defaults(func=_normalize)

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
    except BrokenPipeError:  # output piped into `head` and the like
        sys.stderr.close()
        return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
