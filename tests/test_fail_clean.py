"""Issue 28: every command fails clean on hostile or mistaken settings and inputs: a usage error (exit 2) before
any request rather than retries, never a secret printed, never a traceback or a hang."""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import sys
import time

import pytest
from helpers import cli_env, copy_fixture
from test_push import settings

from ludwig_hub_export.cli import main as cli
from ludwig_hub_export.errors import UsageError
from ludwig_hub_export.hub_inputs import repo_target
from ludwig_hub_export.workflows.push import ExportSettings, push
from ludwig_hub_export.report import repo_url
from ludwig_hub_export.workflows.pull import pull


def _cli(args: list[str], env: dict, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ludwig_hub_export", *args], env=env, capture_output=True,
                          text=True, timeout=timeout, stdin=subprocess.DEVNULL)


# --- tokens, endpoints, offline (items 1, 2, 4) -----------------------------------------------------------------

BAD_TOKENS = ["hf_Qx7a\nZk9b", "hf_Qx7a\rZk9b", "hf_Qx7aéZk9b", "hf_Qx7a\x07Zk9b", "hf_Qx7a Zk9b", "hf_Qx7a\tZk9b"]


@pytest.mark.parametrize("value", BAD_TOKENS)
def test_a_token_no_request_can_carry_is_refused_before_any_request_and_never_shown(value, tmp_path, local_hub,
                                                                                   monkeypatch, capsys):
    source = copy_fixture("ecd_saved", tmp_path)
    codes = [cli.main(["push", str(source), "--repo-id", "tester/m", "--token", value]),
             cli.main(["pull", "tester/m", str(tmp_path / "d"), "--token", value])]
    with pytest.raises(UsageError) as err:
        ExportSettings(repo_id="tester/m", token=value)
    monkeypatch.setenv("HF_TOKEN", value)
    codes.append(cli.main(["push", str(source), "--repo-id", "tester/m", "--json"]))
    out, errors = capsys.readouterr()
    assert codes == [2, 2, 2]
    assert "HF_TOKEN" in errors and "--token" in errors and "Traceback" not in errors
    for text in (out, errors, str(err.value)):
        assert "Qx7a" not in text and "Zk9b" not in text
    assert local_hub.requests() == []


@pytest.mark.parametrize("setting", [
    {"HF_HUB_OFFLINE": "1"}, {"HF_ENDPOINT": "127.0.0.1:9"}, {"HF_ENDPOINT": "huggingface.co"},
    {"HF_ENDPOINT": "ftp://hub.example"},
])
def test_offline_mode_or_an_endpoint_without_scheme_exits_at_once_naming_the_setting(setting, tmp_path, local_hub):
    source = copy_fixture("ecd_saved", tmp_path)
    env = {**cli_env(local_hub, tmp_path, local_hub.token), **setting}
    name = next(iter(setting))
    started = time.monotonic()
    for command in (["push", str(source), "--repo-id", "tester/m"], ["pull", "tester/m", str(tmp_path / "d")]):
        result = _cli(command, env)
        assert result.returncode == 2, result.stderr
        assert name in result.stderr and "Traceback" not in result.stderr
    assert time.monotonic() - started < 20  # no retries: two fresh processes
    assert not (tmp_path / "d").exists()
    refused = _cli(["push", str(source), "--repo-id", "tester/m", "--endpoint", "localhost:8080"], env)
    assert refused.returncode == 2 and "--endpoint" in refused.stderr


def test_credentials_in_the_endpoint_are_never_shown_nor_written(tmp_path, local_hub):
    source = copy_fixture("ecd_saved", tmp_path)
    endpoint = local_hub.url.replace("://", "://someone:s3cr3t-pw@")
    env = {**cli_env(local_hub, tmp_path, local_hub.token), "HF_ENDPOINT": endpoint}
    report = tmp_path / "report.json"
    runs = [_cli(["push", str(source), "--repo-id", "tester/m", "--report", str(report), "--max-retries", "0"],
                 env, timeout=120),
            _cli(["push", str(source), "--repo-id", "tester/m", "--dry-run", "--max-retries", "0"], env),
            _cli(["pull", "tester/m", str(tmp_path / "d")], env)]
    for run in runs:
        assert run.returncode in (0, 3), run.stderr  # the Hub may refuse the Basic credentials httpx sends
        assert "s3cr3t-pw" not in run.stdout + run.stderr and "Traceback" not in run.stderr
    if report.exists():
        assert "s3cr3t-pw" not in report.read_text()
    # where the URL is shown: the report's url (and the PR's), the command's last line
    shown = repo_url(ExportSettings(repo_id="tester/m", endpoint="https://someone:s3cr3t-pw@hub.example/"))
    assert shown == "https://***@hub.example/tester/m"


# --- repo ids: one rule on every command (item 6) ---------------------------------------------------------------

