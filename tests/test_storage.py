"""Publishing straight from object storage: a real S3 API on loopback (moto's server mode, `testing.s3`) read by
the real s3fs client through AWS_ENDPOINT_URL, `memory://` for fast layout tests, and the local Hub.

What the S3 server's request log proves: `check` reads weight files by ranged GETs of their headers only; `push`
downloads each file once, and a rerun downloads nothing the Hub already holds."""

from __future__ import annotations

import json
import os
import tempfile
import threading
import time
from pathlib import Path

import fsspec
import pytest
from helpers import FIXTURES, MANIFEST, copy_fixture
from test_push import BASE, _big_sharded_model, settings

from ludwig_hub_export.source.checks import check
from ludwig_hub_export.cli.main import main
from ludwig_hub_export.errors import AuthError, StorageError
from ludwig_hub_export.artifact.plan import MANIFEST as MANIFEST_FILE
from ludwig_hub_export.workflows.push import push
from ludwig_hub_export.source.storage import streams
from ludwig_hub_export.source.storage.tree import HEADER_BLOCK
from ludwig_hub_export.testing.s3 import LocalS3, PacedLink

BUCKET = "models"


@pytest.fixture(scope="module")
def _s3_server():
    server = LocalS3().start()
    yield server
    server.stop()


@pytest.fixture
def local_s3(_s3_server: LocalS3, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> LocalS3:
    """The loopback S3 server, emptied, with one bucket; the client's environment points at it."""
    _s3_server.reset()
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL_S3"):
        monkeypatch.delenv(name, raising=False)
    for name, value in _s3_server.env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("LUDWIG_HUB_EXPORT_CACHE", str(tmp_path / "cache"))
    (tmp_path / "tmp").mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))  # where staged copies go, for this test
    s3().mkdir(BUCKET)
    _s3_server.log.clear()
    return _s3_server


def s3():
    import s3fs

    return s3fs.S3FileSystem(skip_instance_cache=True)


def upload(local: Path, url: str) -> None:
    fs, path = fsspec.core.url_to_fs(url, skip_instance_cache=True)
    fs.put(str(local), path, recursive=True)


def weight_gets(server: LocalS3, prefix: str) -> list:
    return [r for r in server.requests("GET", prefix) if r.path.endswith((".safetensors", ".bin"))]


# --- layout detection and check on a listed tree -----------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(MANIFEST))
def test_check_of_a_url_finds_what_it_finds_locally(name, tmp_path):
    """memory://: the same kind, files, problems and bytes read as on the local copy, for every fixture."""
    local = copy_fixture(name, tmp_path)
    url = f"memory://fixtures-{os.getpid()}/{name}"
    upload(local, url)
    try:
        remote, here = check(url, base_model=BASE), check(local, base_model=BASE)
    finally:
        fsspec.filesystem("memory").rm(url.removeprefix("memory://"), recursive=True)
    assert (remote.kind, remote.kind_reason, remote.files, remote.left_out) == \
        (here.kind, here.kind_reason, here.files, here.left_out)
    assert [(p.code, p.severity) for p in remote.problems] == [(p.code, p.severity) for p in here.problems]
    assert remote.bytes_read == here.bytes_read and remote.status() == here.status()
    assert remote.source == url


def test_a_damaged_model_at_a_url_is_reported_as_json_naming_the_file_as_locally(tmp_path, capsys):
    local = copy_fixture("ecd_saved", tmp_path)
    weights = local / "model_weights.safetensors"
    weights.write_bytes(weights.read_bytes()[:300])  # truncated
    url = f"memory://damaged-{os.getpid()}/ecd_saved"
    upload(local, url)
    try:
        code = main(["check", url, "--format", "json"])
        here = check(local)
    finally:
        fsspec.filesystem("memory").rm(url.removeprefix("memory://"), recursive=True)
    printed = json.loads(capsys.readouterr().out)
    assert code == 1 and printed["status"] == "FAILED" and printed["source"] == url
    assert [(p["file"], p["code"]) for p in printed["problems"]] == [(p.file, p.code) for p in here.problems]
    assert "model_weights.safetensors" in [p["file"] for p in printed["problems"]]


