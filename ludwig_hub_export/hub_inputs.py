"""What a command is told about the Hub, checked before any request: the repo id (or a Hub URL copied from the
browser), the token's characters, the endpoint and offline mode. A bad one is a usage error naming the setting,
never retried as network trouble; URLs are shown with any credentials in them masked.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from .errors import UsageError

_TOKEN_VARS = ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN")


def token_file() -> Path:
    """The token file huggingface_hub reads (``HF_TOKEN_PATH``, else ``$HF_HOME/token``)."""
    from huggingface_hub import constants

    return Path(constants.HF_TOKEN_PATH).expanduser()


def redact_url(url: str) -> str:
    """`url` with its user:password (HF_ENDPOINT=https://user:pw@host) shown as ***."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc="***@" + parts.netloc.rsplit("@", 1)[1]))


def _token_flaw(value: str) -> str | None:
    """What makes `value` unusable in an Authorization header, without showing any of it."""
    for i, char in enumerate(value.strip()):
        if char in "\r\n":
            return f"a line break (character {i + 1})"
        if not char.isascii():
            return f"a non-ASCII character (character {i + 1})"
        if not char.isprintable() or char.isspace():
            return f"a space or control character (character {i + 1})"
    return None


def check_token(explicit: str | None) -> None:
    """Refuse the token a command would send (the argument, else HF_TOKEN, else the token file) when it holds
    line breaks, spaces, control or non-ASCII characters: no request could carry it. Its value is never shown."""
    if explicit is not None and explicit.strip():
        value, origin, fix = explicit, "given (--token, or token=)", "pass the token alone, e.g. --token hf_..."
    else:
        var = next((v for v in _TOKEN_VARS if os.environ.get(v)), None)
        if var is not None:
            value, origin, fix = os.environ[var], f"in {var}", f"set {var} to the token alone, or unset it"
        else:
            try:
                value = token_file().read_text()
            except (OSError, UnicodeDecodeError):
                return  # no file, or unreadable: auth says so when a token is needed
            origin, fix = f"in the token file {token_file()}", "run `hf auth login` again, or set HF_TOKEN"
    flaw = _token_flaw(value)
    if flaw is not None:
        raise UsageError(f"the token {origin} contains {flaw}; a Hub token is letters, digits and '_' only "
                         "(its value is not shown)", f"{fix}; nothing was sent")


def hub_endpoint(endpoint: str | None) -> str:
    """The Hub URL requests go to (`endpoint`, else HF_ENDPOINT as the client read it), checked: an http(s) URL
    with a host. Refused otherwise, naming the setting."""
    from huggingface_hub import constants  # the client's own reading of HF_ENDPOINT (cheap)

    url = (endpoint or constants.ENDPOINT).rstrip("/")
    setting = "--endpoint" if endpoint else "HF_ENDPOINT"
    parts = urlsplit(url)
    try:
        host = parts.hostname
        parts.port  # noqa: B018 - raises on a port that is not a number
    except ValueError:
        host = None
    if parts.scheme not in ("http", "https") or not host or any(c.isspace() or not c.isprintable() for c in url):
        raise UsageError(f"{setting} {redact_url(url)!r} is not an http(s) URL with a host",
                         f"set {setting} to e.g. https://huggingface.co (with the scheme), or unset it")
    return url


def require_online(command: str) -> None:
    """Refuse a command that needs the Hub while HF_HUB_OFFLINE (or TRANSFORMERS_OFFLINE) is set: every
    request would fail, and retrying cannot help."""
    from huggingface_hub import constants

    if constants.is_offline_mode():
        raise UsageError(f"{command} needs the Hub, and HF_HUB_OFFLINE is set (offline mode)",
                         "unset HF_HUB_OFFLINE (and TRANSFORMERS_OFFLINE) and run the command again")


def repo_target(text: object, revision: str | None = None, *, endpoint: str | None = None,
                flag: str = "--repo-id") -> tuple[str, str | None]:
    """(repo id, revision) from NAMESPACE/NAME or a model repo's URL on the Hub (optionally `/tree/REV`, which
    must agree with `revision`); anything else is a usage error naming `flag` and the fix."""
    from .card_metadata import is_repo_id

    example = f"for example: {flag} my-user/my-ludwig-model"
    if not isinstance(text, str):
        raise UsageError(f"{flag} must be a string NAMESPACE/NAME, not {type(text).__name__}", example)
    if text.startswith(("datasets/", "spaces/")):  # the Hub's prefixes of other repo types, never a user
        raise UsageError(f"{flag} {text!r} names a {text.split('/')[0][:-1]} repo; Ludwig models go to model "
                         "repos", example)
    if text.count("/") == 1 and is_repo_id(text):
        return text, revision
    if "://" not in text and not text.lower().startswith(("huggingface.co/", "hf.co/")):
        why = "has no namespace" if "/" not in text and is_repo_id(text) else "is not of the form NAMESPACE/NAME"
        raise UsageError(f"{flag} {text!r} {why}", f"{example} (your user name or an organisation you "
                                                    "belong to, then the model's name)")
    from huggingface_hub import parse_hf_uri  # a URL on the Hub
    from huggingface_hub.errors import HfUriError

    shown = redact_url(text)
    try:
        uri = parse_hf_uri(text, endpoint=endpoint)
    except HfUriError:
        raise UsageError(f"{flag} {shown!r} is not the URL of a model repo on the Hub",
                         f"{example}, or the repo's URL as the browser shows it "
                         "(https://huggingface.co/my-user/my-ludwig-model)") from None
    if uri.type != "model":
        raise UsageError(f"{flag} {shown!r} is a {uri.type} repo; Ludwig models go to model repos", example)
    if uri.path_in_repo:
        raise UsageError(f"{flag} {shown!r} points at a file or folder inside {uri.id}",
                         f"give the repo itself: {flag} {uri.id}")
    if uri.revision and revision and uri.revision != revision:
        raise UsageError(f"{flag} {shown!r} is revision {uri.revision!r}, and --revision says {revision!r}",
                         "drop one of them")
    return uri.id, revision or uri.revision
