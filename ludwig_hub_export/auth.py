"""Which token to use, whether it may write where asked, and where a fresher one comes from after a 401.

Sources, in huggingface_hub's order: the explicit argument, ``HF_TOKEN``, then the token file
(``HF_TOKEN_PATH``, else ``$HF_HOME/token``, else ``~/.cache/huggingface/token``). They are read at call time,
so a token refreshed on disk while an export runs is picked up. Only the *origin* of a token is ever shown.
"""

from __future__ import annotations

import getpass
import os
import shlex
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from .errors import AuthError

TokenProvider = Callable[[], str | None]


@dataclass(frozen=True)
class Token:
    value: str = field(repr=False)
    origin: str  # "argument", "HF_TOKEN", "token file ~/.cache/huggingface/token", "token command", ...

    def __str__(self) -> str:  # never the value
        return f"token from {self.origin}"


@dataclass
class Identity:
    user: str
    orgs: list[str]
    role: str | None  # "write", "read", "fineGrained" or None when the Hub does not say


def token_file() -> Path:
    if os.environ.get("HF_TOKEN_PATH"):
        return Path(os.environ["HF_TOKEN_PATH"]).expanduser()
    home = os.environ.get("HF_HOME") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "huggingface")
    return Path(home).expanduser() / "token"


def _shown(path: Path) -> str:
    home = str(Path.home())
    text = str(path)
    return "~" + text[len(home):] if text.startswith(home + os.sep) else text


def find_tokens(explicit: str | None = None) -> list[Token]:
    """Every token available, in order of precedence."""
    found = []
    if explicit:
        found.append(Token(explicit.strip(), "argument"))
    for var in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN"):
        if os.environ.get(var, "").strip():
            found.append(Token(os.environ[var].strip(), var))
            break
    path = token_file()
    try:
        value = path.read_text().strip()
    except OSError:
        value = ""
    if value:
        found.append(Token(value, f"token file {_shown(path)}"))
    return found


def resolve_token(explicit: str | None = None) -> Token:
    tokens = find_tokens(explicit)
    if not tokens:
        raise AuthError(
            "no Hugging Face token found (no --token, no HF_TOKEN, no token file at "
            f"{_shown(token_file())})",
            "run `hf auth login`, or set HF_TOKEN to a write token from https://huggingface.co/settings/tokens",
        )
    return tokens[0]


def run_token_command(command: str | TokenProvider) -> str | None:
    """A fresh token from a user-given command (its stdout) or Python callable."""
    if callable(command):
        value = command()
        return value.strip() if value else None
    try:
        result = subprocess.run(shlex.split(command), capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise AuthError(f"--token-command could not run: {e}", "check the command and try it by hand") from None
    if result.returncode != 0:
        raise AuthError(f"--token-command exited with status {result.returncode}",
                        "check the command and try it by hand (its output is not shown: it may hold a token)")
    return result.stdout.strip() or None


def fresher_token(stale: Token, token_command: str | TokenProvider | None = None,
                  interactive: bool | None = None) -> Token | None:
    """A token different from `stale`: from the sources again, the token command, or a prompt on a terminal."""
    for candidate in find_tokens():
        if candidate.value != stale.value and candidate.origin != "argument":
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
        value = getpass.getpass("Token: ").strip()
        if value and value != stale.value:
            return Token(value, "prompt")
    return None


def identity_from_whoami(info: dict) -> Identity:
    access = ((info.get("auth") or {}).get("accessToken") or {})
    return Identity(str(info.get("name")), [o.get("name") for o in info.get("orgs") or [] if o.get("name")],
                    access.get("role"))


def check_can_write(identity: Identity, token: Token, repo_id: str) -> None:
    namespace = repo_id.split("/", 1)[0]
    if identity.role == "read":
        raise AuthError(
            f"the {token} is read-only (user {identity.user}): it cannot create repos or upload",
            "create a token with the 'write' role at https://huggingface.co/settings/tokens and use it "
            "(--token, HF_TOKEN or `hf auth login`)",
        )
    if namespace not in {identity.user, *identity.orgs}:
        where = ", ".join([identity.user, *identity.orgs])
        raise AuthError(
            f"the {token} belongs to {identity.user}, who cannot write to the namespace '{namespace}' "
            f"(writable: {where})",
            f"push to one of {where}, or use a token of a member of '{namespace}'",
        )