def test_check_reads_weight_headers_by_ranged_gets_only(local_s3, tmp_path):
    source, sizes = _big_sharded_model(tmp_path)  # three shards of about 8 MB
    upload(source, f"s3://{BUCKET}/big")
    report = check(f"s3://{BUCKET}/big", base_model=BASE)
    assert report.passed() and report.kind == "full"
    gets = weight_gets(local_s3, f"{BUCKET}/big/")
    shards = {r.path for r in gets}
    assert len(shards) == 3 and all(r.range and r.status == 206 for r in gets)
    for shard in shards:
        header = report.headers[f"model/model_weights/{shard.rsplit('/', 1)[1]}"]
        # one request per file: the header fits in the first read's 64 KiB (of an 8 MB file)
        assert [(r.range, r.bytes_sent) for r in gets if r.path == shard] == [(f"bytes=0-{HEADER_BLOCK - 1}",
                                                                              HEADER_BLOCK)]
        assert 8 + header.header_size <= HEADER_BLOCK
    assert sum(sizes) > 20 << 20 and local_s3.bytes_sent(f"{BUCKET}/big/") < 300_000


def test_a_header_larger_than_the_first_read_takes_one_more_ranged_get_for_the_rest(local_s3, tmp_path):
    import torch
    from safetensors.torch import save_file

    from ludwig_hub_export.source.safetensors_header import read_header
    from ludwig_hub_export.source.storage import resolve

    local = tmp_path / "many.safetensors"
    save_file({f"model.layers.{i}.self_attn.rotary_emb.inv_freq": torch.zeros(2) for i in range(2000)}, str(local))
    s3().put(str(local), f"{BUCKET}/many/w.safetensors")
    header = read_header(resolve(f"s3://{BUCKET}/many") / "w.safetensors")
    assert len(header.tensors) == 2000 and 8 + header.header_size > HEADER_BLOCK
    gets = local_s3.requests("GET", f"{BUCKET}/many/w.safetensors")
    assert [r.range for r in gets] == [f"bytes=0-{HEADER_BLOCK - 1}",
                                       f"bytes={HEADER_BLOCK}-{8 + header.header_size - 1}"]
    assert sum(r.bytes_sent for r in gets) == 8 + header.header_size  # the header and nothing else


def test_check_of_a_results_directory_in_s3_takes_the_newest_run_with_latest(local_s3, tmp_path):
    run = copy_fixture("ecd_run", tmp_path) / "results" / "api_experiment_run"
    upload(run, f"s3://{BUCKET}/results/first_run")
    time.sleep(1.1)  # S3 times have one-second resolution
    upload(run, f"s3://{BUCKET}/results/second_run")
    with pytest.raises(Exception, match="holds 2 training runs") as err:
        check(f"s3://{BUCKET}/results")
    assert err.value.exit_code == 2
    report = check(f"s3://{BUCKET}/results", latest=True)
    assert report.passed() and str(report.layout.run_dir) == f"s3://{BUCKET}/results/second_run"


def test_unsafe_object_names_are_refused(tmp_path):
    local = copy_fixture("ecd_saved", tmp_path)
    root = f"memory://unsafe-{os.getpid()}/model"
    upload(local, root)
    fs = fsspec.filesystem("memory")
    fs.pipe(f"/unsafe-{os.getpid()}/model/evil\\..\\name.json", b"{}")
    try:
        report = check(root)
    finally:
        fs.rm(f"/unsafe-{os.getpid()}", recursive=True)
    assert not report.passed() and "cannot be mapped to files safely" in report.format()


# --- push ------------------------------------------------------------------------------------------------------