@pytest.mark.parametrize("text,revision,expected", [
    ("user/name", None, ("user/name", None)),
    ("https://huggingface.co/user/name", None, ("user/name", None)),
    ("https://huggingface.co/user/name/", "dev", ("user/name", "dev")),
    ("https://huggingface.co/user/name/tree/dev", None, ("user/name", "dev")),
    ("https://huggingface.co/user/name/tree/dev", "dev", ("user/name", "dev")),
    ("https://hf.co/user/name/tree/refs%2Fpr%2F3", None, ("user/name", "refs/pr/3")),
    ("huggingface.co/user/name", None, ("user/name", None)),
])
def test_a_repo_id_or_a_hub_url_copied_from_the_browser_is_taken(text, revision, expected):
    assert repo_target(text, revision) == expected


@pytest.mark.parametrize("text,revision,says", [
    ("name", None, "has no namespace"),
    ("datasets/user/name", None, "dataset repo"),
    ("https://huggingface.co/datasets/user/name", None, "dataset repo"),
    ("https://huggingface.co/spaces/user/name", None, "space repo"),
    ("https://github.com/user/name", None, "not the URL of a model repo"),
    ("https://huggingface.co/user", None, "not the URL of a model repo"),
    ("https://huggingface.co/user/name/blob/main/README.md", None, "inside user/name"),
    ("https://huggingface.co/user/name/tree/dev", "main", "--revision says 'main'"),
    ("a/b/c", None, "NAMESPACE/NAME"),
    ("https://user:pw-secret@huggingface.co/x", None, "***@huggingface.co"),
])
def test_anything_else_is_a_usage_error_naming_the_fix(text, revision, says):
    with pytest.raises(UsageError) as err:
        repo_target(text, revision, flag="--repo-id")
    assert says in str(err.value) and "pw-secret" not in str(err.value) and "--repo-id" in str(err.value)


def test_every_command_takes_the_same_repo_ids(tmp_path, local_hub, env_token, capsys):
    source = copy_fixture("ecd_saved", tmp_path)
    codes = [cli.main(["pull", "model", str(tmp_path / "d")]),
             cli.main(["pull", "https://example.com/tester/m", str(tmp_path / "d")]),
             cli.main(["push", str(source), "--repo-id", "model"]),
             cli.main(["upload", "hf_hub", "-r", "datasets/tester/m", "-m", str(source)])]
    errors = capsys.readouterr().err
    assert codes == [2, 2, 2, 2] and "Traceback" not in errors
    assert local_hub.requests() == []  # refused before any request, where pull used to retry for 30 s
    with pytest.raises(UsageError, match="has no namespace"):
        push(source, settings("model", base_model=None))
    # a browser URL, with its branch, on the API and on pull
    report = push(source, settings(f"{local_hub.url}/tester/m/tree/dev", base_model=None, branch_from="main"))
    assert (report.repo_id, report.revision) == ("tester/m", "dev")
    assert cli.main(["pull", "https://huggingface.co/tester/m/tree/dev", str(tmp_path / "d"), "--json"]) == 0
    pulled = json.loads(capsys.readouterr().out)
    assert (pulled["repo_id"], pulled["revision"], pulled["commit"]) == ("tester/m", "dev", report.commit_oid)
    assert pull("tester/m", tmp_path / "d2", revision="dev").commit == report.commit_oid


# --- inputs: what is not a regular file, JSON nested too deeply (item 5) ----------------------------------------

def _fifo_behind_a_link(w):
    os.mkfifo(w / "pipe")
    os.symlink("pipe", w / "notes.txt")


def _socket_behind_a_link(w):
    import socket

    s = socket.socket(socket.AF_UNIX)
    s.bind(str(w / "s.sock"))
    s.close()  # the socket file stays
    os.symlink("s.sock", w / "sock.txt")


def _directory_behind_a_link(w):
    (w / "sub").mkdir()
    (w / "sub" / "a.txt").write_text("x")
    os.symlink("sub", w / "more.txt")


HOSTILE_ENTRIES = {
    "fifo": (_fifo_behind_a_link, "model/model_weights/notes.txt", "FIFO"),
    "socket": (_socket_behind_a_link, "model/model_weights/sock.txt", "socket"),
    "directory": (_directory_behind_a_link, "model/model_weights/more.txt", "directory"),
    "dev-zero": (lambda w: os.symlink("/dev/zero", w / "zero.txt"), "model/model_weights/zero.txt", "leaves"),
    "broken": (lambda w: os.symlink("nowhere", w / "gone.txt"), "model/model_weights/gone.txt", "broken"),
    "loop": (lambda w: (os.symlink("l2.txt", w / "l1.txt"), os.symlink("l1.txt", w / "l2.txt")),
             "model/model_weights/l1.txt", "loop"),
}


