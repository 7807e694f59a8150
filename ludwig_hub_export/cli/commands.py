"""The commands: each takes the parsed arguments, runs one workflow and prints its result; an error becomes its exit
code in `main`. Heavy libraries are imported inside the commands that need them, so `--help` starts fast."""

from __future__ import annotations

import argparse
import json
import signal
import sys
from pathlib import Path

from ..errors import EXIT_INVALID_INPUT, EXIT_OK, ExportError, UsageError

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
        try:
            bucket, rest = spec.split("=", 1)
            limit, window = rest.split("/", 1)
            hub.set_rate_limit(bucket, int(limit), float(window))
        except ValueError:
            raise ExportError(f"--rate-limit {spec!r} is not BUCKET=LIMIT/SECONDS",
                              "for example: --rate-limit commits=10/60 (buckets: api, repo_create, commits)") from None
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


def _format(args: argparse.Namespace) -> str:
    # --json wins over --quiet (as before --format existed: scripts pass both); --format must agree with them.
    alias = "json" if getattr(args, "json", False) else "quiet" if getattr(args, "quiet", False) else None
    chosen = getattr(args, "format", None)
    if chosen and alias and chosen != alias:
        raise UsageError(f"--format {chosen} contradicts --{alias}", "choose one output format")
    return chosen or alias or "human"


def _overridden(defaults, flag: str, specs: list[str] | None, form: str, example: str, names: str):
    """`defaults` (`HubLimits`, `RateQuotas`) with repeated ``FLAG NAME=VALUE`` options applied; a UsageError
    naming the form, or the bad name or value."""
    overrides = {}
    for spec in specs or []:
        key, sep, value = spec.partition("=")
        if not sep:
            raise UsageError(f"{flag} {spec!r} is not {form}", f"for example: {flag} {example}")
        overrides[key.strip()] = value.strip()
    try:
        return defaults.with_overrides(overrides)
    except ValueError as e:
        raise UsageError(f"{flag}: {e}", names) from None


def _limits(args: argparse.Namespace):
    from ..limits import HubLimits

    return _overridden(HubLimits(), "--limit", getattr(args, "limit", None), "NAME=VALUE", "max_file_size=50GB",
                       "see the limits listed in `ludwig-hub-export check --help`")


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


def _push_sweep(args: argparse.Namespace) -> int:
    from ..errors import DeferredError
    from ..workflows.rate_plan import RateQuotas
    from ..workflows.sweep import export_sweep

    settings = _settings(args, args.repo_id)
    quotas = _overridden(RateQuotas(), "--quota", args.quota, "NAME=LIMIT/SECONDS", "commits=128/3600",
                         "names: api, commits, repo_create")
    options = {f: getattr(settings, f) for f in settings.__dataclass_fields__ if f != "repo_id"}
    trials = args.trials or (None if args.trial else "best")
    report = None
    try:
        report = export_sweep(args.path, settings.repo_id, trials=trials, trial=args.trial,
                              as_repos=args.trials_as == "repos", quotas=quotas, **options)
    except DeferredError as e:
        report = getattr(e, "report", None)
        raise
    finally:
        if report is not None and args.report:  # a deferred sweep's too: what it published, what is left
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
    args.public = value in ("false", "0", "no")
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

