"""A local Hugging Face Hub for tests and offline pipelines.

``LocalHub`` serves the Hub's HTTP API on loopback, Xet CAS included, so the real ``huggingface_hub`` client
(``HF_ENDPOINT`` pointing at it; with hf_xet, or on LFS with ``HF_HUB_DISABLE_XET=1``) can create repos,
upload, list and download.
It has accounts, rate limits and scripted faults, and records every request.
"""

from .api import Limits
from .control import HubControl
from .faults import Fault
from .request_log import RequestRecord
from .server import LocalHub

__all__ = ["LocalHub", "Limits", "Fault", "HubControl", "RequestRecord"]