def _check_within(path, seconds: float = 60):
    """`check(path)` in a thread: a check that blocks (on a FIFO) fails the test instead of hanging it."""
    import threading

    from ludwig_hub_export.source.checks import check

    box: dict = {}

    def run():
        try:
            box["report"] = check(path, for_upload=False)
        except BaseException as e:  # noqa: BLE001 - the test shows it
            box["error"] = e

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), "check blocked"
    assert "error" not in box, repr(box.get("error"))
    return box["report"]


@pytest.mark.parametrize("variant", sorted(HOSTILE_ENTRIES))
def test_what_is_not_a_regular_file_is_an_error_never_a_hang_or_a_traceback(variant, tmp_path):
    make, shown, says = HOSTILE_ENTRIES[variant]
    source = copy_fixture("lora_saved", tmp_path)
    try:
        make(source / "model_weights")
        report = _check_within(source)
    finally:
        if (source / "model_weights" / "pipe").exists():  # a reader still blocked on it gets EOF
            with contextlib.suppress(OSError):  # ENXIO: no reader, nothing blocked
                os.close(os.open(source / "model_weights" / "pipe", os.O_WRONLY | os.O_NONBLOCK))
    problems = [p for p in report.errors if p.file.endswith(shown.rsplit("/", 1)[-1])]
    assert problems and says in problems[0].message, report.format()
    assert not report.passed()


def _deep(n: int = 100_000) -> str:
    return "[" * n + "]" * n


def _deep_header(w):
    import struct

    header = ('{"a": ' + _deep() + "}").encode()
    (w / "adapter_model.safetensors").write_bytes(struct.pack("<Q", len(header)) + header)


DEEP_JSON = {
    "config": (lambda root: (root / "model_hyperparameters.json").write_text(_deep()), "nested"),
    "adapter config": (lambda root: (root / "model_weights" / "adapter_config.json").write_text(_deep()), "nested"),
    "safetensors header": (lambda root: _deep_header(root / "model_weights"), "nested"),
}


@pytest.mark.parametrize("variant", sorted(DEEP_JSON))
def test_json_nested_too_deeply_is_invalid_input_not_a_recursion_error(variant, tmp_path, capsys):
    make, says = DEEP_JSON[variant]
    source = copy_fixture("lora_saved", tmp_path)
    make(source)
    assert cli.main(["check", str(source), "--json"]) == 1
    out, err = capsys.readouterr()
    assert "Traceback" not in err and "RecursionError" not in out + err
    assert any(says in p["message"] for p in json.loads(out)["problems"] if p["severity"] == "error"), out
    # the same input on the command line
    assert cli.main(["check", "s3://bucket/x", "--storage-options", _deep()]) == 2
    assert "nested" in capsys.readouterr().err


# --- the callback validates when it is made, as export() does (item 7) ------------------------------------------

@pytest.mark.parametrize("args,options,says", [
    (("model",), {}, "has no namespace"),
    (("me/model",), {"licence": "mit"}, "did you mean license="),
    (("me/model",), {"license": "Apache-2.0"}, "did you mean 'apache-2.0'"),
    (("me/model",), {"dataset": "not a dataset"}, "--dataset"),
    (("me/model",), {"token": "hf_Qx7a\nZk9b"}, "line break"),
])
def test_the_callback_refuses_bad_options_when_made_not_after_training(args, options, says, local_hub):
    from ludwig_hub_export.workflows.callback import HubExportCallback

    with pytest.raises(UsageError) as err:
        HubExportCallback(*args, **options)
    assert says in str(err.value) and "Zk9b" not in str(err.value)
    assert local_hub.requests() == []


@pytest.mark.parametrize("options,says", [({"licence": "mit"}, "did you mean license="),
                                          ({"token": "hf_Qx7a\nZk9b"}, "line break")])
def test_export_refuses_bad_options_before_reading_or_sending_anything(options, says, tmp_path, local_hub):
    from ludwig_hub_export import export

    with pytest.raises(UsageError) as err:
        export(tmp_path / "no-such-model", "me/model", **options)
    assert says in str(err.value) and "Zk9b" not in str(err.value)
    assert local_hub.requests() == []


def test_the_callback_takes_a_hub_url_and_its_branch(local_hub):
    from ludwig_hub_export.workflows.callback import HubExportCallback

    callback = HubExportCallback("https://huggingface.co/me/model/tree/dev", license="mit")
    assert callback.repo_id == "me/model" and callback.options == {"license": "mit", "revision": "dev"}


# --- the role whoami reports for the target org (item 3) --------------------------------------------------------

