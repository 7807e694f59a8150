"""Command line: a thin layer over the Python API. Heavy libraries are imported inside the commands that need
them, so `--help` and the light commands start fast."""

from __future__ import annotations

import argparse
import json
import signal
import sys
from pathlib import Path

from ..errors import EXIT_INVALID_INPUT, EXIT_OK, EXIT_USAGE, ExportError, UsageError

PROG = "ludwig-hub-export"


def _serve(args: argparse.Namespace) -> int:
    from ..testing import LocalHub
    from ..testing.api import Limits

    if args.host not in ("127.0.0.1", "localhost", "::1"):
        print(f"warning: serving on {args.host}: tokens travel in clear text; this hub is meant for loopback",
              file=sys.stderr)
    limits = Limits(max_file_size=args.max_file_size) if args.max_file_size else None
    hub = LocalHub(data_dir=args.data, host=args.host, port=args.port, user=args.user, token=args.token,
                   tree_page_size=args.tree_page_size, limits=limits, xet=args.xet, rtt=args.rtt,
                   bandwidth=args.bandwidth)
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
    protocol = ("Xet and LFS, as the Hub does" if args.xet
                else "LFS only: also set HF_HUB_DISABLE_XET=1 in the client's environment")
    print(f"# local Hub serving user '{args.user}' from {hub.data_dir} ({protocol}; {hub.shape}); set both "
          "variables in the client's environment. Ctrl-C stops it.", flush=True)
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    try:
        hub.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        hub.stop()
    return EXIT_OK


