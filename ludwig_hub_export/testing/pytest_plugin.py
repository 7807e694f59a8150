"""pytest fixtures that run the tests of a session against one local Hub.

Enable it in a ``conftest.py`` with ``pytest_plugins = ["ludwig_hub_export.testing.pytest_plugin"]``.
It is not auto-loaded, because it points ``HF_ENDPOINT`` at loopback for the whole test process: the client
reads that variable when ``huggingface_hub`` is first imported, so the hub starts in ``pytest_configure``,
before any test module imports the client, and each test gets it back empty through ``local_hub``.

The Hub speaks Xet and LFS. Which one the client uses is the client's choice, made per test:

- ``transfer_protocol``: a fixture parametrized over ``"xet"`` (hf_xet, the real Hub's default) and ``"lfs"``
  (``HF_HUB_DISABLE_XET=1``): a test that asks for it runs once per protocol, for the client in this process
  and for client subprocesses started with ``local_hub.env()`` or with this process's environment. Pin one
  with ``@pytest.mark.parametrize("transfer_protocol", ["xet"], indirect=True)``.
- tests that do not ask use the session default: ``--hub-transfer=lfs|xet`` (or ``LOCAL_HUB_TRANSFER``),
  ``lfs`` unless told.

``--hub-rtt MS`` and ``--hub-bandwidth MBIT`` put the session's hub at a distance (`shape`); unshaped unless told.

Every test gets its own Xet cache (``HF_XET_CACHE``): hf_xet remembers there which chunks the server holds,
which would be wrong after the Hub is reset.
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
             "HF_XET_CACHE", "HF_OIDC_RESOURCE", "HF_OIDC_ID_TOKEN")
TRANSFER_PROTOCOLS = ("xet", "lfs")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--hub-transfer", choices=TRANSFER_PROTOCOLS,
                     default=os.environ.get("LOCAL_HUB_TRANSFER", "lfs"),
                     help="protocol of the huggingface_hub client in tests that do not choose one (default: lfs, "
                          "or $LOCAL_HUB_TRANSFER)")
    parser.addoption("--hub-rtt", type=float, default=0.0, metavar="MS",
                     help="the session hub's emulated round trip in ms (default: 0, loopback)")
    parser.addoption("--hub-bandwidth", type=float, default=0.0, metavar="MBIT",
                     help="the session hub's emulated bandwidth in Mbit/s each way (default: unlimited)")


def pytest_configure(config: pytest.Config) -> None:
    if getattr(config, "_local_hub", None) is not None:
        return
    try:
        shape = {"rtt": config.getoption("--hub-rtt"), "bandwidth": config.getoption("--hub-bandwidth")}
    except ValueError:  # the plugin was registered too late for its options
        shape = {}
    hub = LocalHub(**shape).start()
    try:
        hub.default_transfer = config.getoption("--hub-transfer")
    except ValueError:  # the plugin was registered too late for its option
        hub.default_transfer = os.environ.get("LOCAL_HUB_TRANSFER", "lfs")
    hf_home = tempfile.mkdtemp(prefix="local-hub-hf-home-")
    for name in _SCRUBBED:
        os.environ.pop(name, None)
    os.environ.update(hub.env(hf_home=hf_home))
    # As the exporter does (xet_errors): hf_xet's own retries take seconds, not minutes, so a persistent fault
    # on a Xet call fails a test quickly. hf_xet reads these once, when this process first uses it.
    from ..hub.xet_errors import bound_retries

    bound_retries(connect_timeout=15, read_timeout=120)
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
def local_hub(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
              monkeypatch: pytest.MonkeyPatch) -> LocalHub:
    """The session's local Hub, emptied: no repos, only the default user, no faults or quotas."""
    hub: LocalHub = request.config._local_hub  # type: ignore[attr-defined]
    hub.reset()
    monkeypatch.setenv("HF_XET_CACHE", str(tmp_path_factory.mktemp("xet-cache")))
    return hub


@pytest.fixture(params=TRANSFER_PROTOCOLS)
def transfer_protocol(request: pytest.FixtureRequest, local_hub: LocalHub, monkeypatch: pytest.MonkeyPatch) -> str:
    """The client's protocol for this test, "xet" or "lfs" (the test runs once with each); see the module doc."""
    protocol = request.param
    use_transfer_protocol(protocol, local_hub, monkeypatch)
    return protocol


def use_transfer_protocol(protocol: str, hub: LocalHub, monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the client use `protocol` for the rest of the test: in this process, in subprocesses, in hub.env()."""
    if protocol not in TRANSFER_PROTOCOLS:
        raise ValueError(f"transfer protocol must be one of {TRANSFER_PROTOCOLS}, not {protocol!r}")
    from huggingface_hub import constants

    disabled = protocol == "lfs"
    # huggingface_hub read the variable at import; `is_xet_available()` reads the constant on every call.
    monkeypatch.setattr(constants, "HF_HUB_DISABLE_XET", disabled)
    monkeypatch.setenv("HF_HUB_DISABLE_XET", "1" if disabled else "0")
    monkeypatch.setattr(hub, "default_transfer", protocol)


@pytest.fixture
def hub_api(local_hub: LocalHub):
    """A real `HfApi` client for the local Hub, authenticated as the default user."""
    from huggingface_hub import HfApi

    return HfApi(endpoint=local_hub.url, token=local_hub.token)