def test_a_read_member_of_the_org_is_refused_even_when_every_file_is_there(tmp_path, local_hub, capsys):
    source = copy_fixture("ecd_saved", tmp_path)
    admin = local_hub.add_user("boss", {"acme": "admin"})
    reader = local_hub.add_user("reader", {"acme": "read"})
    contributor = local_hub.add_user("helper", {"acme": "contributor"})
    assert cli.main(["push", str(source), "--repo-id", "acme/m", "--token", admin, "--public", "--quiet"]) == 0
    commits = len(local_hub.requests("commit"))
    capsys.readouterr()
    assert cli.main(["push", str(source), "--repo-id", "acme/m", "--token", reader]) == 3
    err = capsys.readouterr().err
    assert "read-only member of the organisation 'acme'" in err and "published" not in err
    assert cli.main(["push", str(source), "--repo-id", "acme/m", "--token", contributor]) == 3
    err = capsys.readouterr().err
    assert "contributor" in err and "--create-pr" in err
    assert len(local_hub.requests("commit")) == commits  # neither changed the repo


# --- the Ludwig-shaped CLI: upload's own flags, --latest says which run (items 8, 9) ----------------------------

def _two_runs(tmp_path):
    import shutil

    results = copy_fixture("ecd_run", tmp_path) / "results"
    older, newer = results / "api_experiment_run", results / "api_experiment_run_1"
    shutil.copytree(older, newer)  # copies the fixture's times too: set both
    os.utime(newer, (time.time(), time.time()))
    os.utime(older, (time.time() - 3600, time.time() - 3600))
    return tmp_path / "ecd_run", newer


def test_latest_says_which_run_it_took(tmp_path, capsys):
    workdir, newer = _two_runs(tmp_path)
    assert cli.main(["check", str(workdir)]) == 2
    assert "--latest" in capsys.readouterr().err
    assert cli.main(["check", str(workdir), "--latest", "--quiet"]) == 0
    taken = [line for line in capsys.readouterr().err.splitlines() if "--latest" in line]
    assert len(taken) == 1 and str(newer) in taken[0] and "newest of the 2 runs" in taken[0]


def test_upload_takes_ludwigs_own_flags_and_latest(tmp_path, local_hub, env_token, capsys):
    workdir, newer = _two_runs(tmp_path)
    for flag in ("-r", "--repo_id", "--repo-id"):
        assert cli.main(["upload", "hf_hub", flag, "model", "-m", str(workdir), "--latest"]) == 2
        assert f"{flag} 'model' has no namespace" in capsys.readouterr().err
    assert cli.main(["upload", "hf_hub", "-r", "tester/m", "-m", str(workdir), "--latest", "-dn", "org/data",
                     "-df", "data/train.csv", "-d", "a description", "-p", "False"]) == 0
    out, err = capsys.readouterr()
    assert str(newer) in err and out.strip().endswith("tester/m")
    card = local_hub.read_file("tester/m", "README.md").decode()
    assert "org/data" in card  # -dn is the card's dataset; -d stays the commit description
    assert [c for c in local_hub.commits("tester/m") if "a description" in c.message]


# --- one summary, one count (item 13) ---------------------------------------------------------------------------

def test_a_push_says_its_summary_once_and_a_dry_run_one_count(tmp_path, local_hub, env_token, capsys):
    source = copy_fixture("ecd_saved", tmp_path)
    assert cli.main(["push", str(source), "--repo-id", "tester/m", "--dry-run"]) == 0
    out, err = capsys.readouterr()
    counts = {int(n) for n in re.findall(r"(\d+) file\(s\)", out + err)}
    assert counts == {6}, out + err  # five files and the manifest, however it is worded
    assert cli.main(["push", str(source), "--repo-id", "tester/m"]) == 0
    out, err = capsys.readouterr()
    assert out.splitlines()[-1] == f"{local_hub.url}/tester/m"
    summaries = [line for line in (out + err).splitlines() if line.startswith("published")]
    assert len(summaries) == 1 and "6 of 6 file(s) uploaded" in summaries[0], out + err


# --- load_ludwig_model takes LudwigModel.load's keywords (item 10) ----------------------------------------------

def test_load_ludwig_model_passes_load_keywords_through(tmp_path):
    from helpers import MANIFEST

    from ludwig_hub_export import load_ludwig_model

    copy_fixture("ecd_saved", tmp_path)
    model = load_ludwig_model(tmp_path / MANIFEST["ecd_saved"]["model_dir"], backend="local")
    assert type(model.backend).__name__ == "LocalBackend"


@pytest.mark.parametrize("repo_id,says", [("model", "no namespace"), ("https://example.com/u/m", "not the URL of a model repo")])
def test_the_api_pull_takes_the_same_repo_ids_as_the_command(repo_id, says, tmp_path, local_hub):
    from ludwig_hub_export import pull

    with pytest.raises(UsageError) as err:
        pull(repo_id, tmp_path / "dest")
    assert says in str(err.value) and local_hub.requests() == []
