import os

import pytest

if os.environ.get("PYTEST_XDIST_WORKER"):
    # Several workers share few cores: one compute thread each (torch, and Ludwig in subprocesses, which inherit
    # this), or every training's threads fight every other's. Set before anything imports torch.
    for _name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(_name, "1")

# The local Hub must start (and set HF_ENDPOINT) before any test imports huggingface_hub.
pytest_plugins = ["ludwig_hub_export.testing.pytest_plugin"]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The slow tests first: each takes minutes on one worker, so one that starts last ends the suite late."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


@pytest.fixture
def env_token(local_hub, monkeypatch: pytest.MonkeyPatch) -> str:
    """The local Hub's write token in HF_TOKEN, where the client and the exporter look for it."""
    monkeypatch.setenv("HF_TOKEN", local_hub.token)
    return local_hub.token


@pytest.fixture
def child_env(local_hub, transfer_protocol, tmp_path) -> dict:
    """The environment of a command run against the local Hub: its token, a fresh HF_HOME and hash cache."""
    from helpers import cli_env

    return cli_env(local_hub, tmp_path, local_hub.token)


@pytest.fixture
def base_on_hub(local_hub, hub_api) -> str:
    """The tiny base model, published so that adapters can name it by Hub id and loaders can fetch it."""
    from helpers import BASE, FIXTURES

    hub_api.create_repo(BASE, private=False)
    hub_api.upload_folder(repo_id=BASE, folder_path=FIXTURES / "_base" / "tiny-llama")
    return BASE


@pytest.fixture(scope="session")
def isolated_ray():
    """A Ray instance of the tests' own, shut down at the end of the session.

    `address="local"` starts a new one: a bare `ray.init()` would join a cluster already running here (RAY_ADDRESS,
    or the last `ray start`). Its own temp dir (short: Ray's socket paths are limited), its own free ports, no
    dashboard, one CPU. Shut down even when a test fails, so no Ray process is left behind: outside pytest,
    Ludwig 0.17 picks its backend with `ray.init("auto")` (ludwig/backend/__init__.py `_has_ray`), which joins
    any Ray instance running on the machine, and a `ludwig train` beside the tests would run on theirs."""
    import shutil
    import tempfile

    ray = pytest.importorskip("ray")
    temp = tempfile.mkdtemp(prefix="ray-tests-", dir="/tmp")
    from helpers import make_fixtures  # noqa: F401 - puts fixtures/ on the path
    from make_hyperopt_fixture import start_local_ray

    start_local_ray(_temp_dir=temp)
    try:
        yield ray
    finally:
        ray.shutdown()
        shutil.rmtree(temp, ignore_errors=True)
