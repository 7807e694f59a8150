import pytest

# The local Hub must start (and set HF_ENDPOINT) before any test imports huggingface_hub.
pytest_plugins = ["ludwig_hub_export.testing.pytest_plugin"]


@pytest.fixture
def env_token(local_hub, monkeypatch: pytest.MonkeyPatch) -> str:
    """The local Hub's write token in HF_TOKEN, where the client and the exporter look for it."""
    monkeypatch.setenv("HF_TOKEN", local_hub.token)
    return local_hub.token