def test_push_from_s3_publishes_the_same_files_as_from_disk(local_s3, local_hub, hub_api, transfer_protocol,
                                                           env_token, tmp_path):
    local = copy_fixture("lora_run", tmp_path)
    upload(local, f"s3://{BUCKET}/lora")
    report = push(f"s3://{BUCKET}/lora", settings("tester/from-s3"))
    assert report.verified and len(report.commits) == 1
    from_disk = push(local, settings("tester/from-s3"))  # the local copy publishes exactly the same bytes
    assert {f.path: f.sha256 for f in report.files} == {f.path: f.sha256 for f in from_disk.files}
    assert all(f.status == "already there" for f in from_disk.files)
    manifest = json.loads(local_hub.read_file("tester/from-s3", MANIFEST_FILE))
    assert {f["path"] for f in manifest["files"]} | {MANIFEST_FILE} == set(local_hub.files("tester/from-s3")) - {
        ".gitattributes"}
    # the weights: `check` read the header (one ranged GET of at most 64 KiB, here the whole small file), then
    # push downloaded the file once, in full (one streamed GET)
    weights = weight_gets(local_s3, f"{BUCKET}/lora/")
    assert [(r.range is None, r.bytes_sent) for r in weights] == [(False, min(HEADER_BLOCK, weights[1].bytes_sent)),
                                                                   (True, weights[1].bytes_sent)], weights
    assert not list(Path(tempfile.gettempdir()).glob("ludwig-hub-export-*/staged/*"))  # staged copies are gone


def test_a_hyperopt_experiment_in_s3_publishes_like_the_local_one(local_s3, local_hub, hub_api, transfer_protocol,
                                                                    env_token, tmp_path):
    """`ludwig hyperopt` with output_directory s3://...: the experiment is read from the bucket (statistics, Ray's
    result/params JSON, never params.pkl), every trial is published as a branch, and the best one as main,
    with the same bytes as from the local copy."""
    from ludwig_hub_export.source.hyperopt import read_experiment
    from ludwig_hub_export.workflows.pull import pull
    from ludwig_hub_export.workflows.sweep import export_sweep

    local = tmp_path / "hyperopt_ecd"
    import shutil

    shutil.copytree(FIXTURES / "hyperopt_ecd", local)
    url = f"s3://{BUCKET}/hp/results"
    upload(local / "results", url)
    remote, here = read_experiment(url), read_experiment(local / "results")
    assert [(t.trial_id, t.score, t.parameters) for t in remote.trials] == \
        [(t.trial_id, t.score, t.parameters) for t in here.trials]
    assert str(remote.directory).startswith("s3://")
    assert not [r for r in local_s3.requests("GET", f"{BUCKET}/hp/") if r.path.endswith(".pkl")]

    report = export_sweep(url, "tester/sweep-s3", trials="all", quiet=True, interactive=False)
    assert {r.status for r in report.trials} == {"published"} and all(r.verified for r in report.trials)
    assert local_hub.stats.requests["create_repo"] == 1
    for trial in here.trials:
        row = next(r for r in report.trials if r.trial_id == trial.trial_id)
        pulled = pull("tester/sweep-s3", tmp_path / f"pulled-{trial.trial_id}", revision=row.revision)
        assert (pulled.model_dir / "model_weights.safetensors").read_bytes() == \
            (trial.run_dir / "model" / "model_weights.safetensors").read_bytes()

    # the command line: an experiment URL means its best trial, to main
    env_dir = tmp_path / "cli"
    assert main(["push", url, "--repo-id", "tester/best-s3", "--format", "quiet"]) == 0
    best = pull("tester/best-s3", env_dir)
    assert (best.model_dir / "model_weights.safetensors").read_bytes() == \
        (here.best.run_dir / "model" / "model_weights.safetensors").read_bytes()


def test_rerun_downloads_only_what_the_hub_lacks(local_s3, local_hub, hub_api, transfer_protocol, env_token,
                                                  tmp_path):
    source, sizes = _big_sharded_model(tmp_path)
    url = f"s3://{BUCKET}/big"
    upload(source, url)
    push(url, settings("tester/big"))
    downloaded = local_s3.bytes_sent(f"{BUCKET}/big/")
    assert downloaded >= sum(sizes)

    local_s3.log.clear()
    again = push(url, settings("tester/big"))  # nothing changed: the ETag cache gives every sha256
    assert again.verified and all(f.status == "already there" for f in again.files)
    big_gets = [(r.path, r.range, r.bytes_sent) for r in local_s3.requests("GET") if r.bytes_sent > 10_000]
    headers = len(sizes) * HEADER_BLOCK  # each weight file's first read
    assert local_s3.bytes_sent(f"{BUCKET}/big/") < 200_000 + headers, big_gets  # the listing, JSON files, headers

    # an interrupted upload: the Hub lacks one shard, and one object in storage was rewritten (new ETag)
    hub_api.delete_file("model-00002-of-00003.safetensors", "tester/big")
    local_s3.log.clear()
    third = push(url, settings("tester/big"))
    assert [f.path for f in third.files if f.status == "uploaded"] == ["model-00002-of-00003.safetensors"]
    fetched = {r.path.rsplit("/", 1)[1] for r in weight_gets(local_s3, f"{BUCKET}/big/") if r.bytes_sent > 1 << 20}
    assert fetched == {"model-00002-of-00003.safetensors"}


