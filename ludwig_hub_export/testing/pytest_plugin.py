"""pytest fixtures that run the tests of a session against one local Hub.

Enable it in a ``conftest.py`` with ``pytest_plugins = ["ludwig_hub_export.testing.pytest_plugin"]``.
It is not auto-loaded, because it points ``HF_ENDPOINT`` at loopback for the whole test process: the client
reads that variable when ``huggingface_hub`` is first imported, so the hub starts in ``pytest_configure``,
before any test module imports the client, and each test gets it back empty through ``local_hub``.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import warnings

import pytest

from .server import LocalHub

_SCRUBBED = ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_TOKEN_PATH", "HF_HUB_OFFLINE", "HF_HUB_ENABLE_HF_TRANSFER",
            "HF_OIDC_RESOURCE", "HF_OIDC_ID_TOKEN")


def pytest_configure(config: pytest.Config) -> None:
    if getattr(config, "_local_hub", None) is not None:
        return
    hub = LocalHub().start()
    hf_home = tempfile.mkdtemp(prefix="local-hub-hf-home-")
    for name in _SCRUBBED:
        os.environ.pop(name, None)
    os.environ.update(hub.env(hf_home=hf_home))
    constants = sys.modules.get("huggingface_hub.constants")
    if constants is not None and getattr(constants, "ENDPOINT", None) != hub.url:
        warnings.warn(
            "huggingface_hub was imported before the local Hub started, so in this process it still talks to "
            f"{constants.ENDPOINT}. Load this plugin from the rootdir conftest.py, before anything imports it.",
            stacklevel=1,
        )
    config._local_hub = hub  # type: ignore[attr-defined]
    config._local_hub_home = hf_home  # type: ignore[attr-defined]


def pytest_unconfigure(config: pytest.Config) -> None:
    hub = getattr(config, "_local_hub", None)
    if hub is not None:
        hub.stop()
        shutil.rmtree(config._local_hub_home, ignore_errors=True)  # type: ignore[attr-defined]
        config._local_hub = None  # type: ignore[attr-defined]


@pytest.fixture
def local_hub(request: pytest.FixtureRequest) -> LocalHub:
    """The session's local Hub, emptied: no repos, only the default user, no faults or quotas."""
    hub: LocalHub = request.config._local_hub  # type: ignore[attr-defined]
    hub.reset()
    return hub


@pytest.fixture
def hub_api(local_hub: LocalHub):
    """A real `HfApi` client for the local Hub, authenticated as the default user."""
    from huggingface_hub import HfApi

    return HfApi(endpoint=local_hub.url, token=local_hub.token)
