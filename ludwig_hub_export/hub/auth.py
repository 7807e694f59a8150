"""Which token to use, whether it may write where asked, and where a fresher one comes from after a 401.

The token is huggingface_hub's own choice (`get_token()`: OIDC trusted publishing, HF_TOKEN, the token file, the
Colab secret), after an explicit ``--token``. This module adds the *name* of its source (never the value), and
after a 401 a different token (the sources again, ``--token-command``, a hidden prompt on a terminal).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import AuthError, HubError
from ..hub_inputs import token_file

TokenProvider = Callable[[], str | None]
_ENV_VARS = ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN")  # the library's order: HF_TOKEN wins


@dataclass(frozen=True)
class Token:
    """A Hugging Face token and where it came from; the value never appears in a repr."""

    value: str = field(repr=False)
    origin: str  # "argument", "HF_TOKEN", "token file ~/.cache/huggingface/token", "OIDC trusted publishing ..."

    def __str__(self) -> str:  # never the value
        return f"token from {self.origin}"


def _shown(path: Path) -> str:
    home = str(Path.home())
    text = str(path)
    return "~" + text[len(home):] if text.startswith(home + os.sep) else text


def _clean(value: str | None) -> str | None:
    # The library's rule (`_clean_token`): line breaks dropped, spaces stripped, empty means none.
    return (value.replace("\r", "").replace("\n", "").strip() or None) if value else None


def _origin_of(value: str) -> str:
    """Name the source `huggingface_hub.get_token()` took `value` from, by looking at the same places."""
    resource = os.environ.get("HF_OIDC_RESOURCE")
    if resource:
        return f"OIDC trusted publishing (HF_OIDC_RESOURCE={resource})"
    for var in _ENV_VARS:
        if _clean(os.environ.get(var)) == value:
            return var
    if os.path.exists(token_file()):  # also a token the library has just refreshed (OAuth login)
        return f"token file {_shown(token_file())}"
    from huggingface_hub.utils import is_google_colab

    return "Colab secret HF_TOKEN" if is_google_colab() else "huggingface_hub.get_token()"


def library_token() -> Token | None:
    """huggingface_hub's token, in its order, with the name of its source."""
    from huggingface_hub import get_token
    from huggingface_hub.errors import OIDCError

    try:
        value = get_token()
    except OIDCError as e:
        raise AuthError(f"OIDC trusted publishing (HF_OIDC_RESOURCE is set): {e}",
                        "set HF_OIDC_ID_TOKEN to your CI's id token (GitHub Actions: `permissions: id-token: "
                        "write`), or unset HF_OIDC_RESOURCE to use HF_TOKEN or the token file") from None
    except Exception as e:  # noqa: BLE001 - the OIDC exchange or the token file failed; no token in the text
        if not os.environ.get("HF_OIDC_RESOURCE"):
            if isinstance(e, OSError):
                raise AuthError(f"cannot read the token file {_shown(token_file())}: {e.strerror or e}",
                                "fix its permissions, run `hf auth login` again, or set HF_TOKEN") from None
            raise
        status = getattr(getattr(e, "response", None), "status_code", None)
        if status is None or status >= 500 or status == 429:
            raise HubError(f"OIDC trusted publishing: the token exchange with the Hub failed "
                           f"({type(e).__name__}{f' {status}' if status else ''})",
                           "run the command again later; check HF_ENDPOINT if it persists") from None
        message = str(getattr(e, "server_message", "") or e).splitlines()[0]
        raise AuthError(f"OIDC trusted publishing: the Hub refused to exchange the CI id token for "
                        f"{os.environ.get('HF_OIDC_RESOURCE')} ({status}: {message})",
                        "check the trusted publisher configured for the repo (issuer, repository, workflow) "
                        "and that the id token's audience is the Hub URL") from None
    value = _clean(value)
    return Token(value, _origin_of(value)) if value else None


def find_tokens(explicit: str | None = None) -> list[Token]:
    """Every token available, in order of precedence: the argument, huggingface_hub's choice, then the sources
    it ranks lower (the environment, the token file), which a 401 may make worth trying."""
    found: list[Token] = []
    if explicit and explicit.strip():
        found.append(Token(explicit.strip(), "argument"))
    chosen = library_token()
    if chosen is not None:
        found.append(chosen)
    for var in _ENV_VARS:
        if value := _clean(os.environ.get(var)):
            found.append(Token(value, var))
            break
    try:
        if value := _clean(token_file().read_text()):
            found.append(Token(value, f"token file {_shown(token_file())}"))
    except OSError:
        pass
    unique: dict[str, Token] = {}
    for token in found:
        unique.setdefault(token.value, token)  # the first source of a value names it
    return list(unique.values())