def test_a_rewritten_object_is_downloaded_again(local_s3, local_hub, env_token, tmp_path):
    local = copy_fixture("ecd_saved", tmp_path)
    url = f"s3://{BUCKET}/ecd"
    upload(local, url)
    push(url, settings("tester/ecd", base_model=None))
    # same size, new content: the ETag changes, so the cached digest no longer applies
    weights = local / "model_weights.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0x01
    s3().pipe(f"{BUCKET}/ecd/model_weights.safetensors", bytes(data))
    local_s3.log.clear()
    report = push(url, settings("tester/ecd", base_model=None))
    assert [f.path for f in report.files if f.status == "uploaded"][:1] == ["model_weights.safetensors"]
    assert len(weight_gets(local_s3, f"{BUCKET}/ecd/model_weights.safetensors")) >= 3  # 2 header reads + body


def test_push_from_s3_stages_one_file_at_a_time_and_downloads_each_once(local_s3, local_hub, transfer_protocol,
                                                                         env_token, tmp_path):
    source, sizes = _big_sharded_model(tmp_path)
    upload(source, f"s3://{BUCKET}/big")
    staging_root = tmp_path / "tmp"
    peak, stop = [0], threading.Event()

    def size(p: Path) -> int:
        try:
            return p.stat().st_size
        except FileNotFoundError:  # released between the listing and the stat
            return 0

    def watch():
        while not stop.is_set():
            peak[0] = max(peak[0], sum(size(p) for p in staging_root.glob("ludwig-hub-export-*/staged/*")))
            time.sleep(0.002)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        assert push(f"s3://{BUCKET}/big", settings("tester/big")).verified
    finally:
        stop.set()
        watcher.join()
    # One file on this disk at a time (hashed as it arrives, then sent or read for the commit, then removed),
    # each downloaded once.
    assert peak[0] <= max(sizes) * 1.1
    assert sum(sizes) <= local_s3.bytes_sent(f"{BUCKET}/big/model_weights/") < sum(sizes) * 1.05


# --- bad input -------------------------------------------------------------------------------------------------

def claims_completeness(local_hub, repo_id: str) -> bool:
    try:
        return MANIFEST_FILE in local_hub.files(repo_id)
    except KeyError:  # no such repo
        return False


def run_cli(capsys, *args: str) -> tuple[int, str]:
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out + out.err


def test_missing_bucket_key_and_model(local_s3, local_hub, capsys, tmp_path):
    upload(copy_fixture("ecd_saved", tmp_path), f"s3://{BUCKET}/somewhere/else")
    for url, says in (("s3://no-such-bucket/run", "no such bucket, key or prefix"),
                      (f"s3://{BUCKET}/no/such/key", "no such bucket, key or prefix"),
                      (f"s3://{BUCKET}/somewhere", "no Ludwig model here")):
        code, out = run_cli(capsys, "check", url)
        assert code == 1 and says in out and url in out and "Traceback" not in out
        code, out = run_cli(capsys, "push", url, "--repo-id", "tester/never", "--quiet")
        assert code == 1 and says in out and "nothing was uploaded" in out
    assert local_hub.requests() == []  # a failed check makes no Hub call


