"""The local Hub's URL map: which API method (`api.py`) or CAS method (`xet_cas.py`) a request names, with the
parameters its path carries."""

from __future__ import annotations

import re
from urllib.parse import unquote

_REV = r"(?P<rev>refs/(?:pr|convert)/[^/]+|[^/]+)"
_API_REPO = r"^/api/(?P<type>models|datasets|spaces)/(?P<ns>[^/]+)/(?P<name>[^/]+)"
_GIT_REPO = r"^/(?:(?P<type>datasets|spaces)/)?(?P<ns>[^/_][^/]*)/(?P<name>[^/]+?)"
ROUTES: list[tuple[str, str, re.Pattern]] = [
    (method, kind, re.compile(pattern))
    for method, kind, pattern in [
        ("GET", "whoami", r"^/api/whoami-v2$"),
        ("POST", "create_repo", r"^/api/repos/create$"),
        ("DELETE", "delete_repo", r"^/api/repos/delete$"),
        ("POST", "validate_yaml", r"^/api/validate-yaml$"),
        ("POST", "oidc_token", r"^/oauth/token$"),
        ("GET", "repo_info", _API_REPO + rf"(?:/revision/{_REV})?$"),
        ("GET", "tree", _API_REPO + rf"/tree/{_REV}(?:/(?P<path>.*))?$"),
        ("POST", "paths_info", _API_REPO + rf"/paths-info/{_REV}$"),
        ("POST", "preupload", _API_REPO + rf"/preupload/{_REV}$"),
        ("POST", "commit", _API_REPO + rf"/commit/{_REV}$"),
        ("GET", "commits", _API_REPO + rf"/commits/{_REV}$"),
        ("GET", "refs", _API_REPO + r"/refs$"),
        ("POST", "create_branch", _API_REPO + r"/branch/(?P<branch>[^/]+)$"),
        ("POST", "create_tag", _API_REPO + rf"/tag/{_REV}$"),
        ("POST", "create_collection", r"^/api/collections$"),
        ("GET", "get_collection", r"^/api/collections/(?P<ns>[^/]+)/(?P<slug>[^/]+)$"),
        ("POST", "add_collection_item", r"^/api/collections/(?P<ns>[^/]+)/(?P<slug>[^/]+)/items$"),
        ("POST", "lfs_batch", _GIT_REPO + r"\.git/info/lfs/objects/batch$"),
        ("POST", "lfs_verify", _GIT_REPO + r"\.git/info/lfs/objects/verify$"),
        ("PUT", "lfs_upload", r"^/_lfs/(?P<oid>[0-9a-f]{64})$"),
        ("GET", "resolve", _GIT_REPO + rf"/resolve/{_REV}/(?P<path>.+)$"),
        ("HEAD", "resolve", _GIT_REPO + rf"/resolve/{_REV}/(?P<path>.+)$"),
        ("GET", "xet_token", _API_REPO + r"/xet-(?P<mode>read|write)-token/(?P<rev>.+)$"),
        # The Xet CAS (xet_cas.py), under /cas: xorbs through upload grants or directly, shards and reconstructions
        # in both forms.
        ("POST", "xorb_grant", r"^/cas/v1/xorb-grants/(?P<prefix>[^/]+)/(?P<hash>[0-9a-f]{64})$"),
        ("PUT", "xorb", r"^/cas/grant-uploads/(?P<grant>[A-Za-z0-9_-]+)$"),
        ("POST", "xorb_commit",
         r"^/cas/v1/xorb-commits/(?P<prefix>[^/]+)/(?P<hash>[0-9a-f]{64})/grant/(?P<grant>[A-Za-z0-9_-]+)$"),
        ("POST", "xorb", r"^/cas/v1/xorbs/(?P<prefix>[^/]+)/(?P<hash>[0-9a-f]{64})$"),
        ("POST", "shard", r"^/cas/v[12]/shards$"),
        ("GET", "dedup", r"^/cas/v1/chunks/(?P<prefix>[^/]+)/(?P<hash>[0-9a-f]{64})$"),
        ("GET", "reconstruction", r"^/cas/v[12]/reconstructions/(?P<hash>[0-9a-f]{64})$"),
        ("GET", "xorb_get", r"^/cas/fetch/(?P<hash>[0-9a-f]{64})$"),
        ("POST", "xet_telemetry", r"^/v1/telemetry$"),  # hf_xet's: at the root of the CAS URL's host
    ]
]
CAS_KINDS = {"xorb_grant", "xorb", "xorb_commit", "shard", "dedup", "reconstruction", "xorb_get", "xet_telemetry"}


def route(method: str, path: str) -> tuple[str, dict[str, str]]:
    """The kind of a request ("admin" for ``/_local/``, "unknown" when nothing matches) and its path parameters."""
    if path.startswith("/_local/"):
        return "admin", {"action": path[len("/_local/"):]}
    for route_method, kind, pattern in ROUTES:
        match = pattern.match(path)
        if match and route_method == method:
            return kind, {k: unquote(v) for k, v in match.groupdict().items() if v is not None}
    return "unknown", {}