def resolve_token(explicit: str | None = None) -> Token:
    tokens = find_tokens(explicit)
    if not tokens:
        raise AuthError("no Hugging Face token found (no --token, no HF_TOKEN, no token file at "
                        f"{_shown(token_file())}, no HF_OIDC_RESOURCE)",
                        "run `hf auth login`, or set HF_TOKEN to a write token from "
                        "https://huggingface.co/settings/tokens (in CI: trusted publishing with HF_OIDC_RESOURCE)")
    return tokens[0]


def run_token_command(command: str | TokenProvider) -> str | None:
    """A fresh token from a user-given command (its stdout) or Python callable."""
    if callable(command):
        return (command() or "").strip() or None
    import shlex  # here: only a refresh needs them, and every command imports this module
    import subprocess

    try:
        result = subprocess.run(shlex.split(command), capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise AuthError(f"--token-command could not run: {e}", "check the command and try it by hand") from None
    if result.returncode != 0:
        raise AuthError(f"--token-command exited with status {result.returncode}",
                        "check the command and try it by hand (its output is not shown: it may hold a token)")
    return result.stdout.strip() or None


def fresher_token(stale: Token, token_command: str | TokenProvider | None = None,
                  interactive: bool | None = None, explicit: bool = False) -> Token | None:
    """A token different from `stale`: from the sources again, the token command, or a prompt on a terminal.
    `explicit`: the user named the token (`--token`, `token=`), so the sources they did not name are not tried:
    another source may be another account, and the push would publish under an identity nobody chose."""
    try:
        candidates = [] if explicit else find_tokens()
    except AuthError:  # e.g. an OIDC exchange that fails now: the other ways may still give a token
        candidates = []
    for candidate in candidates:  # no "argument" among them: find_tokens() was given none
        if candidate.value != stale.value:
            return candidate
    if token_command is not None:
        value = run_token_command(token_command)
        if value and value != stale.value:
            return Token(value, "token command")
    if interactive is None:
        interactive = sys.stdin.isatty() and sys.stderr.isatty()
    if interactive:
        print(f"The Hub refused the {stale} (401). Paste a write token from "
              "https://huggingface.co/settings/tokens (input hidden), or press Enter to stop.", file=sys.stderr)
        import getpass

        value = getpass.getpass("Token: ").strip()
        if value and value != stale.value:
            return Token(value, "prompt")
    return None


def check_can_write(info: dict, token: Token, repo_id: str, create_pr: bool = False) -> str:
    """Refuse, by whoami's answer `info`, what the Hub would refuse: a read token, a namespace the user is not in,
    an org where the user's role (`roleInOrg`) is read, or contributor without `create_pr` (contributors open PRs,
    never push to a branch). An org role the Hub does not report is left to the Hub. Returns the user's name."""
    user, namespace = str(info.get("name")), repo_id.split("/", 1)[0]
    orgs = {o["name"]: str(o.get("roleInOrg") or "") for o in info.get("orgs") or []
            if isinstance(o, dict) and o.get("name")}  # org -> roleInOrg: admin, write, contributor, read
    if ((info.get("auth") or {}).get("accessToken") or {}).get("role") == "read":
        raise AuthError(f"the {token} is read-only (user {user}): it cannot create repos or upload",
                        "create a token with the 'write' role at https://huggingface.co/settings/tokens and use it "
                        "(--token, HF_TOKEN or `hf auth login`)")
    if namespace not in {user, *orgs}:
        where = ", ".join([user, *orgs])
        raise AuthError(f"the {token} belongs to {user}, who cannot write to the namespace '{namespace}' "
                        f"(writable: {where})",
                        f"push to one of {where}, or use a token of a member of '{namespace}'")
    role = orgs.get(namespace) if namespace != user else None
    if role == "read":
        raise AuthError(f"{user} is a read-only member of the organisation '{namespace}': the Hub refuses "
                        f"any upload to {repo_id} from the {token}",
                        f"ask an admin of '{namespace}' for the write role (or contributor, then push with "
                        "--create-pr), or push to your own namespace")
    if role == "contributor" and not create_pr:
        raise AuthError(f"{user} is a contributor of the organisation '{namespace}': contributors may open "
                        f"pull requests on {repo_id}, not commit to its branches",
                        "push again with --create-pr (create_pr=True), or ask an admin of the org for the write role")
    return user