def test_no_credentials_and_access_denied_exit_3_without_secrets(local_s3, local_hub, capsys, tmp_path,
                                                                 monkeypatch):
    upload(copy_fixture("ecd_saved", tmp_path), f"s3://{BUCKET}/ecd")
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    code, out = run_cli(capsys, "check", f"s3://{BUCKET}/ecd")
    assert code == 3 and "no credentials" in out and "AWS_PROFILE" in out and "Traceback" not in out

    secret = "sEcReT-never-printed-0123456789"
    local_s3.faults.deny(f"{BUCKET}/ecd/model_weights")
    options = json.dumps({"key": "someone", "secret": secret, "endpoint_url": local_s3.url})
    code, out = run_cli(capsys, "push", f"s3://{BUCKET}/ecd", "--storage-options", options,
                        "--repo-id", "tester/never", "--quiet")
    assert code == 3 and "access denied" in out and f"s3://{BUCKET}/ecd/model_weights.safetensors" in out
    assert secret not in out and local_hub.requests() == []


def test_unknown_protocol_and_missing_package(capsys):
    code, out = run_cli(capsys, "check", "nosuchproto://bucket/run")
    assert code == 2 and "unknown storage protocol nosuchproto://" in out
    code, out = run_cli(capsys, "push", "gs://bucket/run", "--repo-id", "tester/never")
    assert code == 1 and "needs gcsfs" in out and "pip install 'ludwig-hub-export[gcs]'" in out
    code, out = run_cli(capsys, "check", "s3://key:verysecret@bucket/run", "--storage-options", "[1]")
    assert code == 2 and "must be a JSON object" in out and "verysecret" not in out


def test_storage_failure_mid_download_exits_4_and_publishes_nothing(local_s3, local_hub, hub_api, env_token,
                                                                     tmp_path, capsys):
    source, sizes = _big_sharded_model(tmp_path)
    upload(source, f"s3://{BUCKET}/big")
    local_s3.faults.cut(f"{BUCKET}/big/model_weights/model-00002", after=1 << 20)  # every try
    code, out = run_cli(capsys, "push", f"s3://{BUCKET}/big", "--repo-id", "tester/big", "--base-model", BASE,
                        "--quiet")
    assert code == 4 and f"s3://{BUCKET}/big/model_weights/model-00002-of-00003.safetensors" in out
    assert "run the same command again" in out and "Traceback" not in out
    assert not claims_completeness(local_hub, "tester/big")
    assert not list(Path(tempfile.gettempdir()).glob("ludwig-hub-export-*/staged/*"))

    local_s3.faults.clear()  # the storage recovers: the rerun completes
    assert push(f"s3://{BUCKET}/big", settings("tester/big")).verified


def test_a_dropped_connection_is_resumed_by_the_client(local_s3, local_hub, env_token, tmp_path):
    source, sizes = _big_sharded_model(tmp_path)
    upload(source, f"s3://{BUCKET}/big")
    local_s3.faults.cut(f"{BUCKET}/big/model_weights/model-00001", after=1 << 20, times=1)
    report = push(f"s3://{BUCKET}/big", settings("tester/big"))
    assert report.verified
    gets = weight_gets(local_s3, f"{BUCKET}/big/model_weights/model-00001")
    cut = [r for r in gets if r.bytes_sent == 1 << 20 and r.range is None]
    assert len(cut) == 1  # the fault fired on the streamed GET...
    rest = [r for r in gets if r.range and r.bytes_sent > 1 << 20]
    start = min(int(r.range.removeprefix("bytes=").split("-")[0]) for r in rest)
    assert start % streams.PIECE == 0 and start <= 1 << 20  # ...the rest came by ranges from the last whole piece
    assert sum(r.bytes_sent for r in rest) == sizes[0] - start


def test_push_from_s3_reads_each_weight_file_with_one_streamed_get(local_s3, local_hub, transfer_protocol,
                                                                    env_token, tmp_path):
    """One GET per file, not one per chunk: each request is a round trip, and some servers (moto) read the whole
    object again for every ranged GET."""
    source, sizes = _big_sharded_model(tmp_path)
    upload(source, f"s3://{BUCKET}/big")
    assert push(f"s3://{BUCKET}/big", settings("tester/big")).verified
    bodies = [r for r in weight_gets(local_s3, f"{BUCKET}/big/model_weights/") if r.bytes_sent > 1 << 20]
    assert sorted((r.range, r.bytes_sent) for r in bodies) == sorted((None, size) for size in sizes)


