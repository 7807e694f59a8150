"""From a URL to an fsspec filesystem (credentials as each client reads them, plus ``storage_options``), and from a
storage failure to one of our errors, which never hold a credential: URLs lose user info and query, and option
and secret values are blanked out of whatever a client library says."""

from __future__ import annotations

import contextlib
import os
import re

from ...errors import AuthError, ExportError, InvalidModelError, StorageError, UsageError
from ..user_files import parse_json

_URL = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]+)://")
_USERINFO = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]+://)[^/@]*@")
# protocol -> (the fsspec package, our extra that brings it)
PACKAGES = {"s3": ("s3fs", "s3"), "gs": ("gcsfs", "gcs"), "az": ("adlfs", "azure")}
_CREDENTIALS = {
    "s3": "set AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (AWS_ENDPOINT_URL for an "
          "S3-compatible store), or pass --storage-options '{\"key\": ..., \"secret\": ...}' "
          "('{\"anon\": true}' for a public bucket)",
    "gs": "set GOOGLE_APPLICATION_CREDENTIALS to a service-account key file, or run `gcloud auth "
          "application-default login`, or pass --storage-options '{\"token\": \"/path/key.json\"}'",
    "az": "set AZURE_STORAGE_CONNECTION_STRING, or AZURE_STORAGE_ACCOUNT_NAME with AZURE_STORAGE_ACCOUNT_KEY or "
          "AZURE_STORAGE_SAS_TOKEN, or pass --storage-options '{\"account_name\": ..., \"account_key\": ...}'",
}
_ALIASES = {"s3a": "s3", "gcs": "gs", "abfs": "az", "abfss": "az", "adl": "az"}
# Environment variables whose values are secrets: blanked out of messages as a second line of defence.
_SECRET_ENV = ("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AZURE_STORAGE_KEY", "AZURE_STORAGE_ACCOUNT_KEY",
               "AZURE_STORAGE_CONNECTION_STRING", "AZURE_STORAGE_SAS_TOKEN", "AZURE_CLIENT_SECRET")
_NO_CREDENTIALS = ("NoCredentialsError", "PartialCredentialsError", "CredentialRetrievalError",
                   "DefaultCredentialsError", "ClientAuthenticationError", "RefreshError")


def is_url(path: object) -> bool:
    """``proto://...`` with a protocol of two characters or more (``C:\\`` is a Windows drive, not a URL)."""
    return isinstance(path, str) and _URL.match(path) is not None


def protocol_of(url: str) -> str:
    match = _URL.match(url)
    return match.group(1).lower() if match else "file"


def display(url: str) -> str:
    """The URL as it may be shown: no user info (``user:secret@``), no query (SAS tokens, signatures)."""
    text = _USERINFO.sub(r"\1***@", str(url))
    return text.split("?", 1)[0] + ("?***" if "?" in text else "")


def parse_storage_options(text: str | None) -> dict | None:
    """The ``--storage-options`` JSON object (None when not given)."""
    if text is None:
        return None
    try:
        value = parse_json(text)
    except ValueError as e:
        raise UsageError(f"--storage-options is not valid JSON ({getattr(e, 'msg', e)}"
                         f"{f' at character {e.pos}' if hasattr(e, 'pos') else ''})",
                         "give a JSON object, e.g. --storage-options '{\"anon\": true}'") from None
    if not isinstance(value, dict):
        raise UsageError("--storage-options must be a JSON object", "e.g. --storage-options '{\"anon\": true}'")
    return value


def redact(text: str, storage_options: dict | None = None) -> str:
    """`text` with every credential we know of blanked out."""
    secrets = [v for v in _strings(storage_options or {}) if len(v) >= 4]
    secrets += [os.environ[name] for name in _SECRET_ENV if len(os.environ.get(name, "")) >= 4]
    for secret in sorted(set(secrets), key=len, reverse=True):
        text = text.replace(secret, "***")
    return re.sub(r"[A-Za-z][A-Za-z0-9+.-]+://\S+", lambda m: display(m.group(0)), text)


def _strings(value: object):
    if isinstance(value, str):
        yield value
    elif isinstance(value, (dict, list, tuple)):
        for item in value.values() if isinstance(value, dict) else value:
            yield from _strings(item)


def filesystem(url: str, storage_options: dict):
    """(fsspec filesystem, path inside it) for `url`; a missing package or unknown protocol is our error."""
    import fsspec

    protocol = protocol_of(url)
    try:
        fsspec.get_filesystem_class(protocol)
    except ValueError:
        raise UsageError(f"{display(url)}: unknown storage protocol {protocol}://",
                         "give a local path, or a URL fsspec knows: s3://, gs://, az://, hdfs://, memory://, ...") \
            from None
    except ImportError as e:
        package, extra = PACKAGES.get(_ALIASES.get(protocol, protocol), (None, None))
        how = f"pip install 'ludwig-hub-export[{extra}]'" if extra else \
            f"install the fsspec implementation for {protocol}:// ({redact(str(e))})"
        from ...deps import DependencyError

        raise DependencyError(f"{display(url)}: reading {protocol}:// URLs needs "
                              f"{package or 'an fsspec package'}, which is not installed", how) from None
    with storage_errors(url, storage_options):
        # A fresh instance: a cached one would answer from listings (and credentials) of an earlier call.
        fs, path = fsspec.core.url_to_fs(url, **{"skip_instance_cache": True, **storage_options})
    return fs, path.rstrip("/")


@contextlib.contextmanager
def storage_errors(url: str, storage_options: dict | None = None, doing: str = "reading"):
    """Any failure of the storage client inside becomes an `ExportError` naming the URL and the fix."""
    try:
        yield
    except ExportError:
        raise
    except Exception as e:  # noqa: BLE001 - every storage failure gets a message with its remedy
        raise _explain(e, url, storage_options, doing) from None


def _explain(error: BaseException, url: str, storage_options: dict | None, doing: str) -> ExportError:
    protocol = protocol_of(url)
    shown = display(url)
    remedy = _CREDENTIALS.get(_ALIASES.get(protocol, protocol),
                              f"pass the credentials {protocol}:// needs with --storage-options JSON")
    detail = redact((str(error).strip().splitlines() or [type(error).__name__])[0], storage_options)
    names = {cls.__name__ for cls in type(error).__mro__}
    if names & set(_NO_CREDENTIALS) or "credentials" in detail.lower() and "unable to locate" in detail.lower():
        return AuthError(f"{shown}: no credentials for {protocol}:// were found ({detail})",
                         remedy)
    if isinstance(error, PermissionError):
        return AuthError(f"{shown}: access denied while {doing} ({detail})",
                         "use credentials that may read this bucket and key: " + remedy)
    if isinstance(error, FileNotFoundError):
        return InvalidModelError(f"{shown}: no such bucket, key or prefix ({detail})",
                                 "check the URL (bucket name, path), and that the model was written there")
    if isinstance(error, TypeError) and "unexpected keyword" in detail:
        return UsageError(f"{shown}: --storage-options: {detail}",
                          f"use options the {protocol}:// filesystem accepts (see its fsspec documentation)")
    return StorageError(f"{shown}: storage failure while {doing}: {type(error).__name__}: {detail}",
                        "check the network and the storage service, then run the same command again: it resumes "
                        "and does not download again what the Hub already holds")
