"""The command line's flags: one subcommand per workflow, each bound to its function in `commands`."""

from __future__ import annotations

import argparse
from pathlib import Path

from .commands import (PROG, _check, _demo, _normalize, _pull, _push, _serve, _upload)


def _non_negative(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a number >= 0, not {text!r}")
    return value


def _add_format_flags(p: argparse.ArgumentParser, quiet_help: str) -> None:
    """The `hf` CLI's output flags: --format, with --json and -q/--quiet as its aliases."""
    p.add_argument("--format", choices=("human", "json", "quiet"), default=None,
                   help="human: readable result on stdout, logs and the client's progress bars on stderr (default); json: "
                        "the result as JSON on stdout; quiet: " + quiet_help)
    p.add_argument("--json", action="store_true", help="same as --format json")
    p.add_argument("-q", "--quiet", action="store_true", help="same as --format quiet")


class _TypedFlag(argparse.Action):
    """Stores the value, and the flag as typed (-r, --repo_id) in `<dest>_flag`, for errors to name it."""

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        setattr(namespace, self.dest, values)
        setattr(namespace, f"{self.dest}_flag", option_string)


def _path_or_url(text: str) -> str | Path:
    """A URL (s3://, gs://, ...) stays a string: Path() would fold its '//'."""
    from ..source.storage import is_url

    return text if is_url(text) else Path(text)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Publish models saved by Ludwig to the Hugging Face Hub, and run a local Hub for testing.",
        epilog="Exit codes: 0 success, 1 invalid input, 2 usage error, 3 authentication or permission, "
               "4 Hub or network failure after retries, 5 deferred (the Hub asked for a wait past --budget: rerun "
               "later, it resumes).",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    def model_source(p: argparse.ArgumentParser, name: str = "path") -> None:
        p.add_argument(name, type=_path_or_url, help="a model.save() directory, a run's model/ directory, a run "
                       "directory, or a results/ directory; check and push also take a URL (s3://, gs://, az://, "
                       "any fsspec URL)")
        p.add_argument("--latest", action="store_true", help="with several runs in results/, take the newest")
        p.add_argument("--adapter", action="store_true",
                       help="for a merged run, export the adapter instead of the merged full model")
        p.add_argument("--convert-pickle", action="store_true",
                       help="convert pickle weights (.bin, legacy model_weights) to safetensors, loading them "
                            "safely (weights_only); the source files are not changed")

    def limits_and_storage(p: argparse.ArgumentParser) -> None:
        p.add_argument("--limit", action="append", metavar="NAME=VALUE", help="override a Hub limit")
        p.add_argument("--storage-options", metavar="JSON",
                       help="options for the URL's fsspec filesystem, e.g. '{\"anon\": true}' or "
                            "'{\"profile\": \"prod\"}' (credentials otherwise come from the usual places: AWS "
                            "env and profiles, AWS_ENDPOINT_URL, GOOGLE_APPLICATION_CREDENTIALS, Azure env)")

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
    _add_format_flags(check_cmd, "only PASSED, PASSED with warnings or FAILED")
    limits_and_storage(check_cmd)
    check_cmd.set_defaults(func=_check)

    norm = commands.add_parser(
        "normalize", help="lay a saved model out as DEST/model/model_weights (hard links, no copies)",
        description="Write DEST/model/... in the layout LudwigModel.load and Ludwig's uploader expect. Files are "
                    "hard links to the source (copied only across devices); the source is never modified.")
    model_source(norm, "src")
    norm.add_argument("dest", type=Path, help="new or empty destination directory")
    norm.set_defaults(func=_normalize)

    def hub_access(p: argparse.ArgumentParser) -> None:
        p.add_argument("--token", help="Hub token (default: HF_TOKEN, then the token file of `hf auth login`)")
        p.add_argument("--endpoint", help="Hub URL (default: HF_ENDPOINT or https://huggingface.co)")
        p.add_argument("--revision", help="branch (push: created if missing) or revision (pull)")

    push_cmd = commands.add_parser(
        "push", help="check, then publish a saved model to the Hub (resumable, verified)",
        description="Check the model (no network call when that fails), then upload it in one commit, falling "
                    "back to one commit per file when that keeps failing. Reruns upload only what is missing. "
                    "Every file is verified on the Hub at the end.")
    model_source(push_cmd)
    push_cmd.add_argument("--repo-id", required=True, metavar="NAMESPACE/NAME", action=_TypedFlag,
                          help="the Hub repo to publish to: NAMESPACE/NAME, or its URL on the Hub")
    hub_access(push_cmd)
    push_cmd.add_argument("--base-model", metavar="ORG/NAME",
                          help="Hub id of the base model (replaces a local path in the uploaded copies)")
    push_cmd.add_argument("--public", action="store_true", help="create the repo public (default: private); "
                                                                 "an existing repo's visibility is never changed")
    push_cmd.add_argument("--create-pr", action="store_true", help="open a pull request instead of committing to main")
    push_cmd.add_argument("--dry-run", action="store_true", help="print the plan (files, sizes, what is already "
                                                                 "there, commits) and change nothing")
    push_cmd.add_argument("--token-command", metavar="CMD", help="command that prints a fresh token, run after a 401")
    push_cmd.add_argument("--license", help="license id for the model card, from the Hub's list (e.g. apache-2.0; "
                                            "checked before any request); 'other' needs --license-name/-link")
    push_cmd.add_argument("--license-name", help="with --license other: a short name for the license")
    push_cmd.add_argument("--license-link", help="with --license other: a link to the license text")
    push_cmd.add_argument("--dataset", metavar="ORG/NAME",
                          help="Hub id of the training dataset: the card lists it and shows the test-split metrics "
                               "as evaluation results (model-index)")
    push_cmd.add_argument("--replace-card", action="store_true",
                          help="replace the repo's README.md even if ludwig-hub-export did not write it (by default "
                               "someone's own card is kept and only the metadata this tool writes is updated)")
    push_cmd.add_argument("--commit-message", help="commit message")
    push_cmd.add_argument("--commit-description", help="commit description")
    push_cmd.add_argument("--min-interval", type=float, default=0.0, metavar="SECONDS",
                          help="wait at least this long between commits (for accounts near their rate limits)")
    push_cmd.add_argument("--max-retries", type=int, default=5, help="retries per step (default: 5)")
    push_cmd.add_argument("--budget", type=float, default=3600.0, metavar="SECONDS",
                          help="time budget for the whole export, waits included (default: 3600)")
    push_cmd.add_argument("--timeout", type=float, default=120.0, metavar="SECONDS",
                          help="read timeout of each request (default: 120)")
    push_cmd.add_argument("--strict", action="store_true", help="refuse to push when check has warnings")
    limits_and_storage(push_cmd)
    push_cmd.add_argument("--report", type=Path, metavar="FILE", help="write a JSON report of the export")
    _add_format_flags(push_cmd, "only the URL on stdout, no logs, no progress bars")
    sweep = push_cmd.add_argument_group(
        "hyperopt", "PATH may be a `ludwig hyperopt` output (results/, results/<experiment>/): its best trial goes "
                    "to main, with the trial's score and a leaderboard on the card")
    sweep.add_argument("--trial", metavar="ID", help="publish this trial instead of the best (ids: see `check`)")
    sweep.add_argument("--trials", metavar="all|top-K", help="publish several trials: the best on main, the others "
                                                              "on branches trial-<id> of the same repo")
    sweep.add_argument("--trials-as", choices=["branches", "repos"], default="branches",
                       help="repos: one repo NAMESPACE/NAME-trial-<id> per trial, grouped in a Collection")
    sweep.add_argument("--quota", action="append", metavar="NAME=LIMIT/SECONDS",
                       help="a quota the sweep plans against (api, commits, repo_create), e.g. commits=128/3600; "
                            "one account's quotas: the sweep defers (exit 5) rather than exceed them")
    push_cmd.set_defaults(func=_push)

    upload = commands.add_parser(
        "upload", help="drop-in for `ludwig upload hf_hub` (same flags), with checks, retries and verification",
        description="The flags of `ludwig upload hf_hub`, so a script can switch by changing the program name. "
                    "One difference on purpose: a new repo is private unless -p False is given.")
    upload.add_argument("service", choices=["hf_hub"], help="only hf_hub")
    upload.add_argument("-r", "--repo_id", "--repo-id", dest="repo_id", required=True, action=_TypedFlag,
                        help="username/repo_name")
    upload.add_argument("-m", "--model_path", "--model-path", dest="model_path", type=_path_or_url, required=True,
                        help="the trained model: run directory, its model/ directory, or a model.save() directory")
    upload.add_argument("-p", "--private", nargs="?", const="True", default=None, metavar="{True,False}",
                        help="make a new repo private (the default here); -p False makes it public")
    upload.add_argument("-t", "--repo_type", "--repo-type", dest="repo_type", default="model",
                        choices=["model", "space", "dataset"], help="type of repo (only model)")
    upload.add_argument("-c", "--commit_message", "--commit-message", dest="commit_message",
                        help="commit message")
    upload.add_argument("-d", "--commit_description", "--commit-description", dest="commit_description",
                        help="commit description")
    upload.add_argument("-l", "--logging_level", default="info", help="accepted for compatibility")
    # Ludwig's own -df/-dn, defined so that -dn is not read as -d n. Ludwig's hf_hub upload ignores both; here
    # -dn names the card's dataset.
    upload.add_argument("-df", "--dataset_file", "--dataset-file", dest="dataset_file",
                        help="accepted for compatibility (not uploaded, as with ludwig upload)")
    upload.add_argument("-dn", "--dataset_name", "--dataset-name", dest="dataset_name", metavar="ORG/NAME",
                        help="Hub id of the training dataset: the card lists it (as push --dataset)")
    upload.add_argument("--latest", action="store_true", help="with several runs in results/, take the newest")
    upload.add_argument("--base-model", metavar="ORG/NAME", help="Hub id of the base model (adapters)")
    hub_access(upload)
    upload.set_defaults(  # push's settings that upload has no flag for
        adapter=False, convert_pickle=False, create_pr=False, dry_run=False, token_command=None, license=None,
        min_interval=0.0, max_retries=5, budget=3600.0, timeout=120.0, strict=False, limit=None, quiet=False,
        json=False, format=None, license_name=None, license_link=None, dataset=None, trial=None, trials=None,
        trials_as="branches", quota=None, storage_options=None, func=_upload)

    pull_cmd = commands.add_parser(
        "pull", help="download a published model, verify it, and rebuild DEST/model for LudwigModel.load",
        description="Download every file listed in the repo's ludwig_export.json at one commit (of a branch, a "
                    "tag, refs/pr/N or a commit id), in parallel into DEST/.ludwig-hub-export/staging, check "
                    "sizes and sha256, then lay them out as DEST/model/... (LudwigModel.load(DEST/model)). The repo "
                    "is untrusted: every path and manifest field is validated first. A rerun resumes; a pull over "
                    "an earlier pull of the same repo replaces only what changed.")
    pull_cmd.add_argument("repo_id", metavar="REPO_ID")
    pull_cmd.add_argument("dest", type=Path, metavar="DEST",
                          help="a directory: new, or holding an earlier pull of the same repo")
    hub_access(pull_cmd)
    pull_cmd.add_argument("--allow-pickle", action="store_true",
                          help="accept a repo carrying pickle weights (.bin, .pt, legacy model_weights); pull never "
                               "unpickles them, but loading them runs code chosen by the repo's author")
    _add_format_flags(pull_cmd, "only the model directory on stdout")
    pull_cmd.set_defaults(func=_pull)

    demo = commands.add_parser("demo", help="run check, push, pull, load and predict on an embedded local Hub",
                               description="An end-to-end demo on a local Hub: nothing leaves this machine.")
    demo.add_argument("--keep", action="store_true", help="keep the demo's working directory")
    demo.set_defaults(func=_demo)

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
    serve.add_argument("--no-xet", dest="xet", action="store_false",
                       help="speak only LFS, no Xet CAS (clients then need HF_HUB_DISABLE_XET=1)")
    serve.add_argument("--rtt", type=_non_negative, default=0.0, metavar="MS",
                       help="emulated round trip: every request waits this long, a new connection 3 times (default: 0)")
    serve.add_argument("--bandwidth", type=_non_negative, default=0.0, metavar="MBIT",
                       help="emulated link, Mbit/s each way, shared by all connections (default: unlimited)")
    serve.set_defaults(func=_serve)
    return parser