@pytest.mark.parametrize("size", [0, 1, 65536, 3 * 65536 + 5])
def test_a_streamed_download_hashes_exactly_the_bytes_of_the_object(size, local_s3, tmp_path, monkeypatch):
    """Pieces read ahead of the one being handled are hashed and written in order (small pieces: many)."""
    import hashlib

    from ludwig_hub_export.source.storage import resolve
    from ludwig_hub_export.source.storage.remote_file import DigestCache, RemoteFile

    monkeypatch.setattr(streams, "PIECE", 65536)
    data = os.urandom(size)
    s3().pipe(f"{BUCKET}/streamed/w.bin", data)
    staged = RemoteFile(resolve(f"s3://{BUCKET}/streamed") / "w.bin", DigestCache(tmp_path / "c.json"))
    path = staged.stage(tmp_path / "staged")
    assert path.read_bytes() == data and staged.digest.sha256 == hashlib.sha256(data).hexdigest()
    assert [r.range for r in local_s3.requests("GET", f"{BUCKET}/streamed/w.bin")] == [None]


# --- the callback, on a training run whose output_directory is in S3 --------------------------------------------

@pytest.mark.ludwig
def test_callback_on_a_run_written_to_s3(local_s3, local_hub, env_token, tmp_path, capsys):
    import logging

    from helpers import make_fixtures
    from ludwig.api import LudwigModel

    from ludwig_hub_export import HubExportCallback

    callback = HubExportCallback("tester/cb-s3", quiet=True, interactive=False, retry=settings("x/y").retry)
    model = LudwigModel(make_fixtures.ecd_config(), logging_level=logging.ERROR, callbacks=[callback])
    model.train(dataset=make_fixtures.ecd_dataframe(), random_seed=make_fixtures.SEED,
                output_directory=f"s3://{BUCKET}/results", skip_save_processed_input=True)
    assert callback.error is None and callback.report.verified, callback.error
    run = f"s3://{BUCKET}/results/api_experiment_run"
    assert s3().isfile(f"{run.removeprefix('s3://')}/model/model_weights.safetensors")  # Ludwig copied the run up
    # the run in storage is the model the callback published: a push from the URL finds every file in place
    again = push(run, settings("tester/cb-s3", base_model=None))
    assert {f.path: f.sha256 for f in again.files} == {f.path: f.sha256 for f in callback.report.files}
    assert all(f.status == "already there" for f in again.files)

    # a failed export names where the run will be, not the temporary directory Ludwig deletes
    reader = local_hub.add_token("tester", role="read")
    failing = HubExportCallback("tester/cb-s3-ro", token=reader, quiet=True, interactive=False,
                                retry=settings("x/y").retry)
    LudwigModel(make_fixtures.ecd_config(), logging_level=logging.ERROR, callbacks=[failing]).train(
        dataset=make_fixtures.ecd_dataframe(), random_seed=make_fixtures.SEED,
        output_directory=f"s3://{BUCKET}/results2", skip_save_processed_input=True)
    assert isinstance(failing.error, AuthError)
    err = capsys.readouterr().err
    assert "push <output_directory URL>/api_experiment_run --repo-id tester/cb-s3-ro" in err


@pytest.mark.parametrize("size", [0, 1, 65536, 65537, 10 * 65536 + 5])
def test_staging_hashes_exactly_the_bytes_of_the_object(size, tmp_path, monkeypatch):
    """Chunks fetched several at a time are hashed and written in order (small chunks: many of them)."""
    import hashlib

    from ludwig_hub_export.hashing import file_digest
    from ludwig_hub_export.source.storage import resolve
    from ludwig_hub_export.source.storage import remote_file
    from ludwig_hub_export.source.storage.remote_file import DigestCache, RemoteFile

    monkeypatch.setattr(remote_file, "CHUNK", 65536)
    data = os.urandom(size)
    root = f"/staging-{os.getpid()}-{size}"
    fsspec.filesystem("memory").pipe(f"{root}/w.bin", data)
    try:
        staged = RemoteFile(resolve(f"memory:/{root}") / "w.bin", DigestCache(tmp_path / "c.json"))
        path = staged.stage(tmp_path / "staged")
    finally:
        fsspec.filesystem("memory").rm(root, recursive=True)
    assert path.read_bytes() == data and staged.digest.sha256 == hashlib.sha256(data).hexdigest()
    assert staged.digest == file_digest(path)
    staged.release()
    assert not path.exists()