def _non_negative(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a number >= 0, not {text!r}")
    return value


FORMATS = ("human", "json", "quiet")


def _add_format_flags(p: argparse.ArgumentParser, quiet_help: str) -> None:
    """The `hf` CLI's output flags: --format, with --json and -q/--quiet as its aliases."""
    p.add_argument("--format", choices=FORMATS, default=None,
                   help="human: readable result on stdout, logs and the client's progress bars on stderr (default); json: "
                        "the result as JSON on stdout; quiet: " + quiet_help)
    p.add_argument("--json", action="store_true", help="same as --format json")
    p.add_argument("-q", "--quiet", action="store_true", help="same as --format quiet")


def _format(args: argparse.Namespace) -> str:
    # --json wins over --quiet (as before --format existed: scripts pass both); --format must agree with them.
    alias = "json" if getattr(args, "json", False) else "quiet" if getattr(args, "quiet", False) else None
    chosen = getattr(args, "format", None)
    if chosen and alias and chosen != alias:
        raise UsageError(f"--format {chosen} contradicts --{alias}", "choose one output format")
    return chosen or alias or "human"


def _limits(args: argparse.Namespace):
    from ..limits import HubLimits

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


class _TypedFlag(argparse.Action):
    """Stores the value, and the flag as typed (-r, --repo_id) in `<dest>_flag`, for errors to name it."""

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        setattr(namespace, self.dest, values)
        setattr(namespace, f"{self.dest}_flag", option_string)


def _path_or_url(text: str) -> str | Path:
    """A URL (s3://, gs://, ...) stays a string: Path() would fold its '//'."""
    from ..source.storage import is_url

    return text if is_url(text) else Path(text)


def _storage_options(args: argparse.Namespace) -> dict | None:
    from ..source.storage.urls import parse_storage_options

    return parse_storage_options(getattr(args, "storage_options", None))


def _check(args: argparse.Namespace) -> int:
    from ..source.checks import check
    from ..source.hyperopt import is_experiment, read_experiment

    if is_experiment(args.path, _storage_options(args)):  # a hyperopt output: the trials, then the best one's check
        experiment = read_experiment(args.path, _storage_options(args))
        if not args.json:
            print(experiment.format())
        report = check(experiment.best.run_dir, base_model=args.base_model, prefer_adapter=args.adapter,
                       limits=_limits(args), convert_pickle=args.convert_pickle)
        if args.json:
            print(json.dumps({**experiment.to_dict(), "best_check": report.to_dict(strict=args.strict)}, indent=2))
        else:
            print(f"Best trial {experiment.best.trial_id}:")
            print(report.format(strict=args.strict))
        return EXIT_OK if report.passed(strict=args.strict) else EXIT_INVALID_INPUT
    report = check(args.path, base_model=args.base_model, latest=args.latest, prefer_adapter=args.adapter,
                   limits=_limits(args), convert_pickle=args.convert_pickle, storage_options=_storage_options(args))
    fmt = _format(args)
    if fmt == "json":
        print(json.dumps(report.to_dict(strict=args.strict), indent=2))
    elif fmt == "quiet":
        print(report.to_dict(strict=args.strict)["status"])
    else:
        print(report.format(strict=args.strict))
    return EXIT_OK if report.passed(strict=args.strict) else EXIT_INVALID_INPUT


def _normalize(args: argparse.Namespace) -> int:
    from ..source.checks import check
    from ..source.normalization import normalize

    if isinstance(args.src, str):
        raise UsageError(f"normalize lays out a local directory; {args.src.split('://')[0]}:// URLs are not "
                         "supported here", "`check` and `push` take the URL directly; or download the run first")
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


def _settings(args: argparse.Namespace, repo_id: str):
    from ..hub_inputs import repo_target
    from ..workflows.push import ExportSettings
    from ..hub.retry import RetryPolicy

    # The repo id's error names the flag as the user typed it (-r, --repo_id, --repo-id).
    repo_id, revision = repo_target(repo_id, args.revision, endpoint=args.endpoint,
                                    flag=getattr(args, "repo_id_flag", None) or "--repo-id")
    policy = RetryPolicy(max_attempts=args.max_retries + 1, budget=args.budget, read_timeout=args.timeout)
    return ExportSettings(
        repo_id=repo_id, token=args.token, token_command=args.token_command, endpoint=args.endpoint,
        public=args.public, revision=revision, create_pr=args.create_pr, base_model=args.base_model,
        latest=args.latest, prefer_adapter=args.adapter, convert_pickle=args.convert_pickle, license=args.license,
        license_name=args.license_name, license_link=args.license_link, dataset=args.dataset,
        commit_message=args.commit_message, commit_description=args.commit_description, dry_run=args.dry_run,
        min_interval=args.min_interval, strict=args.strict, retry=policy, limits=_limits(args),
        quiet=_format(args) != "human", interactive=False if _format(args) != "human" else None,
        storage_options=_storage_options(args), replace_card=getattr(args, "replace_card", False),
    )


def _quotas(args: argparse.Namespace):
    from ..workflows.rate_plan import RateQuotas

    overrides = {}
    for spec in args.quota or []:
        key, sep, value = spec.partition("=")
        if not sep:
            raise UsageError(f"--quota {spec!r} is not NAME=LIMIT/SECONDS", "for example: --quota commits=128/3600")
        overrides[key.strip()] = value.strip()
    try:
        return RateQuotas().with_overrides(overrides)
    except ValueError as e:
        raise UsageError(f"--quota: {e}", "names: api, commits, repo_create") from None


def _push_sweep(args: argparse.Namespace) -> int:
    from ..errors import DeferredError
    from ..workflows.sweep import export_sweep

    settings = _settings(args, args.repo_id)
    options = {f: getattr(settings, f) for f in settings.__dataclass_fields__ if f != "repo_id"}
    trials = args.trials or (None if args.trial else "best")
    try:
        report = export_sweep(args.path, settings.repo_id, trials=trials, trial=args.trial,
                              as_repos=args.trials_as == "repos", quotas=_quotas(args), **options)
    except DeferredError as e:
        report = getattr(e, "report", None)
        if report is not None and args.report:
            Path(args.report).write_text(json.dumps(report.to_dict(), indent=2) + "\n")
        raise
    if args.report:
        Path(args.report).write_text(json.dumps(report.to_dict(), indent=2) + "\n")
    fmt = _format(args)
    if fmt == "json":
        print(json.dumps(report.to_dict(), indent=2))
    elif fmt == "human":
        print(report.summary())
    return EXIT_OK


def _push(args: argparse.Namespace) -> int:
    from ..source.hyperopt import is_experiment
    from ..workflows.push import push

    if args.trials or args.trial or args.trials_as != "branches" or is_experiment(args.path, _storage_options(args)):
        return _push_sweep(args)
    report = push(args.path, _settings(args, args.repo_id))
    if args.report:
        report.write(args.report)
    _print_push(report, _format(args))
    return EXIT_OK


def _print_push(report, fmt: str) -> None:
    """The result on stdout, the URL last (quiet: the URL alone)."""
    url = report.pr_url or report.url
    if fmt == "json":
        print(json.dumps(report.to_dict(), indent=2))
    elif report.dry_run:
        print(f"dry run: {sum(f.status == 'uploaded' for f in report.files)} file(s) would be uploaded to "
              f"{report.repo_id}" if fmt == "human" else url)
    elif fmt == "quiet":
        print(url)
    else:  # the one summary of the push (the log on stderr does not repeat it)
        from ..limits import human_size

        uploaded = sum(f.status == "uploaded" for f in report.files)
        print(f"published {report.repo_id} ({report.kind}): {uploaded} of {len(report.files)} file(s) uploaded "
              f"({human_size(report.bytes_uploaded)}), all verified, commit {report.commit_oid}")
        print(url)


def _pull(args: argparse.Namespace) -> int:
    from ..hub_inputs import repo_target
    from ..workflows.pull import pull

    fmt = _format(args)
    repo_id, revision = repo_target(args.repo_id, args.revision, endpoint=args.endpoint, flag="REPO_ID")
    result = pull(repo_id, args.dest, revision=revision, token=args.token, endpoint=args.endpoint,
                  allow_pickle=args.allow_pickle, progress=None if fmt == "human" else False)
    if fmt == "json":
        print(json.dumps({"repo_id": result.repo_id, "revision": result.revision, "commit": result.commit,
                          "kind": result.kind, "dest": str(result.dest), "model_dir": str(result.model_dir),
                          "files": result.files, "downloaded": result.downloaded, "resumed": result.resumed},
                         indent=2))
    elif fmt == "quiet":
        print(result.model_dir)
    else:
        resumed = f", {result.resumed} already in staging" if result.resumed else ""
        print(f"pulled {result.repo_id} {result.revision or 'main'} at commit {result.commit} ({result.kind}, "
              f"{len(result.files)} files verified against the manifest{resumed}) into {result.dest}")
        loader = "LudwigModel.load" if result.kind == "ecd" else "ludwig_hub_export.load_ludwig_model"
        print(f"load it with: {loader}('{result.model_dir}')")
    return EXIT_OK


def _upload(args: argparse.Namespace) -> int:
    """`ludwig upload hf_hub`'s flags, on top of push."""
    from ..workflows.push import push

    if args.repo_type != "model":
        raise UsageError(f"-t {args.repo_type}: only model repos hold Ludwig models", "use -t model")
    value = (args.private or "True").lower()
    if value not in ("true", "false", "1", "0", "yes", "no"):
        raise UsageError(f"-p {args.private!r} is not True or False", "use -p (private), or -p False (public)")
    private = value in ("true", "1", "yes")
    args.public = not private
    if args.dataset_name:
        from ..card_metadata import is_repo_id

        if not is_repo_id(args.dataset_name):
            raise UsageError(f"-dn {args.dataset_name!r} is not a Hub dataset id",
                             "give the dataset's id on the Hub, e.g. -dn my-org/my-data, or leave -dn out")
        args.dataset = args.dataset_name
    report = push(args.model_path, _settings(args, args.repo_id))
    _print_push(report, "human")
    return EXIT_OK


def _demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    return run_demo(keep=args.keep)


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

    def storage_access(p: argparse.ArgumentParser) -> None:
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
    check_cmd.add_argument("--limit", action="append", metavar="NAME=VALUE", help="override a Hub limit")
    storage_access(check_cmd)
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
    push_cmd.add_argument("--limit", action="append", metavar="NAME=VALUE", help="override a Hub limit")
    storage_access(push_cmd)
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
    for name, default in (("adapter", False), ("convert_pickle", False), ("create_pr", False),
                          ("dry_run", False), ("token_command", None), ("license", None), ("min_interval", 0.0),
                          ("max_retries", 5), ("budget", 3600.0), ("timeout", 120.0), ("strict", False),
                          ("limit", None), ("quiet", False), ("json", False), ("format", None),
                          ("license_name", None), ("license_link", None), ("dataset", None), ("trial", None),
                          ("trials", None), ("trials_as", "branches"), ("quota", None), ("storage_options", None)):
        upload.set_defaults(**{name: default})
    upload.set_defaults(func=_upload)

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


# What Ctrl-C leaves, and that the same command resumes from it.
_PUSH_INTERRUPTED = ("interrupted: nothing on the Hub changed unless a commit was reported above; files sent so far "
                     "are kept by the Hub, so the same command resumes and sends only the rest")
_INTERRUPTED = {
    "push": _PUSH_INTERRUPTED, "upload": _PUSH_INTERRUPTED,
    "pull": "interrupted: files verified so far stay in DEST's staging area; the same command resumes and "
            "downloads only the rest",
}


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
        if getattr(args, "json", False) or getattr(args, "format", None) == "json":
            print(json.dumps({"error": e.message, "remedy": e.remedy, "exit_code": e.exit_code}))
        return e.exit_code
    except KeyboardInterrupt:
        print(_INTERRUPTED.get(getattr(args, "command", None), "interrupted"), file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into `head` and the like
        sys.stderr.close()
        return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
