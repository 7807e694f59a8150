import os

import pytest

# The local Hub must start (and set HF_ENDPOINT) before any test imports huggingface_hub.
pytest_plugins = ["ludwig_hub_export.testing.pytest_plugin"]


@pytest.fixture
def env_token(local_hub, monkeypatch: pytest.MonkeyPatch) -> str:
    """The local Hub's write token in HF_TOKEN, where the client and the exporter look for it."""
    monkeypatch.setenv("HF_TOKEN", local_hub.token)
    return local_hub.token


@pytest.fixture
def child_env(local_hub, transfer_protocol, tmp_path) -> dict:
    """The environment of a command run against the local Hub: its token, a fresh HF_HOME and hash cache."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HF_")}
    env.update(local_hub.env(token=local_hub.token, hf_home=tmp_path / "hf-home"))
    env["LUDWIG_HUB_EXPORT_CACHE"] = str(tmp_path / "cache")
    return env