def test_a_paced_link_makes_the_local_s3_serve_like_a_remote_bucket(local_s3, monkeypatch):
    """The storage benchmark's `--s3-mib-per-s`: every body byte goes through one shared link of that rate."""
    data = os.urandom(3 << 20)
    s3().pipe(f"{BUCKET}/paced.bin", data)
    monkeypatch.setattr(local_s3, "link", PacedLink(6 << 20))  # 3 MiB at 6 MiB/s: at least half a second
    started = time.monotonic()
    assert s3().cat_file(f"{BUCKET}/paced.bin") == data
    assert time.monotonic() - started >= 0.45
    assert local_s3.bytes_sent(f"{BUCKET}/paced.bin") == len(data)


# --- every read of one object is of one version (issue 27, item 3) ----------------------------------------------

def _cut_then_overwrite(local_s3, key: str, after: int, new: bytes) -> None:
    """The streamed GET of `key` drops after `after` bytes, and the object is overwritten (same size) right then:
    a resume that is not pinned to the version would splice the old bytes and the new."""
    local_s3.faults.cut(key, after=after, times=1, then=lambda: s3().pipe(key, new))


def test_an_object_overwritten_while_its_cut_download_resumes_is_read_again_whole(local_s3, tmp_path, monkeypatch):
    """Not versioned: the resume's ranged GETs carry If-Match with the listed ETag, get 412, and the object is
    read again from byte 0, as it is now: all new bytes, and the digest of those bytes."""
    import hashlib

    from ludwig_hub_export.source.storage import resolve
    from ludwig_hub_export.source.storage.remote_file import DigestCache, RemoteFile

    monkeypatch.setattr(streams, "PIECE", 65536)
    key, old, new = f"{BUCKET}/changing/w.bin", os.urandom(1 << 20), os.urandom(1 << 20)
    s3().pipe(key, old)
    remote = RemoteFile(resolve(f"s3://{BUCKET}/changing") / "w.bin", DigestCache(tmp_path / "c.json"))
    listed = remote.path.pin.etag
    _cut_then_overwrite(local_s3, key, 300_000, new)
    staged = remote.stage(tmp_path / "staged")
    assert staged.read_bytes() == new and remote.digest.sha256 == hashlib.sha256(new).hexdigest()
    gets = local_s3.requests("GET", key)
    assert gets[0].range is None and gets[0].bytes_sent == 300_000  # the cut stream
    assert 412 in [r.status for r in gets] and (gets[-1].status, gets[-1].bytes_sent) == (200, len(new))
    # the digest is kept under the version read, not the one listed first
    assert remote.path.pin.etag != listed and DigestCache(tmp_path / "c.json").get(remote.cache_key) == remote.digest


def test_a_version_aware_listing_reads_the_listed_version_whole_though_it_was_overwritten(local_s3, tmp_path,
                                                                                         monkeypatch):
    """A versioned bucket listed with version_aware: every GET names the listed VersionId; the resume after the cut
    reads the rest of that version (still there), not of the new one."""
    import hashlib

    from ludwig_hub_export.source.storage import resolve
    from ludwig_hub_export.source.storage.remote_file import DigestCache, RemoteFile

    monkeypatch.setattr(streams, "PIECE", 65536)
    s3().call_s3("put_bucket_versioning", Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    key, old, new = f"{BUCKET}/versioned/w.bin", os.urandom(1 << 20), os.urandom(1 << 20)
    s3().pipe(key, old)
    remote = RemoteFile(resolve(f"s3://{BUCKET}/versioned", {"version_aware": True}) / "w.bin",
                        DigestCache(tmp_path / "c.json"))
    assert remote.path.pin.version_id
    _cut_then_overwrite(local_s3, key, 300_000, new)
    staged = remote.stage(tmp_path / "staged")
    assert staged.read_bytes() == old and remote.digest.sha256 == hashlib.sha256(old).hexdigest()
    gets = local_s3.requests("GET", key)
    assert gets[0].range is None and gets[0].bytes_sent == 300_000
    assert all(f"versionId={remote.path.pin.version_id}" in r.query for r in gets)
    assert sum(r.bytes_sent for r in gets[1:]) == len(old) - 262144  # resumed from the last whole piece, once


def test_a_push_of_a_weight_file_overwritten_mid_download_publishes_one_version_and_its_digest(
        local_s3, local_hub, transfer_protocol, env_token, tmp_path, monkeypatch):
    """The Hub ends up with all of one version (here the new one, read again from byte 0) and the manifest's
    sha256 is of those bytes, or the push fails naming the object and claims nothing: never old bytes followed
    by new ones, with the splice's digest in the manifest (which `pull` would then verify)."""
    import hashlib

    source, sizes = _big_sharded_model(tmp_path)
    url, shard = f"s3://{BUCKET}/big", "model-00001-of-00003.safetensors"
    upload(source, url)
    data = bytearray((source / "model_weights" / shard).read_bytes())
    data[1 << 20:] = os.urandom(len(data) - (1 << 20))  # new weights of the same size (the header as it was)
    new, old = bytes(data), (source / "model_weights" / shard).read_bytes()
    monkeypatch.setattr(streams, "PIECE", 1 << 20)  # the stream hands on 3 MiB before the cut: a resume from there
    _cut_then_overwrite(local_s3, f"{BUCKET}/big/model_weights/{shard}", 3 << 20, new)
    try:
        report = push(url, settings("tester/big"))
    except StorageError as e:
        assert "changed while it was read" in str(e) and shard in str(e)
        assert not claims_completeness(local_hub, "tester/big")
        return
    assert report.verified
    published = local_hub.files("tester/big")[shard].lfs_oid
    assert published in (hashlib.sha256(new).hexdigest(), hashlib.sha256(old).hexdigest())
    manifest = json.loads(local_hub.read_file("tester/big", MANIFEST_FILE))
    assert {f["path"]: f["sha256"] for f in manifest["files"]}[shard] == published


def test_an_object_in_a_store_without_pinned_reads_overwritten_mid_read_is_read_again_whole(tmp_path,
                                                                                           monkeypatch):
    """memory:// (like any store whose reads cannot name a version): the ranged reads are checked against a fresh
    listing of the object afterwards; an object that changed between two of them is read again from byte 0."""
    import hashlib

    from ludwig_hub_export.source.storage import remote_file, resolve
    from ludwig_hub_export.source.storage.remote_file import DigestCache, RemoteFile

    monkeypatch.setattr(remote_file, "CHUNK", 65536)
    monkeypatch.setattr(remote_file, "PARALLEL_CHUNKS", 1)
    root, old, new = f"/unpinned-{os.getpid()}", os.urandom(4 * 65536), os.urandom(4 * 65536)
    memory = fsspec.filesystem("memory")
    memory.pipe(f"{root}/w.bin", old)
    try:
        remote = RemoteFile(resolve(f"memory:/{root}") / "w.bin", DigestCache(tmp_path / "c.json"))
        fs, reads = remote.path.tree.fs, []
        real = fs.cat_file

        def overwritten_after_the_first_range(path, start=None, end=None, **kw):
            reads.append(start)
            if len(reads) == 2:
                time.sleep(0.01)  # a later time than the listed one, whatever the clock's resolution
                memory.pipe(f"{root}/w.bin", new)  # another writer, between two ranges of one read
            return real(path, start=start, end=end, **kw)

        monkeypatch.setattr(fs, "cat_file", overwritten_after_the_first_range)
        staged = remote.stage(tmp_path / "staged")
    finally:
        memory.rm(root, recursive=True)
    assert staged.read_bytes() == new and remote.digest.sha256 == hashlib.sha256(new).hexdigest()
    assert reads == [0, 65536, 131072, 196608, 0, 65536, 131072, 196608]
